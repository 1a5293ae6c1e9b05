"""Reading uploaded files safely: type sniffing, CSV layout detection, guarded XLSX.

The reader turns bytes into a :class:`RawTable`: the header as found in the
file, the cells as Arrow arrays (still raw text for CSV), and for every row the
number a person sees when opening the file (header = row 1, blank lines count).
It refuses, with a one-line reason, anything that is not what its name says or
that would cost unbounded time or memory: a ``.xlsx`` that is not a ZIP, a ZIP
member that would inflate beyond the configured limit (checked on the ZIP
directory *and* while actually inflating), binary content in a CSV.
"""

from __future__ import annotations

import codecs
import csv
import io
import itertools
import logging
import os
import re
import struct
import zipfile
import zlib
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pyarrow as pa

from ..errors import InputError

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd

__all__ = [
    "Limits",
    "RawTable",
    "CsvLayout",
    "NotUtf8",
    "load_head",
    "load_all",
    "detect_kind",
    "detect_encoding",
    "sniff_csv",
    "read_csv",
    "check_zip",
    "read_xlsx",
    "read_frame",
    "DELIMITERS",
]

logger = logging.getLogger(__name__)

DELIMITERS = (",", ";", "\t", "|")
_DELIM_NAMES = {",": "comma", ";": "semicolon", "\t": "tab", "|": "pipe"}
_HEADER_SCAN_ROWS = 30


@dataclass(frozen=True)
class Limits:
    """Resource limits for untrusted files."""

    max_file_bytes: int = 1 << 30
    #: total size the members of an XLSX may inflate to
    max_uncompressed_bytes: int = 512 << 20
    max_zip_members: int = 10_000
    #: columns read from a sheet (cells further right are ignored)
    max_columns: int = 1_000


@dataclass
class RawTable:
    """Cells as read, before mapping and parsing."""

    columns: list[str]
    table: pa.Table
    row_numbers: np.ndarray
    info: dict = field(default_factory=dict)
    #: rows the reader itself rejected (wrong number of fields): dicts row/column/value/reason
    errors: list[dict] = field(default_factory=list)


# ------------------------------------------------------------------ input
def load_head(
    source: str | os.PathLike[str] | bytes, filename: str | None, limits: Limits, size: int = 1 << 20
) -> tuple[bytes, str]:
    """The first ``size`` bytes and the file's name; refuses empty or oversized files.

    CSV files are then streamed from disk by Arrow: the whole file is never
    held in memory as bytes.
    """
    if isinstance(source, (bytes, bytearray, memoryview)):
        name = filename or "upload.csv"
        total = len(source)
        head = bytes(source[:size])
    else:
        path = Path(source)
        name = filename or path.name
        if path.is_dir():
            raise InputError(f"{path} is a directory, not a file")
        try:
            total = path.stat().st_size
            with open(path, "rb") as fh:
                head = fh.read(size)
        except OSError as ex:
            raise InputError(f"cannot read {path}: {ex.strerror or ex}") from None
    if total > limits.max_file_bytes:
        raise InputError(
            f"{name} is {total / 2**20:,.0f} MiB, above the {limits.max_file_bytes / 2**20:,.0f} MiB limit"
        )
    if not total:
        raise InputError(f"{name!r} is empty (0 bytes)")
    return head, name


def load_all(source: str | os.PathLike[str] | bytes) -> bytes:
    """The whole content (XLSX files, and CSV files needing a full encoding check)."""
    if isinstance(source, (bytes, bytearray, memoryview)):
        return bytes(source)
    try:
        return Path(source).read_bytes()
    except OSError as ex:
        raise InputError(f"cannot read {source}: {ex.strerror or ex}") from None


_MAGIC: tuple[tuple[bytes, str], ...] = (
    (b"%PDF", "a PDF document"),
    (b"\x89PNG", "a PNG image"),
    (b"\xff\xd8\xff", "a JPEG image"),
    (b"GIF8", "a GIF image"),
    (b"\x1f\x8b", "a gzip archive"),
    (b"Rar!", "a RAR archive"),
    (b"7z\xbc\xaf", "a 7-Zip archive"),
    (b"PAR1", "a Parquet file"),
    (b"{\\rtf", "an RTF document"),
)


