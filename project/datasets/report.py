"""Excel report of a dataset: Resumen, Datos, Columnas, Series, Consistencia, Linaje.

Written with openpyxl in write-only mode. Every text cell is typed as a
string so a value such as ``=HYPERLINK(...)`` coming from an upload is shown,
never evaluated.
"""

from __future__ import annotations

import datetime as dt
import io
import json
from collections.abc import Iterable, Mapping
from typing import Any

import pandas as pd

__all__ = ["excel_report", "SHEETS", "SAMPLE_ROWS"]

SHEETS = ("Resumen", "Datos", "Columnas", "Series", "Consistencia", "Linaje")
SAMPLE_ROWS = 1000


def _cell(ws, value: Any):
    from openpyxl.cell import WriteOnlyCell

    if value is None or (isinstance(value, float) and pd.isna(value)) or value is pd.NaT:
        return None
    if isinstance(value, pd.Timestamp):
        value = value.to_pydatetime()
    if hasattr(value, "item") and not isinstance(value, (str, bytes)):
        value = value.item()
    if isinstance(value, (list, dict)):
        value = json.dumps(value, ensure_ascii=False, default=str)
    cell = WriteOnlyCell(
        ws, value=value if isinstance(value, (int, float, bool, dt.date, dt.datetime)) else str(value)
    )
    if isinstance(cell.value, str):
        cell.data_type = "s"  # never a formula, whatever the text starts with
    return cell


def _write(ws, header: Iterable[str], rows: Iterable[Iterable[Any]]) -> None:
    from openpyxl.cell import WriteOnlyCell
    from openpyxl.styles import Font

    bold = Font(bold=True)
    head = []
    for h in header:
        c = WriteOnlyCell(ws, value=str(h))
        c.data_type = "s"
        c.font = bold
        head.append(c)
    ws.append(head)
    for row in rows:
        ws.append([_cell(ws, v) for v in row])


def _frame(ws, df: pd.DataFrame) -> None:
    _write(ws, [str(c) for c in df.columns], df.itertuples(index=False, name=None))


def excel_report(
    df: pd.DataFrame,
    metadata: Mapping[str, Any] | None = None,
    summary: Mapping[str, Any] | None = None,
    sample_rows: int = SAMPLE_ROWS,
) -> bytes:
    """The report as XLSX bytes. ``summary`` defaults to :func:`summarize` of ``df``."""
    from openpyxl import Workbook

    from .summary import summarize

    metadata = dict(metadata or {})
    summary = summary or summarize(df, metadata)
    wb = Workbook(write_only=True)
    ws = wb.create_sheet("Resumen")
    resumen = [
        ("name", metadata.get("name")),
        ("version", metadata.get("version")),
        ("source", metadata.get("source")),
        ("template", metadata.get("template")),
        ("created_at", metadata.get("created_at")),
        ("content_sha256", metadata.get("content_sha256")),
        ("rows", summary["rows"]),
        ("series", summary["series_count"]),
        ("date_min", summary["date_min"]),
        ("date_max", summary["date_max"]),
        ("days_spanned", summary["days_spanned"]),
        ("series_columns", ", ".join(summary["series_columns"])),
        ("target", summary["target"]),
        ("checks_failed", sum(1 for c in summary["checks"] if c["status"] != "ok")),
    ]
    _write(ws, ["metric", "value"], resumen)
    ws = wb.create_sheet("Datos")
    _frame(ws, df.head(sample_rows))
    ws = wb.create_sheet("Columnas")
    cols = pd.DataFrame(summary["columns"])
    _frame(ws, cols)
    ws = wb.create_sheet("Series")
    _frame(ws, pd.DataFrame(summary["series"]))
    ws = wb.create_sheet("Consistencia")
    _frame(ws, pd.DataFrame(summary["checks"], columns=["check", "status", "count", "detail"]))
    ws = wb.create_sheet("Linaje")
    parents = metadata.get("parents") or []
    rows = [
        (
            "this",
            metadata.get("name"),
            metadata.get("version"),
            metadata.get("content_sha256"),
            metadata.get("source"),
            metadata.get("created_at"),
        )
    ]
    rows += [
        ("parent", p.get("name"), p.get("version"), p.get("content_sha256"), p.get("source"), None)
        for p in parents
    ]
    _write(ws, ["role", "name", "version", "content_sha256", "source", "created_at"], rows)
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()
