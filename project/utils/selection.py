"""Per-series model selection: backtest, choose, ensemble, refit, forecast.

:func:`fit_series` is the unit of work that :mod:`project.training`
sends to joblib or Dask.  It is a pure function of plain, picklable values
(an id, two arrays and a config object) and returns a picklable
:class:`SeriesResult`, so the same code runs in a thread, a loky worker or a
remote Dask worker.

How one series is handled, and why:

1. **Rolling-origin backtest** of every candidate on ``cv_windows`` windows of
   ``horizon`` days.  The last cutoff leaves exactly ``horizon`` days; each
   earlier one steps back ``step`` days (default **7**).  A step of 7 keeps the
   windows on the most recent weeks, which is what the next 28 days look like
   on web and retail data, while still moving the origin across weekdays'
   worth of history; a step of ``h`` reaches back 3 months and, on the
   embedded sample, chose worse (``bench/README.md``).  Each window trains on at
   most ``max_train_days`` days before its cutoff, like the final refit.
2. **Selection** by ``config.metric`` over horizons 1..h (default MASE, scaled
   per window by the mean absolute lag-``season_length`` difference of that
   window's training data, averaged over windows).
3. **Ensembles** (:func:`pool_choice`): the mean of the top 2 and top 3 single models and the
   *pool*, the mean of the candidates whose backtest score is within
   ``pool_trim`` (default 1.25; weekly data: ``None``) x the best
   (``None``: every candidate), are scored on the same windows from the
   stored backtest forecasts (no extra fit).  The pool
   is the default choice; another option (a single model or a top-k mean)
   replaces it only when its backtest score is better than the pool's by more
   than ``ensemble_margin`` (10 %), so a clearly bad candidate (naive on a
   strongly weekly series) is dropped by the top-k options.  Why this
   asymmetry: three windows rank models noisily.  On the embedded sample
   this rule beat both the plain backtest winner and the plain mean of all
   candidates, and it is not knife-edge in its margin and trim (figures in
   ``bench/README.md``); the trim keeps a clearly worse member (seasonal naive
   or ``gbm`` on a random walk) out of the pool and was chosen on a validation
   half the reported figures do not use.  Combinations average the error of the choice itself away,
   the lesson of the M competitions.  ``ensemble_margin=0`` gives the plain
   "lowest backtest score wins" rule; ``ensemble=False`` picks the best
   single model.
4. **Refit** of the chosen member(s) on the last ``max_train_days`` days and a
   forecast of D+1..D+h.  Bands are split-conformal (:func:`calibrated_bands`)
   by default, native ones only with ``conformal_always=False`` for a single
   model that has them; they come from the backtest errors of the
   chosen forecast (:func:`project.utils.pipelines.conformal_bands`), those of
   neighbouring horizons rescaled to the horizon they serve
   (:func:`error_growth`), and widened horizon by horizon when the weeks those
   windows cover were calmer than the series' history (:func:`widening`).
   Output is always finite with ``lo <= mean <= hi``.

**Sparse demand.**  Before anything else the series' demand is classified
(:func:`project.forecasting.demand.classify_demand`: closed weekdays set
aside, then Syntetos-Boylan ADI/CV²).  An *intermittent* or *lumpy* series
is backtested on the intermittent-demand candidates instead
(``config.sparse_candidates``, default Croston optimised, TSB, ADIDA, IMAPA)
and ranked by RMSSE, which stays finite on zero windows and rewards the
demand rate a stock decision needs (MASE or MAE would rank a zero forecast
first).  ``config.intermittent=False`` turns this off.  The class is kept in
``SeriesResult.demand``.

**Closed days.**  A phase the demand check finds closed (a call centre's
weekends, a bakery's Mondays: zero in at least 90 % of its cycles) and that
is still closed in its last four cycles
(:func:`~project.forecasting.demand.closed_now`) is forecast as zero, bands
included (:func:`still_closed`, :func:`zero_closed`): additive seasonal
models and their averages otherwise leave a few hundred calls on a Sunday.
The backtest errors of those days are left out of the bands' calibration.
The choice itself is not changed: candidates are still ranked on every
backtest day, closed ones included.  ``config.closed_zero=False`` turns
this off.

**No short season.**  A smooth series whose day-to-day changes show no
weekly rhythm (:func:`~project.forecasting.decomposition.season_detected`,
the 90 % autocorrelation test on clipped first differences) is a random
walk or a trend plus noise: seasonal naive is backtested (its score stays in
the metrics) but left out of the choice and the combinations, and
``ets``/``theta`` (and the statsforecast Auto* models) are fitted without a
season, which otherwise fits noise as a weekly pattern.
``config.season_test=False`` turns this off; ``SeriesResult.seasonal``
keeps the outcome so an update refits the same way.

**Random-walk levels.**  A smooth series whose level wanders over the
horizon as a random walk's does (the variance ratio of
:func:`~project.forecasting.decomposition.variance_ratio` over ``h`` steps,
at least :data:`RANDOM_WALK_MIN_LAG`, above ``config.random_walk_ratio``,
default 0.5; prices, exchange rates)
is backtested on the level trackers among its candidates only
(``config.random_walk_candidates``, default ``naive, ets, theta``), fitted
without a season.  Seasonal naive and ``gbm`` rarely hold there out of
sample: the one repeats a week the level has left, the other's trees learn
from level moves that do not recur, and three backtest windows are too few
to see it.  Demand, traffic and counts around a level that holds sit near 0
and are not affected.  Off with ``random_walk_ratio=None``, for series with
declared regressors (``gbm`` reads them), and by default for weekly data,
where the weekly defaults already pool ``naive`` and the rule scored worse
(``bench/README.md``).  ``SeriesResult.random_walk`` keeps the outcome.

**Yearly shape.**  A smooth daily series whose last two years share their
yearly shape (:func:`~project.forecasting.yearly.yearly_season`: Fourier
profiles of each year correlate at 0.5 or more; births, weather, air
quality) gets ``ets`` and ``theta`` fitted on the series less a smooth yearly
profile, which is added back to their forecasts
(:class:`~project.forecasting.yearly.YearlyAdjusted`): their level and
trend otherwise follow the yearly cycle late.  Not for sparse or random-walk
series, nor for weekly or monthly data (their yearly season is the
models' own season).  ``config.yearly_adjust=False`` turns this off;
``SeriesResult.yearly`` keeps the outcome so an update refits the same way.

**Fallbacks** (reported in ``SeriesResult.fallback``):

* all-zero series: ``naive`` (the forecast is zero with zero-width bands);
* constant series: ``naive`` (a backtest cannot rank models on zero error);
* a series too short for one backtest window (fewer than
  ``horizon + min_train_length(config)`` days): ``snaive`` when it has at least
  two seasons, else ``naive``, with their native bands;
* a candidate that raises or explodes is replaced by seasonal naive inside
  :class:`~project.utils.pipelines.GuardedModel`; the reason lands in
  ``SeriesResult.errors``.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np
import pandas as pd

from ..forecasting.base import dates_after, step_of
from ..forecasting.decomposition import LONG_SEASON, season_detected, variance_ratio
from ..forecasting.demand import DemandProfile, classify_demand, closed_now
from ..forecasting.guard import GuardedModel
from ..forecasting.intervals import conformal_bands, dispersion_ratio, finite_frame
from ..forecasting.models import make_model
from ..forecasting.yearly import YearlyAdjusted, yearly_season

__all__ = [
    "SelectionSettings",
    "SeriesResult",
    "fit_series",
    "min_train_length",
    "ensemble_name",
    "pool_choice",
    "BACKTEST_METRICS",
    "pooled_errors",
    "make_candidate",
    "window_scale",
    "selection_score",
    "forecast_frame",
    "calibrated_bands",
    "widening",
    "error_growth",
    "still_closed",
    "closed_steps",
    "weekdays_of",
    "zero_closed",
    "SELECTION_METRICS",
]

logger = logging.getLogger(__name__)

#: Metrics computed for every candidate and bucket of the backtest.
BACKTEST_METRICS: tuple[str, ...] = ("mase", "rmsse", "smape", "mae", "rmse", "wmape", "bias")
#: Metrics that ``config.metric`` may name (lower is better for all of them).
SELECTION_METRICS: tuple[str, ...] = ("mase", "rmsse", "smape", "mae", "rmse", "wmape")
#: Candidates of a sparse (intermittent or lumpy) series, and the metric that ranks them.
SPARSE_CANDIDATES: tuple[str, ...] = ("croston", "tsb", "adida", "imapa")
SPARSE_METRIC = "rmsse"
#: Candidates of a series whose level wanders like a random walk (see the module's docstring).
RANDOM_WALK_CANDIDATES: tuple[str, ...] = ("naive", "ets", "theta")
#: Fewest steps the random-walk rule's variance ratio is taken over (the daily horizon it was
#: chosen at): over fewer, noise and a walk look alike, and over one step the ratio is 1.
RANDOM_WALK_MIN_LAG = 28


class SelectionSettings(Protocol):
    """What :func:`fit_series` reads from its config (``TrainConfig`` satisfies it)."""

    horizon: int
    candidates: Sequence[str]
    cv_windows: int
    step: int | None
    metric: str
    levels: Sequence[int]
    max_train_days: int
    season_length: int
    country: str | None
    ensemble: bool
    ensemble_sizes: Sequence[int]
    ensemble_margin: float
    pool_trim: float | None
    model_params: Mapping[str, Mapping[str, Any]]


@dataclass
class SeriesResult:
    """Everything learned for one series; picklable.

    ``forecast`` has ``unique_id, ds, horizon, mean, lo-L, hi-L...``;
    ``metrics`` has ``unique_id, model, bucket, metric, value, chosen`` for
    every candidate and evaluated ensemble; ``scores`` is the selection metric
    over 1..h per candidate/ensemble; ``fitted`` maps each chosen member to its
    refitted (guarded) model; ``conformal_errors`` keeps the backtest errors of
    the chosen forecast (windows x h) so an update can recompute bands;
    ``horizon_errors`` has ``unique_id, model, horizon, mase`` (scaled error
    per horizon step, averaged over cutoffs) for the same candidates;
    ``closed_weekdays`` are the weekdays (0 = Monday) forecast as zero because
    the series is still closed on them (daily data, see :func:`still_closed`);
    ``yearly`` says whether ``ets`` and ``theta`` were fitted around the
    series' yearly profile (see "Yearly shape" above).
    """

    unique_id: str
    model: str
    members: tuple[str, ...]
    combine: str  # "single", "mean" or "median"
    fitted: dict[str, Any]
    forecast: pd.DataFrame
    metrics: pd.DataFrame
    scores: dict[str, float]
    n_obs: int
    first_date: pd.Timestamp
    last_date: pd.Timestamp
    fallback: str | None = None
    errors: dict[str, str] = field(default_factory=dict)
    conformal_errors: np.ndarray | None = None
    interval_method: str = "native"
    cutoffs: tuple[pd.Timestamp, ...] = ()
    backtest: pd.DataFrame | None = None
    seconds: float = 0.0
    demand: str = ""
    seasonal: bool = True
    horizon_errors: pd.DataFrame | None = None
    random_walk: bool = False
    closed_weekdays: tuple[int, ...] = ()
    yearly: bool = False


def ensemble_name(combine: str, members: Sequence[str]) -> str:
    """Display name of a combination, e.g. ``mean(ets+theta)``."""
    return f"{combine}({'+'.join(members)})"


def min_train_length(config: SelectionSettings) -> int:
    """Fewest training observations a backtest window needs.

    Two seasons and at least 14 points.  A long (yearly) season of weekly or
    monthly data (``season_length >= LONG_SEASON``) is optional for the
    models -- they drop it when there is less than two cycles -- so half a
    cycle is enough there: a two-year minimum would send every younger weekly
    series to a naive forecast without any selection.
    """
    m = int(_param(config, "season_length", 7))
    if m >= LONG_SEASON:
        return max(m // 2, 14)
    return max(2 * m, 14)


def _param(config: Any, name: str, default: Any) -> Any:
    value = getattr(config, name, default)
    return default if value is None else value


#: Candidates fitted around the yearly profile of a daily series that repeats it.
YEARLY_ADJUSTABLE: tuple[str, ...] = ("ets", "theta")
#: Candidates fitted without their seasonal part when the series shows no short season.
DESEASONABLE: tuple[str, ...] = (
    "ets",
    "theta",
    "sarimax",
    "auto_ets",
    "auto_theta",
    "auto_arima",
    "auto_ces",
)


def make_candidate(name: str, config: Any, seasonal: bool = True, yearly: bool = False) -> Any:
    """A fresh guarded candidate with the config's per-model parameters.

    ``seasonal=False`` (no short season found, :func:`season_detected`) fits
    the models of :data:`DESEASONABLE` with ``season_length=1``; the guard's
    seasonal-naive fallback keeps the real season.  ``yearly=True`` (a
    yearly season found, :func:`~project.forecasting.yearly.yearly_season`)
    fits the models of :data:`YEARLY_ADJUSTABLE` around the yearly profile.
    """
    season = int(_param(config, "season_length", 7))
    params: dict[str, Any] = {"season_length": season if seasonal or name not in DESEASONABLE else 1}
    if getattr(config, "country", None):
        params["country"] = config.country
    if name == "gbm":
        params["max_horizon"] = int(config.horizon)
    regressors = tuple(_param(config, "regressors", ()))
    if regressors:
        params["known_exog" if name == "gbm" else "regressors"] = regressors
    params.update(dict(_param(config, "model_params", {}).get(name, {})))
    model = make_model(name, **params)
    if yearly and name in YEARLY_ADJUSTABLE:
        model = YearlyAdjusted(model)
    return GuardedModel(model, fallback="snaive", season_length=season)


def window_scale(train: np.ndarray, season_length: int) -> float:
    """The MASE scale of a training window: its mean absolute seasonal difference (never 0)."""
    from .evaluacion import seasonal_scale

    value = seasonal_scale(train, season_length)
    if not np.isfinite(value) or value <= 0:
        # A flat training window: fall back to the mean level so MASE stays finite.
        value = float(np.mean(np.abs(train))) if train.size else 1.0
    return value if value > 0 else 1.0


def squared_scale(train: np.ndarray) -> float:
    """The RMSSE scale of a training window: its mean squared one-step difference (never 0)."""
    from .evaluacion import naive_mse

    value = naive_mse(train)
    if not np.isfinite(value) or value <= 0:
        value = float(np.mean(np.square(train[np.isfinite(train)]))) if train.size else 1.0
    return value if value > 0 else 1.0


def selection_score(errors: np.ndarray, actual: np.ndarray, scales: np.ndarray, metric: str) -> float:
    """Selection score over all horizons: per-window value averaged over windows."""
    abs_err = np.abs(errors)
    if metric == "mase":
        per = abs_err.mean(axis=1) / scales
    elif metric == "rmsse":  # ``scales`` are the squared (naive MSE) scales here
        per = np.sqrt((errors**2).mean(axis=1) / scales)
    elif metric == "mae":
        per = abs_err.mean(axis=1)
    elif metric == "rmse":
        per = np.sqrt((errors**2).mean(axis=1))
    elif metric == "smape":
        fc = actual - errors
        denom = np.abs(actual) + np.abs(fc)
        ratio = np.where(denom > 0, 2 * abs_err / np.where(denom > 0, denom, 1), 0.0)
        per = 100 * ratio.mean(axis=1)
    elif metric == "wmape":
        total = np.abs(actual).sum(axis=1)
        per = np.where(total > 0, abs_err.sum(axis=1) / np.where(total > 0, total, 1), np.nan) * 100
    else:  # validated by TrainConfig; kept for direct callers
        raise ValueError(f"unknown selection metric {metric!r}; expected one of {SELECTION_METRICS}")
    per = per[np.isfinite(per)]
    return float(per.mean()) if per.size else float("inf")


def _cv_frame(
    uid: str,
    cut_dates: list[pd.Timestamp],
    target_ds: list[pd.DatetimeIndex],
    actual: np.ndarray,
    mean: np.ndarray,
    scales: np.ndarray,
    scales2: np.ndarray | None = None,
) -> pd.DataFrame:
    """A backtest in :func:`project.utils.evaluacion.cross_validation`'s layout."""
    w, h = actual.shape
    return pd.DataFrame(
        {
            "unique_id": uid,
            "cutoff": np.repeat(np.array(cut_dates, dtype="datetime64[ns]"), h),
            "ds": np.concatenate([np.asarray(d, dtype="datetime64[ns]") for d in target_ds]),
            "horizon": np.tile(np.arange(1, h + 1), w),
            "y": actual.ravel(),
            "mean": mean.ravel(),
            "scale": np.repeat(scales, h),
            "scale2": np.repeat(scales if scales2 is None else scales2, h),
        }
    )


