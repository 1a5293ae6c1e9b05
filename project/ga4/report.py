"""Turning GA4 report pages into typed Arrow tables, and writing them as they arrive.

A page is converted without a Python loop over rows: its wire image is read
by the protobuf C parser through a "flattening" descriptor that collects all
dimension values and all metric values into two repeated string fields (see
:func:`_flat_page_class`) that go straight into two Arrow string arrays;
columns are strided ``take``s of those and pyarrow parses them in C (``cast``
to int64/float64, ``strptime`` for ``date``). The same parse reads the header
fields (``dimensionHeaders``, ``metricHeaders``, ``rowCount``, ``metadata``,
``propertyQuota``) with the official message types, so :func:`decode_page`
needs nothing but the bytes: the gRPC download never builds the official
``RunReportResponse`` (one object per row and per cell, several times the
wire size).  Walking the rows in Python instead would dominate the time, and
Python lists of a page's cells its memory (figures in ``bench/README.md``).

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
from dataclasses import dataclass
from pathlib import Path
from typing import Any

__all__ = [
    "INTEGER_TYPES",
    "output_schema",
    "Page",
    "decode_page",
    "page_table",
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

    Raises ``ValueError`` when the page does not hold ``n_rows`` rows of
    ``n_dims`` dimensions, or naming the column and an offending value when a
    metric or date does not parse.
    """
    page = decode_page(wire)
    del wire
    if page.rows != n_rows or len(page.head.dimension_headers) != n_dims:
        raise ValueError(f"the page holds {page.rows} rows of {len(page.head.dimension_headers)} "
                         f"dimensions, expected {n_rows} rows of {n_dims}")
    return page_table(page, schema)


@dataclass
class Page:
    """One decoded ``runReport`` page, without an object per row or per cell.

    ``head`` is a message with the response's fields except ``rows``
    (``dimension_headers``, ``metric_headers``, ``row_count``, ``metadata``,
    ``property_quota``; read them like ``RunReportResponse``'s). ``rows`` is
    the number of rows on this page; ``dimension_cells`` and ``metric_cells``
    hold every cell, row-major, as Arrow string arrays.
    """

    head: Any
    rows: int
    dimension_cells: Any
    metric_cells: Any


def decode_page(wire: bytes) -> Page:
    """Decode the wire image of a ``RunReportResponse`` into a :class:`Page`.

    One pass of the protobuf C parser through :func:`_flat_page_class` reads
    the header fields and collects the cells; the cells then go to Arrow one
    transient ``str`` at a time. The parsed message is dropped before
    returning, so a page costs its wire bytes plus its Arrow cells.

    The row count comes from the cell counts. A cell without a value (an
    unset oneof) is absent from the flat lists; when the counts do not divide
    evenly into rows of one cell per header, the page is parsed again with the
    official message and walked row by row (unset cells read as ``""``), which
    also gives the exact row count. Raises ``ValueError`` for a wire image
    that does not parse.
    """
    import pyarrow as pa
    from google.protobuf.message import DecodeError

    try:
        view = _flat_page_class().FromString(wire)
    except DecodeError as exc:
        raise ValueError(f"the page is not a valid RunReportResponse: {exc}") from None
    n_dims, n_mets = len(view.dimension_headers), len(view.metric_headers)
    dim_cells = view.rows.dimension_values.dimension_value
    met_cells = view.rows.metric_values.metric_value
    rows = _rows_from_cells(len(dim_cells), len(met_cells), n_dims, n_mets)
    if rows is not None:
        dims, mets = pa.array(dim_cells, type=pa.string()), pa.array(met_cells, type=pa.string())
    else:
        logger.debug("GA4 page with unset cells: converting row by row")
        rows, dims, mets = _walk_rows(wire, n_dims, n_mets)
    del dim_cells, met_cells
    view.ClearField("rows")
    head = type(view).FromString(view.SerializeToString())  # headers only: frees the cells
    del view
    return Page(head=head, rows=rows, dimension_cells=dims, metric_cells=mets)


def page_table(page: Page, schema: Any) -> Any:
    """The cells of ``page`` as a table of ``schema`` (its dimensions first, then metrics).

    Raises ``ValueError`` naming the column and an offending value when a
    metric or date does not parse.
    """
    import numpy as np
    import pyarrow as pa
    import pyarrow.compute as pc

    dims, mets = page.dimension_cells, page.metric_cells
    n_dims = len(page.head.dimension_headers)
    n_mets = len(schema) - n_dims
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


