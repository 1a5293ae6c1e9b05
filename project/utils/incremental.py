"""Command line of incremental training: append new days to a trained model artifact.

The update itself is the library :mod:`project.incremental_training`
(``update_artifact``, ``update_series``, ``merge_history``), re-exported here
for callers of the seed's module name.

Command line::

    python -m project.utils.incremental --artifact MODEL.zip --input NEW.csv --date-col C
        --target-col C [--series-cols a,b] [--degrade-threshold 0.1] [--n-jobs N]
        [--dask-address ADDR] [--signing-key KEY] [--future FILE] --output NEW_MODEL.zip

A model trained with ``--regressors`` needs those columns in ``--input`` and
their values for the forecast horizon in ``--future``.

Exit codes as in :mod:`project.entrenar_modelo` (0 ok, 1 failure, 2 bad input).
"""

from __future__ import annotations

import argparse
import dataclasses
import logging
import sys
from collections.abc import Sequence

from ..cli import EXIT_BAD_INPUT, EXIT_FAILURE, EXIT_OK, run_tool, tool_parser
from ..incremental_training import merge_history, update_artifact, update_series

__all__ = [
    "update_artifact",
    "update_series",
    "merge_history",
    "main",
    "EXIT_OK",
    "EXIT_FAILURE",
    "EXIT_BAD_INPUT",
]


# --------------------------------------------------------------------------- CLI


def _build_parser() -> argparse.ArgumentParser:
    parser = tool_parser(
        prog="python -m project.utils.incremental",
        description="Append new days to a trained model artifact, refit cheaply, "
        "reselect where accuracy degraded.",
    )
    parser.add_argument(
        "--artifact", required=True, metavar="MODEL.zip", help="the trained artifact to update"
    )
    parser.add_argument("--input", required=True, metavar="FILE", help="CSV or Parquet with the new days")
    parser.add_argument("--date-col", required=True, metavar="C", help="name of the date column")
    parser.add_argument("--target-col", required=True, metavar="C", help="name of the value column")
    parser.add_argument("--series-cols", default="", metavar="A,B", help="comma-separated series key columns")
    parser.add_argument(
        "--output", required=True, metavar="NEW.zip", help="where to write the updated artifact"
    )
    parser.add_argument(
        "--degrade-threshold",
        type=float,
        default=0.1,
        metavar="F",
        help="rerun selection when the newest-window score is worse than stored by more than F (default 0.1)",
    )
    parser.add_argument(
        "--n-jobs", type=int, default=None, metavar="N", help="parallel workers (default: stored)"
    )
    parser.add_argument(
        "--signing-key", default=None, metavar="KEY", help="HMAC key (default: $AI_TRAIN_MODEL_SIGNING_KEY)"
    )
    parser.add_argument(
        "--dask-address", default=None, metavar="ADDR", help="Dask scheduler address (default: stored)"
    )
    parser.add_argument(
        "--future",
        default=None,
        metavar="FILE",
        help="CSV or Parquet with the known-future regressors' values after the new days "
        "(required when the model was trained with --regressors)",
    )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Command-line entry point; returns the exit code."""
    return run_tool(_build_parser(), argv, _main, action="update", log_level=logging.INFO)


def _main(args: argparse.Namespace) -> int:
    from ..model_artifact import file_sha256, load_artifact, resolve_signing_key
    from .datos import read_table

    key = resolve_signing_key(args.signing_key)
    config = None
    overrides = {
        name: value
        for name, value in (("n_jobs", args.n_jobs), ("dask_address", args.dask_address))
        if value is not None
    }
    if overrides:
        config = dataclasses.replace(load_artifact(args.artifact, key).model["config"], **overrides)
    frame = read_table(args.input)
    future = read_table(args.future) if args.future else None
    summary = update_artifact(
        args.artifact,
        frame,
        args.output,
        key,
        config,
        args.degrade_threshold,
        date_col=args.date_col,
        target_col=args.target_col,
        series_cols=[c.strip() for c in args.series_cols.split(",") if c.strip()],
        source_sha256=file_sha256(args.input),
        future=future,
    )
    for uid, info in summary.metadata["update"]["series"].items():
        print(f"{uid}: {info['action']}")
    print(
        f"\nupdated artifact: {summary.output} (parent sha256 {summary.metadata['parent_artifact_sha256']})"
    )
    return EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