def detect_kind(data: bytes, filename: str) -> str:
    """``"csv"`` or ``"xlsx"`` from the extension, checked against the content."""
    ext = Path(filename).suffix.lower()
    is_zip = data[:4] in (b"PK\x03\x04", b"PK\x05\x06")
    is_ole = data[:8] == b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
    if ext in (".xlsx", ".xlsm"):
        if is_zip:
            return "xlsx"
        if is_ole:
            raise InputError(
                f"{filename} is not an .xlsx workbook: it is an old-format (.xls) or "
                "password-protected Excel file; save it as .xlsx or CSV"
            )
        raise InputError(
            f"{filename} is not a valid .xlsx file: it is not a ZIP archive"
            + (" (it looks like text; rename it to .csv)" if _looks_like_text(data) else "")
        )
    if ext == ".xls":
        raise InputError(
            f"{filename}: old Excel 97-2003 .xls files are not supported; save it as .xlsx or CSV"
        )
    if ext in (".csv", ".txt", ".tsv", ".tab", ""):
        if is_zip:
            raise InputError(
                f"{filename} is not a CSV text file: it is a ZIP archive "
                "(an Excel .xlsx?); upload it with its .xlsx name"
            )
        if is_ole:
            raise InputError(f"{filename} is not a CSV text file: it is an Excel 97-2003 (.xls) workbook")
        for magic, what in _MAGIC:
            if data.startswith(magic):
                raise InputError(f"{filename} is not a CSV text file: it is {what}")
        head = data[:4096].lstrip(b"\xef\xbb\xbf").lstrip().lower()
        if head.startswith((b"<!doctype html", b"<html", b"<?xml")):
            raise InputError(f"{filename} is not a CSV text file: it is an HTML/XML document")
        return "csv"
    raise InputError(f"{filename}: unsupported file type {ext!r}; expected .csv or .xlsx")


def _looks_like_text(data: bytes) -> bool:
    head = data[:4096]
    return b"\x00" not in head and sum(b < 9 for b in head) == 0


class NotUtf8(Exception):
    """Raised by the CSV readers when a file sniffed as UTF-8 holds invalid UTF-8 further on."""


def detect_encoding(data: bytes, limit: int | None = None) -> str:
    """UTF-8 (with or without BOM), UTF-16 with BOM, else Windows-1252 / Latin-1.

    UTF-8 is checked with an incremental decoder (bounded memory) over the
    first ``limit`` bytes (all when None); the reader validates the rest as it
    converts cells and raises :class:`NotUtf8` if it finds otherwise. Anything
    that is not UTF-8 and has no NUL bytes is a single-byte Western encoding.
    """
    if data.startswith(codecs.BOM_UTF8):
        return "utf-8-sig"
    if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return "utf-16"
    decoder = codecs.getincrementaldecoder("utf-8")()
    step = 1 << 20
    stop = len(data) if limit is None else min(limit, len(data))
    try:
        for start in range(0, stop, step):
            decoder.decode(data[start : min(start + step, stop)], final=min(start + step, stop) >= len(data))
        return "utf-8"
    except UnicodeDecodeError:
        pass
    if b"\x00" in data:
        raise InputError("the file holds binary data (NUL bytes), not CSV text")
    try:
        data.decode("cp1252")
        return "cp1252"
    except UnicodeDecodeError:
        return "latin-1"


# ---------------------------------------------------------------- header
def find_header(rows: Sequence[Sequence[object]], score: Callable[[Sequence[str]], int]) -> int:
    """Index of the header among the first rows: the one naming most template fields.

    Title lines, merged title cells and notes above the header have few cells
    and match no field; without any match the first row holding the most
    non-empty cells is taken.
    """
    best, best_score = -1, 0
    for i, row in enumerate(rows[:_HEADER_SCAN_ROWS]):
        cells = [str(c).strip() for c in row if c is not None and str(c).strip()]
        if not cells:
            continue
        s = score(cells)
        if s > best_score:
            best, best_score = i, s
    if best >= 0:
        return best
    widths = [sum(1 for c in row if c is not None and str(c).strip()) for row in rows[:_HEADER_SCAN_ROWS]]
    if not widths or max(widths) == 0:
        raise InputError("the file has no header row (no non-empty row found)")
    return widths.index(max(widths))


