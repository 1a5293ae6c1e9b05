"""Train forecasting models for every series and write a signed artifact.

Library use (the training contract of ``readme/ARCHITECTURE.md``)::

    from .entrenar_modelo import TrainConfig, train_to_artifact
    summary = train_to_artifact(frame, Path("model.zip"), date_col="date", target_col="sales",
                                series_cols=["store"], config=TrainConfig(n_jobs=2),
                                signing_key=key)

Command line::

    python -m project.entrenar_modelo --input FILE --date-col C --target-col C [--series-cols a,b]
        [--horizon 28] [--candidates naive,snaive,ets,theta,gbm] [--cv-windows 3] [--metric mase]
        [--n-jobs N] [--dask-address ADDR] [--signing-key KEY] [--country CC] --output MODEL.zip
    python -m project.entrenar_modelo --demo [--output out/demo_model.zip]

Per-series work (:func:`project.utils.selection.fit_series`) goes through
joblib (``n_jobs``); a ``dask_address`` sends the same calls to a Dask
cluster with ``Client.map``.  ``progress(done, total)`` is always called in
the calling process as series finish.

Default candidates: ``naive, snaive, ets, theta, gbm``.  ETS and Theta are
the strongest single models on daily web/retail data for their cost (a fit
takes ~0.15 s and ~0.01 s), ``gbm`` adds calendar/holiday structure the
exponential-smoothing family cannot see and is the most different member of
an ensemble, and the two naive models are the references a chosen model must
beat (and win on random-walk-like series).  ``sarimax`` and ``prophet`` stay
available (``--candidates``); they are left out of the default because in the
backtests of ``bench/accuracy.py`` they rarely win a series and never lift the
automatic forecast, while Prophet costs seconds per fit and SARIMAX's search
is the slowest step of the pipeline.

Exit codes: ``EXIT_OK`` (0), ``EXIT_FAILURE`` (1, an unexpected error),
``EXIT_BAD_INPUT`` (2, bad input or arguments: one line on stderr, no zip).
"""

from __future__ import annotations

import argparse
import dataclasses
import logging
import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .cli import OneLineUsageParser
from .errors import ArtifactError, InputError

