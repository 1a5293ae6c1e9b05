"""Checked, resumable GA4 report downloads.

The date range is cut into chunks of ``chunk_days``; each chunk is paged with
``limit``/``offset`` (ordered by every dimension, so offsets are stable) and
every page is checked against the chunk's ``rowCount``: a ``rowCount`` that
changes between pages, or a page shorter than ``limit`` before the end, stops
the download with an error instead of losing rows silently.

After every page the rows go to the partial output (one Parquet row group or
CSV lines) and the checkpoint is saved. When the property's token quota runs
out the download stops with ``status == "stopped"``; the same call made later
resumes from the checkpoint and the final file is byte-identical to an
uninterrupted download. The partial file is renamed onto the output only when
everything arrived, so a failed run never leaves a truncated output.
"""

from __future__ import annotations

import datetime as dt
import difflib
import logging
import os
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from ..errors import InputError
from .checkpoint import Checkpoint, load_checkpoint, remove_checkpoint, save_checkpoint
from .client import (
    RetryPolicy,
    data_client,
    describe_api_error,
    is_quota_exhausted,
    make_retry,
    run_report_wire,
)
from .credentials import ServiceAccountKey, load_service_account
from .errors import KEY_REFUSED_ADVICE, DownloadError, QuotaExhaustedError

__all__ = [
    "RunStats",
    "ReportRequest",
    "download_report",
    "validate_fields",
    "date_chunks",
    "MAX_PAGE_SIZE",
]

logger = logging.getLogger(__name__)

MAX_PAGE_SIZE = 250_000
MAX_DIMENSIONS = 9
MAX_METRICS = 10


@dataclass
class ReportRequest:
    """What to download. Dates are ISO ``YYYY-MM-DD`` strings or dates."""

    property_id: str
    start_date: str
    end_date: str
    dimensions: list[str]
    metrics: list[str]
    page_size: int = 100_000
    chunk_days: int = 30

    def __post_init__(self) -> None:
        from .access import normalize_property_id

        self.property_id = normalize_property_id(self.property_id)
        self.start_date = _iso(self.start_date, "start date")
        self.end_date = _iso(self.end_date, "end date")
        if self.end_date < self.start_date:
            raise InputError(f"end date {self.end_date} is before start date {self.start_date}")
        self.dimensions = _names(self.dimensions, "dimension", MAX_DIMENSIONS)
        self.metrics = _names(self.metrics, "metric", MAX_METRICS, required=True)
        overlap = set(self.dimensions) & set(self.metrics)
        if overlap:
            raise InputError(f"names used both as dimension and metric: {', '.join(sorted(overlap))}")
        if not 1 <= int(self.page_size) <= MAX_PAGE_SIZE:
            raise InputError(f"page size must be between 1 and {MAX_PAGE_SIZE}, got {self.page_size}")
        if int(self.chunk_days) < 1:
            raise InputError(f"chunk days must be at least 1, got {self.chunk_days}")
        self.page_size, self.chunk_days = int(self.page_size), int(self.chunk_days)


@dataclass
class RunStats:
    """What a download did, ready to store on a run record (``to_dict()`` is JSON).

    Totals cover the whole download across resumed attempts; ``attempts``
    counts the calls that worked on it. ``quota_remaining`` is the last
    ``propertyQuota`` seen (``{"tokens_per_day": {"consumed", "remaining"}, ...}``);
    ``tokens_consumed`` sums ``tokensPerDay.consumed`` over all pages.
    """

    status: str = "running"  # complete | stopped | failed
    stop_reason: str = ""  # quota_exhausted | cancelled (with status stopped)
    pages: int = 0
    rows: int = 0
    chunks_done: int = 0
    chunks_total: int = 0
    retries: int = 0
    attempts: int = 0
    duration_s: float = 0.0
    tokens_consumed: int = 0
    quota_remaining: dict[str, dict[str, int]] = field(default_factory=dict)
    subject_to_thresholding: bool = False
    data_loss_from_other_row: bool = False
    sampling_metadatas: list[dict[str, Any]] = field(default_factory=list)
    columns: dict[str, str] = field(default_factory=dict)
    output: str = ""
    message: str = ""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def date_chunks(start: str, end: str, days: int) -> list[tuple[str, str]]:
    """``[(start, end), ...]`` ISO date pairs of at most ``days`` days covering the range."""
    d0, d1 = dt.date.fromisoformat(start), dt.date.fromisoformat(end)
    out = []
    while d0 <= d1:
        stop = min(d0 + dt.timedelta(days=days - 1), d1)
        out.append((d0.isoformat(), stop.isoformat()))
        d0 = stop + dt.timedelta(days=1)
    return out


