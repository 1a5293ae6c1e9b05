"""Register a dataset version in S3: zip + metadata + SHA-256, multipart upload, registry CSV.

Layout in the bucket::

    <prefix>/<name>/v<version>/<name>_v<version>.zip
    <prefix>/datasets.csv        one row per registered version

Registering a version that is already in ``datasets.csv`` with the same
checksum changes nothing; with another checksum it fails. Credentials come
from boto3's standard chain (environment variables, shared profile, instance
role); messages never contain them.
"""

from __future__ import annotations

import csv
import datetime as dt
import hashlib
import io
import json
import logging
import os
import tempfile
import zipfile
from pathlib import Path
from typing import Any

from ..errors import InputError

__all__ = ["RegistryError", "register", "REGISTRY_COLUMNS", "build_zip"]

logger = logging.getLogger(__name__)

REGISTRY_COLUMNS = [
    "name",
    "version",
    "key",
    "sha256",
    "content_sha256",
    "rows",
    "date_min",
    "date_max",
    "size_bytes",
    "parents",
    "registered_at",
]
MULTIPART_CHUNK = 8 << 20


class RegistryError(RuntimeError):
    """S3 refused or could not be reached; the message is safe to show."""


def _scrub(text: str) -> str:
    for var in ("AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_ACCESS_KEY_ID"):
        secret = os.environ.get(var)
        if secret and len(secret) >= 4:
            text = text.replace(secret, "***")
    return text


def build_zip(dataset_path: Path, metadata: dict, out: Path) -> str:
    """Zip ``dataset.parquet``, ``metadata.json`` and ``SHA256SUMS``; returns the parquet's SHA-256."""
    from .metadata import file_sha256

    digest = file_sha256(dataset_path)
    meta_bytes = json.dumps(metadata, ensure_ascii=False, indent=2, sort_keys=True).encode("utf-8")
    sums = f"{digest}  dataset.parquet\n{hashlib.sha256(meta_bytes).hexdigest()}  metadata.json\n"
    with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_STORED) as zf:  # Parquet is compressed already
        zf.write(dataset_path, "dataset.parquet")
        zf.writestr("metadata.json", meta_bytes)
        zf.writestr("SHA256SUMS", sums)
    return digest


def _client(endpoint_url: str | None, region: str | None):
    import boto3
    from botocore.config import Config

    session = boto3.session.Session(region_name=region) if region else boto3.session.Session()
    return session.client(
        "s3",
        endpoint_url=endpoint_url,
        config=Config(retries={"max_attempts": 5, "mode": "standard"}, connect_timeout=10, read_timeout=60),
    )


def _error_text(ex: BaseException) -> str:
    from botocore.exceptions import ClientError, NoCredentialsError, PartialCredentialsError

    if isinstance(ex, ClientError):
        err = ex.response.get("Error", {})
        return _scrub(f"S3 refused: {err.get('Code', '?')}: {err.get('Message', '')}".strip())
    if isinstance(ex, (NoCredentialsError, PartialCredentialsError)):
        return "no AWS credentials found (set AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY or AWS_PROFILE)"
    return _scrub(f"S3 unreachable: {type(ex).__name__}: {ex}")


def _read_registry(client, bucket: str, key: str) -> tuple[list[dict], str | None]:
    from botocore.exceptions import ClientError

    try:
        obj = client.get_object(Bucket=bucket, Key=key)
    except ClientError as ex:
        if ex.response.get("Error", {}).get("Code") in ("NoSuchKey", "404"):
            return [], None
        raise
    text = obj["Body"].read().decode("utf-8-sig")
    return list(csv.DictReader(io.StringIO(text))), obj.get("ETag")


def _registry_bytes(rows: list[dict]) -> bytes:
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=REGISTRY_COLUMNS, extrasaction="ignore", lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return buf.getvalue().encode("utf-8")