def unique_names(header: Sequence[object]) -> tuple[list[str], list[str]]:
    """Header cells as unique strings (``Unnamed: 3``, ``ventas.1``) and the repeated names."""
    names: list[str] = []
    seen: dict[str, int] = {}
    repeated: list[str] = []
    for i, cell in enumerate(header):
        name = "" if cell is None else str(cell).strip()
        if not name:
            name = f"Unnamed: {i + 1}"
        if name in seen:
            seen[name] += 1
            repeated.append(name)
            name = f"{name}.{seen[name]}"
        else:
            seen[name] = 0
        names.append(name)
    return names, repeated


# ------------------------------------------------------------------- CSV
@dataclass
class CsvLayout:
    """What sniffing found: encoding, delimiter, where the header is."""

    encoding: str  # "utf-8", "utf-8-sig", "utf-16-le", "utf-16-be", "cp1252" or "latin-1"
    delimiter: str
    header_index: int  # 0-based record index of the header
    header_offset: int  # byte offset of the header line in the original file
    columns: list[str]
    repeated_names: list[str]
    newline: str
    sample_rows: list[list[str]]
    quoted: bool = True


_LINE = re.compile(r"[^\r\n]*(?:\r\n|\n|\r|$)")


def _split_lines(text: str, n: int) -> list[str]:
    """Physical lines (CRLF, LF or CR) with their endings; unlike ``str.splitlines``
    never splits on NEL, U+2028 and other characters a CSV treats as text."""
    out: list[str] = []
    for m in _LINE.finditer(text):
        if not m.group(0) or len(out) >= n:
            break
        out.append(m.group(0))
    return out


def _choose_delimiter(lines: list[str]) -> str:
    """The delimiter giving the most rows with the same, largest field count."""
    best, best_key = ",", (-1.0, 0)
    body = [ln for ln in lines if ln.strip()]
    if not body:
        return ","
    for delim in DELIMITERS:
        try:
            counts = [len(r) for r in csv.reader(body, delimiter=delim)]
        except csv.Error:  # e.g. a field over the csv module's 128 KiB limit
            continue
        if not counts:
            continue
        width = max(set(counts), key=lambda c: (counts.count(c), c))
        if width < 2:
            continue
        consistency = counts.count(width) / len(counts)
        key = (consistency, width)
        if key > best_key:
            best, best_key = delim, key
    return best


_SNIFF_BYTES = 1 << 20


def sniff_csv(
    head: bytes, score: Callable[[Sequence[str]], int], *, encoding: str | None = None
) -> CsvLayout:
    """Encoding, delimiter and header position of a CSV file from its first bytes.

    The encoding is judged on ``head`` (the first MiB) unless given; the reader
    raises :class:`NotUtf8` if later bytes disagree and callers retry with
    the encoding found on the whole file.
    """
    encoding = encoding or detect_encoding(head, _SNIFF_BYTES)
    if encoding == "utf-16":
        encoding = "utf-16-le" if head.startswith(codecs.BOM_UTF16_LE) else "utf-16-be"
    bom = {"utf-8-sig": 3, "utf-16-le": 2, "utf-16-be": 2}.get(encoding, 0)
    codec = "utf-8" if encoding == "utf-8-sig" else encoding
    body = head[bom:]
    if codec.startswith("utf-16") and len(body) % 2:
        body = body[:-1]
    text = body.decode(codec, errors="replace")
    lines = _split_lines(text, 200)
    if len(head) >= _SNIFF_BYTES and len(lines) > 1:
        lines = lines[:-1]  # the last sampled line may be cut
    if not any(ln.strip() for ln in lines):
        raise InputError("the file holds no data: every line is blank")
    delimiter = _choose_delimiter(lines)
    newline = "\r\n" if "\r\n" in text else ("\r" if "\r" in text and "\n" not in text else "\n")
    try:
        rows = list(csv.reader([ln.rstrip("\r\n") for ln in lines], delimiter=delimiter))
    except csv.Error as ex:
        raise InputError(f"not a readable CSV file: {ex} in the first lines") from None
    header_index = find_header(rows, score)
    offset = bom + len("".join(lines[:header_index]).encode(codec))
    columns, repeated = unique_names(rows[header_index])
    return CsvLayout(
        encoding,
        delimiter,
        header_index,
        offset,
        columns,
        repeated,
        newline,
        rows[header_index + 1 : header_index + 6],
        '"' in text,
    )