def _bucket_table(uid: str, name: str, cv: pd.DataFrame) -> pd.DataFrame:
    from .evaluacion import evaluate

    table = evaluate(cv.drop(columns="unique_id"), metrics=BACKTEST_METRICS)
    long = table.melt(id_vars="bucket", var_name="metric", value_name="value")
    long.insert(0, "model", name)
    long.insert(0, "unique_id", uid)
    return long


def _horizon_table(uid: str, name: str, cv: pd.DataFrame) -> pd.DataFrame:
    """MASE per horizon step 1..h, long: the chart's error-by-day lines."""
    from .evaluacion import error_by_horizon

    table = error_by_horizon(cv)[["horizon", "mase"]]
    table.insert(0, "model", name)
    table.insert(0, "unique_id", uid)
    return table


def _simple_fit(
    uid: str,
    y: np.ndarray,
    ds: pd.DatetimeIndex,
    config: Any,
    name: str,
    reason: str,
    started: float,
    demand: str = "",
) -> SeriesResult:
    """Fallback path: one simple model, its own bands, no backtest."""
    h, levels = int(config.horizon), tuple(int(v) for v in config.levels)
    season = int(_param(config, "season_length", 7))
    model = GuardedModel(make_model(name, season_length=season), season_length=season)
    model.fit(y, ds)
    pred = finite_frame(model.predict(h, levels), levels, bool(np.all(y >= 0)))
    logger.info("series %s: %s", uid, reason)
    return SeriesResult(
        unique_id=uid,
        model=name,
        members=(name,),
        combine="single",
        fitted={name: model},
        forecast=forecast_frame(uid, ds, pred, h),
        metrics=pd.DataFrame(columns=["unique_id", "model", "bucket", "metric", "value", "chosen"]),
        scores={},
        n_obs=int(y.size),
        first_date=ds[0],
        last_date=ds[-1],
        fallback=reason,
        interval_method="native",
        seconds=time.perf_counter() - started,
        demand=demand,
    )


