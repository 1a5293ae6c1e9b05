"""Dataset lifecycle from the command line: summary, Excel report, merge, S3 registration.

    python -m project.dataset_manager summary DATASET [--json]
    python -m project.dataset_manager report DATASET --output REPORT.xlsx
    python -m project.dataset_manager merge A.parquet B.parquet... --output MERGED.parquet
        [--on-conflict keep-last|keep-first|fail] [--name NAME] [--conflicts CONFLICTS.csv]
    python -m project.dataset_manager register DATASET --bucket NAME [--prefix P]
        [--endpoint-url URL] [--region R] [--dry-run]

Exit status: 0 done, 1 failed (S3 refused or unreachable), 2 bad arguments or
unusable input. Errors are one line on stderr, never a traceback.

Library functions: :func:`summarize`, :func:`excel_report`, :func:`merge`,
:func:`register`.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from collections.abc import Sequence
from pathlib import Path

from .cli import EXIT_BAD_INPUT, EXIT_FAILURE, EXIT_OK, run_tool, tool_parser

__all__ = ["main", "summarize", "excel_report", "merge", "register", "EXIT_OK", "EXIT_FAILED", "EXIT_USAGE"]

logger = logging.getLogger(__name__)

EXIT_FAILED = EXIT_FAILURE
EXIT_USAGE = EXIT_BAD_INPUT


def summarize(df, metadata=None, today=None) -> dict:
    """Per-column statistics, date coverage and gaps per series, missing %, checks and alerts."""
    from .datasets.summary import summarize as _summarize

    return _summarize(df, metadata, today)


def excel_report(df, metadata=None, summary=None) -> bytes:
    """XLSX bytes with tabs Resumen, Datos, Columnas, Series, Consistencia, Linaje."""
    from .datasets.report import excel_report as _excel_report

    return _excel_report(df, metadata, summary)


def merge(frames_with_meta, on_conflict: str = "keep-last", name: str = "merged", version: int | None = None):
    """``(merged DataFrame, conflicts DataFrame, metadata)``; see :func:`project.datasets.merge.merge`."""
    from .datasets.merge import merge as _merge

    return _merge(frames_with_meta, on_conflict=on_conflict, name=name, version=version)


def register(
    dataset_path,
    bucket: str,
    prefix: str = "datasets",
    endpoint_url: str | None = None,
    region: str | None = None,
    dry_run: bool = False,
    client=None,
) -> dict:
    """Zip + SHA-256 + multipart upload + registry row; see :func:`project.datasets.registry.register`.

    ``client``: a ready boto3 S3 client (keys from elsewhere than the standard chain).
    """
    from .datasets.registry import register as _register

    return _register(dataset_path, bucket, prefix, endpoint_url, region, dry_run, client=client)


def _load(path: str):
    from .datasets.metadata import read_dataset

    table, meta = read_dataset(path)
    return table.to_pandas(), meta


# ------------------------------------------------------------------ commands
def cmd_summary(args: argparse.Namespace) -> int:
    df, meta = _load(args.dataset)
    s = summarize(df, meta)
    if args.json:
        print(json.dumps(s, ensure_ascii=False, default=str))
        return EXIT_OK
    print(
        f"{s['name'] or Path(args.dataset).stem} v{s['version'] or '?'}: {s['rows']:,} rows, "
        f"{s['series_count']} series, {s['date_min']} .. {s['date_max']} ({s['days_spanned']} days)"
    )
    print("columns:")
    for c in s["columns"]:
        extra = (f" min {c.get('min')} max {c.get('max')}" if "min" in c else "") + (
            f" mean {c['mean']}" if c.get("mean") is not None else ""
        )
        print(
            f"  {c['column']:<16} {c['dtype']:<16} missing {c['missing_pct']:6.2f}%  "
            f"unique {c['unique']}{extra}"
        )
    gappy = [r for r in s["series"] if r["days_missing"]]
    print(f"series with gaps: {len(gappy)} of {s['series_count']}")
    for r in gappy[:10]:
        print(
            f"  {r['series']}: {r['days_missing']} missing days in {r['gaps']} gap(s), "
            f"longest {r['longest_gap_days']}"
        )
    print("checks:")
    for c in s["checks"]:
        print(f"  [{c['status']:^7}] {c['check']}" + (f": {c['detail']}" if c["detail"] else ""))
    return EXIT_OK


def cmd_report(args: argparse.Namespace) -> int:
    from .datasets.export import atomic_write_bytes

    df, meta = _load(args.dataset)
    atomic_write_bytes(args.output, excel_report(df, meta))
    print(f"report written to {args.output}")
    return EXIT_OK


def cmd_merge(args: argparse.Namespace) -> int:
    import pyarrow as pa

    from .datasets.export import atomic_write_bytes, frame_to_csv_bytes
    from .datasets.metadata import check_name, write_dataset

    name = check_name(args.name or Path(args.output).stem)
    inputs = [_load(p) for p in args.datasets]
    data, conflicts, meta = merge(inputs, on_conflict=args.on_conflict, name=name, version=args.version)
    write_dataset(pa.Table.from_pandas(data, preserve_index=False), args.output, meta)
    conflicts_path = args.conflicts or str(
        Path(args.output).with_name(Path(args.output).stem + ".conflicts.csv")
    )
    if len(conflicts):
        atomic_write_bytes(conflicts_path, frame_to_csv_bytes(conflicts))
    print(
        f"merged {len(inputs)} datasets into {args.output} "
        f"({meta['name']} v{meta['version']}, {meta['rows']:,} rows); "
        f"{meta['merge']['conflicting_keys']} conflicting key(s) resolved with {args.on_conflict}"
        + (f", report in {conflicts_path}" if len(conflicts) else "")
    )
    return EXIT_OK


def cmd_register(args: argparse.Namespace) -> int:
    from .datasets.registry import RegistryError

    try:
        result = register(
            args.dataset, args.bucket, args.prefix, args.endpoint_url, args.region, args.dry_run
        )
    except RegistryError as ex:
        print(f"failed: {ex}", file=sys.stderr)
        return EXIT_FAILED
    row = result["row"]
    if result["action"] == "already-registered":
        print(
            f"{row['name']} v{row['version']} is already registered at "
            f"s3://{result['bucket']}/{result['key']}; "
            "nothing to do"
        )
    elif result["dry_run"]:
        print(
            f"dry run: would upload {row['name']} v{row['version']} ({row['size_bytes']:,} bytes, sha256 "
            f"{row['sha256']}) to s3://{result['bucket']}/{result['key']} and append a row to "
            f"s3://{result['bucket']}/{result['registry']}; nothing written"
        )
    else:
        print(
            f"registered {row['name']} v{row['version']} at s3://{result['bucket']}/{result['key']} "
            f"(sha256 {row['sha256']}); row added to s3://{result['bucket']}/{result['registry']}"
        )
    return EXIT_OK


def build_parser() -> argparse.ArgumentParser:
    parser = tool_parser(
        prog="python -m project.dataset_manager",
        description="Summaries, Excel reports, merges and S3 registration of "
        "dataset versions. Exit 0 done, 1 failed, 2 bad arguments.",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    p = sub.add_parser(
        "summary", help="per-column statistics, coverage and gaps per series, consistency checks"
    )
    p.add_argument("dataset", metavar="DATASET", help="dataset .parquet file")
    p.add_argument("--json", action="store_true", help="print the summary as JSON")
    p.set_defaults(func=cmd_summary)
    p = sub.add_parser("report", help="Excel report (Resumen, Datos, Columnas, Series, Consistencia, Linaje)")
    p.add_argument("dataset", metavar="DATASET", help="dataset .parquet file")
    p.add_argument("--output", required=True, metavar="REPORT.xlsx", help="report file to write")
    p.set_defaults(func=cmd_report)
    p = sub.add_parser("merge", help="merge dataset versions into a new one")
    p.add_argument(
        "datasets", nargs="+", metavar="DATASET", help="two or more dataset .parquet files, in order"
    )
    p.add_argument("--output", required=True, metavar="MERGED.parquet", help="merged dataset file to write")
    p.add_argument(
        "--on-conflict",
        default="keep-last",
        choices=("keep-last", "keep-first", "fail"),
        help="same keys and date with different values: keep the later or earlier dataset's row, "
        "or fail (default: keep-last)",
    )
    p.add_argument("--name", help="name of the merged dataset (default: output file name)")
    p.add_argument("--version", type=int, help="version of the merged dataset (default: next free)")
    p.add_argument(
        "--conflicts", metavar="CONFLICTS.csv", help="conflict report (default: next to the output)"
    )
    p.set_defaults(func=cmd_merge)
    p = sub.add_parser("register", help="zip + SHA-256 + upload to S3 and append to datasets.csv")
    p.add_argument("dataset", metavar="DATASET", help="dataset .parquet file")
    p.add_argument("--bucket", required=True, metavar="NAME", help="S3 bucket")
    p.add_argument("--prefix", default="datasets", metavar="P", help="key prefix (default: datasets)")
    p.add_argument("--endpoint-url", metavar="URL", help="S3-compatible endpoint (default: AWS)")
    p.add_argument("--region", metavar="R", help="AWS region (default: from the environment/profile)")
    p.add_argument("--dry-run", action="store_true", help="show what would happen; write nothing")
    p.set_defaults(func=cmd_register)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Command-line entry point; returns the exit code."""
    return run_tool(build_parser(), argv, lambda args: args.func(args), action="the command")


if __name__ == "__main__":
    sys.exit(main())
