"""Command line of training: train every series of a file and write a signed model artifact.

The training itself is the library :mod:`project.training` (``TrainConfig``,
``train``, ``train_to_artifact``...), re-exported here for callers of the
seed's module name.

Command line::

    python -m project.entrenar_modelo --input FILE --date-col C --target-col C [--series-cols a,b]
        [--horizon 28] [--candidates naive,snaive,ets,theta,gbm] [--cv-windows 3] [--metric mase]
        [--n-jobs N] [--dask-address ADDR] [--signing-key KEY] [--country CC] --output MODEL.zip
    python -m project.entrenar_modelo --demo [--output out/demo_model.zip]

Exit codes: ``EXIT_OK`` (0), ``EXIT_FAILURE`` (1, an unexpected error),
``EXIT_BAD_INPUT`` (2, bad input or arguments: one line on stderr, no zip).
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from .cli import EXIT_BAD_INPUT, EXIT_FAILURE, EXIT_OK, quieter, run_tool, tool_parser
from .errors import ArtifactError, InputError
from .training import (
    DEFAULT_CANDIDATES,
    KNOWN_CANDIDATES,
    WEEKLY_CANDIDATES,
    TrainConfig,
    TrainResult,
    TrainSummary,
    metrics_table,
    summarise,
    train,
    train_to_artifact,
)

__all__ = [
    "DEFAULT_CANDIDATES",
    "KNOWN_CANDIDATES",
    "WEEKLY_CANDIDATES",
    "EXIT_OK",
    "EXIT_FAILURE",
    "EXIT_BAD_INPUT",
    "TrainConfig",
    "TrainResult",
    "TrainSummary",
    "train",
    "train_to_artifact",
    "summarise",
    "metrics_table",
    "main",
]

logger = logging.getLogger(__name__)

DEMO_COLUMNS = {"date_col": "date", "target_col": "pageviews", "series_cols": ("page",)}
DEFAULT_DEMO_OUTPUT = Path("out") / "demo_model.zip"


# --------------------------------------------------------------------------- CLI


def _build_parser() -> argparse.ArgumentParser:
    parser = tool_parser(
        prog="python -m project.entrenar_modelo",
        description="Backtest candidate models per series, choose or ensemble, refit, forecast "
        "and write a signed model artifact (zip).",
    )
    parser.add_argument("--input", metavar="FILE", help="CSV or Parquet file in long format")
    parser.add_argument("--date-col", metavar="C", help="name of the date column")
    parser.add_argument("--target-col", metavar="C", help="name of the numeric column to forecast")
    parser.add_argument(
        "--series-cols",
        metavar="A,B",
        default="",
        help="comma-separated series key columns (none: one series)",
    )
    parser.add_argument(
        "--horizon",
        metavar="STEPS",
        type=int,
        default=None,
        help="steps to forecast (default 28 days, 13 weeks or 12 months)",
    )
    parser.add_argument(
        "--freq",
        metavar="D|W|M",
        default=None,
        help="data frequency: D daily, W weekly, M monthly (default: inferred from the dates); "
        "sets the season length (7, 52, 12)",
    )
    parser.add_argument(
        "--regressors",
        metavar="A,B",
        default="",
        help="numeric columns known in advance (promotions, prices, planned closures) used by gbm, "
        "prophet and sarimax; their future values come from --future",
    )
    parser.add_argument(
        "--future",
        metavar="FILE",
        default=None,
        help="CSV or Parquet with the date, series key and regressor columns for the forecast horizon",
    )
    parser.add_argument(
        "--stale",
        metavar="POLICY",
        default="own-end",
        help="series silent for longer than the stale rule allows: own-end (forecast from their own "
        "end, flagged; default), zero (the silence is zero demand) or drop (left out)",
    )
    parser.add_argument(
        "--candidates",
        metavar="M,M",
        default=",".join(DEFAULT_CANDIDATES),
        help=f"candidate models, some of {','.join(KNOWN_CANDIDATES)} "
        f"(default {','.join(DEFAULT_CANDIDATES)}; weekly data: {','.join(WEEKLY_CANDIDATES)})",
    )
    parser.add_argument("--cv-windows", metavar="N", type=int, default=3, help="backtest windows (default 3)")
    parser.add_argument(
        "--step", metavar="DAYS", type=int, default=None, help="days between backtest cutoffs (default 7)"
    )
    parser.add_argument(
        "--metric",
        metavar="NAME",
        default="mase",
        help="selection metric: mase, rmsse, smape, mae, rmse, wmape",
    )
    parser.add_argument(
        "--levels", metavar="L,L", default="80,95", help="interval levels in percent (default 80,95)"
    )
    parser.add_argument(
        "--missing", metavar="POLICY", default="auto", help="missing-day policy: auto, zero, interpolate, nan"
    )
    parser.add_argument(
        "--n-jobs",
        metavar="N",
        type=int,
        default=None,
        help="parallel workers, -1 for all cores (default 1; demo: all)",
    )
    parser.add_argument(
        "--dask-address", metavar="ADDR", default=None, help="Dask scheduler address, e.g. tcp://host:8786"
    )
    parser.add_argument(
        "--signing-key",
        metavar="KEY",
        default=None,
        help="HMAC signing key (default: $AI_TRAIN_MODEL_SIGNING_KEY; prefer the variable, "
        "arguments are visible in ps)",
    )
    parser.add_argument(
        "--country", metavar="CC", default=None, help="ISO country code for public holidays (gbm, prophet)"
    )
    parser.add_argument("--output", metavar="MODEL.zip", default=None, help="where to write the artifact zip")
    parser.add_argument(
        "--demo",
        action="store_true",
        help=f"train on the embedded Wikipedia pageviews sample (output default {DEFAULT_DEMO_OUTPUT})",
    )
    return parser


def _progress_callback(total_hint: str) -> tuple[Callable[[int, int], None], Callable[[], None]]:
    """A tqdm bar on a terminal, otherwise a log line every 10 %."""
    if sys.stderr.isatty():
        from tqdm import tqdm

        bar: dict[str, Any] = {}

        def update(done: int, total: int) -> None:
            if "bar" not in bar:
                bar["bar"] = tqdm(total=total, desc=total_hint, unit="series", file=sys.stderr)
            bar["bar"].update(done - bar["bar"].n)

        def close() -> None:
            if "bar" in bar:
                bar["bar"].close()

        return update, close
    state = {"last": -1}

    def log(done: int, total: int) -> None:
        decile = (10 * done) // max(total, 1)
        if decile != state["last"] or done == total:
            state["last"] = decile
            logger.info("trained %d/%d series", done, total)

    return log, lambda: None


def _format_table(table: Any) -> str:
    import pandas as pd

    shown = table.copy()
    shown["fallback"] = shown["fallback"].map(lambda s: "yes" if s else "")
    for col in shown.columns:
        if pd.api.types.is_float_dtype(shown[col]):
            shown[col] = shown[col].map(lambda v: "n/a" if v != v else f"{v:.3f}")
    return shown.rename(columns=lambda c: f"MASE {c}" if c.startswith(("D+", "1-")) else c).to_string(
        index=False
    )


def main(argv: Sequence[str] | None = None) -> int:
    """Command-line entry point; returns the exit code."""
    return run_tool(
        _build_parser(),
        argv,
        _main,
        action="training",
        log_level=logging.INFO,
        interrupted=(EXIT_FAILURE, "interrupted; no artifact was written"),
    )


def _main(args: argparse.Namespace) -> int:
    import secrets

    from . import preparation
    from .model_artifact import SIGNING_KEY_ENV, file_sha256, resolve_signing_key
    from .utils.datos import read_table

    ephemeral = False
    if args.demo:
        from .datasets.demo import DEMO_DATA

        source = DEMO_DATA
        date_col, target_col = DEMO_COLUMNS["date_col"], DEMO_COLUMNS["target_col"]
        series_cols = list(DEMO_COLUMNS["series_cols"])
        output = Path(args.output) if args.output else DEFAULT_DEMO_OUTPUT
        try:
            key = resolve_signing_key(args.signing_key)
        except ArtifactError:
            key = secrets.token_hex(32).encode("ascii")
            ephemeral = True
    else:
        missing = [name for name in ("input", "date_col", "target_col", "output") if not getattr(args, name)]
        if missing:
            raise InputError(
                "missing argument(s): "
                + ", ".join("--" + m.replace("_", "-") for m in missing)
                + " (or use --demo)"
            )
        source = Path(args.input)
        date_col, target_col = args.date_col, args.target_col
        series_cols = [c.strip() for c in args.series_cols.split(",") if c.strip()]
        output = Path(args.output)
        key = resolve_signing_key(args.signing_key)
    try:
        levels = tuple(int(v) for v in str(args.levels).split(",") if v.strip())
    except ValueError:
        raise InputError(f"--levels must be comma-separated integers, got {args.levels!r}") from None
    config = TrainConfig(
        horizon=args.horizon,
        freq=args.freq,
        stale=args.stale,
        regressors=tuple(c.strip() for c in args.regressors.split(",") if c.strip()),
        candidates=tuple(c for c in args.candidates.split(",")),
        cv_windows=args.cv_windows,
        step=args.step,
        metric=args.metric,
        levels=levels,
        n_jobs=args.n_jobs if args.n_jobs is not None else (-1 if args.demo else 1),
        dask_address=args.dask_address,
        country=args.country,
        missing=args.missing,
    ).validate()
    if output.suffix.lower() != ".zip":
        raise InputError(f"--output must name a .zip file, got {str(output)!r}")
    frame = read_table(source)
    future = read_table(Path(args.future)) if args.future else None
    if future is not None and not config.regressors:
        raise InputError("--future is only read with --regressors (the columns known in advance)")
    progress, close = _progress_callback("training")
    # the data's warnings (stale series, outages...) come back in the summary and are printed
    # once, below; -v also shows them as they are found
    found = contextlib.nullcontext() if args.verbose else quieter(preparation.__name__)
    try:
        with found:
            summary = train_to_artifact(
                frame,
                output,
                date_col=date_col,
                target_col=target_col,
                series_cols=series_cols,
                config=config,
                signing_key=key,
                source_sha256=file_sha256(source),
                progress=progress,
                future=future,
            )
    finally:
        close()
    for message in summary.metadata.get("warnings", []):
        print(f"warning: {message}", file=sys.stderr)
    print(_format_table(metrics_table(summary.metrics, summary.series)))
    walks = summary.metadata.get("random_walk_series") or []
    if walks:
        print(
            f"\n{len(walks)} series whose level wanders like a random walk (level-tracking models "
            f"only, without a weekly season): {', '.join(walks)}"
        )
    yearly = summary.metadata.get("yearly_series") or []
    if yearly:
        print(
            f"\n{len(yearly)} series that repeat their yearly shape (ets and theta fitted around it): "
            f"{', '.join(yearly)}"
        )
    closed = summary.series.loc[summary.series["closed_weekdays"] != "", ["unique_id", "closed_weekdays"]]
    if len(closed):
        days = ", ".join(f"{uid} ({d.replace(',', ', ')})" for uid, d in closed.itertuples(index=False))
        print(f"\n{len(closed)} series forecast as zero on the weekdays they are closed: {days}")
    print(f"\nmodel artifact: {summary.output}")
    if ephemeral:
        print(
            f"no signing key configured ({SIGNING_KEY_ENV}): "
            "the demo signed the artifact with an ephemeral key.\n"
            f"verify it with: {SIGNING_KEY_ENV}={key.decode('ascii')} "
            f"python -m project.model_artifact verify {summary.output}\n"
            f"(set {SIGNING_KEY_ENV} before training to sign with your own key)"
        )
    return EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
