"""Turning GA4 report pages into typed Arrow tables, and writing them as they arrive.

A page is converted column by column: one list comprehension per column over
the raw protobuf rows (not the proto-plus wrappers, which cost ~10x more per
access), then pyarrow parses the strings in C (``cast`` to int64/float64,
``strptime`` for ``date``). That keeps the Python work to one attribute chain
per cell, about 4x faster than building row tuples.

Sinks write each page at once (a Parquet row group, or CSV lines) so memory
stays bounded by about one page, into a partial file that is renamed onto the
output only when the download is complete. Their ``state()`` (row groups or
bytes written) goes into the checkpoint, and a resumed sink first restores
exactly that prefix, so an interrupted and resumed download produces the same
bytes as an uninterrupted one.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

__all__ = [
    "INTEGER_TYPES",
    "output_schema",
    "page_to_table",
    "open_sink",
    "output_format",
]

logger = logging.getLogger(__name__)

#: GA4 ``MetricType`` names stored as int64; every other type is float64
#: (TYPE_FLOAT, TYPE_CURRENCY, TYPE_SECONDS, TYPE_MILLISECONDS, ...).
INTEGER_TYPES = frozenset({"TYPE_INTEGER"})

_FORMATS = {".csv": "csv", ".parquet": "parquet", ".pq": "parquet"}


def output_format(path: str | os.PathLike[str]) -> str:
    """``"csv"`` or ``"parquet"`` from the file suffix; raises ``InputError``."""
    from ..errors import InputError

    fmt = _FORMATS.get(Path(path).suffix.lower())
    if fmt is None:
        raise InputError(f"--output {path}: the file name must end in .csv or .parquet")
    return fmt


def output_schema(dimensions: Sequence[str], metric_types: Mapping[str, str]) -> Any:
    """Arrow schema: ``date`` as date32, other dimensions as strings, metrics by type."""
    import pyarrow as pa

    fields = [pa.field(d, pa.date32() if d == "date" else pa.string()) for d in dimensions]
    fields += [
        pa.field(m, pa.int64() if metric_types[m] in INTEGER_TYPES else pa.float64())
        for m in metric_types
    ]
    return pa.schema(fields)


def page_to_table(response: Any, schema: Any) -> Any:
    """Convert one ``RunReportResponse`` (raw protobuf or proto-plus) to a table of ``schema``.

    Raises ``ValueError`` naming the column and an offending value when a
    metric or date does not parse.
    """
    import pyarrow as pa
    import pyarrow.compute as pc

    pb = getattr(type(response), "pb", None)
    if pb is not None and not hasattr(response, "SerializeToString"):
        response = pb(response)  # proto-plus wrapper -> raw message, no copy
    rows = response.rows
    n_dims = len(response.dimension_headers)
    columns = []
    if len(rows):
        dim_values = [r.dimension_values for r in rows]
        metric_values = [r.metric_values for r in rows]
    for index, field in enumerate(schema):
        if index < n_dims:
            raw = [v[index].value for v in dim_values] if len(rows) else []
        else:
            j = index - n_dims
            raw = [v[j].value for v in metric_values] if len(rows) else []
        strings = pa.array(raw, type=pa.string())
        try:
            if field.type == pa.string():
                column = strings
            elif field.type == pa.date32():
                column = pc.strptime(strings, format="%Y%m%d", unit="s").cast(pa.date32())
            else:
                column = strings.cast(field.type)
        except (pa.ArrowInvalid, pa.ArrowTypeError):
            bad = _first_bad(raw, field.type)
            raise ValueError(
                f"column {field.name!r}: value {bad!r} is not a valid {field.type} "
                f"(GA4 sent it in this page)"
            ) from None
        columns.append(column)
    return pa.Table.from_arrays(columns, schema=schema)


def _first_bad(values: Sequence[str], arrow_type: Any) -> str:
    import pyarrow as pa
    import pyarrow.compute as pc

    for value in values:
        try:
            if arrow_type == pa.date32():
                pc.strptime(pa.array([value]), format="%Y%m%d", unit="s")
            else:
                pa.array([value]).cast(arrow_type)
        except (pa.ArrowInvalid, pa.ArrowTypeError):
            return value
    return "?"


class _ParquetSink:
    """Row group per page. ``state`` is the number of row groups written."""

    def __init__(self, path: Path, schema: Any, resume_state: Mapping[str, Any] | None) -> None:
        import pyarrow.parquet as pq

        self.path = path
        self.schema = schema
        self.row_groups = 0
        old = path.with_name(path.name + ".old")
        if resume_state and (path.exists() or old.exists()):
            if path.exists():
                os.replace(path, old)
            self._writer = pq.ParquetWriter(path, schema, compression="snappy")
            self._copy_prefix(old, int(resume_state["row_groups"]))
            old.unlink()
        else:
            old.unlink(missing_ok=True)
            self._writer = pq.ParquetWriter(path, schema, compression="snappy")

    def _copy_prefix(self, old: Path, row_groups: int) -> None:
        import pyarrow.parquet as pq

        source = pq.ParquetFile(old)
        if source.num_row_groups < row_groups or source.schema_arrow != self.schema:
            raise ValueError(f"{old} holds {source.num_row_groups} row groups, "
                             f"the checkpoint expected {row_groups}")
        for index in range(row_groups):  # one row group in memory at a time
            self.write(source.read_row_group(index))
        source.close()

    def write(self, table: Any) -> None:
        if table.num_rows:
            self._writer.write_table(table, row_group_size=max(table.num_rows, 1))
            self.row_groups += 1

    def state(self) -> dict[str, Any]:
        return {"row_groups": self.row_groups}

    def close(self) -> None:
        self._writer.close()


class _CsvSink:
    """CSV lines appended per page. ``state`` is the number of bytes written."""

    def __init__(self, path: Path, schema: Any, resume_state: Mapping[str, Any] | None) -> None:
        import pyarrow.csv as pcsv

        self.path = path
        if resume_state and path.exists() and path.stat().st_size >= int(resume_state["bytes"]):
            self._file = open(path, "r+b")  # noqa: SIM115 - closed in close()
            self._file.truncate(int(resume_state["bytes"]))
            self._file.seek(0, os.SEEK_END)
            header = False
        else:
            if resume_state:
                raise ValueError(f"{path} is missing or shorter than the checkpoint says")
            self._file = open(path, "wb")  # noqa: SIM115 - closed in close()
            header = True
        self._writer = pcsv.CSVWriter(
            self._file, schema, write_options=pcsv.WriteOptions(include_header=header)
        )
        self._file.flush()

    def write(self, table: Any) -> None:
        if table.num_rows:
            self._writer.write_table(table)

    def state(self) -> dict[str, Any]:
        self._file.flush()
        return {"bytes": self._file.tell()}

    def close(self) -> None:
        self._writer.close()
        self._file.close()


def open_sink(fmt: str, path: Path, schema: Any, resume_state: Mapping[str, Any] | None = None) -> Any:
    """A sink writing ``schema`` tables to ``path``; ``resume_state`` restores a prefix.

    Raises ``ValueError`` when the partial file cannot provide that prefix
    (the caller then starts over).
    """
    if fmt == "parquet":
        return _ParquetSink(path, schema, resume_state)
    return _CsvSink(path, schema, resume_state)