def _open_at(source: str | os.PathLike[str] | bytes, offset: int) -> pa.NativeFile:
    stream = pa.BufferReader(source) if isinstance(source, bytes) else pa.OSFile(os.fspath(source), "rb")
    stream.seek(offset)
    return stream


def read_csv(
    source: str | os.PathLike[str] | bytes,
    layout: CsvLayout,
    wanted: Iterable[str],
    *,
    numeric: Iterable[str] = (),
) -> RawTable:
    """Read the ``wanted`` columns with Arrow's multithreaded, streaming reader.

    Columns are read as dictionary-encoded text (parsed later once per
    distinct value), except ``numeric`` ones, first tried as float64 directly
    by Arrow; if any cell of those does not parse, the file is read again
    with every column as text and the strict parsers report the bad cells.

    Row numbers are exact for clean files (one record per line after the
    header). A file with blank lines or rows of the wrong width is read again
    with Python's ``csv`` module so that every row keeps the number a person
    sees, and ragged rows are reported instead of aborting the import.
    """
    import pyarrow.csv as pacsv

    wanted = list(dict.fromkeys(wanted))
    numeric = [c for c in numeric if c in wanted]
    header_row = layout.header_index + 1  # 1-based, as a person counts
    first_data_row = header_row + 1
    ragged: list[int] = []

    def on_invalid(row: object) -> str:
        ragged.append(1)
        return "error" if len(ragged) > 1 else "skip"

    codec = "utf-8" if layout.encoding == "utf-8-sig" else layout.encoding
    text = pa.dictionary(pa.int32(), pa.string())
    for attempt_numeric in (True, False) if numeric else (False,):
        types = {c: (pa.float64() if attempt_numeric and c in numeric else text) for c in wanted}
        try:
            with _open_at(source, layout.header_offset) as stream:
                table = pacsv.read_csv(
                    stream,
                    read_options=pacsv.ReadOptions(
                        column_names=layout.columns, skip_rows=1, encoding=codec, block_size=1 << 20
                    ),
                    parse_options=pacsv.ParseOptions(
                        delimiter=layout.delimiter,
                        ignore_empty_lines=False,
                        newlines_in_values=layout.quoted,
                        invalid_row_handler=on_invalid,
                    ),
                    convert_options=pacsv.ConvertOptions(
                        include_columns=wanted,
                        column_types=types,
                        null_values=[""],
                        strings_can_be_null=False,
                        quoted_strings_can_be_null=False,
                    ),
                )
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError, UnicodeDecodeError) as ex:
            if isinstance(ex, UnicodeDecodeError) or "UTF8" in str(ex) or "UTF-8" in str(ex):
                raise NotUtf8(str(ex)) from None
            if ragged:
                break
            if attempt_numeric and "conversion error" in str(ex):
                continue
            logger.info("arrow CSV reader gave up (%s); reading with the csv module", ex)
            break
        if ragged:
            break
        rows = np.arange(first_data_row, first_data_row + table.num_rows, dtype=np.int64)
        pa.default_memory_pool().release_unused()  # hand the reader's block buffers back to the OS
        return RawTable(layout.columns, table, rows, _csv_info(layout))
    data = source if isinstance(source, bytes) else Path(source).read_bytes()
    try:
        body = data[layout.header_offset :].decode(codec)
    except UnicodeDecodeError as ex:
        raise NotUtf8(str(ex)) from None
    del data
    return _read_csv_slow(layout, wanted, body, header_row)


def _csv_info(layout: CsvLayout) -> dict:
    return {
        "format": "csv",
        "encoding": layout.encoding,
        "delimiter": _DELIM_NAMES[layout.delimiter],
        "header_row": layout.header_index + 1,
        "newline": {"\r\n": "CRLF", "\n": "LF", "\r": "CR"}[layout.newline],
        "repeated_column_names": layout.repeated_names,
    }


