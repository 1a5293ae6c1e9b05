"""Signed model artifacts: build, verify, load, describe.

A trained model travels as one zip with fixed members (``MEMBERS``, plus the
``OPTIONAL_MEMBERS`` a training writes when it has them) and a
``SIGNATURE`` member: JSON ``{"algorithm": "HMAC-SHA256", "members": {name:
sha256}, "hmac": hex}`` where the HMAC (keyed with the deployment's signing
key) covers the canonical JSON of ``members``. ``model.joblib`` is a pickle,
and unpickling runs code, so :func:`load_artifact` *always* verifies the
signature and every member digest before it unpickles anything: a tampered,
unsigned or foreign artifact is refused with :class:`ArtifactError` and its
pickle is never opened.

The zip is written to a temporary file beside the target and moved into place
with :func:`os.replace`, so a crash never leaves a partial artifact.

Command line::

    python -m project.model_artifact verify MODEL.zip [--signing-key KEY]
    python -m project.model_artifact show MODEL.zip [--signing-key KEY]

The key comes from ``--signing-key``, ``--signing-key-file`` or the
environment variable ``AI_TRAIN_MODEL_SIGNING_KEY`` (preferred: a command-line
value is visible to other users in the process list). The key is never printed.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import hmac
import io
import json
import logging
import os
import stat
import subprocess
import sys
import tempfile
import zipfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, Any

from .cli import EXIT_BAD_INPUT, EXIT_FAILURE, EXIT_OK, run_tool, tool_parser
from .errors import ArtifactError, InputError

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd

__all__ = [
    "FORMAT_VERSION",
    "MEMBERS",
    "OPTIONAL_MEMBERS",
    "SIGNATURE_MEMBER",
    "SIGNING_KEY_ENV",
    "LoadedArtifact",
    "build_artifact",
    "verify_artifact",
    "load_artifact",
    "resolve_signing_key",
    "library_versions",
    "code_version",
    "file_sha256",
    "artifact_metadata",
    "main",
]

logger = logging.getLogger(__name__)

#: 2: ``model.joblib`` holds plain data (:mod:`project.model_state`), no class path of this package.
#: 1 (refused on load): it pickled this package's classes under their module paths.
FORMAT_VERSION = 2
SIGNATURE_MEMBER = "SIGNATURE"
SIGNING_KEY_ENV = "AI_TRAIN_MODEL_SIGNING_KEY"
ALGORITHM = "HMAC-SHA256"
MEMBERS = ("model.joblib", "metadata.json", "forecast.csv", "metrics.csv", "MODEL_CARD.md", "report.png")
REQUIRED_MEMBERS = ("model.joblib", "metadata.json")
#: Written when there is something to write; artifacts without them still load.
OPTIONAL_MEMBERS = ("horizon_errors.csv",)

# Limits that keep a hostile zip from exhausting memory or disk while verifying.
MAX_MEMBERS = 32
MAX_MEMBER_BYTES = 1 << 30  # 1 GiB uncompressed per member
MAX_TOTAL_BYTES = 2 << 30
MAX_COMPRESSION_RATIO = 200
MAX_SIGNATURE_BYTES = 64 * 1024

EXIT_INVALID = EXIT_FAILURE  #: the artifact failed verification
EXIT_USAGE = EXIT_BAD_INPUT

_ZIP_DATE = (2020, 1, 1, 0, 0, 0)  # fixed member timestamps: same inputs, same bytes

_LIBRARIES = (
    "numpy",
    "pandas",
    "scipy",
    "statsmodels",
    "scikit-learn",
    "prophet",
    "holidays",
    "joblib",
    "pyarrow",
    "matplotlib",
    "dask",
    "distributed",
    "statsforecast",
)


@dataclass(frozen=True)
class LoadedArtifact:
    """A verified artifact, unpacked."""

    model: Any
    metadata: dict[str, Any]
    forecast: pd.DataFrame
    metrics: pd.DataFrame
    model_card: str
    report_png: bytes
    horizon_errors: Any = None  # pd.DataFrame; empty when the zip has no horizon_errors.csv


# --------------------------------------------------------------------------- keys and digests


def resolve_signing_key(cli_value: str | bytes | None = None) -> bytes:
    """The signing key: ``cli_value`` if given, else ``$AI_TRAIN_MODEL_SIGNING_KEY``.

    Raises :class:`ArtifactError` saying how to provide one when neither is set.
    """
    value: str | bytes | None = (
        cli_value if cli_value not in (None, "", b"") else os.environ.get(SIGNING_KEY_ENV)
    )
    if not value:
        raise ArtifactError(
            "no signing key: pass --signing-key (or --signing-key-file) or set the environment variable "
            f"{SIGNING_KEY_ENV}; in Odoo the key is the system parameter ai_train_model.signing_key"
        )
    return value.encode("utf-8") if isinstance(value, str) else bytes(value)


def _key_bytes(key: str | bytes) -> bytes:
    if isinstance(key, str):
        key = key.encode("utf-8")
    if not key:
        raise ArtifactError("the signing key is empty")
    return bytes(key)


def _canonical(members: Mapping[str, str]) -> bytes:
    return json.dumps(dict(members), sort_keys=True, separators=(",", ":"), ensure_ascii=True).encode("ascii")


def _sign(members: Mapping[str, str], key: bytes) -> str:
    return hmac.new(key, _canonical(members), hashlib.sha256).hexdigest()


def file_sha256(path: str | Path, chunk_size: int = 1 << 20) -> str:
    """Hex SHA-256 of a file, read in chunks (input lineage in the metadata)."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(chunk_size), b""):
            digest.update(chunk)
    return digest.hexdigest()