def validate_fields(client: Any, request: ReportRequest, *, retry: Any = None,
                    timeout: float | None = None) -> dict[str, str]:
    """Check the names against the property's metadata and their combination with
    ``checkCompatibility``; return ``{metric: GA4 MetricType name}``.

    Raises ``InputError`` naming unknown or incompatible fields (with close
    matches), ``DownloadError`` when the property cannot be read.
    """
    from google.analytics.data_v1beta import types

    prop = f"properties/{request.property_id}"
    try:
        meta = client.get_metadata(name=f"{prop}/metadata", retry=retry, timeout=timeout)
    except Exception as exc:
        raise _api_failure(exc, f"reading the metadata of {prop}") from None
    known_dims = {d.api_name for d in meta.dimensions}
    metric_types = {m.api_name: getattr(m.type_, "name", str(m.type_)) for m in meta.metrics}
    problems = []
    for kind, names, known in (("dimension", request.dimensions, known_dims),
                               ("metric", request.metrics, metric_types)):
        for name in names:
            if name not in known:
                close = difflib.get_close_matches(name, known, n=3)
                hint = f" (did you mean {', '.join(close)}?)" if close else ""
                problems.append(f"unknown {kind} {name!r} for {prop}{hint}")
    if problems:
        raise InputError("; ".join(problems))
    try:
        compat = client.check_compatibility(
            types.CheckCompatibilityRequest(
                property=prop,
                dimensions=[types.Dimension(name=d) for d in request.dimensions],
                metrics=[types.Metric(name=m) for m in request.metrics],
            ),
            retry=retry, timeout=timeout,
        )
    except Exception as exc:
        raise _api_failure(exc, f"checking the compatibility of the fields on {prop}") from None
    bad = [c.dimension_metadata.api_name for c in compat.dimension_compatibilities
           if c.compatibility == types.Compatibility.INCOMPATIBLE]
    bad += [c.metric_metadata.api_name for c in compat.metric_compatibilities
            if c.compatibility == types.Compatibility.INCOMPATIBLE]
    if bad:
        raise InputError(f"these fields cannot be requested together on {prop}: {', '.join(bad)}; "
                         "remove one side of the incompatible combination")
    return {m: metric_types[m] for m in request.metrics}


