"""Excel report of a dataset: Resumen, Datos, Columnas, Series, Consistencia, Linaje.

The sheet names and the headers of the tables the report computes come in one
language (Spanish by default, as the sheets were specified; ``language="en"``
for English); the ``Datos`` sheet keeps the dataset's own column names.

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

__all__ = ["excel_report", "SHEETS", "SAMPLE_ROWS", "LANGUAGES"]

SHEETS = ("Resumen", "Datos", "Columnas", "Series", "Consistencia", "Linaje")
SAMPLE_ROWS = 1000

_SHEETS_EN = ("Summary", "Data", "Columns", "Series", "Checks", "Lineage")
#: Spanish headers of the computed tables (keys are the English field names).
_ES = {
    "metric": "métrica",
    "value": "valor",
    "name": "nombre",
    "version": "versión",
    "source": "origen",
    "template": "plantilla",
    "created_at": "creado_el",
    "content_sha256": "sha256_contenido",
    "rows": "filas",
    "series": "serie",
    "date_min": "fecha_mínima",
    "date_max": "fecha_máxima",
    "days_spanned": "días_cubiertos",
    "series_columns": "columnas_de_serie",
    "target": "objetivo",
    "checks_failed": "verificaciones_fallidas",
    "column": "columna",
    "dtype": "tipo",
    "missing": "faltantes",
    "missing_pct": "faltantes_pct",
    "unique": "distintos",
    "min": "mínimo",
    "max": "máximo",
    "mean": "media",
    "std": "desviación",
    "median": "mediana",
    "negative": "negativos",
    "true_pct": "verdaderos_pct",
    "first_date": "primera_fecha",
    "last_date": "última_fecha",
    "days_expected": "días_esperados",
    "days_missing": "días_faltantes",
    "gaps": "huecos",
    "longest_gap_days": "hueco_más_largo_días",
    "zeros": "ceros",
    "zero_days": "días_a_cero",
    "check": "verificación",
    "status": "estado",
    "count": "cantidad",
    "detail": "detalle",
    "role": "rol",
    "this": "esta",
    "parent": "padre",
}
#: Sheet names and header translation per language.
LANGUAGES = {"es": (SHEETS, _ES), "en": (_SHEETS_EN, {})}


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


def _frame(ws, df: pd.DataFrame, words: Mapping[str, str] | None = None) -> None:
    words = words or {}
    _write(ws, [words.get(str(c), str(c)) for c in df.columns], df.itertuples(index=False, name=None))


def excel_report(
    df: pd.DataFrame,
    metadata: Mapping[str, Any] | None = None,
    summary: Mapping[str, Any] | None = None,
    sample_rows: int = SAMPLE_ROWS,
    language: str = "es",
) -> bytes:
    """The report as XLSX bytes. ``summary`` defaults to :func:`summarize` of
    ``df``; ``language`` (``es`` or ``en``) names the sheets and headers."""
    from openpyxl import Workbook

    from .summary import summarize

    metadata = dict(metadata or {})
    summary = summary or summarize(df, metadata)
    sheets, words = LANGUAGES.get(language, LANGUAGES["es"])
    wb = Workbook(write_only=True)
    ws = wb.create_sheet(sheets[0])
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
    resumen = [(words.get(key, key), value) for key, value in resumen]
    _write(ws, [words.get("metric", "metric"), words.get("value", "value")], resumen)
    ws = wb.create_sheet(sheets[1])
    _frame(ws, df.head(sample_rows))
    ws = wb.create_sheet(sheets[2])
    cols = pd.DataFrame(summary["columns"])
    _frame(ws, cols, words)
    ws = wb.create_sheet(sheets[3])
    _frame(ws, pd.DataFrame(summary["series"]), words)
    ws = wb.create_sheet(sheets[4])
    _frame(ws, pd.DataFrame(summary["checks"], columns=["check", "status", "count", "detail"]), words)
    ws = wb.create_sheet(sheets[5])
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
    rows = [(words.get(row[0], row[0]), *row[1:]) for row in rows]
    header = ["role", "name", "version", "content_sha256", "source", "created_at"]
    _write(ws, [words.get(h, h) for h in header], rows)
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()