# --------------------------------------------------------------------------- metadata helpers


def library_versions() -> dict[str, str]:
    """Versions of Python and of the installed scientific libraries (missing ones left out)."""
    import platform
    from importlib import metadata as importlib_metadata

    versions = {"python": platform.python_version()}
    for name in _LIBRARIES:
        try:
            versions[name] = importlib_metadata.version(name)
        except importlib_metadata.PackageNotFoundError:
            continue
    return versions


def code_version() -> str:
    """The package version, plus ``git describe`` of the checkout when there is one."""
    from . import __version__

    root = Path(__file__).resolve().parents[1]
    try:
        described = subprocess.run(
            ["git", "describe", "--always", "--dirty", "--tags"],
            cwd=root,
            capture_output=True,
            text=True,
            timeout=5,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        described = ""
    return f"{__version__}+{described}" if described else __version__


def artifact_metadata(**fields: Any) -> dict[str, Any]:
    """``fields`` plus the entries every artifact carries, unless given.

    Adds ``format_version``, ``created_at`` (UTC, ISO 8601), ``code_version``
    and ``library_versions``. The caller supplies the rest of the issue's list:
    ``horizon``, ``interval_levels``, ``chosen_models``, ``metrics``, ``data``
    (``sha256``, ``rows``, ``series``, ``first_date``, ``last_date``), ``params``.
    """
    import datetime as dt

    meta: dict[str, Any] = {
        "format_version": FORMAT_VERSION,
        "created_at": dt.datetime.now(dt.timezone.utc).replace(microsecond=0).isoformat(),
        "code_version": code_version(),
        "library_versions": library_versions(),
    }
    meta.update(fields)
    return meta


# --------------------------------------------------------------------------- build


def _json_default(value: Any) -> Any:
    import numpy as np
    import pandas as pd

    if isinstance(value, (np.integer,)):
        return int(value)
    if isinstance(value, (np.floating,)):
        return None if not np.isfinite(value) else float(value)
    if isinstance(value, np.bool_):
        return bool(value)
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, (pd.Timestamp,)):
        return value.isoformat()
    if hasattr(value, "isoformat"):
        return value.isoformat()
    if isinstance(value, (set, frozenset, tuple)):
        return list(value)
    if isinstance(value, Path):
        return str(value)
    raise TypeError(f"metadata value of type {type(value).__name__} is not JSON serialisable")