def download_report(
    credentials_info: ServiceAccountKey | Mapping[str, Any] | str | bytes,
    request: ReportRequest,
    output: str | os.PathLike[str],
    *,
    checkpoint_path: str | os.PathLike[str] | None = None,
    api_endpoint: str | None = None,
    transport: str | None = None,
    retry_policy: RetryPolicy | None = None,
    on_page: Callable[[RunStats], bool | None] | None = None,
    restart: bool = False,
    client: Any = None,
) -> RunStats:
    """Download ``request`` into ``output`` (``.csv`` or ``.parquet``), resuming if a
    checkpoint of the same request exists.

    Returns :class:`RunStats` with ``status`` ``"complete"`` (output written,
    checkpoint removed) or ``"stopped"`` (quota exhausted, or ``on_page``
    returned ``False``; call again later with the same arguments to resume).
    Raises ``InputError`` for bad arguments, credentials or field names (and a
    checkpoint written for another request, unless ``restart``) and
    :class:`DownloadError` (``.reason``, ``.stats``) when the download fails;
    the checkpoint then still allows a resume (after a changed ``rowCount`` it
    points at the start of the chunk concerned). ``checkpoint_path`` defaults
    to ``<output>.checkpoint.json``; ``client`` replaces the Data API client
    (a ``BetaAnalyticsDataClient`` already built, e.g. for another transport).
    """
    from .report import open_sink, output_format, output_schema

    started = time.monotonic()
    key = (credentials_info if isinstance(credentials_info, ServiceAccountKey)
           else load_service_account(credentials_info))
    output = Path(output)
    fmt = output_format(output)
    checkpoint_path = Path(checkpoint_path) if checkpoint_path else output.with_name(
        output.name + ".checkpoint.json")
    partial = output.with_name(output.name + ".partial")
    policy = retry_policy or RetryPolicy()
    fingerprint = {
        "property_id": request.property_id, "start_date": request.start_date,
        "end_date": request.end_date, "dimensions": request.dimensions,
        "metrics": request.metrics, "page_size": request.page_size,
        "chunk_days": request.chunk_days, "format": fmt, "output": str(output.resolve()),
    }
    if restart:
        remove_checkpoint(checkpoint_path)
    checkpoint = load_checkpoint(checkpoint_path)
    if checkpoint is not None and checkpoint.fingerprint != fingerprint:
        changed = sorted(k for k in fingerprint if checkpoint.fingerprint.get(k) != fingerprint[k])
        raise InputError(
            f"checkpoint {checkpoint_path} belongs to another download (differs in "
            f"{', '.join(changed)}); delete it, pass another checkpoint, or restart"
        )

    stats = RunStats(output=str(output))
    if checkpoint is not None:
        stats = RunStats(**{**checkpoint.stats, "status": "running", "stop_reason": "",
                            "message": ""})
    stats.attempts += 1
    previous_duration = stats.duration_s

    def on_error(exc: BaseException) -> None:
        stats.retries += 1
        logger.warning("GA4 call failed, retrying with backoff: %s", describe_api_error(exc))

    retry = make_retry(policy, on_error=on_error)
    if client is None:
        client = data_client(key, api_endpoint, transport)
    metric_types = validate_fields(client, request, retry=retry, timeout=policy.timeout)
    schema = output_schema(request.dimensions, metric_types)
    stats.columns = {f.name: str(f.type) for f in schema}
    chunks = date_chunks(request.start_date, request.end_date, request.chunk_days)
    stats.chunks_total = len(chunks)

    sink = None
    if checkpoint is not None and checkpoint.sink_state is not None:
        try:
            sink = open_sink(fmt, partial, schema, checkpoint.sink_state)
            logger.info("resuming %s at chunk %d/%d, offset %d", output, checkpoint.chunk_index + 1,
                        len(chunks), checkpoint.offset)
        except (ValueError, OSError) as exc:
            logger.warning("cannot resume from %s (%s): starting over", partial, exc)
            checkpoint = None
            stats = RunStats(output=str(output), attempts=stats.attempts, retries=stats.retries,
                             columns=stats.columns, chunks_total=len(chunks))
    if sink is None:
        checkpoint = Checkpoint(fingerprint=fingerprint, partial=str(partial))
        sink = open_sink(fmt, partial, schema, None)
        checkpoint.sink_state = checkpoint.chunk_sink_state = sink.state()

    def save() -> None:
        stats.duration_s = previous_duration + (time.monotonic() - started)
        checkpoint.stats = stats.to_dict()
        save_checkpoint(checkpoint_path, checkpoint)

    try:
        _download_chunks(client, request, chunks, schema, sink, checkpoint, stats, retry,
                         policy, save, on_page)
    except QuotaExhaustedError as exc:
        sink.close()
        stats.status, stats.stop_reason = "stopped", "quota_exhausted"
        stats.message = (f"stopped at chunk {checkpoint.chunk_index + 1}/{len(chunks)}: {exc}; "
                         f"run again to resume from {checkpoint_path}")
        save()
        return stats
    except _Cancelled:
        sink.close()
        stats.status, stats.stop_reason = "stopped", "cancelled"
        stats.message = f"stopped by the caller; run again to resume from {checkpoint_path}"
        save()
        return stats
    except DownloadError as exc:
        sink.close()
        stats.status, stats.message = "failed", str(exc)
        if stats.pages == 0:  # nothing to resume: leave no partial file behind
            partial.unlink(missing_ok=True)
            remove_checkpoint(checkpoint_path)
        else:
            save()
        exc.stats = stats
        raise
    except BaseException:
        sink.close()
        stats.status = "failed"
        save()
        raise
    sink.close()
    os.replace(partial, output)
    stats.status = "complete"
    stats.chunks_done = len(chunks)
    stats.duration_s = previous_duration + (time.monotonic() - started)
    stats.message = f"{stats.rows} rows in {stats.pages} pages written to {output}"
    remove_checkpoint(checkpoint_path)
    logger.info(stats.message)
    return stats


class _Cancelled(Exception):
    pass