def _rows_from_cells(n_dim_cells: int, n_met_cells: int, n_dims: int, n_mets: int) -> int | None:
    """Rows implied by the flat cell counts, ``None`` when they do not make whole rows."""
    implied = set()
    for cells, width in ((n_dim_cells, n_dims), (n_met_cells, n_mets)):
        if width == 0:
            if cells:
                return None  # cells without a header
        elif cells % width:
            return None
        else:
            implied.add(cells // width)
    if len(implied) > 1:
        return None
    return implied.pop() if implied else 0


def _walk_rows(wire: bytes, n_dims: int, n_mets: int) -> tuple[int, Any, Any]:
    """``(rows, dimension cells, metric cells)`` from the official message, row by row."""
    import pyarrow as pa
    from google.analytics.data_v1beta import types

    pb = types.RunReportResponse.pb().FromString(wire)
    dims = [v.value for r in pb.rows for v in r.dimension_values]
    mets = [v.value for r in pb.rows for v in r.metric_values]
    rows = len(pb.rows)
    if len(dims) != rows * n_dims or len(mets) != rows * n_mets:
        raise ValueError("rows do not all carry one value per dimension and metric header")
    return rows, pa.array(dims, type=pa.string()), pa.array(mets, type=pa.string())


@functools.lru_cache(maxsize=1)
def _flat_page_class() -> Any:
    """A message class reading a ``RunReportResponse`` wire image with its cells as
    two flat string lists.

    Protobuf merges repeated occurrences of a singular message field and
    concatenates the repeated fields inside. Declaring ``rows`` (field 3) as
    one ``FlatRows`` and each row's ``dimension_values`` (1) / ``metric_values``
    (2) as one ``Strings`` message whose repeated strings are
    ``DimensionValue.value`` (1) and ``MetricValue.value`` (4) makes the C
    parser collect every cell, row-major, into two repeated string fields:
    no Python object per row or per cell wrapper, only the strings themselves.
    The other fields keep their numbers and official types (``DimensionHeader``,
    ``MetricHeader``, ``ResponseMetaData``, ``PropertyQuota`` from a private
    copy of the official descriptors), so the header reads like the response's.
    ``totals``/``maximums``/``minimums`` are never requested and stay unknown.
    """
    from google.analytics.data_v1beta import types
    from google.protobuf import descriptor_pb2, descriptor_pool, message_factory

    pool = descriptor_pool.DescriptorPool()
    official = types.RunReportResponse.pb().DESCRIPTOR
    _add_file(pool, official.file, set())

    fdp = descriptor_pb2.FileDescriptorProto(
        name="ai_train_model/ga4_flat_page.proto", package="ai_train_model.ga4flat",
        syntax="proto3", dependency=[official.file.name],
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
    for name in ("dimension_headers", "metric_headers", "row_count", "metadata",
                 "property_quota"):
        field = official.fields_by_name[name]
        proto = page.field.add(name=name, number=field.number, type=field.type,
                               label=repeated if _is_repeated(field) else optional)
        if field.message_type is not None:
            proto.type_name = "." + field.message_type.full_name
    pool.Add(fdp)
    return message_factory.GetMessageClass(pool.FindMessageTypeByName("ai_train_model.ga4flat.FlatPage"))


def _is_repeated(field: Any) -> bool:
    flag = getattr(field, "is_repeated", None)  # protobuf >= 5.28; ``label`` is deprecated
    return bool(flag) if flag is not None else field.label == field.LABEL_REPEATED


def _add_file(pool: Any, file: Any, seen: set[str]) -> None:
    """Add ``file`` and its dependencies (dependencies first) to ``pool``."""
    from google.protobuf import descriptor_pb2

    if file.name in seen:
        return
    seen.add(file.name)
    for dependency in file.dependencies:
        _add_file(pool, dependency, seen)
    proto = descriptor_pb2.FileDescriptorProto()
    file.CopyToProto(proto)
    pool.Add(proto)


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
    after page (``bench/README.md``) although the live data stayed
    at one page. Arrow's pool is released after every page (cheap); glibc's
    ``malloc_trim`` only when the resident set has grown by more than
    ``budget`` bytes since the first page, because every trim makes the next
    page fault its memory in again (a trim after every page costs throughput).
    Off glibc/Linux only Arrow's pool is released.

    gRPC's own threads receive pages into per-thread glibc arenas, and each
    arena keeps the page-sized buffer it freed last: ``malloc_trim`` cannot
    return that, and glibc's dynamic trim threshold (raised to about two pages
    after the first large free) keeps it resident, so the resident set grew
    with the number of gRPC threads that happened to receive a page. A
    releaser therefore fixes glibc's trim threshold at :data:`TRIM_THRESHOLD`
    once per process, which lets every arena give such space back as soon as
    it is freed (measured: no throughput cost). Set the environment variable
    ``AI_TRAIN_MODEL_KEEP_MALLOC=1`` to leave the allocator as it is.
    """

    def __init__(self) -> None:
        self.floor: int | None = None
        if os.environ.get("AI_TRAIN_MODEL_KEEP_MALLOC") != "1":
            _fix_trim_threshold(TRIM_THRESHOLD)

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


#: glibc trim threshold set by :class:`MemoryReleaser` (bytes).
TRIM_THRESHOLD = 1 << 20


@functools.lru_cache(maxsize=1)
def _fix_trim_threshold(nbytes: int) -> bool:
    """``mallopt(M_TRIM_THRESHOLD, nbytes)`` once per process; False off glibc."""
    import ctypes
    import ctypes.util

    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):  # not glibc (musl, macOS, Windows)
        return False
    mallopt.argtypes, mallopt.restype = [ctypes.c_int, ctypes.c_int], ctypes.c_int
    m_trim_threshold = -1
    return bool(mallopt(m_trim_threshold, nbytes))


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