def register(
    dataset_path: str | os.PathLike[str],
    bucket: str,
    prefix: str = "datasets",
    endpoint_url: str | None = None,
    region: str | None = None,
    dry_run: bool = False,
    chunk_bytes: int = MULTIPART_CHUNK,
    client: Any = None,
) -> dict:
    """Register a dataset file; returns what was (or would be) done.

    Files above ``chunk_bytes`` go up as a multipart upload in parts of that
    size (S3's minimum part size is 5 MiB). ``client`` is a ready boto3 S3
    client (e.g. built from keys kept in Odoo settings); by default one is
    built from boto3's standard credential chain, ``endpoint_url`` and ``region``.

    Raises :class:`InputError` for a bad dataset or bucket name and
    :class:`RegistryError` when S3 refuses or cannot be reached.
    """
    from boto3.s3.transfer import TransferConfig
    from botocore.exceptions import BotoCoreError, ClientError

    from .metadata import file_sha256, read_metadata

    path = Path(dataset_path)
    if not path.is_file():
        raise InputError(f"dataset {path} does not exist")
    if not bucket or not bucket.replace("-", "").replace(".", "").isalnum() or not 3 <= len(bucket) <= 63:
        raise InputError(f"{bucket!r} is not a valid S3 bucket name")
    meta = read_metadata(path)
    if not meta.get("name") or not meta.get("version"):
        raise InputError(
            f"{path} has no dataset metadata (name, version); create it with "
            "project.importar_datos or dataset_manager merge"
        )
    name, version = meta["name"], int(meta["version"])
    prefix = prefix.strip("/")
    base = f"{prefix}/" if prefix else ""
    key = f"{base}{name}/v{version}/{name}_v{version}.zip"
    registry_key = f"{base}datasets.csv"
    digest = file_sha256(path)
    row = {
        "name": name,
        "version": version,
        "key": key,
        "sha256": digest,
        "content_sha256": meta.get("content_sha256", ""),
        "rows": meta.get("rows", ""),
        "date_min": meta.get("date_min") or "",
        "date_max": meta.get("date_max") or "",
        "size_bytes": path.stat().st_size,
        "parents": ";".join(f"{p.get('name')}@v{p.get('version')}" for p in meta.get("parents", [])),
        "registered_at": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
    }
    result = {
        "bucket": bucket,
        "key": key,
        "registry": registry_key,
        "sha256": digest,
        "row": row,
        "dry_run": dry_run,
        "action": None,
    }
    try:
        client = client if client is not None else _client(endpoint_url, region)
        rows, etag = _read_registry(client, bucket, registry_key)
        existing = [r for r in rows if r.get("name") == name and str(r.get("version")) == str(version)]
        if existing:
            if existing[0].get("sha256") == digest:
                result["action"] = "already-registered"
                return result
            raise RegistryError(
                f"{name} v{version} is already registered with another checksum "
                f"({existing[0].get('sha256', '')[:12]}...); create a new version"
            )
        result["action"] = "would-register" if dry_run else "registered"
        if dry_run:
            client.head_bucket(Bucket=bucket)
            return result
        with tempfile.TemporaryDirectory() as tmp:
            zpath = Path(tmp) / f"{name}_v{version}.zip"
            build_zip(path, meta, zpath)
            result["zip_bytes"] = zpath.stat().st_size
            config = TransferConfig(
                multipart_threshold=chunk_bytes,
                multipart_chunksize=chunk_bytes,
                max_concurrency=4,
                use_threads=True,
            )
            client.upload_file(
                str(zpath),
                bucket,
                key,
                Config=config,
                ExtraArgs={
                    "Metadata": {"sha256": digest, "dataset": name, "version": str(version)},
                    "ContentType": "application/zip",
                },
            )
        # re-read just before writing so a concurrent registration is not lost, then append our row
        rows, _etag = _read_registry(client, bucket, registry_key)
        if not any(r.get("name") == name and str(r.get("version")) == str(version) for r in rows):
            rows.append(row)
            client.put_object(
                Bucket=bucket,
                Key=registry_key,
                Body=_registry_bytes(rows),
                ContentType="text/csv; charset=utf-8",
            )
        return result
    except RegistryError:
        raise
    except (ClientError, BotoCoreError) as ex:
        raise RegistryError(_error_text(ex)) from None