def _download_chunks(client: Any, request: ReportRequest, chunks: list[tuple[str, str]],
                     schema: Any, sink: Any, checkpoint: Checkpoint, stats: RunStats, retry: Any,
                     policy: RetryPolicy, save: Callable[[], None],
                     on_page: Callable[[RunStats], bool | None] | None) -> None:
    from google.analytics.data_v1beta import types

    from .report import MemoryReleaser, decode_page, page_table

    fetch_page = run_report_wire(client)
    prop = f"properties/{request.property_id}"
    dims = [types.Dimension(name=d) for d in request.dimensions]
    mets = [types.Metric(name=m) for m in request.metrics]
    order = [types.OrderBy(dimension=types.OrderBy.DimensionOrderBy(dimension_name=d))
             for d in request.dimensions]
    expected_types = {f.name: f.type for f in schema}
    release_memory = MemoryReleaser()
    while checkpoint.chunk_index < len(chunks):
        start, end = chunks[checkpoint.chunk_index]
        while True:
            offset = checkpoint.offset
            req = types.RunReportRequest(
                property=prop, dimensions=dims, metrics=mets,
                date_ranges=[types.DateRange(start_date=start, end_date=end)],
                limit=request.page_size, offset=offset, order_bys=order,
                return_property_quota=True,
            )
            where = f"{prop} {start}..{end} at offset {offset}"
            try:
                wire = fetch_page(req, retry=retry, timeout=policy.timeout)
            except Exception as exc:
                if is_quota_exhausted(exc):
                    raise QuotaExhaustedError(describe_api_error(exc)) from None
                raise _api_failure(exc, f"runReport {prop} {start}..{end} offset {offset}") from None
            page_bytes = len(wire)
            try:
                page = decode_page(wire)
            except ValueError as exc:
                raise DownloadError(f"{where}: {exc}", reason="bad_value") from None
            del wire
            head, n = page.head, page.rows
            row_count = head.row_count
            if checkpoint.row_count is not None and row_count != checkpoint.row_count:
                was = checkpoint.row_count
                # GA4 revised the data mid-chunk: point the checkpoint at the chunk start.
                checkpoint.offset, checkpoint.row_count = 0, None
                checkpoint.sink_state = checkpoint.chunk_sink_state
                raise DownloadError(
                    f"rowCount changed from {was} to {row_count} while paging {where}: GA4 "
                    "revised the data; run again to download this chunk afresh",
                    reason="row_count_changed")
            if (n < request.page_size and offset + n < row_count) or offset + n > row_count:
                raise DownloadError(
                    f"page at {where} has {n} rows but rowCount {row_count} implies "
                    f"{min(request.page_size, max(row_count - offset, 0))}: refusing to lose rows",
                    reason="short_page")
            _check_headers(head, request, expected_types, where)
            quota_out = _record_metadata(head, stats)
            # Memory stays at about one page: the page's cells are Arrow arrays (no
            # object per row or per cell), dropped once they are typed columns.
            try:
                table = page_table(page, schema)
            except ValueError as exc:
                raise DownloadError(f"{where}: {exc}", reason="bad_value") from None
            del page, head
            sink.write(table)
            stats.pages += 1
            stats.rows += table.num_rows
            del table
            checkpoint.offset = offset + n
            checkpoint.row_count = row_count
            chunk_done = checkpoint.offset >= row_count
            if chunk_done:
                checkpoint.chunk_index += 1
                checkpoint.offset, checkpoint.row_count = 0, None
                stats.chunks_done = checkpoint.chunk_index
            checkpoint.sink_state = sink.state()
            if chunk_done:
                checkpoint.chunk_sink_state = checkpoint.sink_state
            save()
            more = not (chunk_done and checkpoint.chunk_index >= len(chunks))
            # after the last page hand everything back: the caller goes on with other work
            release_memory(budget=page_bytes if more else 0)
            if on_page is not None and on_page(stats) is False and more:
                raise _Cancelled()
            if quota_out and more:
                raise QuotaExhaustedError(f"property quota spent ({quota_out} remaining 0)")
            if chunk_done:
                break


_QUOTAS = ("tokens_per_day", "tokens_per_hour", "tokens_per_project_per_hour",
           "concurrent_requests", "server_errors_per_project_per_hour",
           "potentially_thresholded_requests_per_hour")