def build_artifact(
    output: str | Path,
    *,
    model: Any,
    metadata: Mapping[str, Any],
    forecast: pd.DataFrame,
    metrics: pd.DataFrame,
    signing_key: str | bytes,
    report_png: bytes = b"",
    model_card: str | None = None,
    horizon_errors: pd.DataFrame | None = None,
) -> Path:
    """Write a signed artifact zip atomically and return its path.

    ``metadata`` gets ``format_version`` when it lacks one; the model card is
    rendered from metadata and metrics unless given; ``horizon_errors``
    (backtest MASE per horizon step) becomes ``horizon_errors.csv`` when it
    has rows. Nothing exists at
    ``output`` until the complete, signed zip is moved there.
    """
    import joblib

    if model_card is None:
        from .model_card import render_model_card

        model_card = render_model_card({"format_version": FORMAT_VERSION, **metadata}, metrics)
    key = _key_bytes(signing_key)
    output = Path(output)
    meta = dict(metadata)
    meta.setdefault("format_version", FORMAT_VERSION)
    model_buffer = io.BytesIO()
    joblib.dump(model, model_buffer, compress=3)
    payload = {
        "model.joblib": model_buffer.getvalue(),
        "metadata.json": json.dumps(
            meta, indent=2, sort_keys=True, default=_json_default, allow_nan=False
        ).encode("utf-8"),
        "forecast.csv": forecast.to_csv(index=False).encode("utf-8"),
        "metrics.csv": metrics.to_csv(index=False).encode("utf-8"),
        "MODEL_CARD.md": model_card.encode("utf-8"),
        "report.png": bytes(report_png),
    }
    if horizon_errors is not None and len(horizon_errors):
        payload["horizon_errors.csv"] = horizon_errors.to_csv(index=False).encode("utf-8")
    digests = {name: hashlib.sha256(data).hexdigest() for name, data in payload.items()}
    signature = {"algorithm": ALGORITHM, "members": digests, "hmac": _sign(digests, key)}
    payload[SIGNATURE_MEMBER] = json.dumps(signature, indent=2, sort_keys=True).encode("utf-8")

    output.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{output.name}.", suffix=".tmp", dir=output.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            with zipfile.ZipFile(handle, "w") as archive:
                for name, data in payload.items():
                    info = zipfile.ZipInfo(name, date_time=_ZIP_DATE)
                    info.external_attr = (stat.S_IFREG | 0o644) << 16
                    # PNG and joblib(compress) are already compressed.
                    info.compress_type = (
                        zipfile.ZIP_STORED if name in ("report.png", "model.joblib") else zipfile.ZIP_DEFLATED
                    )
                    archive.writestr(info, data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp_name, output)
        _fsync_directory(output.parent)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp_name)
        raise
    logger.info("wrote signed artifact %s (%d members)", output, len(payload))
    return output