def still_closed(y: np.ndarray, demand: DemandProfile, config: Any) -> tuple[int, ...]:
    """The phases (index modulo the season, counted from ``y[0]``) forecast as zero: those
    :func:`~project.forecasting.demand.classify_demand` found closed that are still closed
    (:func:`~project.forecasting.demand.closed_now`); none with ``closed_zero`` off."""
    if not _param(config, "closed_zero", True) or not demand.closed:
        return ()
    return closed_now(y, int(_param(config, "season_length", 7)), demand.closed)


def closed_steps(starts: Sequence[int] | int, h: int, season: int, phases: Sequence[int]) -> np.ndarray:
    """``(len(starts), h)`` mask of the ``h`` steps from each index in ``starts`` that fall on ``phases``."""
    first = np.atleast_1d(np.asarray(starts, dtype=np.int64))
    index = first[:, None] + np.arange(int(h))[None, :]
    return np.isin(index % max(int(season), 1), np.asarray(phases, dtype=np.int64))


def weekdays_of(ds: pd.DatetimeIndex, phases: Sequence[int]) -> tuple[int, ...]:
    """The weekdays (0 = Monday) of ``phases`` counted from ``ds[0]``; empty unless ``ds`` is daily."""
    if not len(phases) or len(ds) < 2 or step_of(ds) != pd.tseries.frequencies.to_offset("D"):
        return ()
    return tuple(sorted({(int(ds[0].dayofweek) + int(p)) % 7 for p in phases}))