__all__ = [
    "DEFAULT_CANDIDATES",
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

EXIT_OK = 0
EXIT_FAILURE = 1
EXIT_BAD_INPUT = 2

DEFAULT_CANDIDATES: tuple[str, ...] = ("naive", "snaive", "ets", "theta", "gbm")
KNOWN_CANDIDATES: tuple[str, ...] = ("naive", "snaive", "ets", "sarimax", "prophet", "gbm", "theta")
DEMO_DATA = Path(__file__).resolve().parent / "data" / "wikipedia_pageviews_daily.csv"
DEMO_COLUMNS = {"date_col": "date", "target_col": "pageviews", "series_cols": ("page",)}
DEFAULT_DEMO_OUTPUT = Path("out") / "demo_model.zip"
MODEL_FORMAT = "ai_train_model.per_series/1"


@dataclass
class TrainConfig:
    """Training options (picklable; sent as is to every worker).

    ``step`` is the backtest step in days (``None``: 7, see
    :mod:`project.utils.selection`); ``season_length`` is the seasonal period
    in observations (7 for daily data, 52 or 1 for weekly); ``ensemble_sizes``
    are the sizes of the top-k combinations tried, ``pool_trim`` and
    ``ensemble_margin`` steer the default pool combination (see
    :mod:`project.utils.selection`); ``model_params`` maps a
    candidate name to extra keyword arguments for it.
    """

    horizon: int = 28
    candidates: tuple[str, ...] = DEFAULT_CANDIDATES
    cv_windows: int = 3
    step: int | None = None
    metric: str = "mase"
    levels: tuple[int, ...] = (80, 95)
    n_jobs: int = 1
    dask_address: str | None = None
    country: str | None = None
    missing: str = "auto"
    max_train_days: int = 1095
    season_length: int = 7
    ensemble: bool = True
    ensemble_sizes: tuple[int, ...] = (2, 3)
    ensemble_margin: float = 0.1
    pool_trim: float | None = None
    model_params: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.candidates = tuple(str(c).strip().lower() for c in self.candidates if str(c).strip())
        self.levels = tuple(int(v) for v in self.levels)
        self.ensemble_sizes = tuple(int(v) for v in self.ensemble_sizes)
        self.metric = str(self.metric).lower()

    def validate(self) -> TrainConfig:
        """Raise :class:`InputError` naming the first unusable option."""
        from .utils.selection import SELECTION_METRICS

        if not 1 <= int(self.horizon) <= 366:
            raise InputError(f"horizon must be between 1 and 366 days, got {self.horizon}")
        if not self.candidates:
            raise InputError("at least one candidate model is needed (--candidates)")
        unknown = [c for c in self.candidates if c not in KNOWN_CANDIDATES]
        if unknown:
            raise InputError(
                f"unknown candidate model(s) {', '.join(unknown)}; "
                f"expected some of {', '.join(KNOWN_CANDIDATES)}"
            )
        if int(self.cv_windows) < 1:
            raise InputError(f"cv-windows must be at least 1, got {self.cv_windows}")
        if self.step is not None and int(self.step) < 1:
            raise InputError(f"step must be at least 1 day, got {self.step}")
        if self.metric not in SELECTION_METRICS:
            raise InputError(
                f"unknown metric {self.metric!r}; expected one of {', '.join(SELECTION_METRICS)}"
            )
        if not self.levels or any(not 0 < v < 100 for v in self.levels):
            raise InputError(f"interval levels must be between 1 and 99, got {list(self.levels)}")
        if int(self.n_jobs) == 0:
            raise InputError("n-jobs must be a positive number of workers or -1 for all cores")
        if int(self.max_train_days) < 28:
            raise InputError(f"max-train-days must be at least 28, got {self.max_train_days}")
        if int(self.season_length) < 1:
            raise InputError(f"season length must be at least 1, got {self.season_length}")
        return self

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready parameters for the artifact metadata."""
        out = dataclasses.asdict(self)
        out["model_params"] = {k: dict(v) for k, v in dict(self.model_params).items()}
        return out


@dataclass
class TrainResult:
    """Fitted per-series results of :func:`train`, sorted by ``unique_id``."""

    config: TrainConfig
    results: list  # list[SeriesResult]

    def by_id(self) -> dict[str, Any]:
        return {r.unique_id: r for r in self.results}


@dataclass
class TrainSummary:
    """What :func:`train_to_artifact` wrote (see ``readme/ARCHITECTURE.md``)."""

    metadata: dict[str, Any]
    metrics: Any  # pd.DataFrame: unique_id, model, bucket, metric, value, chosen
    forecast: Any  # pd.DataFrame: forecast.csv content
    series: Any  # pd.DataFrame: unique_id, model, fallback, length, first_date, last_date
    output: Path | None = None
    result: TrainResult | None = None


# --------------------------------------------------------------------------- training


def _series_tasks(data: Any) -> list[tuple[str, Any, Any]]:
    """``(unique_id, y, ds)`` per series of a long frame, sorted by id."""
    tasks = []
    for uid, part in data.sort_values(["unique_id", "ds"]).groupby("unique_id", sort=True):
        tasks.append((str(uid), part["y"].to_numpy("float64"), part["ds"].to_numpy("datetime64[ns]")))
    return tasks


def _run(tasks: list, config: TrainConfig, progress: Callable[[int, int], None] | None) -> list:
    from .utils.selection import fit_series

    total = len(tasks)
    done = 0
    results = []

    def tick(result: Any) -> None:
        nonlocal done
        done += 1
        results.append(result)
        logger.debug("series %s: %s (%.2fs)", result.unique_id, result.model, result.seconds)
        if progress is not None:
            progress(done, total)

    if config.dask_address:
        from distributed import Client, as_completed

        try:
            client = Client(config.dask_address, set_as_default=False, timeout="20s")
        except OSError as exc:
            raise InputError(f"cannot reach the Dask scheduler at {config.dask_address!r}: {exc}") from exc
        try:
            futures = client.map(
                fit_series,
                [t[0] for t in tasks],
                [t[1] for t in tasks],
                [t[2] for t in tasks],
                [config] * total,
                pure=False,
            )
            for future in as_completed(futures, loop=client.loop):
                tick(future.result())
        finally:
            client.close()
    elif int(config.n_jobs) == 1 or total <= 1:
        for uid, y, ds in tasks:
            tick(fit_series(uid, y, ds, config))
    else:
        from joblib import Parallel, delayed

        parallel = Parallel(n_jobs=int(config.n_jobs), return_as="generator_unordered")
        for result in parallel(delayed(fit_series)(uid, y, ds, config) for uid, y, ds in tasks):
            tick(result)
    return sorted(results, key=lambda r: r.unique_id)


def train(
    prepared: Any, config: TrainConfig, progress: Callable[[int, int], None] | None = None
) -> TrainResult:
    """Fit every series of ``prepared`` (a :class:`~project.utils.datos.PreparedData`
    or a long frame ``unique_id, ds, y``) and return the per-series results."""
    config.validate()
    data = getattr(prepared, "data", prepared)
    tasks = _series_tasks(data)
    if not tasks:
        raise InputError("the input has no series to train on")
    return TrainResult(config=config, results=_run(tasks, config, progress))


# --------------------------------------------------------------------------- outputs


def _level_columns(levels: Sequence[int]) -> dict[str, str]:
    """forecast-frame column -> forecast.csv column (80 % is the plain yhat band)."""
    main = 80 if 80 in levels else levels[0]
    mapping = {"mean": "yhat", f"lo-{main}": "yhat_lower", f"hi-{main}": "yhat_upper"}
    for lv in levels:
        if lv != main:
            mapping[f"lo-{lv}"] = f"yhat_lower_{lv}"
            mapping[f"hi-{lv}"] = f"yhat_upper_{lv}"
    return mapping


def forecast_table(result: TrainResult, keys: Any | None = None) -> Any:
    """The ``forecast.csv`` frame: ``unique_id``, key columns, ``ds, horizon, yhat...``, ``model``."""
    import pandas as pd

    frames = []
    for r in result.results:
        frame = r.forecast.copy()
        frame["model"] = r.model
        frames.append(frame)
    fc = pd.concat(frames, ignore_index=True).rename(columns=_level_columns(result.config.levels))
    cols = ["unique_id"]
    if keys is not None and len(keys.columns) > 1:
        extra = [c for c in keys.columns if c != "unique_id"]
        fc = fc.merge(keys[["unique_id", *extra]], on="unique_id", how="left")
        cols += extra
    value_cols = [c for c in fc.columns if c.startswith("yhat")]
    return fc[[*cols, "ds", "horizon", *value_cols, "model"]]


def metrics_frame(result: TrainResult) -> Any:
    """Backtest metrics of every candidate and ensemble, all series."""
    import pandas as pd

    frames = [r.metrics for r in result.results if len(r.metrics)]
    if not frames:
        return pd.DataFrame(columns=["unique_id", "model", "bucket", "metric", "value", "chosen"])
    out = pd.concat(frames, ignore_index=True)
    out["chosen"] = out["chosen"].astype(bool)
    return out


def series_frame(result: TrainResult) -> Any:
    import pandas as pd

    return pd.DataFrame(
        {
            "unique_id": [r.unique_id for r in result.results],
            "model": [r.model for r in result.results],
            "fallback": [r.fallback or "" for r in result.results],
            "length": [r.n_obs for r in result.results],
            "first_date": [r.first_date.date().isoformat() for r in result.results],
            "last_date": [r.last_date.date().isoformat() for r in result.results],
            "interval_method": [r.interval_method for r in result.results],
            "seconds": [round(r.seconds, 3) for r in result.results],
        }
    )


def metrics_table(metrics: Any, series: Any, metric: str = "mase") -> Any:
    """One row per series: chosen model and ``metric`` at D+1, D+7, D+h and 1..h."""
    chosen = metrics[metrics["chosen"].astype(bool) & (metrics["metric"] == metric)]
    wide = chosen.pivot_table(index="unique_id", columns="bucket", values="value", aggfunc="first")
    order = [c for c in ("D+1", "D+7", "D+28") if c in wide.columns] + [
        c for c in wide.columns if c.startswith("1-")
    ]
    wide = wide[order] if order else wide
    table = series[["unique_id", "model", "fallback"]].merge(wide.reset_index(), on="unique_id", how="left")
    return table


def _nested_metrics(metrics: Any) -> dict[str, Any]:
    """metadata ``metrics``: chosen model's buckets and every candidate's, per series."""
    out: dict[str, Any] = {"chosen": {}, "candidates": {}}
    for (uid, model), part in metrics.groupby(["unique_id", "model"], sort=True):
        table: dict[str, dict[str, float | None]] = {}
        for row in part.itertuples(index=False):
            value = float(row.value)
            table.setdefault(row.bucket, {})[row.metric] = value if value == value else None
        out["candidates"].setdefault(uid, {})[model] = table
        if bool(part["chosen"].iloc[0]):
            out["chosen"][uid] = {"model": model, **table}
    return out


def _report_png(result: TrainResult, data: Any) -> bytes:
    """Report of the series with the largest volume (history, forecast, backtest error)."""
    import warnings

    from .utils.evaluacion import render_report_png

    volumes = data.groupby("unique_id")["y"].sum()
    uid = str(volumes.idxmax())
    r = result.by_id()[uid]
    history = data.loc[data["unique_id"] == uid, ["ds", "y"]]
    cv = getattr(r, "backtest", None)
    try:
        with warnings.catch_warnings():
            # titles in scripts the default font lacks (CJK page names) only lose glyphs
            warnings.simplefilter("ignore", UserWarning)
            return render_report_png(
                history,
                r.forecast,
                cv if cv is not None and len(cv) else None,
                level=80 if 80 in result.config.levels else result.config.levels[0],
                title=f"{uid}: {r.model}",
            )
    except Exception as exc:  # noqa: BLE001 - a failed plot must not lose a trained model
        logger.warning("report PNG could not be drawn: %s", exc)
        return b""


def build_model_object(result: TrainResult, data: Any, keys: Any | None, policy: Any) -> dict[str, Any]:
    """What ``model.joblib`` holds: fitted members per series plus what an update needs."""
    max_days = int(result.config.max_train_days) + int(result.config.horizon) * 2
    history = (
        data[["unique_id", "ds", "y"]]
        .sort_values(["unique_id", "ds"])
        .groupby("unique_id", sort=True)
        .tail(max_days)
        .reset_index(drop=True)
    )
    return {
        "format": MODEL_FORMAT,
        "config": result.config,
        "series": result.by_id(),
        "history": history,
        "keys": keys,
        "policy": policy,
    }


def summarise(
    result: TrainResult,
    data: Any,
    *,
    keys: Any | None = None,
    policy: Any = None,
    source_sha256: str | None = None,
    rows: int | None = None,
    warnings: Sequence[str] = (),
    extra: Mapping[str, Any] | None = None,
) -> TrainSummary:
    """Tables and metadata of a trained result (no file written)."""
    from .model_artifact import artifact_metadata

    metrics = metrics_frame(result)
    series = series_frame(result)
    forecast = forecast_table(result, keys)
    config = result.config
    metadata = artifact_metadata(
        horizon=int(config.horizon),
        interval_levels=list(config.levels),
        interval_columns=_level_columns(config.levels),
        chosen_models={r.unique_id: r.model for r in result.results},
        metrics=_nested_metrics(metrics),
        data={
            "sha256": source_sha256,
            "rows": int(rows if rows is not None else len(data)),
            "series": int(len(result.results)),
            "first_date": str(data["ds"].min().date()),
            "last_date": str(data["ds"].max().date()),
        },
        params=config.to_dict(),
        missing_policy=policy,
        fallbacks={r.unique_id: r.fallback for r in result.results if r.fallback},
        candidate_errors={r.unique_id: r.errors for r in result.results if r.errors},
        interval_methods={r.unique_id: r.interval_method for r in result.results},
        warnings=list(warnings),
        **dict(extra or {}),
    )
    return TrainSummary(metadata=metadata, metrics=metrics, forecast=forecast, series=series, result=result)


def write_artifact(
    summary: TrainSummary,
    output: Path,
    data: Any,
    *,
    keys: Any | None,
    policy: Any,
    signing_key: bytes,
) -> Path:
    from .model_artifact import build_artifact, render_model_card

    assert summary.result is not None
    model_object = build_model_object(summary.result, data, keys, policy)
    png = _report_png(summary.result, data)
    card = render_model_card(summary.metadata, summary.metrics)
    path = build_artifact(
        output,
        model=model_object,
        metadata=summary.metadata,
        forecast=summary.forecast,
        metrics=summary.metrics,
        signing_key=signing_key,
        report_png=png,
        model_card=card,
    )
    summary.output = Path(path)
    return summary.output


def train_to_artifact(
    data: Any,
    output: Path,
    *,
    date_col: str,
    target_col: str,
    series_cols: Sequence[str] = (),
    config: TrainConfig,
    signing_key: bytes,
    source_sha256: str | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> TrainSummary:
    """Prepare ``data``, train every series and write the signed zip at ``output``.

    Raises :class:`InputError` for unusable input before anything is written;
    the zip appears only once complete (atomic rename).
    """
    from .preparation import prepare

    config.validate()
    if not signing_key:
        raise InputError("a signing key is required to write a model artifact")
    prepared = prepare(
        data, date_col, target_col, series_cols, missing=config.missing, horizon=int(config.horizon)
    )
    frame = prepared.data
    nonzero = frame.groupby("unique_id")["y"].apply(lambda s: bool((s.fillna(0) != 0).any()))
    if not nonzero.any():
        raise InputError(
            f"every series is zero on every day ({len(nonzero)} series in column {target_col!r}); "
            "there is nothing to forecast"
        )
    result = train(prepared, config, progress)
    summary = summarise(
        result,
        frame,
        keys=prepared.keys,
        policy=prepared.policy,
        source_sha256=source_sha256,
        rows=len(data),
        warnings=prepared.warnings,
    )
    write_artifact(
        summary, Path(output), frame, keys=prepared.keys, policy=prepared.policy, signing_key=signing_key
    )
    return summary


# --------------------------------------------------------------------------- CLI


def _build_parser() -> argparse.ArgumentParser:
    parser = OneLineUsageParser(
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
        "--horizon", metavar="DAYS", type=int, default=28, help="days to forecast (default 28)"
    )
    parser.add_argument(
        "--candidates",
        metavar="M,M",
        default=",".join(DEFAULT_CANDIDATES),
        help=f"candidate models, some of {','.join(KNOWN_CANDIDATES)} "
        f"(default {','.join(DEFAULT_CANDIDATES)})",
    )
    parser.add_argument("--cv-windows", metavar="N", type=int, default=3, help="backtest windows (default 3)")
    parser.add_argument(
        "--step", metavar="DAYS", type=int, default=None, help="days between backtest cutoffs (default 7)"
    )
    parser.add_argument(
        "--metric", metavar="NAME", default="mase", help="selection metric: mase, smape, mae, rmse, wmape"
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
    parser.add_argument("-q", "--quiet", action="store_true", help="only errors on stderr")
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
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
    parser = _build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.ERROR if args.quiet else logging.DEBUG if args.verbose else logging.INFO,
        format="%(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    for noisy in ("cmdstanpy", "prophet", "distributed", "numba", "matplotlib"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    try:
        return _main(args)
    except (InputError, ArtifactError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except KeyboardInterrupt:
        print("error: interrupted; no artifact was written", file=sys.stderr)
        return EXIT_FAILURE
    except Exception as exc:  # noqa: BLE001 - a CLI user gets one line, the log gets the traceback
        logger.debug("training failed", exc_info=True)
        print(f"error: training failed: {type(exc).__name__}: {exc}", file=sys.stderr)
        return EXIT_FAILURE


def _main(args: argparse.Namespace) -> int:
    import secrets

    from .model_artifact import SIGNING_KEY_ENV, file_sha256, resolve_signing_key
    from .utils.datos import read_table

    ephemeral = False
    if args.demo:
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
    progress, close = _progress_callback("training")
    try:
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
        )
    finally:
        close()
    for message in summary.metadata.get("warnings", []):
        print(f"warning: {message}", file=sys.stderr)
    print(_format_table(metrics_table(summary.metrics, summary.series)))
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