def _read_csv_slow(layout: CsvLayout, wanted: list[str], text: str, header_row: int) -> RawTable:
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=layout.delimiter)
    next(reader, None)  # header
    width = len(layout.columns)
    positions = [layout.columns.index(c) for c in wanted]
    cols: list[list[str | None]] = [[] for _ in wanted]
    rows: list[int] = []
    errors: list[dict] = []
    blank = 0
    record = header_row
    try:
        for fields in reader:
            record += 1
            if not fields or all(not f.strip() for f in fields):
                blank += 1
                continue
            if len(fields) != width:
                errors.append(
                    {
                        "row": record,
                        "column": "",
                        "value": layout.delimiter.join(fields)[:200],
                        "reason": f"expected {width} fields separated by {_DELIM_NAMES[layout.delimiter]}, "
                        f"found {len(fields)}",
                    }
                )
                continue
            rows.append(record)
            for out, pos in zip(cols, positions):
                out.append(fields[pos])
    except csv.Error as ex:
        raise InputError(f"row {record + 1}: the CSV cannot be parsed ({ex})") from None
    table = pa.table({c: pa.array(v, pa.string()) for c, v in zip(wanted, cols)})
    info = _csv_info(layout) | {"blank_rows": blank, "slow_path": True}
    return RawTable(layout.columns, table, np.asarray(rows, dtype=np.int64), info, errors)


# ------------------------------------------------------------ training input
#: Cells read as missing in a training table (pandas' defaults, which this reader replaced).
NA_STRINGS = (
    "#N/A", "#N/A N/A", "#NA", "-1.#IND", "-1.#QNAN", "-NaN", "-nan", "1.#IND", "1.#QNAN",
    "<NA>", "N/A", "NA", "NULL", "NaN", "None", "n/a", "nan", "null",
)  # fmt: skip


def read_frame(
    source: str | os.PathLike[str] | bytes, filename: str | None = None, limits: Limits | None = None
) -> pd.DataFrame:
    """A CSV or Parquet table (the input of a training) as a DataFrame, within ``limits``.

    The reading path of an import: the size limit, encoding detection,
    delimiter and header sniffing and Arrow's streaming CSV reader.  Parquet
    is recognised by its magic bytes whatever the extension, and refused when
    its row groups would inflate beyond ``limits.max_uncompressed_bytes``.
    CSV cells are read as text and trimmed; blank cells and pandas' usual
    missing markers (``NA``, ``NaN``, ``null``...) are missing, and a column
    whose every other cell is a plain number becomes numeric.  Dates, decimal
    commas and thousands separators are left to :mod:`project.preparation`,
    which decides them per column.
    """

    limits = limits or Limits()
    if not isinstance(source, (bytes, bytearray, memoryview)):
        path = Path(source)
        if not path.is_file():
            raise InputError(f"input file {str(path)!r} does not exist or is not a file")
    head, name = load_head(source, filename, limits)
    if head[:4] == b"PAR1":
        frame = _read_parquet_frame(source, name, limits)
    else:
        if b"\x00" in head[:4096] and not head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
            raise InputError(
                f"input file {name!r} is neither CSV text nor Parquet "
                "(binary content; Excel files must be exported to CSV first)"
            )
        frame = _csv_frame(_read_whole_csv(source, head, name), name)
    if frame.empty:
        raise InputError(f"input file {name!r} has a header but no data rows")
    return frame


def _read_parquet_frame(source: str | os.PathLike[str] | bytes, name: str, limits: Limits) -> pd.DataFrame:
    import pyarrow.parquet as pq

    try:
        parquet = pq.ParquetFile(pa.BufferReader(source) if isinstance(source, bytes) else os.fspath(source))
        meta = parquet.metadata
        inflated = sum(meta.row_group(i).total_byte_size for i in range(meta.num_row_groups))
        if inflated > limits.max_uncompressed_bytes:
            raise InputError(
                f"input file {name!r} would inflate to {inflated / 2**20:,.0f} MiB, above the "
                f"{limits.max_uncompressed_bytes / 2**20:,.0f} MiB limit"
            )
        return parquet.read().to_pandas()
    except InputError:
        raise
    except Exception as exc:  # noqa: BLE001 - pyarrow raises many types for corrupt files
        raise InputError(f"input file {name!r} looks like Parquet but cannot be read: {exc}") from None