def zero_closed(pred: pd.DataFrame, first: int, season: int, phases: Sequence[int]) -> pd.DataFrame:
    """``pred`` (its rows the steps from index ``first`` on) with the mean and every band set to
    zero on the steps that fall on ``phases``: a business that is closed sells nothing, with
    certainty."""
    shut = closed_steps(first, len(pred), season, phases)[0]
    if not shut.any():
        return pred
    pred = pred.copy()
    cols = [c for c in pred.columns if c == "mean" or str(c).startswith(("lo-", "hi-"))]
    pred.loc[pred.index[shut], cols] = 0.0
    return pred


def pooled_errors(errors: np.ndarray, radius: int = 3, growth: float = 0.0) -> np.ndarray:
    """Stack backtest errors of neighbouring horizons as extra rows.

    With 3 windows a per-horizon conformal quantile rests on 3 values, so the
    80 % and 95 % bands would both be the largest error.  Errors at horizons
    ``k - radius .. k + radius`` are exchangeable enough for a band at ``k``
    and give ``(2 radius + 1) x windows`` values (NaN at the edges are ignored
    by :func:`~project.forecasting.intervals.conformal_bands`).  ``growth`` is the
    exponent of the errors' growth with the horizon (:func:`error_growth`):
    an error of horizon ``j`` lent to horizon ``k`` is multiplied by
    ``(k / j) ** growth``, so D+1 does not borrow the larger errors of D+8.
    """
    errors = np.asarray(errors, dtype=np.float64)
    if errors.ndim == 1:
        errors = errors[None, :]
    h = errors.shape[1]
    steps = np.arange(1, h + 1, dtype=np.float64)
    reach = max(min(int(radius), h - 1), 0)  # a shift of h or more lends nothing (and h can be short)
    rows = []
    for shift in range(-reach, reach + 1):
        shifted = np.full_like(errors, np.nan)
        if shift >= 0:
            shifted[:, : h - shift] = errors[:, shift:] * (steps[: h - shift] / steps[shift:]) ** growth
        else:
            shifted[:, -shift:] = errors[:, : h + shift] * (steps[-shift:] / steps[: h + shift]) ** growth
        rows.append(shifted)
    return np.vstack(rows)


