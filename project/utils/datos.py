"""Reading of tabular input files (CSV or Parquet) for training; preparation is re-exported.

:func:`read_table` reads what users upload (CSV exports with a local
delimiter and encoding, Parquet files).  Preparation of the daily long-format
series lives in :mod:`project.preparation` (``prepare``, the missing-day
policy, calendar and outliers) and date parsing in
:mod:`project.datasets.parsing`; both are re-exported here, the seed's entry.
"""

from __future__ import annotations

import csv
import io
from pathlib import Path

import pandas as pd

from ..datasets.parsing import parse_dates
from ..errors import InputError
from ..preparation import MISSING_POLICIES, PreparedData, prepare, series_key

__all__ = [
    "MISSING_POLICIES",
    "PreparedData",
    "read_table",
    "parse_dates",
    "prepare",
    "series_key",
]

_PARQUET_MAGIC = b"PAR1"
_DELIMITERS = ",;\t|"


def read_table(path: str | Path) -> pd.DataFrame:
    """Read a CSV or Parquet file into a DataFrame.

    Parquet is recognised by its magic bytes, whatever the extension. CSV text
    may be UTF-8 (with or without BOM) or Latin-1; the delimiter is sniffed
    among ``, ; TAB |``. Raises :class:`InputError` for a missing, empty or
    unreadable file.
    """
    path = Path(path)
    if not path.is_file():
        raise InputError(f"input file {str(path)!r} does not exist or is not a file")
    raw = path.read_bytes()
    if not raw.strip():
        raise InputError(f"input file {path.name!r} is empty")
    if raw[:4] == _PARQUET_MAGIC:
        try:
            frame = pd.read_parquet(io.BytesIO(raw))
        except Exception as exc:  # pyarrow raises many types for corrupt files
            raise InputError(
                f"input file {path.name!r} looks like Parquet but cannot be read: {exc}"
            ) from exc
    else:
        if b"\x00" in raw[:4096] and not raw.startswith((b"\xff\xfe", b"\xfe\xff")):
            raise InputError(
                f"input file {path.name!r} is neither CSV text nor Parquet "
                "(binary content; Excel files must be exported to CSV first)"
            )
        text = _decode(raw)
        delimiter = _sniff_delimiter(text)
        try:
            frame = pd.read_csv(io.StringIO(text), sep=delimiter, skipinitialspace=True)
        except (pd.errors.ParserError, ValueError) as exc:
            raise InputError(f"input file {path.name!r} is not valid CSV: {exc}") from exc
        frame.columns = [str(c).strip() for c in frame.columns]
    if frame.empty:
        raise InputError(f"input file {path.name!r} has a header but no data rows")
    return frame


def _decode(raw: bytes) -> str:
    if raw.startswith(b"\xef\xbb\xbf"):
        return raw[3:].decode("utf-8", errors="strict")
    if raw.startswith((b"\xff\xfe", b"\xfe\xff")):
        return raw.decode("utf-16")
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        # Latin-1 maps every byte, so this never fails; Windows exports from
        # Spanish/European tools are Latin-1/CP1252 in practice.
        return raw.decode("latin-1")


def _sniff_delimiter(text: str) -> str:
    lines = [line for line in text.splitlines()[:50] if line.strip()]
    sample = "\n".join(lines)
    try:
        return csv.Sniffer().sniff(sample, delimiters=_DELIMITERS).delimiter
    except csv.Error:
        header = lines[0] if lines else ""
        counts = {d: header.count(d) for d in _DELIMITERS}
        best = max(counts, key=counts.get)
        return best if counts[best] else ","