def _read_whole_csv(source: str | os.PathLike[str] | bytes, head: bytes, name: str) -> RawTable:
    """Every column of a CSV file as text; the first non-blank line is the header."""
    encoding = None
    for attempt in range(2):
        layout = sniff_csv(head, lambda cells: 1, encoding=encoding)
        try:
            raw = read_csv(source, layout, layout.columns)
            break
        except NotUtf8:
            if attempt:
                raise InputError(f"{name}: the text encoding cannot be determined") from None
            encoding = detect_encoding(load_all(source))
    if raw.errors:
        first = raw.errors[0]
        more = f" (and {len(raw.errors) - 1} more rows)" if len(raw.errors) > 1 else ""
        raise InputError(f"input file {name!r} is not valid CSV: row {first['row']}: {first['reason']}{more}")
    return raw


def _csv_frame(raw: RawTable, name: str) -> pd.DataFrame:
    import pandas as pd
    import pyarrow.compute as pc

    columns = {}
    for column in raw.columns:
        values = raw.table.column(column)
        if pa.types.is_dictionary(values.type):
            values = values.cast(pa.string())
        text = pc.utf8_trim_whitespace(values.cast(pa.string()))
        missing = pc.or_(pc.equal(text, ""), pc.is_in(text, value_set=pa.array(NA_STRINGS)))
        series = pd.Series(
            pc.if_else(missing, pa.scalar(None, pa.string()), text).to_pandas(), dtype=object, name=column
        )
        numbers = pd.to_numeric(series, errors="coerce")
        if series.notna().any() and numbers.notna().sum() == series.notna().sum():
            series = numbers
        columns[column] = series
    return pd.DataFrame(columns)


# ------------------------------------------------------------------ XLSX
_LOCAL_HEADER = struct.Struct("<4s5H3L2H")


def check_zip(data: bytes, limits: Limits, filename: str = "file") -> dict:
    """Refuse ZIP bombs before any XML parser sees the workbook.

    Two checks: the sizes the ZIP directory declares, and then each member
    actually inflated in 1 MiB steps, stopping as soon as it exceeds its
    declared size or the remaining budget. A member that lies about its size
    therefore costs at most the budget, never gigabytes. Returns
    ``{"formulas": bool}``: whether a worksheet holds formula cells.
    """
    try:
        zf = zipfile.ZipFile(io.BytesIO(data))
    except (zipfile.BadZipFile, zipfile.LargeZipFile, ValueError, OSError) as ex:
        raise InputError(f"{filename} is not a valid .xlsx file: damaged ZIP archive ({ex})") from None
    with zf:
        infos = zf.infolist()
        if len(infos) > limits.max_zip_members:
            raise InputError(
                f"{filename} has {len(infos)} ZIP members, above the limit of {limits.max_zip_members}"
            )
        names = {i.filename for i in infos}
        if "xl/workbook.xml" not in names:
            raise InputError(
                f"{filename} is a ZIP archive but not an Excel workbook (xl/workbook.xml missing)"
            )
        limit_mb = limits.max_uncompressed_bytes / 2**20
        total = 0
        for info in infos:
            total += info.file_size
            if max(info.file_size, total) > limits.max_uncompressed_bytes:
                raise InputError(
                    f"{filename}: member {info.filename!r} would inflate to "
                    f"{info.file_size / 2**20:,.0f} MiB "
                    f"(total {total / 2**20:,.0f} MiB), above the {limit_mb:,.0f} MiB limit for workbooks"
                )
            if info.compress_type not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED):
                raise InputError(
                    f"{filename}: member {info.filename!r} uses an unsupported compression method"
                )
        budget = limits.max_uncompressed_bytes
        formulas = False
        for info in infos:
            size, has_f = _inflated_size(
                data,
                info,
                min(info.file_size, budget),
                filename,
                limit_mb,
                info.filename.startswith("xl/worksheets/"),
            )
            budget -= size
            formulas |= has_f
        return {"formulas": formulas}