#: Upper limit of :func:`error_growth`: errors growing linearly with the horizon (a missed trend).
MAX_GROWTH = 1.0
#: Fewest backtest windows :func:`error_growth` fits a slope on (the default ``cv_windows``).
MIN_GROWTH_WINDOWS = 3


def error_growth(errors: np.ndarray) -> float:
    """Exponent ``b`` of ``|error| ~ horizon ** b`` fitted to the backtest errors (windows x h).

    Least squares on the logarithm of each horizon's mean absolute error,
    clipped to ``[0, MAX_GROWTH]``: 0 for errors that do not grow (noise
    around a stable pattern), about 0.5 for a random walk, 1 for a missed
    trend.  0 with fewer than ``MIN_GROWTH_WINDOWS`` windows (one or two error
    paths are too few: a single window's errors often grow only because that
    window drifted) or fewer than three horizons with a positive mean error.
    """
    errors = np.abs(np.asarray(errors, dtype=np.float64))
    if errors.ndim == 1:
        errors = errors[None, :]
    finite = np.isfinite(errors)
    if int(finite.any(axis=1).sum()) < MIN_GROWTH_WINDOWS:
        return 0.0
    count = finite.sum(axis=0)
    total = np.where(finite, errors, 0.0).sum(axis=0)
    typical = np.divide(total, count, out=np.full(count.shape, np.nan), where=count > 0)
    steps = np.arange(1, typical.size + 1, dtype=np.float64)
    ok = np.isfinite(typical) & (typical > 0)
    if ok.sum() < 3:
        return 0.0
    slope = np.polyfit(np.log(steps[ok]), np.log(typical[ok]), 1)[0]
    return float(np.clip(slope, 0.0, MAX_GROWTH))


def calibrated_bands(
    mean: np.ndarray,
    errors: np.ndarray,
    levels: Sequence[int],
    nonnegative: bool,
    config: Any,
    history: np.ndarray | None = None,
    sparse: bool = False,
) -> pd.DataFrame:
    """Conformal bands of ``mean`` from backtest ``errors`` (windows x h) with the config's calibration.

    Neighbouring horizons pooled (:func:`pooled_errors`, ``conformal_radius``;
    rescaled to the horizon they are lent to by :func:`error_growth` with
    ``conformal_growth``), widths non-decreasing in the horizon
    (``conformal_nondecreasing``) and multiplied by ``conformal_scale``.  With
    the series' ``history`` (the values the forecast was trained on) and
    ``conformal_history`` set, the widths are also widened, horizon by horizon
    (:func:`widening`), by :func:`~project.forecasting.intervals.dispersion_ratio`
    when the weeks the backtest windows cover were calmer than the last
    ``conformal_history`` values (never narrowed, at most ``MAX_WIDENING``
    times): the errors of a few recent, overlapping windows describe one short
    regime, and out of sample the bands otherwise under-cover.

    A ``sparse`` series (intermittent or lumpy demand) gets one width for
    every horizon, the conformal quantile of all its backtest errors, neither
    grown nor widened: its Croston-type forecast is flat, the spread of
    demand around a rate does not depend on how far ahead the day is, and
    its changes measure the rate the models already follow.  Pooling only
    neighbouring horizons and then keeping the widths non-decreasing would
    widen the far horizons by the noise of a few windows.
    The settings were chosen on a validation panel the reported coverage is
    not measured on (``bench/README.md``).
    """
    if sparse:  # every horizon's errors lent to every horizon, as they are
        history, radius, growth = None, max(np.asarray(errors).shape[-1] - 1, 0), 0.0
    else:
        radius = int(_param(config, "conformal_radius", 7))
        growth = error_growth(errors) if _param(config, "conformal_growth", True) else 0.0
    scale = float(_param(config, "conformal_scale", 1.0))
    scale = scale * widening(np.asarray(mean).size, history, config)
    return conformal_bands(
        mean,
        pooled_errors(errors, radius, growth),
        levels,
        lower_bound=0.0 if nonnegative else None,
        nondecreasing=bool(_param(config, "conformal_nondecreasing", True)),
        scale=scale,
    )


