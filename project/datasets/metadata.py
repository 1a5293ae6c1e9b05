"""Dataset metadata and lineage: a plain JSON-able dict stored inside the Parquet file.

The same dict is what the Odoo ``ai.dataset`` record stores (name, version,
parents, checksum, rows, series count, date range, schema) and what the S3
registration zips as ``metadata.json``.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import re
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from ..errors import InputError

__all__ = [
    "METADATA_KEY",
    "FORMAT_VERSION",
    "content_sha256",
    "file_sha256",
    "build_metadata",
    "write_dataset",
    "read_dataset",
    "read_metadata",
    "check_name",
]

METADATA_KEY = b"ai_train_model.dataset"
FORMAT_VERSION = 1
_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$")


def check_name(name: str) -> str:
    """Dataset names are safe as S3 key parts and CSV cells (no formula prefixes)."""
    if not _NAME_RE.match(name or ""):
        raise InputError(
            f"dataset name {name!r} is not valid: use letters, digits, '.', '_' or '-' "
            "(up to 100 characters, starting with a letter or digit)"
        )
    return name


def content_sha256(table: pa.Table) -> str:
    """SHA-256 of the dataset *content*: column names, types, values and nulls.

    Independent of Parquet encoding, chunking and of the metadata stored next
    to it, so the same rows give the same digest whichever way they were built.
    """
    h = hashlib.sha256()
    h.update(json.dumps([[f.name, str(f.type)] for f in table.schema], separators=(",", ":")).encode())
    h.update(table.num_rows.to_bytes(8, "little"))
    for col in table.columns:
        arr = col.combine_chunks() if col.num_chunks != 1 else col.chunk(0)
        if pa.types.is_dictionary(arr.type):
            arr = arr.dictionary_decode()
        h.update(np.asarray(arr.is_valid().to_numpy(zero_copy_only=False), dtype=np.uint8).tobytes())
        if pa.types.is_string(arr.type) or pa.types.is_large_string(arr.type):
            filled = pc.fill_null(arr, "")
            lengths = pc.binary_length(filled).to_numpy(zero_copy_only=False).astype(np.int64)
            h.update(lengths.tobytes())
            buffers = filled.buffers()
            offsets = np.frombuffer(buffers[1], dtype=np.int32 if pa.types.is_string(arr.type) else np.int64)
            start, stop = offsets[filled.offset], offsets[filled.offset + len(filled)]
            h.update(memoryview(buffers[2])[start:stop] if buffers[2] is not None else b"")
        elif pa.types.is_boolean(arr.type):
            h.update(pc.fill_null(arr, False).to_numpy(zero_copy_only=False).astype(np.uint8).tobytes())
        else:
            values = arr.to_numpy(zero_copy_only=False)
            if values.dtype.kind == "M":
                values = values.astype("datetime64[ns]").view("int64")
            values = (
                np.where(np.asarray(arr.is_valid().to_numpy(zero_copy_only=False)), values, 0)
                if arr.null_count
                else values
            )
            h.update(np.ascontiguousarray(values).tobytes())
    return h.hexdigest()


def file_sha256(path: str | os.PathLike[str]) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _iso_day(value: Any) -> str | None:
    """``YYYY-MM-DD`` of a date or timestamp column's extreme (date32 or timestamp)."""
    if value is None:
        return None
    return (value.date() if isinstance(value, dt.datetime) else value).isoformat()


def build_metadata(
    table: pa.Table,
    *,
    name: str,
    version: int = 1,
    template: str = "sales",
    date_col: str = "date",
    key_cols: Sequence[str] = (),
    source: str = "upload",
    parents: Sequence[Mapping[str, Any]] = (),
    extra: Mapping[str, Any] | None = None,
    created_at: str | None = None,
) -> dict:
    """The metadata dict of a dataset version (JSON-serialisable).

    ``created_at`` (ISO 8601) defaults to now; pass the version's own creation
    time when rebuilding the metadata of an existing version, so the rebuilt
    file, and its checksum, is the same every time."""
    check_name(name)
    dates = table.column(date_col) if date_col in table.column_names else None
    date_min = date_max = None
    if dates is not None and table.num_rows:
        mm = pc.min_max(dates)
        date_min = mm["min"].as_py()
        date_max = mm["max"].as_py()
    key_cols = [k for k in key_cols if k in table.column_names]
    if key_cols and table.num_rows:
        series_count = table.group_by(key_cols).aggregate([]).num_rows
    else:
        series_count = 1 if table.num_rows else 0
    meta = {
        "format_version": FORMAT_VERSION,
        "name": name,
        "version": int(version),
        "source": source,
        "template": template,
        "created_at": created_at or dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "parents": [dict(p) for p in parents],
        "content_sha256": content_sha256(table),
        "rows": int(table.num_rows),
        "series_columns": list(key_cols),
        "date_column": date_col,
        "series_count": int(series_count),
        "date_min": _iso_day(date_min),
        "date_max": _iso_day(date_max),
        "schema": [{"name": f.name, "type": str(f.type)} for f in table.schema],
    }
    if extra:
        meta.update(extra)
    return meta


def write_dataset(table: pa.Table, path: str | os.PathLike[str], metadata: Mapping[str, Any]) -> Path:
    """Write Parquet with ``metadata`` embedded, atomically (temp file + rename)."""
    import pyarrow.parquet as pq

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    schema_meta = dict(table.schema.metadata or {})
    schema_meta[METADATA_KEY] = json.dumps(metadata, ensure_ascii=False).encode("utf-8")
    schema_meta.pop(b"pandas", None)
    table = table.replace_schema_metadata(schema_meta)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        pq.write_table(table, tmp)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def read_metadata(path: str | os.PathLike[str]) -> dict:
    """The embedded metadata of a dataset file ({} for a Parquet file without it)."""
    import pyarrow.parquet as pq

    try:
        schema = pq.read_schema(path)
    except FileNotFoundError:
        raise InputError(f"dataset {path} does not exist") from None
    except (pa.ArrowInvalid, OSError) as ex:
        raise InputError(f"{path} is not a readable Parquet dataset ({ex})"[:300]) from None
    raw = (schema.metadata or {}).get(METADATA_KEY)
    return json.loads(raw) if raw else {}


def read_dataset(path: str | os.PathLike[str]) -> tuple[pa.Table, dict]:
    """Table and metadata of a dataset file."""
    import pyarrow.parquet as pq

    meta = read_metadata(path)
    try:
        table = pq.read_table(path)
    except (pa.ArrowInvalid, OSError) as ex:
        raise InputError(f"{path} is not a readable Parquet dataset ({ex})"[:300]) from None
    return table.replace_schema_metadata(None), meta