def _inflated_size(
    data: bytes, info: zipfile.ZipInfo, allowed: int, filename: str, limit_mb: float, scan: bool = False
) -> tuple[int, bool]:
    start = info.header_offset
    header = data[start : start + _LOCAL_HEADER.size]
    if len(header) < _LOCAL_HEADER.size or header[:4] != b"PK\x03\x04":
        raise InputError(f"{filename} is not a valid .xlsx file: damaged ZIP member {info.filename!r}")
    name_len, extra_len = _LOCAL_HEADER.unpack(header)[-2:]
    begin = start + _LOCAL_HEADER.size + name_len + extra_len
    payload = memoryview(data)[begin : begin + info.compress_size]
    found = False
    if info.compress_type == zipfile.ZIP_STORED:
        size = len(payload)
        found = scan and (b"<f>" in payload or b"<f " in payload)
    else:
        inflater = zlib.decompressobj(-zlib.MAX_WBITS)
        size = 0
        pos = 0
        step = 1 << 16
        pending = b""
        while True:
            if inflater.unconsumed_tail:
                chunk = inflater.decompress(inflater.unconsumed_tail, 1 << 20)
            elif pos < len(payload):
                chunk = inflater.decompress(payload[pos : pos + step], 1 << 20)
                pos += step
            else:
                break
            size += len(chunk)
            if scan and not found:
                window = pending + chunk[:8]
                found = b"<f>" in chunk or b"<f " in chunk or b"<f>" in window or b"<f " in window
                pending = chunk[-8:]
            if size > allowed:
                raise InputError(
                    f"{filename}: member {info.filename!r} inflates beyond its declared size of "
                    f"{info.file_size:,} bytes or the {limit_mb:,.0f} MiB limit (a ZIP bomb?); refused"
                )
            if inflater.eof:
                break
        del pending
    if size > allowed:
        raise InputError(f"{filename}: member {info.filename!r} is larger than declared; refused")
    return size, found


def read_xlsx(
    data: bytes, filename: str, sheet: str | None, score: Callable[[Sequence[str]], int], limits: Limits
) -> RawTable:
    """Read one sheet with openpyxl in read-only mode, values only (cached formula results)."""
    zip_info = check_zip(data, limits, filename)
    import openpyxl
    from openpyxl.utils.exceptions import InvalidFileException

    try:
        wb = openpyxl.load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    except (InvalidFileException, zipfile.BadZipFile, KeyError, ValueError, TypeError, OSError) as ex:
        raise InputError(
            f"{filename} is not a readable .xlsx workbook ({type(ex).__name__}: {ex})"[:300]
        ) from None
    except Exception as ex:  # noqa: BLE001 - malformed XML surfaces as many types
        raise InputError(f"{filename} is not a readable .xlsx workbook ({type(ex).__name__})") from None
    try:
        raw = _read_sheet(wb, filename, sheet, score, limits.max_columns)
        if zip_info["formulas"]:
            _fill_uncached_formulas(data, raw)
        return raw
    except InputError:
        raise
    except Exception as ex:  # noqa: BLE001
        raise InputError(f"{filename}: the sheet cannot be read ({type(ex).__name__}: {ex})"[:300]) from None
    finally:
        wb.close()