#: Upper limit of :func:`widening` (a series that was flat for the whole backtest span).
MAX_WIDENING = 3.0


def widening(h: int, history: np.ndarray | None, config: Any) -> np.ndarray:
    """Factors (1 to ``MAX_WIDENING``), one per horizon, for bands calibrated on the last
    ``h + (cv_windows - 1) step`` days.

    The factor of horizon ``k`` compares the series' changes over
    ``season_length x ceil(k / season_length)`` steps (a whole number of
    seasons, so the season itself cancels): lag-``season`` changes for the
    first season, then changes over two, three... seasons.  A level that
    drifts over weeks shows in the far horizons' changes while the
    day-to-day ones stay calm, and a few overlapping backtest windows see at
    most one or two such drifts.  Non-decreasing in ``k``, like the widths.
    All ones without ``history`` or with ``conformal_history`` off (0 or ``None``).
    """
    factors = np.ones(max(int(h), 0))
    days = int(getattr(config, "conformal_history", 0) or 0)
    if history is None or days <= 0 or h < 1:
        return factors
    step = int(config.step) if getattr(config, "step", None) else min(7, h)
    span = h + (int(_param(config, "cv_windows", 3)) - 1) * step
    season = max(int(_param(config, "season_length", 7)), 1)
    for first in range(0, h, season):
        lag = season * (first // season + 1)
        ratio = dispersion_ratio(history, span, lag, days)
        if not np.isnan(ratio):
            factors[first : first + season] = min(max(ratio, 1.0), MAX_WIDENING)
    return np.maximum.accumulate(factors)


def forecast_frame(uid: str, ds: pd.DatetimeIndex, pred: pd.DataFrame, h: int) -> pd.DataFrame:
    """``unique_id, ds, horizon`` plus the forecast columns, dated one step after another from ``ds[-1]``."""
    future = dates_after(ds[-1], step_of(ds), h)
    frame = pred.reset_index(drop=True).copy()
    frame.insert(0, "horizon", np.arange(1, h + 1))
    frame.insert(0, "ds", future)
    frame.insert(0, "unique_id", uid)
    return frame


def fit_series(
    uid: str,
    y: Any,
    ds: Any,
    config: SelectionSettings,
    X: pd.DataFrame | None = None,
    X_future: pd.DataFrame | None = None,
) -> SeriesResult:
    """Backtest the candidates on one series, choose, refit and forecast.

    ``y`` holds the values oldest first (NaN allowed inside: the models
    interpolate), ``ds`` their dates.  With ``config.regressors`` (known-future
    columns), ``X`` holds their values on the ``ds`` rows and ``X_future`` on
    the ``horizon`` steps after the last one; the candidates that can use
    them (``gbm``, ``prophet``, ``sarimax``) do, the others ignore them.  ``config`` is a
    :class:`project.training.TrainConfig` or any object with the
    attributes of :class:`SelectionSettings`.  Never raises for a difficult
    series: failures become fallbacks recorded in the result.

    BLAS/OpenMP pools are limited to one thread for the call: the models fit
    small matrices, where threads cost more than they save, and parallelism
    belongs to the per-series level (joblib/Dask).
    """
    from threadpoolctl import threadpool_limits

    with threadpool_limits(limits=1):
        return _fit_series(uid, y, ds, config, X, X_future)


def pool_choice(
    scores: Mapping[str, float],
    combined: Callable[[tuple[str, ...]], float],
    order: Sequence[str],
    trim: float | None = 1.25,
    margin: float = 0.1,
    sizes: Sequence[int] = (2, 3),
    pool: bool = True,
) -> tuple[tuple[str, ...], dict[tuple[str, ...], float]]:
    """The members the selection rule picks (step 3 of the module's docstring).

    ``scores`` are the backtest scores of the candidates that may be chosen;
    ``combined(members)`` scores the mean of their backtest forecasts (called
    once per combination tried); ``order`` lists the candidates, so one
    combination keeps one order and name across series and ties go to the
    earlier candidate.  Options: each candidate alone, the means of the best
    ``sizes`` and, with ``pool``, the mean of the candidates whose score is
    within ``trim`` x the best (``None``: all).  The lowest score wins (a single
    model before a combination on a tie), but the pool is kept unless the
    winner beats it by more than ``margin``.  Returns the chosen members and
    every option's score.  The benches replay this same function on cached
    backtests (``bench/replay_choices.py``).
    """
    order = list(order)
    ranking = sorted(scores, key=lambda name: (scores[name], order.index(name)))
    options: dict[tuple[str, ...], float] = {(name,): float(scores[name]) for name in ranking}

    def members_of(names: Sequence[str]) -> tuple[str, ...]:
        return tuple(sorted(names, key=order.index))

    groups = [members_of(ranking[:size]) for size in sizes]
    best = scores[ranking[0]]
    kept = members_of([n for n in ranking if trim is None or scores[n] <= float(trim) * best + 1e-12])
    pooled = kept if pool and len(kept) >= 2 else None
    if pooled is not None:
        groups.append(pooled)
    for members in dict.fromkeys(groups):
        if len(members) >= 2 and members not in options:
            options[members] = float(combined(members))
    chosen = min(options, key=lambda members: (options[members], len(members) > 1))
    if pooled is not None and chosen != pooled and options[chosen] > (1 - margin) * options[pooled]:
        # The backtest does not separate the winner clearly from the pool: combine.
        chosen = pooled
    return chosen, options


def _random_walk_trackers(
    recent: np.ndarray, h: int, candidates: tuple[str, ...], config: Any
) -> tuple[str, ...] | None:
    """The level trackers among ``candidates`` when the random-walk rule applies to a
    smooth series (its ``recent`` values), else ``None`` (see the module's docstring)."""
    limit = _param(config, "random_walk_ratio", None)
    if limit is None or _param(config, "regressors", ()):
        return None
    allowed = _param(config, "random_walk_candidates", RANDOM_WALK_CANDIDATES)
    trackers = tuple(c for c in candidates if c in allowed)
    if trackers and variance_ratio(recent, max(int(h), RANDOM_WALK_MIN_LAG)) > float(limit):
        return trackers
    return None


def _rows(X: pd.DataFrame | None, start: int, stop: int) -> pd.DataFrame | None:
    return None if X is None else X.iloc[start:stop].reset_index(drop=True)


def _fit_series(
    uid: str,
    y: Any,
    ds: Any,
    config: SelectionSettings,
    X: pd.DataFrame | None = None,
    X_future: pd.DataFrame | None = None,
) -> SeriesResult:
    started = time.perf_counter()
    uid = str(uid)
    y = np.asarray(y, dtype=np.float64).ravel()
    ds = pd.DatetimeIndex(pd.to_datetime(ds))
    if y.size != ds.size:
        raise ValueError(f"series {uid!r}: y has {y.size} values but ds has {ds.size} dates")
    if y.size == 0 or not np.isfinite(y).any():
        raise ValueError(f"series {uid!r} has no finite value")
    h = int(config.horizon)
    levels = tuple(int(v) for v in config.levels)
    season = int(_param(config, "season_length", 7))
    max_train = int(_param(config, "max_train_days", 1095))
    metric = str(_param(config, "metric", "mase")).lower()
    step = int(config.step) if getattr(config, "step", None) else min(7, h)
    finite = y[np.isfinite(y)]
    demand = classify_demand(y, season, window=max_train)
    candidates = tuple(dict.fromkeys(config.candidates))
    if demand.sparse and _param(config, "intermittent", True):
        # intermittent demand: Croston-type rates, ranked by a metric that rewards the rate
        candidates = tuple(dict.fromkeys(_param(config, "sparse_candidates", SPARSE_CANDIDATES)))
        metric = SPARSE_METRIC
    seasonal = True
    unchosen: set[str] = set()
    closed = still_closed(y, demand, config)
    trackers = None if demand.sparse else _random_walk_trackers(y[-max_train:], h, candidates, config)
    random_walk = trackers is not None
    if random_walk:
        # the level wanders: models that follow it, without a weekly shape it drowns
        candidates, seasonal = trackers, False
    elif not demand.sparse and 1 < season < LONG_SEASON and _param(config, "season_test", True):
        # no weekly rhythm in the day-to-day changes: seasonal models only add noise
        seasonal = season_detected(y[-max_train:], season)
        if not seasonal and any(c != "snaive" for c in candidates):
            unchosen.add("snaive")  # still backtested: its score stays in the metrics
    if np.all(finite == 0):
        return _simple_fit(
            uid, y, ds, config, "naive", "all-zero series: zero forecast (naive)", started, demand.kind
        )
    if np.all(finite == finite[0]):
        return _simple_fit(
            uid, y, ds, config, "naive", "constant series: naive forecast", started, demand.kind
        )
    need = h + min_train_length(config)
    if y.size < need:
        name = "snaive" if y.size >= 2 * season else "naive"
        reason = (
            f"series too short for a backtest ({y.size} days, needs {need} = horizon {h} + "
            f"{min_train_length(config)}): {name} without selection"
        )
        return _simple_fit(uid, y, ds, config, name, reason, started, demand.kind)

    # a daily series that repeats its yearly shape: ets and theta follow it, not lag it
    yearly = (
        season == 7
        and not demand.sparse
        and not random_walk
        and bool(_param(config, "yearly_adjust", True))
        and yearly_season(y[-max_train:], ds[-max_train:])
    )

    # ---- windows: as many as asked for that leave min_train days of training
    n = y.size
    ends = [n - h - k * step for k in range(int(config.cv_windows))][::-1]
    ends = [e for e in ends if e >= min_train_length(config)] or [n - h]
    w = len(ends)
    actual = np.stack([y[e : e + h] for e in ends])
    scales = np.array([window_scale(y[max(0, e - max_train) : e], season) for e in ends])
    scales2 = np.array([squared_scale(y[max(0, e - max_train) : e]) for e in ends])
    cut_dates = [ds[e - 1] for e in ends]
    target_ds = [ds[e : e + h] for e in ends]
    nonnegative = bool(np.all(finite >= 0))

    # ---- backtest every candidate on the same windows
    means: dict[str, np.ndarray] = {}
    errors: dict[str, str] = {}
    for name in candidates:
        fc = np.empty((w, h))
        reasons = []
        try:
            for i, e in enumerate(ends):
                start = max(0, e - max_train)
                model = make_candidate(name, config, seasonal, yearly)
                model.fit(y[start:e], ds[start:e], _rows(X, start, e))
                fc[i] = model.predict(h, level=(), X=_rows(X, e, e + h))["mean"].to_numpy(np.float64)
                if model.fallback_reason_:
                    reasons.append(f"window {i + 1}: {model.fallback_reason_}")
        except Exception as exc:  # noqa: BLE001 - a broken candidate must not sink the series
            errors[name] = f"backtest failed: {type(exc).__name__}: {exc}"
            continue
        if reasons:
            errors[name] = "; ".join(reasons)
        means[name] = fc
    if not means:
        reason = "every candidate failed in the backtest: seasonal naive"
        result = _simple_fit(uid, y, ds, config, "snaive", reason, started, demand.kind)
        result.errors = errors
        return result

    # Actual values may be NaN (kept missing days): those cells do not count.
    valid = np.isfinite(actual)
    act0 = np.where(valid, actual, 0.0)

    def err_of(fc: np.ndarray) -> np.ndarray:
        return np.where(valid, act0 - fc, 0.0)

    score_scales = scales2 if metric == "rmsse" else scales
    scores = {name: selection_score(err_of(fc), act0, score_scales, metric) for name, fc in means.items()}
    choosable = {name: score for name, score in scores.items() if name not in unchosen} or dict(scores)

    def combined(members: tuple[str, ...]) -> float:
        label = ensemble_name("mean", members)
        means[label] = np.mean([means[m] for m in members], axis=0)
        scores[label] = selection_score(err_of(means[label]), act0, score_scales, metric)
        return scores[label]

    members, _ = pool_choice(
        choosable,
        combined,
        candidates,
        trim=getattr(config, "pool_trim", None),
        margin=float(_param(config, "ensemble_margin", 0.1)),
        sizes=tuple(_param(config, "ensemble_sizes", (2, 3))) if _param(config, "ensemble", True) else (),
        pool=bool(_param(config, "ensemble", True)),
    )
    combine = "single" if len(members) == 1 else "mean"
    chosen = members[0] if combine == "single" else ensemble_name("mean", members)

    # ---- per-bucket metrics for every candidate and ensemble
    tables, by_day = [], []
    chosen_cv = None
    for label, fc in means.items():
        cv = _cv_frame(uid, cut_dates, target_ds, actual, fc, scales, scales2)
        tables.append(_bucket_table(uid, label, cv))
        by_day.append(_horizon_table(uid, label, cv))
        if label == chosen:
            chosen_cv = cv
    metrics = pd.concat(tables, ignore_index=True)
    metrics["chosen"] = metrics["model"] == chosen

    # ---- refit chosen member(s) on all (recent) data and forecast
    start = max(0, n - max_train)
    fitted: dict[str, Any] = {}
    preds = []
    for name in members:
        model = make_candidate(name, config, seasonal, yearly).fit(y[start:], ds[start:], _rows(X, start, n))
        pred = model.predict(h, levels, X=X_future)
        if model.fallback_reason_:
            errors[f"{name} (refit)"] = model.fallback_reason_
        fitted[name] = model
        preds.append(pred)
    # the forecast of a closed day is zero: its error says nothing about the open days' spread
    backtest_err = np.where(valid & ~closed_steps(ends, h, season, closed), act0 - means[chosen], np.nan)
    single_native = combine == "single" and bool(fitted[members[0]].native_intervals)
    if single_native and not _param(config, "conformal_always", False):
        pred = preds[0]
        method = "native"
    else:
        mean = getattr(np, combine if combine != "single" else "mean")(
            [p["mean"].to_numpy(np.float64) for p in preds], axis=0
        )
        pred = calibrated_bands(
            mean, backtest_err, levels, nonnegative, config, y[start:], sparse=demand.sparse
        )
        method = f"conformal ({w} backtest windows)"
    pred = finite_frame(zero_closed(pred, n, season, closed), levels, nonnegative)
    return SeriesResult(
        unique_id=uid,
        model=chosen,
        members=tuple(members),
        combine=combine,
        fitted=fitted,
        forecast=forecast_frame(uid, ds, pred, h),
        metrics=metrics,
        scores={k: float(v) for k, v in scores.items()},
        n_obs=int(n),
        first_date=ds[0],
        last_date=ds[-1],
        fallback=None,
        errors=errors,
        conformal_errors=backtest_err,
        interval_method=method,
        cutoffs=tuple(cut_dates),
        backtest=chosen_cv,
        seconds=time.perf_counter() - started,
        demand=demand.kind,
        seasonal=seasonal,
        horizon_errors=pd.concat(by_day, ignore_index=True),
        random_walk=random_walk,
        closed_weekdays=weekdays_of(ds, closed),
        yearly=yearly,
    )
