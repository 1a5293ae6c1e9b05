"""Command line of the GA4 report download: one report to CSV or Parquet, checked and resumable.

    python -m project.descargar_datos_predictivos --credentials SA.json --property ID \\
        --start-date YYYY-MM-DD --end-date YYYY-MM-DD --dimensions date,country \\
        --metrics sessions,purchaseRevenue --output FILE.parquet [--api-endpoint URL] \\
        [--page-size N] [--chunk-days N] [--checkpoint FILE]

Columns are named exactly as the GA4 fields; ``date`` becomes an ISO date and
metrics keep their GA4 type (integers as int64, the rest as float64). When the
property's quota runs out the command saves its checkpoint and exits 3; the
same command run again resumes and produces the same file as an uninterrupted
run. The run statistics (pages, rows, quota, thresholding and sampling flags)
are printed as JSON on stdout. The library entry point is
:func:`project.ga4.download.download_report`.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from collections.abc import Sequence

from .cli import EXIT_BAD_INPUT, EXIT_FAILURE, EXIT_OK, EXIT_STOPPED, run_tool, tool_parser

__all__ = ["main", "download_report", "EXIT_OK", "EXIT_FAILED", "EXIT_BAD_INPUT", "EXIT_STOPPED"]

logger = logging.getLogger(__name__)

EXIT_FAILED = EXIT_FAILURE  #: failed (API errors after retries, changed rowCount...); rerun resumes


def download_report(*args, **kwargs):  # noqa: ANN002, ANN003 - thin re-export, documented there
    """See :func:`project.ga4.download.download_report`."""
    from .ga4.download import download_report as _download

    return _download(*args, **kwargs)


def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a number >= 1, got {value}")
    return value


def _seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected seconds, got {text!r}") from None
    if value <= 0:
        raise argparse.ArgumentTypeError(f"expected seconds > 0, got {value}")
    return value


def build_parser() -> argparse.ArgumentParser:
    p = tool_parser(
        prog="python -m project.descargar_datos_predictivos",
        description="Download a GA4 report (Data API runReport) to CSV or Parquet, resumably.",
    )
    p.add_argument("--credentials", required=True, metavar="SA.json",
                   help="service-account JSON key file")
    p.add_argument("--property", required=True, metavar="ID",
                   help="GA4 property id (digits, or properties/ID)")
    p.add_argument("--start-date", required=True, metavar="YYYY-MM-DD", help="first day, inclusive")
    p.add_argument("--end-date", required=True, metavar="YYYY-MM-DD", help="last day, inclusive")
    p.add_argument("--dimensions", required=True, metavar="D1,D2",
                   help="comma-separated GA4 dimension API names, e.g. date,country")
    p.add_argument("--metrics", required=True, metavar="M1,M2",
                   help="comma-separated GA4 metric API names, e.g. sessions,purchaseRevenue")
    p.add_argument("--output", required=True, metavar="FILE",
                   help="output file, .csv or .parquet; written only when complete")
    p.add_argument("--api-endpoint", metavar="URL", default=None,
                   help="Data API endpoint: host[:port] (gRPC) or an http(s):// URL (REST)")
    p.add_argument("--transport", choices=("grpc", "rest"), default=None,
                   help="client transport (default gRPC; REST for http(s):// endpoints)")
    p.add_argument("--page-size", type=_positive, default=100_000, metavar="N",
                   help="rows per page, at most 250000 (default 100000)")
    p.add_argument("--chunk-days", type=_positive, default=30, metavar="N",
                   help="days per request window (default 30)")
    p.add_argument("--checkpoint", metavar="FILE", default=None,
                   help="checkpoint file (default: OUTPUT.checkpoint.json)")
    p.add_argument("--restart", action="store_true",
                   help="ignore and replace an existing checkpoint")
    p.add_argument("--retry-initial", type=_seconds, default=1.0, metavar="S",
                   help="first backoff ceiling in seconds (default 1)")
    p.add_argument("--retry-maximum", type=_seconds, default=60.0, metavar="S",
                   help="largest backoff ceiling in seconds (default 60)")
    p.add_argument("--retry-deadline", type=_seconds, default=600.0, metavar="S",
                   help="give up retrying one call after this many seconds (default 600)")
    p.add_argument("--timeout", type=_seconds, default=120.0, metavar="S",
                   help="timeout of a single API call in seconds (default 120)")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    """Command-line entry point; returns the exit code."""
    return run_tool(
        build_parser(),
        argv,
        _main,
        action="download",
        interrupted=(EXIT_STOPPED, "interrupted; run the same command again to resume"),
    )


def _main(args: argparse.Namespace) -> int:
    from .ga4.client import RetryPolicy
    from .ga4.download import ReportRequest
    from .ga4.download import download_report as _download
    from .ga4.errors import DownloadError

    try:
        request = ReportRequest(
            property_id=args.property, start_date=args.start_date, end_date=args.end_date,
            dimensions=args.dimensions, metrics=args.metrics, page_size=args.page_size,
            chunk_days=args.chunk_days,
        )
        policy = RetryPolicy(initial=args.retry_initial, maximum=args.retry_maximum,
                             deadline=args.retry_deadline, timeout=args.timeout)
        stats = _download(args.credentials, request, args.output, checkpoint_path=args.checkpoint,
                          api_endpoint=args.api_endpoint, transport=args.transport,
                          retry_policy=policy, restart=args.restart)
    except DownloadError as exc:
        if exc.stats is not None:
            print(json.dumps(exc.stats.to_dict(), indent=2))
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT if exc.reason in ("permission_denied", "invalid_argument") else EXIT_FAILED
    print(json.dumps(stats.to_dict(), indent=2))
    if stats.status == "stopped":
        print(f"stopped: {stats.message}", file=sys.stderr)
        return EXIT_STOPPED
    return EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
