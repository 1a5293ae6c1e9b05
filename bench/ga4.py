"""GA4 download throughput and memory over gRPC (issue 3 target).

    .venv/bin/python bench/ga4.py [--rows 1000000] [--page-size 100000]

A local gRPC fake of ``google.analytics.data.v1beta.BetaAnalyticsData`` runs
in a child process (``grpc.method_handlers_generic_handler``; pages are
serialized once at start-up so the server costs almost nothing per call).
The official client downloads a 2-dimension, 2-metric report of ``--rows``
rows through :func:`project.ga4.download.download_report` into Parquet.

Printed, all measured in this run:

* raw protobuf decoding (``ParseFromString``) of the same page bytes, rows/s;
* the end-to-end download + Parquet write, rows/s, and its ratio to raw
  decoding (target >= 0.065 and >= 0.3M rows/s);
* a plain Python loop turning rows into tuples, for reference;
* peak RSS (``VmHWM``) of a 100k-row and of a ``--rows`` report, each in a
  fresh process, and the growth between them against the size of one
  serialized page (target < 2x). Both processes first make the same warm-up
  download (the 100k-row report: imports, pools, gRPC threads), then reset
  ``VmHWM`` (``5`` into ``/proc/self/clear_refs``) and measure one download,
  so what the warm-up left behind is the same on both sides and only the
  report size differs. No allocator settings are changed for these runs;
  ``--malloc-diagnostic`` adds separately labelled pairs of runs with
  ``MALLOC_ARENA_MAX=2`` and with ``MALLOC_TRIM_THRESHOLD_=1MiB`` to show how
  much of the growth is glibc keeping freed gRPC receive buffers at the top of
  its per-thread arenas (``malloc_trim`` only trims the main arena's top, and
  the dynamic trim threshold rises to ~2 pages after the first page).
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

SERVICE = "google.analytics.data.v1beta.BetaAnalyticsData"
DIMS = ["date", "pagePath"]
METS = ["screenPageViews", "purchaseRevenue"]
N_PATHS = 1000


def _page_bytes(total: int, page_size: int) -> list[bytes]:
    """Serialized ``RunReportResponse`` pages of a ``total``-row report."""
    import datetime as dt

    from google.analytics.data_v1beta import types

    pb_class = types.RunReportResponse.pb()
    day0 = dt.date(2022, 1, 1)
    days = [(day0 + dt.timedelta(days=k)).strftime("%Y%m%d") for k in range(total // N_PATHS + 1)]
    paths = [f"/products/item-{k:04d}" for k in range(N_PATHS)]
    pages = []
    for start in range(0, total, page_size):
        msg = pb_class()
        for name in DIMS:
            msg.dimension_headers.add(name=name)
        msg.metric_headers.add(name=METS[0], type_=types.MetricType.TYPE_INTEGER)
        msg.metric_headers.add(name=METS[1], type_=types.MetricType.TYPE_CURRENCY)
        msg.row_count = total
        for i in range(start, min(start + page_size, total)):
            row = msg.rows.add()
            row.dimension_values.add(value=days[i // N_PATHS])
            row.dimension_values.add(value=paths[i % N_PATHS])
            row.metric_values.add(value=str((i * 7919) % 10_000))
            row.metric_values.add(value=f"{(i * 104729) % 100_000 / 100:.2f}")
        msg.metadata.currency_code = "USD"
        msg.property_quota.tokens_per_day.consumed = 10
        msg.property_quota.tokens_per_day.remaining = 10**9
        pages.append(msg.SerializeToString())
    return pages


def _serve(reports: dict[str, int], page_size: int, conn) -> None:  # child process
    """Serve ``{property id: total rows}`` reports, pages serialized once up front."""
    from concurrent import futures

    import grpc
    from google.analytics.data_v1beta import types

    pages = {f"properties/{prop}": _page_bytes(total, page_size) for prop, total in reports.items()}
    meta = types.Metadata.pb()(name="properties/1/metadata")
    for d in DIMS:
        meta.dimensions.add(api_name=d)
    meta.metrics.add(api_name=METS[0], type_=types.MetricType.TYPE_INTEGER)
    meta.metrics.add(api_name=METS[1], type_=types.MetricType.TYPE_CURRENCY)
    compat = types.CheckCompatibilityResponse.pb()()
    for d in DIMS:
        compat.dimension_compatibilities.add(dimension_metadata={"api_name": d}, compatibility=1)
    for m in METS:
        compat.metric_compatibilities.add(metric_metadata={"api_name": m}, compatibility=1)

    def run_report(request, context):
        return pages[request.property][request.offset // page_size]

    handlers = {
        "RunReport": grpc.unary_unary_rpc_method_handler(
            run_report,
            request_deserializer=types.RunReportRequest.pb().FromString,
            response_serializer=lambda b: b,
        ),
        "GetMetadata": grpc.unary_unary_rpc_method_handler(
            lambda req, ctx: meta,
            request_deserializer=types.GetMetadataRequest.pb().FromString,
            response_serializer=lambda m: m.SerializeToString(),
        ),
        "CheckCompatibility": grpc.unary_unary_rpc_method_handler(
            lambda req, ctx: compat,
            request_deserializer=types.CheckCompatibilityRequest.pb().FromString,
            response_serializer=lambda m: m.SerializeToString(),
        ),
    }
    options = [("grpc.max_send_message_length", -1), ("grpc.max_receive_message_length", -1)]
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=2), options=options)
    server.add_generic_rpc_handlers((grpc.method_handlers_generic_handler(SERVICE, handlers),))
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    conn.send((port, max(len(p[0]) for p in pages.values())))
    conn.recv()  # wait for "stop"
    server.stop(0)


class FakeServer:
    """The gRPC fake in a child process; ``reports`` maps property ids to row totals."""

    def __init__(self, reports: dict[str, int], page_size: int) -> None:
        ctx = mp.get_context("spawn")
        self.conn, child = ctx.Pipe()
        self.proc = ctx.Process(target=_serve, args=(reports, page_size, child), daemon=True)
        self.proc.start()
        self.port, self.page_bytes = self.conn.recv()

    def close(self) -> None:
        self.conn.send("stop")
        self.proc.join(10)


def _client(port: int):
    import grpc
    from google.analytics.data_v1beta import BetaAnalyticsDataClient
    from google.analytics.data_v1beta.services.beta_analytics_data.transports import (
        BetaAnalyticsDataGrpcTransport,
    )

    channel = grpc.insecure_channel(
        f"127.0.0.1:{port}",
        options=[("grpc.max_send_message_length", -1), ("grpc.max_receive_message_length", -1)],
    )
    return BetaAnalyticsDataClient(transport=BetaAnalyticsDataGrpcTransport(channel=channel))


def _download(
    port: int, total: int, page_size: int, out: Path, property_id: str = "1"
) -> tuple[float, object]:
    from project.ga4.download import ReportRequest, download_report
    from project.tests.ga4_fake import make_service_account

    days = total // N_PATHS + 1
    request = ReportRequest(
        property_id=property_id,
        start_date="2022-01-01",
        end_date=f"{2022 + days // 365 + 1}-12-31",
        dimensions=DIMS,
        metrics=METS,
        page_size=page_size,
        chunk_days=100_000,
    )
    key = make_service_account()
    t0 = time.perf_counter()
    stats = download_report(key, request, out, client=_client(port), restart=True)
    return time.perf_counter() - t0, stats


def _status_kib(field: str) -> int:
    """A ``/proc/self/status`` field in KiB (``VmHWM``: peak RSS of this process image,
    unlike ``ru_maxrss`` which keeps the forking parent's peak across ``exec``)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise RuntimeError(f"{field} not in /proc/self/status")


WARMUP_ROWS = 100_000


def _rss_child(total: int, page_size: int, conn) -> None:  # child process
    warmup = min(WARMUP_ROWS, total)
    # property 1: the warm-up report (the same in every measuring process); 2: the measured one
    server = FakeServer({"1": warmup, "2": total}, page_size)
    with tempfile.TemporaryDirectory() as tmp:
        _download(server.port, warmup, page_size, Path(tmp) / "w.parquet", "1")  # imports, pools
        Path("/proc/self/clear_refs").write_text("5")  # reset VmHWM to the current RSS
        before = _status_kib("VmRSS")
        _download(server.port, total, page_size, Path(tmp) / "r.parquet", "2")
        peak = _status_kib("VmHWM")
    server.close()
    conn.send((before * 1024, peak * 1024, server.page_bytes))


def _peak_rss(total: int, page_size: int, env: dict[str, str] | None = None) -> tuple[int, int, int]:
    """``(peak RSS during the download, serialized page bytes, RSS before it)``, fresh process
    (``env``: extra environment for that process, diagnostics only)."""
    ctx = mp.get_context("spawn")
    parent, child = ctx.Pipe()
    saved = {k: os.environ.get(k) for k in env or {}}
    os.environ.update(env or {})  # inherited by the spawned interpreter at start-up
    try:
        proc = ctx.Process(target=_rss_child, args=(total, page_size, child))
        proc.start()
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
    before, peak, page = parent.recv()
    proc.join()
    return peak, page, before


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000, help="rows in the large report")
    parser.add_argument("--page-size", type=int, default=100_000, help="rows per page")
    parser.add_argument("--repeat", type=int, default=3, help="timed repetitions (best kept)")
    parser.add_argument(
        "--malloc-diagnostic",
        action="store_true",
        help="also measure the RSS growth with MALLOC_ARENA_MAX=2 (labelled, not the target)",
    )
    args = parser.parse_args(argv)
    from google.analytics.data_v1beta import types

    print(
        f"GA4 gRPC bench: {args.rows:,} rows, {len(DIMS)} dimensions, {len(METS)} metrics, "
        f"pages of {args.page_size:,} rows"
    )
    server = FakeServer({"1": args.rows}, args.page_size)
    pages = _page_bytes(args.rows, args.page_size)
    pb_class = types.RunReportResponse.pb()

    decode = []
    loop = []
    for _ in range(args.repeat):
        t0 = time.perf_counter()
        for raw in pages:
            msg = pb_class()
            msg.ParseFromString(raw)
        decode.append(time.perf_counter() - t0)
        msg = pb_class.FromString(pages[0])
        t0 = time.perf_counter()
        [
            (tuple(v.value for v in r.dimension_values), tuple(v.value for v in r.metric_values))
            for r in msg.rows
        ]
        loop.append((time.perf_counter() - t0) * len(pages))
    raw_rate = args.rows / min(decode)

    with tempfile.TemporaryDirectory() as tmp:
        runs = []
        for _ in range(args.repeat):
            seconds, stats = _download(server.port, args.rows, args.page_size, Path(tmp) / "r.parquet")
            assert stats.rows == args.rows and stats.status == "complete", stats
            runs.append(seconds)
        import pyarrow.parquet as pq

        meta = pq.ParquetFile(Path(tmp) / "r.parquet").metadata
        assert meta.num_rows == args.rows
    server.close()
    e2e = args.rows / min(runs)
    print(f"raw ParseFromString          : {raw_rate / 1e6:6.2f} M rows/s")
    print(f"python loop to tuples (ref)  : {args.rows / min(loop) / 1e6:6.2f} M rows/s")
    print(
        f"end to end (gRPC + Parquet)  : {e2e / 1e6:6.2f} M rows/s  "
        f"ratio to raw decoding {e2e / raw_rate:.3f}  (target >= 0.065, >= 0.3M rows/s)"
    )

    small = min(100_000, args.rows)
    peak_small, page, base_small = _peak_rss(small, args.page_size)
    peak_large, _, base_large = _peak_rss(args.rows, args.page_size)
    growth = peak_large - peak_small
    print(
        f"RSS before the measured download (after the same {min(WARMUP_ROWS, args.rows):,}-row "
        f"warm-up): {base_small / 2**20:.1f} MiB (100k run) / {base_large / 2**20:.1f} MiB "
        "(large run)"
    )
    print(
        f"peak RSS {small:,} rows: {peak_small / 2**20:7.1f} MiB; {args.rows:,} rows: "
        f"{peak_large / 2**20:7.1f} MiB; growth {growth / 2**20:6.1f} MiB = "
        f"{growth / page:.2f}x one page ({page / 2**20:.1f} MiB serialized)  (target < 2x)"
    )
    print(
        f"working set of one download (peak - RSS before it): {(peak_small - base_small) / 2**20:.1f} "
        f"MiB ({small:,} rows) vs {(peak_large - base_large) / 2**20:.1f} MiB ({args.rows:,} rows)"
    )
    if args.malloc_diagnostic:
        for name, value in (("MALLOC_ARENA_MAX", "2"), ("MALLOC_TRIM_THRESHOLD_", str(1 << 20))):
            diag_small, _, _ = _peak_rss(small, args.page_size, {name: value})
            diag_large, _, _ = _peak_rss(args.rows, args.page_size, {name: value})
            print(
                f"[diagnostic, {name}={value}, not the target] peak RSS {diag_small / 2**20:.1f} / "
                f"{diag_large / 2**20:.1f} MiB; growth {(diag_large - diag_small) / page:.2f}x one page"
            )
    ok = e2e / raw_rate >= 0.065 and e2e >= 300_000 and growth < 2 * page
    print("targets met" if ok else "TARGETS MISSED")
    return 0 if ok else 1


if __name__ == "__main__":
    os.environ.setdefault("GRPC_VERBOSITY", "ERROR")
    sys.exit(main())