_TOKEN_QUOTAS = ("tokens_per_day", "tokens_per_hour", "tokens_per_project_per_hour")


def _record_metadata(pb: Any, stats: RunStats) -> str:
    """Fold a page's flags and quota into ``stats``; return the name of a spent token quota.

    ``pb`` is a ``RunReportResponse`` or a decoded page's head (same field names)."""
    meta = pb.metadata
    if meta.subject_to_thresholding:
        stats.subject_to_thresholding = True
    if meta.data_loss_from_other_row:
        stats.data_loss_from_other_row = True
    for sampling in meta.sampling_metadatas:
        entry = {"samples_read_count": int(sampling.samples_read_count),
                 "sampling_space_size": int(sampling.sampling_space_size)}
        if entry not in stats.sampling_metadatas:
            stats.sampling_metadatas.append(entry)
    spent = ""
    if pb.HasField("property_quota"):
        quota = pb.property_quota
        stats.tokens_consumed += int(quota.tokens_per_day.consumed)
        for name in _QUOTAS:
            if quota.HasField(name):
                status = getattr(quota, name)
                stats.quota_remaining[name] = {"consumed": int(status.consumed),
                                               "remaining": int(status.remaining)}
                if name in _TOKEN_QUOTAS and status.remaining <= 0 and not spent:
                    spent = name
    return spent


def _check_headers(pb: Any, request: ReportRequest, expected: Mapping[str, Any], where: str) -> None:
    dims = [h.name for h in pb.dimension_headers]
    mets = [h.name for h in pb.metric_headers]
    if dims != request.dimensions or mets != request.metrics:
        raise DownloadError(f"{where}: GA4 answered columns {dims + mets}, expected "
                            f"{request.dimensions + request.metrics}", reason="api_error")
    from google.analytics.data_v1beta import types

    from .report import INTEGER_TYPES

    for header in pb.metric_headers:
        type_name = types.MetricType(header.type_).name
        is_int = str(expected[header.name]) == "int64"
        if (type_name in INTEGER_TYPES) != is_int:
            raise DownloadError(f"{where}: metric {header.name} arrived as {type_name} but the "
                                f"property metadata declared {expected[header.name]}",
                                reason="api_error")


def _api_failure(exc: BaseException, action: str) -> Exception:
    """Map a client exception to ``DownloadError`` with a stable ``reason``."""
    from google.api_core import exceptions as gexc

    if isinstance(exc, gexc.RetryError):
        cause = exc.cause if exc.cause is not None else exc
        return DownloadError(f"{action}: gave up after retrying: {describe_api_error(cause)}",
                             reason="retries_exhausted")
    if isinstance(exc, (gexc.Unauthorized, gexc.Unauthenticated)):
        # 401: Google refused the key itself; access rights on the property
        # are not the problem and retrying cannot help.
        return DownloadError(f"{action}: the service account key was refused: {describe_api_error(exc)}; "
                             f"{KEY_REFUSED_ADVICE}", reason="unauthenticated")
    if isinstance(exc, (gexc.Forbidden, gexc.PermissionDenied)):
        return DownloadError(f"{action}: permission denied: {describe_api_error(exc)}; give the "
                             "service account Viewer access to the property", reason="permission_denied")
    if isinstance(exc, (gexc.BadRequest, gexc.InvalidArgument)):
        return DownloadError(f"{action}: request refused: {describe_api_error(exc)}",
                             reason="invalid_argument")
    return DownloadError(f"{action}: {describe_api_error(exc)}", reason="api_error")


def _iso(value: Any, label: str) -> str:
    if isinstance(value, dt.date):
        return value.isoformat()
    try:
        return dt.date.fromisoformat(str(value)).isoformat()
    except ValueError:
        raise InputError(f"{label} must be YYYY-MM-DD, got {value!r}") from None


def _names(values: Sequence[str] | str, kind: str, most: int, required: bool = False) -> list[str]:
    if isinstance(values, str):
        values = values.split(",")
    names = [v.strip() for v in values if v and v.strip()]
    if required and not names:
        raise InputError(f"at least one {kind} is required")
    if len(names) > most:
        raise InputError(f"GA4 accepts at most {most} {kind}s per report, got {len(names)}")
    seen = [n for i, n in enumerate(names) if n in names[:i]]
    if seen:
        raise InputError(f"{kind} listed twice: {', '.join(sorted(set(seen)))}")
    return names