def _read_sheet(wb, filename: str, sheet: str | None, score, max_columns: int) -> RawTable:
    names = wb.sheetnames
    if sheet is not None:
        if sheet not in names:
            raise InputError(
                f"{filename} has no sheet {sheet!r}; its sheets are: {', '.join(map(repr, names))}"
            )
        candidates = [sheet]
    else:
        candidates = names
    for name in candidates:
        ws = wb[name]
        # Ignore the declared <dimension>: a forged "A1:XFD1048576" would make openpyxl pad every
        # row to 16,384 cells. Without it rows keep only their real cells, capped at max_columns.
        ws.reset_dimensions()
        rows_iter = ws.iter_rows(values_only=True, max_col=max_columns)
        head: list[tuple] = []
        for row in rows_iter:
            head.append(row)
            if len(head) >= _HEADER_SCAN_ROWS:
                break
        if not any(any(c is not None and str(c).strip() for c in row) for row in head):
            if sheet is not None:
                raise InputError(f"{filename}: sheet {sheet!r} is empty")
            continue
        header_index = find_header(head, score)
        header = head[header_index]
        # ``max_col`` pads every row with None up to max_columns: the table is as wide as the
        # last filled header cell or data cell, never as wide as the padding.
        width = _filled_width(header)
        cols: list[list[object]] = [[] for _ in range(width)]
        row_numbers: list[int] = []
        blank = 0
        numbered = itertools.chain(
            enumerate(head[header_index + 1 :], start=header_index + 2),
            enumerate(rows_iter, start=len(head) + 1),
        )
        filler: tuple | None = None  # openpyxl yields one shared tuple for every missing row
        for number, row in numbered:
            if row is filler:
                blank += 1
                continue
            if not any(c is not None and not (isinstance(c, str) and not c.strip()) for c in row):
                blank += 1
                if all(c is None for c in row):
                    filler = row
                continue
            if len(row) > width:
                tail = row[width:]
                if tail.count(None) != len(tail):  # C-speed check; the scan below is rare
                    wider = width + _filled_width(tail)
                    cols.extend([None] * len(row_numbers) for _ in range(wider - width))
                    width = wider
            row_numbers.append(number)
            for j in range(width):
                cols[j].append(row[j] if j < len(row) else None)
        columns, repeated = unique_names(list(header[:width]) + [None] * (width - len(header)))
        table = pa.table({c: _to_arrow(v) for c, v in zip(columns, cols)})
        info = {
            "format": "xlsx",
            "sheet": name,
            "header_row": header_index + 1,
            "blank_rows": blank,
            "repeated_column_names": repeated,
            "sheets": names,
        }
        return RawTable(columns, table, np.asarray(row_numbers, dtype=np.int64), info)
    raise InputError(f"{filename}: every sheet is empty ({', '.join(map(repr, names))})")


def _filled_width(cells: Sequence[object]) -> int:
    """Number of cells up to the last one holding a value (None and blank text are empty)."""
    for i in range(len(cells) - 1, -1, -1):
        cell = cells[i]
        if cell is not None and not (isinstance(cell, str) and not cell.strip()):
            return i + 1
    return 0


def _fill_uncached_formulas(data: bytes, raw: RawTable) -> None:
    """Show formulas whose result was never saved as their text (``=B2*2``), not as blanks.

    Files written by scripts often hold formulas without cached results; read
    with ``data_only`` they look empty. A second read-only pass finds them so
    the error says "formula without a saved result" instead of "missing".
    """
    import openpyxl

    wb = openpyxl.load_workbook(io.BytesIO(data), read_only=True, data_only=False)
    try:
        ws = wb[raw.info["sheet"]]
        position = {int(r): i for i, r in enumerate(raw.row_numbers)}
        found: dict[int, dict[int, str]] = {}
        for number, row in enumerate(ws.iter_rows(values_only=True), start=1):
            i = position.get(number)
            if i is None:
                continue
            for j, value in enumerate(row[: len(raw.columns)]):
                if isinstance(value, str) and value.startswith("="):
                    found.setdefault(j, {})[i] = value
    finally:
        wb.close()
    for j, cells in found.items():
        col = raw.columns[j]
        current = raw.table.column(col).to_pylist()
        changed = False
        for i, formula in cells.items():
            if current[i] is None:
                current[i] = formula
                changed = True
        if changed:
            raw.table = raw.table.set_column(j, col, _to_arrow(current))
    raw.info["formula_cells"] = sum(len(c) for c in found.values())


def _to_arrow(values: list[object]) -> pa.Array:
    """A column of Python cell values as one Arrow array: numbers, timestamps or text."""
    import datetime as dt

    kinds = {type(v) for v in values if v is not None}
    if kinds and kinds <= {int, float}:
        return pa.array(values, pa.float64())
    if kinds and kinds <= {dt.datetime, dt.date}:
        return pa.array(
            [
                None if v is None else dt.datetime(v.year, v.month, v.day) if type(v) is dt.date else v
                for v in values
            ],
            pa.timestamp("us"),
        )
    out: list[str | None] = []
    for v in values:
        if v is None:
            out.append(None)
        elif isinstance(v, str):
            out.append(v)
        elif isinstance(v, bool):
            out.append("true" if v else "false")
        elif isinstance(v, float):
            out.append(repr(v) if not v.is_integer() else str(int(v)))
        elif isinstance(v, (dt.datetime, dt.date, dt.time)):
            out.append(v.isoformat())
        else:
            out.append(str(v))
    return pa.array(out, pa.string())
