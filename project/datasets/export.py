"""Safe export of user-supplied text: CSV and spreadsheet formula-injection guards."""

from __future__ import annotations

import csv
import io
import os
import tempfile
from collections.abc import Iterable
from pathlib import Path

import pandas as pd

__all__ = ["FORMULA_PREFIXES", "escape_cell", "escape_frame", "frame_to_csv_bytes", "atomic_write_bytes"]

#: First characters that make Excel, LibreOffice or Sheets evaluate a cell (OWASP CSV injection).
FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")


def escape_cell(value: object) -> object:
    """Prefix text that a spreadsheet would evaluate with ``'`` so it shows as text."""
    if isinstance(value, str) and value.startswith(FORMULA_PREFIXES):
        return "'" + value
    return value


def escape_frame(df: pd.DataFrame, columns: Iterable[str] | None = None) -> pd.DataFrame:
    """A copy of ``df`` with every text cell of ``columns`` (default: all) escaped."""
    out = df.copy()
    for col in columns if columns is not None else out.columns:
        if out[col].dtype == object or pd.api.types.is_string_dtype(out[col]):
            s = out[col].astype(object)
            mask = s.map(lambda v: isinstance(v, str) and v.startswith(FORMULA_PREFIXES)).astype(bool)
            if mask.any():
                s = s.where(~mask, "'" + s[mask].astype(str))
            out[col] = s
    return out


def frame_to_csv_bytes(df: pd.DataFrame) -> bytes:
    """UTF-8 CSV (with BOM so Excel detects the encoding), every text cell escaped."""
    buf = io.StringIO()
    escape_frame(df).to_csv(buf, index=False, quoting=csv.QUOTE_MINIMAL, lineterminator="\r\n")
    return ("\ufeff" + buf.getvalue()).encode("utf-8")


def atomic_write_bytes(path: str | os.PathLike[str], data: bytes) -> Path:
    """Write a file so readers never see it half-written."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path