def _fsync_directory(path: Path) -> None:
    """Make the rename durable (POSIX); a no-op where directories cannot be opened."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


# --------------------------------------------------------------------------- verify and load


def _open_zip(source: str | Path | bytes) -> zipfile.ZipFile:
    if isinstance(source, (bytes, bytearray, memoryview)):
        stream: Any = io.BytesIO(bytes(source))
        label = "the artifact"
    else:
        path = Path(source)
        if not path.is_file():
            raise ArtifactError(f"artifact {str(path)!r} does not exist or is not a file")
        stream = path
        label = repr(path.name)
    try:
        return zipfile.ZipFile(stream)
    except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, ValueError) as exc:
        raise ArtifactError(f"{label} is not a zip archive ({exc})") from exc


def _check_name(name: str) -> None:
    pure = PurePosixPath(name)
    if (
        not name
        or "\\" in name
        or "\x00" in name
        or name.startswith("/")
        or pure.is_absolute()
        or ".." in pure.parts
        or ":" in name
        or len(pure.parts) != 1
    ):
        raise ArtifactError(f"unsafe member name {name!r} (paths and traversal are not allowed)")


def _read_member(archive: zipfile.ZipFile, info: zipfile.ZipInfo, limit: int) -> bytes:
    chunks, total = [], 0
    with archive.open(info) as handle:
        while True:
            chunk = handle.read(1 << 20)
            if not chunk:
                break
            total += len(chunk)
            if total > limit or total > info.file_size:
                raise ArtifactError(f"member {info.filename!r} is larger than declared or allowed")
            chunks.append(chunk)
    return b"".join(chunks)


def verify_artifact(source: str | Path | bytes, key: str | bytes) -> dict[str, bytes]:
    """Check an artifact's signature and members; return the verified member bytes.

    Raises :class:`ArtifactError` with the reason: not a zip, unsafe or
    oversized members, unsigned, signed with another key (or signature
    edited), member modified, added or removed.
    """
    with _open_zip(source) as archive:
        listed = _signed_listing(archive, _key_bytes(key))
        contents: dict[str, bytes] = {}
        for name in sorted(listed):
            data = _read_member(archive, archive.getinfo(name), MAX_MEMBER_BYTES)
            if not hmac.compare_digest(hashlib.sha256(data).hexdigest(), listed[name]):
                raise ArtifactError(f"member {name!r} was modified after signing (sha256 mismatch)")
            contents[name] = data
    return contents


def check_artifact(source: str | Path | bytes, key: str | bytes) -> None:
    """Run the checks of :func:`verify_artifact` without keeping the members.

    Members are hashed chunk by chunk, so checking a large artifact before
    sending it costs a buffer, not the artifact's size in memory.
    """
    with _open_zip(source) as archive:
        listed = _signed_listing(archive, _key_bytes(key))
        for name in sorted(listed):
            info = archive.getinfo(name)
            digest, total = hashlib.sha256(), 0
            with archive.open(info) as handle:
                while chunk := handle.read(1 << 20):
                    total += len(chunk)
                    if total > MAX_MEMBER_BYTES or total > info.file_size:
                        raise ArtifactError(f"member {info.filename!r} is larger than declared or allowed")
                    digest.update(chunk)
            if not hmac.compare_digest(digest.hexdigest(), listed[name]):
                raise ArtifactError(f"member {name!r} was modified after signing (sha256 mismatch)")


def _signed_listing(archive: zipfile.ZipFile, key: bytes) -> dict[str, str]:
    """The member digests the artifact's SIGNATURE lists, once the member
    names, sizes and the signature itself are checked."""
    infos = archive.infolist()
    if len(infos) > MAX_MEMBERS:
        raise ArtifactError(f"the artifact has {len(infos)} members, more than the {MAX_MEMBERS} allowed")
    names = [info.filename for info in infos]
    for name in names:
        _check_name(name)
    repeated = sorted({n for n in names if names.count(n) > 1})
    if repeated:
        raise ArtifactError(f"member(s) {', '.join(map(repr, repeated))} appear more than once")
    total = 0
    for info in infos:
        total += info.file_size
        ratio = info.file_size / max(info.compress_size, 1)
        if (
            info.file_size > MAX_MEMBER_BYTES
            or total > MAX_TOTAL_BYTES
            or (info.file_size > (1 << 20) and ratio > MAX_COMPRESSION_RATIO)
        ):
            raise ArtifactError(
                f"member {info.filename!r} is too large or too compressed "
                f"({info.file_size} bytes, ratio {ratio:.0f}); refusing a possible zip bomb"
            )
    if SIGNATURE_MEMBER not in names:
        raise ArtifactError("the artifact is unsigned: it has no SIGNATURE member")
    try:
        signature = json.loads(
            _read_member(archive, archive.getinfo(SIGNATURE_MEMBER), MAX_SIGNATURE_BYTES)
        )
        algorithm, listed, expected_mac = signature["algorithm"], signature["members"], signature["hmac"]
    except (ValueError, KeyError, TypeError) as exc:
        raise ArtifactError(f"the SIGNATURE member is malformed ({exc.__class__.__name__})") from exc
    if algorithm != ALGORITHM:
        raise ArtifactError(f"unsupported signature algorithm {algorithm!r}; expected {ALGORITHM}")
    if (
        not isinstance(listed, dict)
        or not isinstance(expected_mac, str)
        or not all(isinstance(k, str) and isinstance(v, str) for k, v in listed.items())
    ):
        raise ArtifactError(
            "the SIGNATURE member is malformed (members must map names to sha256 digests)"
        )
    if not hmac.compare_digest(_sign(listed, key), expected_mac):
        raise ArtifactError(
            "signature mismatch: the artifact was signed with a different key (foreign) "
            "or its SIGNATURE was altered"
        )
    present = set(names) - {SIGNATURE_MEMBER}
    added = sorted(present - set(listed))
    removed = sorted(set(listed) - present)
    if added:
        raise ArtifactError(f"member(s) {', '.join(map(repr, added))} were added after signing")
    if removed:
        raise ArtifactError(f"signed member(s) {', '.join(map(repr, removed))} are missing")
    missing_required = [m for m in REQUIRED_MEMBERS if m not in listed]
    if missing_required:
        raise ArtifactError(f"the artifact lacks required member(s) {', '.join(missing_required)}")
    return listed


def _check_format(metadata: Mapping[str, Any]) -> None:
    """Refuse, before unpickling, a ``model.joblib`` this version cannot rebuild."""
    version = metadata.get("format_version") if isinstance(metadata, Mapping) else None
    if version == FORMAT_VERSION:
        return
    if version == 1:
        raise ArtifactError(
            "this model artifact has format version 1, which stored the Python class paths of the "
            "version that trained it and cannot be loaded by this one; retrain the model (its data, "
            "metrics and forecast.csv stay readable in the zip)"
        )
    raise ArtifactError(
        f"this model artifact has format version {version!r}; this version loads format "
        f"{FORMAT_VERSION}: retrain the model, or load it with the version that wrote it"
    )


def load_artifact(source: str | Path | bytes, key: str | bytes) -> LoadedArtifact:
    """Verify an artifact, then unpickle its model and read its tables.

    Verification comes first, always: nothing from ``model.joblib`` is
    unpickled unless the signature and every digest check out, and only in
    the format this version writes.  Our objects are rebuilt from their plain
    states (:func:`project.model_state.from_state`).
    """
    import joblib
    import pandas as pd

    from .model_state import from_state

    contents = verify_artifact(source, key)
    try:
        metadata = json.loads(contents["metadata.json"])
    except ValueError as exc:
        raise ArtifactError("metadata.json is not valid JSON") from exc

    def table(name: str, **kwargs: Any) -> pd.DataFrame:
        data = contents.get(name, b"")
        if not data.strip():
            return pd.DataFrame()
        return pd.read_csv(io.BytesIO(data), **kwargs)

    _check_format(metadata)
    forecast = table("forecast.csv")
    if "ds" in forecast.columns:
        forecast["ds"] = pd.to_datetime(forecast["ds"])
    model = from_state(joblib.load(io.BytesIO(contents["model.joblib"])))
    return LoadedArtifact(
        model=model,
        metadata=metadata,
        forecast=forecast,
        metrics=table("metrics.csv"),
        model_card=contents.get("MODEL_CARD.md", b"").decode("utf-8", errors="replace"),
        report_png=contents.get("report.png", b""),
        horizon_errors=table("horizon_errors.csv"),
    )


# --------------------------------------------------------------------------- CLI


def _build_parser() -> argparse.ArgumentParser:
    parent = argparse.ArgumentParser(add_help=False)
    parent.add_argument("artifact", metavar="MODEL.zip", help="path of the model artifact zip")
    key = parent.add_mutually_exclusive_group()
    key.add_argument(
        "--signing-key",
        metavar="KEY",
        help=f"signing key (default: environment variable {SIGNING_KEY_ENV}); "
        "visible in the process list, prefer the environment or --signing-key-file",
    )
    key.add_argument(
        "--signing-key-file",
        metavar="PATH",
        type=Path,
        help="read the signing key from this file (trailing newline ignored)",
    )
    parser = tool_parser(
        prog="python -m project.model_artifact",
        description="Verify or inspect a signed ai_train_model artifact.",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    sub.add_parser("verify", parents=[parent], help="check the signature; exit 0 intact, 1 otherwise")
    sub.add_parser("show", parents=[parent], help="verify, then print metadata.json")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point; returns ``EXIT_OK`` (0), ``EXIT_INVALID`` (1) or ``EXIT_USAGE`` (2)."""
    return run_tool(_build_parser(), argv, _main, action="verification")


def _main(args: argparse.Namespace) -> int:
    cli_key: str | bytes | None = args.signing_key
    if args.signing_key_file is not None:
        try:
            cli_key = args.signing_key_file.read_bytes().rstrip(b"\r\n")
        except OSError as exc:
            raise InputError(f"cannot read the signing key file: {exc}") from None
    key = resolve_signing_key(cli_key)
    if not Path(args.artifact).is_file():
        raise InputError(f"artifact {args.artifact!r} does not exist or is not a file")
    try:
        contents = verify_artifact(args.artifact, key)
    except ArtifactError as exc:
        print(f"INVALID: {exc}", file=sys.stderr)
        return EXIT_INVALID
    if args.command == "show":
        try:
            metadata = json.loads(contents["metadata.json"])
        except ValueError:
            print("INVALID: metadata.json is not valid JSON", file=sys.stderr)
            return EXIT_INVALID
        print(json.dumps(metadata, indent=2, sort_keys=True))
    else:
        print(f"OK: {args.artifact} is intact ({len(contents)} signed members)")
    return EXIT_OK


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
