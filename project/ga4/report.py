"""Turning GA4 report pages into typed Arrow tables, and writing them as they arrive.

A page is converted without a Python loop over rows: its wire image is re-read
by the protobuf C parser through a "flattening" descriptor that collects all
dimension values and all metric values into two repeated string fields (see
:func:`_flat_page_class`) that go straight into two Arrow string arrays;
columns are strided ``take``s of those and pyarrow parses them in C (``cast``
to int64/float64, ``strptime`` for ``date``). Walking the rows in Python
instead costs ~1 microsecond per row, and Python lists of a page's cells
(~28 MiB for 100k rows of 4 cells) would dominate its memory.

Sinks write each page at once (a Parquet row group, or CSV lines) so memory
stays bounded by about one page, into a partial file that is renamed onto the
output only when the download is complete. Their ``state()`` (row groups or
bytes written) goes into the checkpoint, and a resumed sink first restores
exactly that prefix, so an interrupted and resumed download produces the same
bytes as an uninterrupted one.
"""

from __future__ import annotations

import functools
import logging
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

__all__ = [
    "INTEGER_TYPES",
    "output_schema",
    "page_to_table",
    "wire_to_table",
    "MemoryReleaser",
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
    pb = getattr(type(response), "pb", None)
    if pb is not None and not hasattr(response, "SerializeToString"):
        response = pb(response)  # proto-plus wrapper -> raw message, no copy
    return wire_to_table(response.SerializeToString(), len(response.rows),
                         len(response.dimension_headers), schema)


def wire_to_table(wire: bytes, n_rows: int, n_dims: int, schema: Any) -> Any:
    """Convert the wire image of a ``RunReportResponse`` with ``n_rows`` rows and
    ``n_dims`` dimensions to a table of ``schema``.

    Taking bytes lets the caller drop the parsed response first: the full
    message (one protobuf object per row and per cell) is the largest thing a
    page occupies, and holding it during the conversion doubled the peak.
    Cells go from the protobuf container straight into Arrow, one transient
    ``str`` at a time, never as Python lists of a whole page.

    Raises ``ValueError`` naming the column and an offending value when a
    metric or date does not parse.
    """
    import numpy as np
    import pyarrow as pa
    import pyarrow.compute as pc

    n_mets = len(schema) - n_dims
    dims, mets = _cell_arrays(wire, n_rows, n_dims, n_mets)
    del wire
    columns = []
    for index, field in enumerate(schema):
        cells, width, at = (dims, n_dims, index) if index < n_dims else (mets, n_mets, index - n_dims)
        strings = cells if width == 1 else cells.take(pa.array(np.arange(at, len(cells), width)))
        try:
            if field.type == pa.string():
                column = strings
            elif field.type == pa.date32():
                column = pc.strptime(strings, format="%Y%m%d", unit="s").cast(pa.date32())
            else:
                column = strings.cast(field.type)
        except (pa.ArrowInvalid, pa.ArrowTypeError):
            bad = _first_bad(strings, field.type)
            raise ValueError(
                f"column {field.name!r}: value {bad!r} is not a valid {field.type} "
                f"(GA4 sent it in this page)"
            ) from None
        del strings
        columns.append(column)
    del dims, mets
    return pa.Table.from_arrays(columns, schema=schema)


@functools.lru_cache(maxsize=1)
def _flat_page_class() -> Any:
    """A message class reading a ``RunReportResponse`` wire image as two flat string lists.

    Protobuf merges repeated occurrences of a singular message field and
    concatenates the repeated fields inside. Declaring ``rows`` (field 3) as
    one ``FlatRows`` and each row's ``dimension_values`` (1) / ``metric_values``
    (2) as one ``Strings`` message whose repeated strings are
    ``DimensionValue.value`` (1) and ``MetricValue.value`` (4) makes the C
    parser collect every cell, row-major, into two repeated string fields:
    no Python object per row or per cell wrapper, only the strings themselves.
    """
    from google.protobuf import descriptor_pb2, descriptor_pool, message_factory

    fdp = descriptor_pb2.FileDescriptorProto(
        name="ai_train_model/ga4_flat_page.proto", package="ai_train_model.ga4flat", syntax="proto3"
    )
    fdesc = descriptor_pb2.FieldDescriptorProto
    string, message = fdesc.TYPE_STRING, fdesc.TYPE_MESSAGE
    repeated, optional = fdesc.LABEL_REPEATED, fdesc.LABEL_OPTIONAL
    strings = fdp.message_type.add(name="Strings")
    strings.field.add(name="dimension_value", number=1, type=string, label=repeated)
    strings.field.add(name="metric_value", number=4, type=string, label=repeated)
    rows = fdp.message_type.add(name="FlatRows")
    rows.field.add(name="dimension_values", number=1, type=message, label=optional,
                   type_name=".ai_train_model.ga4flat.Strings")
    rows.field.add(name="metric_values", number=2, type=message, label=optional,
                   type_name=".ai_train_model.ga4flat.Strings")
    page = fdp.message_type.add(name="FlatPage")
    page.field.add(name="rows", number=3, type=message, label=optional,
                   type_name=".ai_train_model.ga4flat.FlatRows")
    pool = descriptor_pool.DescriptorPool()
    pool.Add(fdp)
    return message_factory.GetMessageClass(pool.FindMessageTypeByName("ai_train_model.ga4flat.FlatPage"))


def _cell_arrays(wire: bytes, n_rows: int, n_dims: int, n_mets: int) -> tuple[Any, Any]:
    """All dimension and all metric cells of a page as two Arrow string arrays, row-major.

    Fast path: re-read the wire image with :func:`_flat_page_class` and hand
    its repeated string fields to ``pa.array`` (no list of the page in
    Python). A cell without a value (an unset oneof) would shift the flat
    lists, so when the counts do not match, fall back to a per-row walk.
    """
    import pyarrow as pa

    flat = _flat_page_class().FromString(wire)
    dim_cells = flat.rows.dimension_values.dimension_value
    met_cells = flat.rows.metric_values.metric_value
    if len(dim_cells) == n_rows * n_dims and len(met_cells) == n_rows * n_mets:
        return pa.array(dim_cells, type=pa.string()), pa.array(met_cells, type=pa.string())
    del dim_cells, met_cells, flat
    logger.debug("GA4 page with unset cells: converting row by row")
    from google.analytics.data_v1beta import types

    pb = types.RunReportResponse.pb().FromString(wire)
    dims = [v.value for r in pb.rows for v in r.dimension_values]
    mets = [v.value for r in pb.rows for v in r.metric_values]
    if len(dims) != n_rows * n_dims or len(mets) != n_rows * n_mets:
        raise ValueError("rows do not all carry one value per dimension and metric header")
    return pa.array(dims, type=pa.string()), pa.array(mets, type=pa.string())


def _first_bad(values: Any, arrow_type: Any) -> str:
    import pyarrow as pa
    import pyarrow.compute as pc

    for value in values.to_pylist():
        try:
            if arrow_type == pa.date32():
                pc.strptime(pa.array([value]), format="%Y%m%d", unit="s")
            else:
                pa.array([value]).cast(arrow_type)
        except (pa.ArrowInvalid, pa.ArrowTypeError):
            return value
    return "?"


class MemoryReleaser:
    """Called after each page is written: keeps the resident set within one page
    of where it stood after the first page.

    Why: both allocators behind a page keep what it freed. Arrow's pool
    (mimalloc by default) caches freed segments, and glibc raises its mmap
    threshold after the first multi-MiB buffer is freed, so later page-sized
    buffers (wire bytes, protobuf arenas) land in the heap and stay resident
    as fragmented free space. Without this the resident set crept up page
    after page (~50 MiB over ten 100k-row pages) although the live data stayed
    at one page. Arrow's pool is released after every page (cheap); glibc's
    ``malloc_trim`` only when the resident set has grown by more than
    ``budget`` bytes since the first page, because every trim makes the next
    page fault its memory in again (~25% of the throughput if done every page).
    Off glibc/Linux only Arrow's pool is released.
    """

    def __init__(self) -> None:
        self.floor: int | None = None

    def __call__(self, budget: int) -> None:
        import pyarrow as pa

        pa.default_memory_pool().release_unused()
        trim = _malloc_trim()
        resident = _resident_bytes()
        if trim is None or resident is None:
            return
        if self.floor is None or resident > self.floor + budget:
            trim(0)
            after = _resident_bytes() or resident
            self.floor = after if self.floor is None else min(self.floor, after)


def _resident_bytes() -> int | None:
    """This process's resident set size (``/proc/self/statm``), ``None`` off Linux."""
    try:
        with open("/proc/self/statm", "rb") as handle:
            return int(handle.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        return None


@functools.lru_cache(maxsize=1)
def _malloc_trim() -> Any:
    import ctypes
    import ctypes.util

    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        trim = libc.malloc_trim
    except (OSError, AttributeError):  # not glibc (musl, macOS, Windows)
        return None
    trim.argtypes, trim.restype = [ctypes.c_size_t], ctypes.c_int
    return trim


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
