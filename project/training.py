"""The training library: configuration, training of every series, summary tables and the signed artifact.

Library use (the training contract of ``readme/ARCHITECTURE.md``)::

    from project.training import TrainConfig, train_to_artifact
    summary = train_to_artifact(frame, Path("model.zip"), date_col="date", target_col="sales",
                                series_cols=["store"], config=TrainConfig(n_jobs=2),
                                signing_key=key)

Per-series work (:func:`project.utils.selection.fit_series`, or the
incremental update of :mod:`project.incremental_training`) goes through one
dispatcher, :func:`run_series`: serial, joblib (``n_jobs``) or a Dask cluster
(``dask_address``, ``Client.map``).  ``progress(done, total)`` is always called
in the calling process as series finish.

Default candidates: ``naive, snaive, ets, theta, gbm``.  ETS and Theta are
the strongest single models on daily web/retail data for their cost, ``gbm``
adds calendar/holiday structure the exponential-smoothing family cannot see
and is the most different member of an ensemble, and the two naive models are
the references a chosen model must beat (and win on random-walk-like series).
``sarimax`` and ``prophet`` stay available (``candidates``).  SARIMAX rarely
wins a series in the backtests of ``bench/accuracy.py`` and its search is the
slowest step of the pipeline.  Prophet helps calendar-driven series (births,
a call centre) but its four fits per series add about a third to the
pipeline's time, beyond the speed target (``bench/README.md``).
A smooth series whose level wanders like a random walk (prices, exchange
rates) keeps to ``naive, ets, theta`` without a season
(``random_walk_ratio``, :mod:`project.utils.selection`): seasonal naive
repeats a week the level has left and ``gbm`` learns level moves that do
not recur.

Weekly data has its own defaults (:data:`FREQ_DEFAULTS`): ``auto_arima``
(on the seasonally adjusted series) instead of ``gbm``, whose lags see
little of a 52-week cycle, the pool of every candidate, and the last five
years (260 weeks) as the training window.  Weekly series are often random
walks, where the backtest picks ``naive`` alone, and otherwise gain from the
combination; weekly histories often span decades, and models fitted to all
of them follow levels, trends and seasonal shapes the series has left.
These were chosen on M4 Weekly series the reported figures do not use
(``bench/README.md``).
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .errors import InputError

__all__ = [
    "DEFAULT_CANDIDATES",
    "WEEKLY_CANDIDATES",
    "FREQ_DEFAULTS",
    "KNOWN_CANDIDATES",
    "MODEL_FORMAT",
    "TrainConfig",
    "TrainResult",
    "TrainSummary",
    "run_series",
    "series_tasks",
    "future_regressors",
    "train",
    "train_to_artifact",
    "summarise",
    "write_artifact",
    "build_model_object",
    "forecast_table",
    "metrics_frame",
    "series_frame",
    "metrics_table",
    "level_columns",
]

logger = logging.getLogger(__name__)

DEFAULT_CANDIDATES: tuple[str, ...] = ("naive", "snaive", "ets", "theta", "gbm")
KNOWN_CANDIDATES: tuple[str, ...] = (
    "naive",
    "snaive",
    "ets",
    "sarimax",
    "prophet",
    "gbm",
    "theta",
    "auto_ets",
    "auto_theta",
    "auto_arima",
    "auto_ces",
    "croston",
    "tsb",
    "adida",
    "imapa",
)
MODEL_FORMAT = "ai_train_model.per_series/2"
#: Default candidates of weekly data (see :data:`FREQ_DEFAULTS`).
WEEKLY_CANDIDATES: tuple[str, ...] = ("naive", "snaive", "ets", "theta", "auto_arima")
#: Per frequency, defaults that differ from the daily ones.  :meth:`TrainConfig.for_freq`
#: applies them to the fields still at their class default.  ``max_train_days`` counts
#: observations: 1,095 days for daily data, 260 weeks (five years) for weekly data.
FREQ_DEFAULTS: dict[str, dict[str, Any]] = {
    "W": {
        "candidates": WEEKLY_CANDIDATES,
        "pool_trim": None,
        "max_train_days": 260,
        "random_walk_ratio": None,
    }
}


@dataclass
class TrainConfig:
    """Training options (picklable; sent as is to every worker).

    ``freq`` is the data's frequency (``D``, ``W`` or ``M``; ``None``: inferred
    from the dates by :func:`project.preparation.prepare`); ``season_length``
    (``None``: 7, 52 or 12 for the frequency) is the seasonal period in
    observations; ``step`` is the backtest step in observations (``None``: 7
    days, 4 weeks or 3 months, see :mod:`project.utils.selection`);
    ``stale`` is the policy for stale series (:mod:`project.calendars`);
    ``intermittent`` sends sparse series to ``sparse_candidates`` (see
    :mod:`project.utils.selection`); ``closed_zero`` forecasts as zero the
    phases a series is still closed on (weekdays for daily data, same module);
    ``yearly_adjust`` fits ``ets`` and ``theta`` around the yearly profile of a
    daily series that repeats it (same module);
    ``season_test`` fits series without a short season in their changes
    without seasonal models (same module);
    ``random_walk_ratio`` (``None``: off) and ``random_walk_candidates``
    keep series whose level wanders like a random walk to level-tracking
    models (same module);
    ``conformal_nondecreasing``, ``conformal_scale``, ``conformal_radius``,
    ``conformal_growth``, ``conformal_history`` and ``conformal_always`` calibrate the conformal bands
    (:func:`project.utils.selection.calibrated_bands`; ``conformal_history`` is
    the number of recent steps whose spread widens bands calibrated on a calm
    spell, 0 for none; ``conformal_always`` also replaces models' native bands);
    ``regressors`` name columns known in
    the future (promotions, prices, planned closures) that ``gbm``,
    ``prophet`` and ``sarimax`` use; their future values are required for the
    forecast horizon (:func:`future_regressors`); ``ensemble_sizes``
    are the sizes of the top-k combinations tried, ``pool_trim`` and
    ``ensemble_margin`` steer the default pool combination (see
    :mod:`project.utils.selection`); ``model_params`` maps a
    candidate name to extra keyword arguments for it.
    """

    horizon: int | None = 28
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
    season_length: int | None = None
    freq: str | None = None
    stale: str = "own-end"
    intermittent: bool = True
    closed_zero: bool = True
    yearly_adjust: bool = True
    season_test: bool = True
    random_walk_ratio: float | None = 0.5
    random_walk_candidates: tuple[str, ...] = ("naive", "ets", "theta")
    conformal_nondecreasing: bool = True
    conformal_scale: float = 1.0
    conformal_radius: int = 7
    conformal_growth: bool = True
    conformal_always: bool = True
    conformal_history: int | None = 1095
    sparse_candidates: tuple[str, ...] = ("croston", "tsb", "adida", "imapa")
    regressors: tuple[str, ...] = ()
    ensemble: bool = True
    ensemble_sizes: tuple[int, ...] = (2, 3)
    ensemble_margin: float = 0.1
    pool_trim: float | None = 1.25
    model_params: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.candidates = tuple(str(c).strip().lower() for c in self.candidates if str(c).strip())
        self.sparse_candidates = tuple(
            str(c).strip().lower() for c in self.sparse_candidates if str(c).strip()
        )
        self.random_walk_candidates = tuple(
            str(c).strip().lower() for c in self.random_walk_candidates if str(c).strip()
        )
        self.regressors = tuple(str(c).strip() for c in self.regressors if str(c).strip())
        if self.freq is not None:
            self.freq = str(self.freq).strip().upper()
        self.levels = tuple(int(v) for v in self.levels)
        self.ensemble_sizes = tuple(int(v) for v in self.ensemble_sizes)
        self.metric = str(self.metric).lower()

    def validate(self) -> TrainConfig:
        """Raise :class:`InputError` naming the first unusable option."""
        from .calendars import FREQUENCIES, STALE_POLICIES
        from .utils.selection import SELECTION_METRICS

        if self.horizon is not None and not 1 <= int(self.horizon) <= 366:
            raise InputError(f"horizon must be between 1 and 366 steps, got {self.horizon}")
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
        if self.season_length is not None and int(self.season_length) < 1:
            raise InputError(f"season length must be at least 1, got {self.season_length}")
        if self.freq is not None and self.freq not in FREQUENCIES:
            raise InputError(f"unknown frequency {self.freq!r}; expected one of {', '.join(FREQUENCIES)}")
        if self.stale not in STALE_POLICIES:
            raise InputError(
                f"unknown stale policy {self.stale!r}; expected one of {', '.join(STALE_POLICIES)}"
            )
        if int(self.conformal_radius) < 0:
            raise InputError(f"conformal radius must be 0 or more horizons, got {self.conformal_radius}")
        if self.conformal_history is not None and int(self.conformal_history) < 0:
            raise InputError(
                f"conformal history must be 0 (off) or a number of steps, got {self.conformal_history}"
            )
        if not 0 < float(self.conformal_scale) <= 10:
            raise InputError(f"conformal scale must be above 0 and at most 10, got {self.conformal_scale}")
        unknown = [c for c in self.sparse_candidates if c not in KNOWN_CANDIDATES]
        if unknown:
            raise InputError(f"unknown sparse candidate model(s) {', '.join(unknown)}")
        unknown = [c for c in self.random_walk_candidates if c not in KNOWN_CANDIDATES]
        if unknown:
            raise InputError(f"unknown random-walk candidate model(s) {', '.join(unknown)}")
        if self.random_walk_ratio is not None and not float(self.random_walk_ratio) > 0:
            raise InputError(
                f"random-walk ratio must be above 0 (or None for off), got {self.random_walk_ratio}"
            )
        return self

    def for_freq(self, freq: str | None = None) -> TrainConfig:
        """This configuration with the frequency's season length, backtest step and defaults filled in.

        Explicit values are kept; ``freq`` (default: the configured one, else
        daily) fills what is ``None``, and the fields still at their class
        default take the frequency's own default (:data:`FREQ_DEFAULTS`: weekly
        data has its own candidates).
        """
        from .calendars import BACKTEST_STEP, DEFAULT_HORIZON, SEASON_LENGTH

        freq = str(self.freq or freq or "D").upper()
        class_defaults = {f.name: f.default for f in dataclasses.fields(self)}
        own = {
            name: value
            for name, value in FREQ_DEFAULTS.get(freq, {}).items()
            if getattr(self, name) == class_defaults[name]
        }
        if self.regressors and "candidates" in own and "gbm" not in own["candidates"]:
            own["candidates"] = (*own["candidates"], "gbm")  # the default candidate that reads regressors
        return dataclasses.replace(
            self,
            freq=freq,
            horizon=int(self.horizon or DEFAULT_HORIZON[freq]),
            season_length=int(self.season_length or SEASON_LENGTH[freq]),
            step=self.step if self.step is not None else (None if freq == "D" else BACKTEST_STEP[freq]),
            **own,
        )

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
    horizon_errors: Any = None  # pd.DataFrame: unique_id, model, horizon, mase


# --------------------------------------------------------------------------- training


def series_tasks(data: Any) -> list[tuple[str, Any, Any]]:
    """``(unique_id, y, ds)`` per series of a long frame, sorted by id."""
    tasks = []
    for uid, part in data.sort_values(["unique_id", "ds"]).groupby("unique_id", sort=True):
        tasks.append((str(uid), part["y"].to_numpy("float64"), part["ds"].to_numpy("datetime64[ns]")))
    return tasks


def future_regressors(future: Any, data: Any, config: TrainConfig) -> dict[str, Any]:
    """Per series, the known-future regressor values of the ``horizon`` steps after its last date.

    ``future`` is a long frame ``unique_id, ds, <regressors>``.  Raises
    :class:`InputError` naming the series, the column and the first dates
    when a value is missing: a forecast cannot guess next month's promotions.
    """
    import pandas as pd

    from .calendars import offset_of

    names = list(config.regressors)
    h = int(config.horizon)
    if future is None:
        raise InputError(
            f"known-future column(s) {', '.join(map(repr, names))} need their values for the {h} "
            "steps to forecast: pass a future frame (--future FILE) with the series keys, the date "
            "and those columns"
        )
    absent = [c for c in names if c not in future.columns]
    if absent:
        raise InputError(f"the future frame lacks regressor column(s) {', '.join(map(repr, absent))}")
    table = future.groupby(["unique_id", "ds"], sort=True)[names].mean()
    out = {}
    for uid, part in data.groupby("unique_id", sort=True):
        ds = pd.DatetimeIndex(part["ds"]).sort_values()
        step = offset_of(config.freq or "D", ds)
        wanted = pd.DatetimeIndex([ds[-1] + step * k for k in range(1, h + 1)])
        index = pd.MultiIndex.from_arrays([[uid] * h, wanted], names=["unique_id", "ds"])
        values = table.reindex(index)
        missing = values.isna().any(axis=1).to_numpy()
        if missing.any():
            column = next(c for c in names if values[c].isna().any())
            days = ", ".join(str(d.date()) for d in wanted[missing][:3])
            more = f" and {int(missing.sum()) - 3} more" if missing.sum() > 3 else ""
            raise InputError(
                f"the future frame has no {column!r} for series {uid!r} on {days}{more}; known-future "
                f"regressors are needed for every one of the {h} steps after each series' last date "
                f"({ds[-1].date()})"
            )
        out[str(uid)] = values.reset_index(drop=True)
    return out


def run_series(
    func: Callable[..., Any],
    tasks: Sequence[tuple[Any, ...]],
    config: Any,
    on_result: Callable[[Any], None] | None = None,
) -> list[Any]:
    """Call ``func(*task)`` for every task serially, through joblib or on Dask.

    The one dispatcher of full and incremental training: ``config.dask_address``
    sends the calls to that Dask scheduler (``Client.map``), ``config.n_jobs``
    other than 1 runs them through joblib, otherwise they run in this process.
    ``on_result`` is called in the calling process as each call finishes (in
    completion order); the results are returned in that order too.  ``func``
    and the task values must be picklable for joblib and Dask.
    """
    results: list[Any] = []

    def collect(result: Any) -> None:
        results.append(result)
        if on_result is not None:
            on_result(result)

    address = getattr(config, "dask_address", None)
    n_jobs = int(getattr(config, "n_jobs", 1) or 1)
    if address:
        from distributed import Client, as_completed

        try:
            client = Client(address, set_as_default=False, timeout="20s")
        except OSError as exc:
            raise InputError(f"cannot reach the Dask scheduler at {address!r}: {exc}") from exc
        try:
            columns = [list(column) for column in zip(*tasks)] if tasks else []
            futures = client.map(func, *columns, pure=False) if tasks else []
            for future in as_completed(futures, loop=client.loop):
                collect(future.result())
        finally:
            client.close()
    elif n_jobs == 1 or len(tasks) <= 1:
        for task in tasks:
            collect(func(*task))
    else:
        from joblib import Parallel, delayed

        parallel = Parallel(n_jobs=n_jobs, return_as="generator_unordered")
        for result in parallel(delayed(func)(*task) for task in tasks):
            collect(result)
    return results


def train(
    prepared: Any,
    config: TrainConfig,
    progress: Callable[[int, int], None] | None = None,
    future: Any = None,
) -> TrainResult:
    """Fit every series of ``prepared`` (a :class:`~project.preparation.PreparedData`
    or a long frame ``unique_id, ds, y``) and return the per-series results.

    With ``config.regressors``, ``prepared`` carries their columns and
    ``future`` (long frame ``unique_id, ds, <regressors>``) their values for
    the horizon (:func:`future_regressors`)."""
    from .utils.selection import fit_series

    config = config.validate().for_freq(getattr(prepared, "freq", None))
    data = getattr(prepared, "data", prepared)
    tasks = series_tasks(data)
    if config.regressors:
        absent = [c for c in config.regressors if c not in data.columns]
        if absent:
            raise InputError(f"regressor column(s) {', '.join(map(repr, absent))} are not in the data")
        ahead = future_regressors(future, data, config)
        history = {
            str(uid): part.sort_values("ds")[list(config.regressors)].reset_index(drop=True)
            for uid, part in data.groupby("unique_id", sort=True)
        }
        tasks = [(uid, y, ds, config, history[uid], ahead[uid]) for uid, y, ds in tasks]
    else:
        tasks = [(uid, y, ds, config) for uid, y, ds in tasks]
    if not tasks:
        raise InputError("the input has no series to train on")
    total = len(tasks)
    done = 0

    def tick(result: Any) -> None:
        nonlocal done
        done += 1
        logger.debug("series %s: %s (%.2fs)", result.unique_id, result.model, result.seconds)
        if progress is not None:
            progress(done, total)

    results = run_series(fit_series, tasks, config, tick)
    return TrainResult(config=config, results=sorted(results, key=lambda r: r.unique_id))


# --------------------------------------------------------------------------- outputs


def level_columns(levels: Sequence[int]) -> dict[str, str]:
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
    fc = pd.concat(frames, ignore_index=True).rename(columns=level_columns(result.config.levels))
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


def horizon_errors_frame(result: TrainResult) -> Any:
    """Backtest MASE per horizon step of every candidate and ensemble, all series.

    Series without a backtest (too short, constant) and results stored by a
    version that did not keep it have no rows.
    """
    import pandas as pd

    frames = [r.horizon_errors for r in result.results if getattr(r, "horizon_errors", None) is not None]
    frames = [f for f in frames if len(f)]
    if not frames:
        return pd.DataFrame(columns=["unique_id", "model", "horizon", "mase"])
    return pd.concat(frames, ignore_index=True)


def series_frame(result: TrainResult, stale: Sequence[str] = ()) -> Any:
    """One row per series: chosen model, fallback, span, interval method, demand class,
    random-walk flag, the weekdays forecast as zero (closed) and the stale flag."""
    import pandas as pd

    from .preparation import WEEKDAY_NAMES

    stale = set(stale)
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
            "demand": [getattr(r, "demand", "") for r in result.results],
            "random_walk": [bool(getattr(r, "random_walk", False)) for r in result.results],
            "yearly": [bool(getattr(r, "yearly", False)) for r in result.results],
            "closed_weekdays": [
                ",".join(WEEKDAY_NAMES[d] for d in getattr(r, "closed_weekdays", ())) for r in result.results
            ],
            "stale": [r.unique_id in stale for r in result.results],
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


def nested_metrics(metrics: Any) -> dict[str, Any]:
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


def report_png(result: TrainResult, data: Any) -> bytes:
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
    """What ``model.joblib`` holds: fitted members per series plus what an update needs.

    Plain data only (:func:`project.model_state.to_state`): no class of this
    package is pickled, so the artifact loads under any import path.
    """
    from .model_state import to_state

    max_days = int(result.config.max_train_days) + int(result.config.horizon) * 2
    history = (
        data[["unique_id", "ds", "y", *result.config.regressors]]
        .sort_values(["unique_id", "ds"])
        .groupby("unique_id", sort=True)
        .tail(max_days)
        .reset_index(drop=True)
    )
    return to_state(
        {
            "format": MODEL_FORMAT,
            "config": result.config,
            "series": result.by_id(),
            "history": history,
            "keys": keys,
            "policy": policy,
        }
    )


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
    stale = list((policy or {}).get("stale_series", [])) if isinstance(policy, Mapping) else []
    series = series_frame(result, stale)
    forecast = forecast_table(result, keys)
    config = result.config
    metadata = artifact_metadata(
        horizon=int(config.horizon),
        interval_levels=list(config.levels),
        interval_columns=level_columns(config.levels),
        chosen_models={r.unique_id: r.model for r in result.results},
        metrics=nested_metrics(metrics),
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
        freq=config.freq or "D",
        stale_series=stale,
        demand={r.unique_id: getattr(r, "demand", "") for r in result.results},
        random_walk_series=[r.unique_id for r in result.results if getattr(r, "random_walk", False)],
        yearly_series=[r.unique_id for r in result.results if getattr(r, "yearly", False)],
        closed_weekdays={
            r.unique_id: list(r.closed_weekdays) for r in result.results if getattr(r, "closed_weekdays", ())
        },
        warnings=list(warnings),
        **dict(extra or {}),
    )
    return TrainSummary(
        metadata=metadata,
        metrics=metrics,
        forecast=forecast,
        series=series,
        result=result,
        horizon_errors=horizon_errors_frame(result),
    )


def write_artifact(
    summary: TrainSummary,
    output: Path,
    data: Any,
    *,
    keys: Any | None,
    policy: Any,
    signing_key: bytes,
) -> Path:
    from .model_artifact import build_artifact
    from .model_card import render_model_card

    assert summary.result is not None
    model_object = build_model_object(summary.result, data, keys, policy)
    png = report_png(summary.result, data)
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
        horizon_errors=summary.horizon_errors,
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
    future: Any = None,
) -> TrainSummary:
    """Prepare ``data``, train every series and write the signed zip at ``output``.

    ``future`` holds the values of ``config.regressors`` after the history
    (same date and series columns as ``data``); it is required when
    regressors are declared.  Raises :class:`InputError` for unusable input
    before anything is written; the zip appears only once complete (atomic
    rename).
    """
    from .preparation import prepare, prepare_future

    config.validate()
    if not signing_key:
        raise InputError("a signing key is required to write a model artifact")
    prepared = prepare(
        data,
        date_col,
        target_col,
        series_cols,
        missing=config.missing,
        horizon=config.horizon,
        freq=config.freq,
        stale=config.stale,
        regressors=config.regressors,
    )
    frame = prepared.data
    future_long = None
    if config.regressors and future is not None:
        future_long = prepare_future(future, date_col, series_cols, config.regressors)
    nonzero = frame.groupby("unique_id")["y"].apply(lambda s: bool((s.fillna(0) != 0).any()))
    if not nonzero.any():
        raise InputError(
            f"every series is zero on every day ({len(nonzero)} series in column {target_col!r}); "
            "there is nothing to forecast"
        )
    result = train(prepared, config, progress, future=future_long)
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
