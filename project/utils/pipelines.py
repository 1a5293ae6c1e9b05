"""Candidate forecasting models behind one ``fit``/``predict`` interface.

Every model follows the contract of ``readme/ARCHITECTURE.md``::

    model = make_model("ets", season_length=7)
    model.fit(y, ds)                       # numpy values, daily DatetimeIndex
    frame = model.predict(28, level=(80, 95))
    # columns mean, lo-80, hi-80, lo-95, hi-95; 28 rows (RangeIndex); finite;
    # lo-95 <= lo-80 <= mean <= hi-80 <= hi-95

``__init__`` only stores parameters (scikit-learn rule), learned attributes
end with ``_``.  Heavy libraries are imported inside ``fit``.

Design choices, and why:

* **Log transform.**  Web traffic and sales are multiplicative and spiky;
  ``log="auto"`` fits ``sarimax`` and ``gbm`` on ``log1p(y)`` (``ets`` and
  ``theta`` only on request: their raw scale scored better)
  when the series is non-negative and back-transforms with
  ``expm1``.  The back-transformed mean is the conditional median, which is
  what MASE/MAE reward, and quantiles map exactly through a monotone
  transform, so bands stay valid.
* **Non-negative series stay non-negative**: forecasts and bands are clipped
  at zero when the training data has no negative value.
* **gbm is direct multi-horizon with the horizon as a feature**: one
  ``HistGradientBoostingRegressor`` learns ``y[o + h] - level(o)`` (log space)
  from features known at the origin ``o`` (see
  :func:`project.utils.train_column.direct_design`) plus the target date's
  calendar.  Compared with a recursive model there is no error accumulation
  and no need to forecast the features; compared with one model per horizon it
  is 28 times cheaper and shares statistical strength across horizons.
* **theta** is the classical Theta method (SES with half the linear drift) on
  a seasonally adjusted series, implemented with ``scipy.signal.lfilter``
  so a fit costs about a millisecond; AutoTheta is a strong peer on web data.
* **Long seasons** (weekly data with ``season_length=52``, monthly with
  12; :data:`LONG_SEASON`): ``ets`` and ``theta`` remove the yearly cycle by
  classical decomposition when a 90 % autocorrelation test finds it, and
  ``gbm`` builds lags without the same-phase (seasonal) ones, so short
  weekly series are still fitted.
* **Intervals**: ``naive``/``snaive`` use the residual standard deviation
  scaled by the square root of the number of steps (seasons); ``ets``,
  ``sarimax`` and ``prophet`` use their own; ``gbm`` and ``theta`` flag
  ``native_intervals = False`` and return bands from in-sample residuals,
  which the orchestrator may replace with :func:`conformal_bands` of
  backtest errors.
* :class:`GuardedModel` turns any failure (too-short series, exception,
  non-finite or exploding forecast) into a seasonal-naive forecast and keeps
  the reason in ``fallback_reason_``.

Threading: statsmodels fits are 4-8x slower when OpenBLAS spreads its tiny
matrix products over threads, and a small ``HistGradientBoostingRegressor``
suffers the same from OpenMP, so ``ets``/``sarimax`` (BLAS) and ``gbm``
(OpenMP) run single-threaded (``threadpoolctl``, microseconds per call); the
orchestrator parallelises over series.
"""

from __future__ import annotations

import contextlib
import logging
import math
import warnings
from collections.abc import Sequence
from functools import lru_cache
from typing import Any

import numpy as np
import pandas as pd

from .train_column import FeatureConfig, direct_design

__all__ = [
    "BaseForecaster",
    "NaiveModel",
    "SeasonalNaiveModel",
    "ETSForecaster",
    "SarimaxForecaster",
    "ProphetForecaster",
    "GBMForecaster",
    "ThetaForecaster",
    "GuardedModel",
    "MODELS",
    "make_model",
    "conformal_bands",
    "seasonal_indices",
    "LONG_SEASON",
    "DEFAULT_LEVELS",
    "EXPLOSION_FACTOR",
]

logger = logging.getLogger(__name__)

DEFAULT_LEVELS: tuple[int, ...] = (80, 95)
#: Seasons at least this long (observations) are yearly cycles of weekly or monthly data:
#: handled by classical decomposition instead of seasonal states (see :class:`ETSForecaster`).
LONG_SEASON = 12
#: A forecast whose absolute value exceeds this many times the series' max |y| is rejected.
EXPLOSION_FACTOR = 10.0


# --------------------------------------------------------------------------- helpers


def _z_value(level: float) -> float:
    from statistics import NormalDist

    return NormalDist().inv_cdf(0.5 + float(level) / 200.0)


def _check_levels(level: Sequence[int] | None) -> list[int]:
    levels = list(DEFAULT_LEVELS if level is None else level)
    for value in levels:
        if not 0 < float(value) < 100:
            raise ValueError(f"interval level must be in (0, 100), got {value!r}")
    return sorted({int(v) if float(v).is_integer() else v for v in levels})


def _level_name(value: float) -> str:
    return f"{value:g}"


def _clean_series(y: np.ndarray | Sequence[float]) -> np.ndarray:
    """Float copy of ``y`` with interior NaN interpolated and edges filled."""
    values = np.asarray(y, dtype=np.float64).ravel().copy()
    if values.size == 0:
        raise ValueError("cannot fit a model on an empty series")
    bad = ~np.isfinite(values)
    if bad.all():
        raise ValueError("the series has no finite value")
    if bad.any():
        idx = np.arange(values.size)
        values[bad] = np.interp(idx[bad], idx[~bad], values[~bad])
    return values


def _build_frame(
    mean: np.ndarray,
    bounds: dict[float, tuple[np.ndarray, np.ndarray]],
    levels: Sequence[float],
    lower_bound: float | None = None,
) -> pd.DataFrame:
    """Assemble the forecast frame and enforce the contract.

    NaN/inf bounds are replaced by the mean, then every band is widened so
    that ``lo`` never exceeds ``mean`` and wider levels contain narrower ones.
    """
    mean = np.asarray(mean, dtype=np.float64)
    if lower_bound is not None:
        mean = np.maximum(mean, lower_bound)
    out: dict[str, np.ndarray] = {"mean": mean}
    prev_lo, prev_hi = mean, mean
    for value in sorted(levels):
        lo, hi = bounds[value]
        lo = np.where(np.isfinite(lo), lo, mean)
        hi = np.where(np.isfinite(hi), hi, mean)
        lo = np.minimum(np.minimum(lo, hi), prev_lo)
        hi = np.maximum(np.maximum(hi, lo), prev_hi)
        if lower_bound is not None:
            lo = np.maximum(lo, lower_bound)
        prev_lo, prev_hi = lo, hi
        out[f"lo-{_level_name(value)}"] = lo
        out[f"hi-{_level_name(value)}"] = hi
    frame = pd.DataFrame(out)
    ordered = ["mean"] + [f"{side}-{_level_name(v)}" for v in levels for side in ("lo", "hi")]
    return frame[ordered]


def conformal_bands(
    mean: np.ndarray | Sequence[float],
    errors: np.ndarray,
    levels: Sequence[int] = DEFAULT_LEVELS,
    lower_bound: float | None = None,
) -> pd.DataFrame:
    """Split-conformal bands from backtest residuals, per horizon.

    ``errors`` is ``(n_windows, h_err)`` of ``y - mean`` from rolling-origin
    backtests.  For horizon ``k`` the half-width at level ``L`` is the
    ``ceil((n + 1) L / 100)``-th smallest of the ``n`` values ``|errors[:, k]|``
    (split-conformal rank with its finite-sample correction; capped at the
    largest error, which is what few windows give at high levels).  Horizons
    beyond ``h_err`` reuse the last one; NaN errors are ignored and a horizon
    without any finite error borrows the nearest earlier one (zero width if
    none).  Bands are monotone in the level and
    ``lo <= mean <= hi``; ``lower_bound`` (e.g. ``0.0`` for counts) clips them.
    """
    mean = np.asarray(mean, dtype=np.float64).ravel()
    h = mean.size
    levels = _check_levels(levels)
    err = np.abs(np.asarray(errors, dtype=np.float64))
    if err.ndim == 1:
        err = err[:, None]
    if err.size == 0:
        err = np.full((1, 1), np.nan)
    if err.shape[1] < h:
        pad = np.repeat(err[:, -1:], h - err.shape[1], axis=1)
        err = np.hstack([err, pad])
    err = err[:, :h]
    finite = np.isfinite(err)
    count = finite.sum(axis=0)
    bounds = {}
    widths_prev = np.zeros(h)
    for value in levels:
        widths = np.zeros(h)
        for k in range(h):
            n = int(count[k])
            if n == 0:
                widths[k] = widths[k - 1] if k > 0 else 0.0
                continue
            rank = min(n, math.ceil((n + 1) * value / 100.0 - 1e-9))
            widths[k] = np.sort(err[finite[:, k], k])[max(rank, 1) - 1]
        widths = np.maximum(widths, widths_prev)
        widths_prev = widths
        bounds[value] = (mean - widths, mean + widths)
    return _build_frame(mean, bounds, levels, lower_bound)


@lru_cache(maxsize=4)
def _thread_controller(user_api: str):
    from threadpoolctl import ThreadpoolController

    return ThreadpoolController().select(user_api=user_api)


def _one_thread(user_api: str = "blas") -> contextlib.AbstractContextManager:
    """Limit BLAS (or OpenMP) to one thread around small numeric kernels.

    With OpenBLAS on all cores an ETS or SARIMAX fit is 4-8x slower (thread
    start-up dominates 10x10 products); OpenMP does the same to a
    ``HistGradientBoostingRegressor`` on 4,000 rows.  The orchestrator
    parallelises over series instead.  The controller is built once per API
    (library discovery costs ~5 ms, entering the limit microseconds); call
    this after the library using the thread pool is imported so it is known.
    """
    try:
        return _thread_controller(user_api).limit(limits=1)
    except Exception:  # noqa: BLE001 - threadpoolctl missing or unusable: run as is
        return contextlib.nullcontext()


def _use_log(log: bool | str, y: np.ndarray) -> bool:
    if log == "auto":
        return bool(np.all(y >= 0))
    return bool(log)


def _quiet_prophet() -> None:
    """Silence cmdstanpy's per-fit INFO lines and prophet's plotly warning."""
    logging.getLogger("prophet.plot").setLevel(logging.CRITICAL)
    logging.getLogger("prophet").setLevel(logging.WARNING)
    try:
        # cmdstanpy configures its logger (level DEBUG + a stream handler) on
        # first use; trigger that now so our level is not overwritten later
        from cmdstanpy.utils import get_logger

        get_logger()
    except ImportError:  # pragma: no cover - prophet without cmdstanpy
        pass
    logging.getLogger("cmdstanpy").setLevel(logging.WARNING)


# --------------------------------------------------------------------------- base


class BaseForecaster:
    """Shared bookkeeping: input cleaning, transform, output contract."""

    name = "base"
    native_intervals = True

    def min_length(self) -> int:
        """Shortest series (days) this model is fitted on; shorter ones fall back."""
        return 1

    # subclasses implement _fit(z) and _predict(h, levels) -> (mean, {level: (lo, hi)})
    def fit(self, y: np.ndarray, ds: pd.DatetimeIndex | None = None, X: pd.DataFrame | None = None):
        """Fit on ``y`` (daily values, oldest first) observed on dates ``ds``."""
        values = _clean_series(y)
        if len(values) < self.min_length():
            raise ValueError(
                f"{self.name} needs at least {self.min_length()} observations, got {len(values)}"
            )
        if ds is None:
            ds = pd.date_range(end=pd.Timestamp("2000-01-01"), periods=len(values), freq="D")
        ds = pd.DatetimeIndex(pd.to_datetime(ds)).normalize()
        if len(ds) != len(values):
            raise ValueError(f"y has {len(values)} values but ds has {len(ds)} dates")
        self.n_obs_ = len(values)
        self.last_ds_ = ds[-1]
        self.y_max_abs_ = float(np.max(np.abs(values)))
        self.nonnegative_ = bool(np.all(values >= 0))
        self._fit(values, ds, X)
        return self

    def predict(
        self, h: int, level: Sequence[int] | None = DEFAULT_LEVELS, X: pd.DataFrame | None = None
    ) -> pd.DataFrame:
        """Forecast ``h`` days after the last fitted date."""
        if not hasattr(self, "n_obs_"):
            raise RuntimeError(f"{type(self).__name__} is not fitted; call fit() first")
        h = int(h)
        if h < 1:
            raise ValueError(f"h must be >= 1, got {h}")
        levels = _check_levels(level)
        mean, bounds = self._predict(h, levels, X)
        return _build_frame(mean, bounds, levels, 0.0 if self.nonnegative_ else None)

    def get_params(self) -> dict[str, Any]:
        return {k: v for k, v in vars(self).items() if not k.endswith("_") and not k.startswith("_")}

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_params().items())
        return f"{type(self).__name__}({args})"

    def _fit(self, y: np.ndarray, ds: pd.DatetimeIndex, X: pd.DataFrame | None) -> None:
        raise NotImplementedError

    def _predict(self, h: int, levels: list, X: pd.DataFrame | None):
        raise NotImplementedError


def _normal_bounds(mean: np.ndarray, sd: np.ndarray, levels: Sequence[float]) -> dict:
    return {v: (mean - _z_value(v) * sd, mean + _z_value(v) * sd) for v in levels}


def _back(values: np.ndarray, log: bool) -> np.ndarray:
    if not log:
        return values
    return np.expm1(np.clip(values, -50.0, 50.0))


def _robust_sd(residuals: np.ndarray) -> float:
    """Residual scale: the standard deviation, or 0 when there are none."""
    residuals = residuals[np.isfinite(residuals)]
    if residuals.size < 2:
        return 0.0
    return float(np.std(residuals, ddof=1))


class NaiveModel(BaseForecaster):
    """Last value carried forward; band ``sd(diff) * sqrt(k)`` (random walk)."""

    name = "naive"

    def __init__(self, season_length: int = 7):
        self.season_length = season_length  # accepted for a uniform factory; unused

    def _fit(self, y, ds, X):
        self.last_ = float(y[-1])
        self.sigma_ = _robust_sd(np.diff(y))

    def _predict(self, h, levels, X):
        mean = np.full(h, self.last_)
        sd = self.sigma_ * np.sqrt(np.arange(1, h + 1))
        return mean, _normal_bounds(mean, sd, levels)


class SeasonalNaiveModel(BaseForecaster):
    """Last season repeated; band ``sd(lag-m diff) * sqrt(ceil(k / m))``.

    With fewer than ``season_length`` observations it degrades to the naive
    forecast (``degraded_`` is True) rather than failing: it is the fallback
    of every other model.
    """

    name = "snaive"

    def __init__(self, season_length: int = 7):
        self.season_length = season_length

    def _fit(self, y, ds, X):
        m = max(int(self.season_length), 1)
        self.degraded_ = len(y) < m
        if self.degraded_:
            self.season_ = np.array([y[-1]])
            self.sigma_ = _robust_sd(np.diff(y))
        else:
            self.season_ = y[-m:].copy()
            self.sigma_ = _robust_sd(y[m:] - y[:-m])

    def _predict(self, h, levels, X):
        m = len(self.season_)
        steps = np.arange(h)
        mean = self.season_[steps % m]
        k = np.ceil((steps + 1) / m) if m > 1 else steps + 1.0
        sd = self.sigma_ * np.sqrt(k)
        return mean, _normal_bounds(mean, sd, levels)


class ETSForecaster(BaseForecaster):
    """ETS(A, Ad, A) from statsmodels' ``ETSModel``.

    Damped additive trend and additive weekly season; analytic prediction
    intervals.  ``log=True`` (or ``"auto"``: when ``y >= 0``) fits on
    ``log1p(y)``; the default is the raw scale, which scored better on both
    benches (embedded daily sample: 1.026 against 1.066 mean MASE alone,
    automatic 0.818 against 0.819 x seasonal naive; M4 Weekly: OWA 0.854
    against 0.879).  The fit is limited to ``maxiter`` optimizer iterations.

    A season of :data:`LONG_SEASON` or more observations (52 for weekly data,
    12 for monthly) is not modelled by seasonal states, which would need that
    many initial values from a few cycles: it is removed by classical
    decomposition (:func:`seasonal_indices`, multiplicative for positive
    series, only when the 90 % autocorrelation test finds it), a non-seasonal
    damped ETS smooths the adjusted series and the forecast is re-seasonalised
    -- the practice of the M4 statistical benchmarks.
    """

    name = "ets"

    def __init__(
        self,
        season_length: int = 7,
        damped: bool = True,
        trend: bool = True,
        log: bool | str = False,
        maxiter: int = 200,
    ):
        self.season_length = season_length
        self.damped = damped
        self.trend = trend
        self.log = log
        self.maxiter = maxiter

    def min_length(self) -> int:
        if int(self.season_length) >= LONG_SEASON:
            return 8  # long seasons are removed by decomposition, not fitted as states
        return 2 * int(self.season_length) + 4

    def _fit(self, y, ds, X):
        from statsmodels.tools.sm_exceptions import ConvergenceWarning
        from statsmodels.tsa.exponential_smoothing.ets import ETSModel

        m = int(self.season_length)
        self.log_ = _use_log(self.log, y)
        z = np.log1p(y) if self.log_ else y
        # A long (yearly) season of weekly or monthly data would need m seasonal
        # states from few cycles: remove it by classical decomposition instead
        # (multiplicative for positive data) and smooth the adjusted series.
        self.long_season_ = m >= LONG_SEASON
        self.factors_ = None
        if self.long_season_:
            mult = bool(np.all(y > 0)) and not self.log_
            idx = seasonal_indices(np.log(y) if mult else z, m)
            if idx is not None:
                self.factors_ = (np.exp(idx) if mult else idx, mult)
                phase = np.arange(len(z)) % m
                z = z / self.factors_[0][phase] if mult else z - self.factors_[0][phase]
        # statsmodels 0.15 needs a pandas index for get_prediction's frame
        series = pd.Series(z, index=pd.RangeIndex(len(z)))
        seasonal = "add" if 1 < m < LONG_SEASON else None
        model = ETSModel(
            series,
            error="add",
            trend="add" if self.trend else None,
            damped_trend=bool(self.damped and self.trend),
            seasonal=seasonal,
            seasonal_periods=m if seasonal else None,
            initialization_method="estimated",
        )
        with warnings.catch_warnings(), _one_thread("blas"):
            warnings.simplefilter("ignore", ConvergenceWarning)
            warnings.simplefilter("ignore", RuntimeWarning)
            self.result_ = model.fit(disp=False, maxiter=int(self.maxiter))

    def _reseason(self, values: np.ndarray) -> np.ndarray:
        if getattr(self, "factors_", None) is None:
            return values
        season, mult = self.factors_
        s = season[(self.n_obs_ + np.arange(len(values))) % len(season)]
        return values * s if mult else values + s

    def _predict(self, h, levels, X):
        start = self.n_obs_
        with warnings.catch_warnings(), _one_thread("blas"):
            warnings.simplefilter("ignore")
            pred = self.result_.get_prediction(start=start, end=start + h - 1)
            mean_z = self._reseason(np.asarray(pred.predicted_mean, dtype=np.float64))
            bounds = {}
            for v in levels:
                frame = pred.summary_frame(alpha=1 - v / 100.0)
                lo = _back(self._reseason(frame["pi_lower"].to_numpy(np.float64)), self.log_)
                hi = _back(self._reseason(frame["pi_upper"].to_numpy(np.float64)), self.log_)
                bounds[v] = (lo, hi)
        return _back(mean_z, self.log_), bounds


def _last_matrix(values, ndim: int) -> np.ndarray:
    """The last time slice of a (possibly time-varying) state-space matrix."""
    arr = np.asarray(values, dtype=np.float64)
    return arr[..., -1] if arr.ndim > ndim else arr


class SarimaxForecaster(BaseForecaster):
    """Seasonal ARIMA from statsmodels' ``SARIMAX``, small fixed order.

    Default ``(1,1,1)(0,1,1,7)`` on ``log1p(y)``: the "airline"-type model with
    a short AR term, a robust default for daily traffic.  ``simple_differencing``
    and a concentrated scale keep the state small and the optimiser short
    (``maxiter``); training is limited to the last ``max_train`` days.
    """

    name = "sarimax"

    def __init__(
        self,
        season_length: int = 7,
        order: tuple[int, int, int] = (1, 1, 1),
        seasonal_order: tuple[int, int, int] | None = (0, 1, 1),
        log: bool | str = "auto",
        maxiter: int = 50,
        max_train: int | None = 730,
    ):
        self.season_length = season_length
        self.order = order
        self.seasonal_order = seasonal_order
        self.log = log
        self.maxiter = maxiter
        self.max_train = max_train

    def min_length(self) -> int:
        return 4 * int(self.season_length) + 8

    def _fit(self, y, ds, X):
        from statsmodels.tsa.statespace.sarimax import SARIMAX

        self.log_ = _use_log(self.log, y)
        z = np.log1p(y) if self.log_ else y
        if self.max_train:
            z = z[-int(self.max_train) :]
        m = int(self.season_length)
        seasonal = (*self.seasonal_order, m) if self.seasonal_order and m > 1 else (0, 0, 0, 0)
        differenced = self.order[1] > 0 or seasonal[1] > 0
        model = SARIMAX(
            z,
            order=tuple(self.order),
            seasonal_order=seasonal,
            trend="n" if differenced else "c",
            simple_differencing=True,
            concentrate_scale=True,
        )
        with warnings.catch_warnings(), _one_thread("blas"):
            warnings.simplefilter("ignore")
            result = model.fit(disp=False, maxiter=int(self.maxiter))
        # Keep only what the forecast needs (the statsmodels results object
        # holds every smoothed state: megabytes once pickled).
        ssm = result.model.ssm
        self.params_ = np.asarray(result.params, dtype=np.float64)
        self.state_ = np.asarray(result.predicted_state[:, -1], dtype=np.float64)
        self.transition_ = _last_matrix(ssm["transition"], 2)
        self.design_ = _last_matrix(ssm["design"], 2).ravel()
        self.state_intercept_ = _last_matrix(ssm["state_intercept"], 1)
        self.obs_intercept_ = float(_last_matrix(ssm["obs_intercept"], 1)[0])
        self.scale_ = float(result.scale)
        self.ar_poly_ = np.asarray(result.polynomial_reduced_ar, dtype=np.float64)
        self.ma_poly_ = np.asarray(result.polynomial_reduced_ma, dtype=np.float64)
        self.z_tail_ = z[-(int(self.order[1]) + m * 2 + 2) :].copy()

    def _predict(self, h, levels, X):
        from statsmodels.tsa.arima_process import arma2ma

        # with simple_differencing the model (and its forecast) is on the
        # differenced series w = (1 - B)^d (1 - B^m)^D z: integrate back
        w_hat = np.empty(h)
        state = self.state_.copy()
        for k in range(h):
            w_hat[k] = self.obs_intercept_ + self.design_ @ state
            state = self.state_intercept_ + self.transition_ @ state
        m = int(self.season_length)
        d, D = int(self.order[1]), int(self.seasonal_order[1]) if self.seasonal_order else 0
        diff_poly = np.array([1.0])
        for _ in range(d):
            diff_poly = np.convolve(diff_poly, [1.0, -1.0])
        for _ in range(D):
            seasonal = np.zeros(m + 1)
            seasonal[0], seasonal[m] = 1.0, -1.0
            diff_poly = np.convolve(diff_poly, seasonal)
        p = len(diff_poly) - 1
        history = list(self.z_tail_[-p:]) if p else []
        mean_z = np.empty(h)
        for k in range(h):
            # z_t = w_t - sum_{j>=1} diff_poly[j] z_{t-j}
            value = w_hat[k]
            for j in range(1, p + 1):
                value -= diff_poly[j] * history[-j]
            history.append(value)
            mean_z[k] = value
        ar = np.convolve(self.ar_poly_, diff_poly)
        psi = arma2ma(ar, self.ma_poly_, lags=h)
        sd = np.sqrt(self.scale_ * np.cumsum(psi**2))
        bounds = {
            v: (
                _back(mean_z - _z_value(v) * sd, self.log_),
                _back(mean_z + _z_value(v) * sd, self.log_),
            )
            for v in levels
        }
        return _back(mean_z, self.log_), bounds


class ProphetForecaster(BaseForecaster):
    """Prophet with weekly/yearly seasonality and, with ``country``, public holidays.

    Intervals come from Prophet's own predictive samples
    (``uncertainty_samples`` draws), so any set of levels is read off one
    simulation.  ``log=True`` fits on ``log1p(y)``.
    """

    name = "prophet"

    def __init__(
        self,
        season_length: int = 7,
        country: str | None = None,
        log: bool | str = False,
        uncertainty_samples: int = 200,
        changepoint_prior_scale: float = 0.05,
        seasonality_mode: str = "additive",
    ):
        self.season_length = season_length
        self.country = country
        self.log = log
        self.uncertainty_samples = uncertainty_samples
        self.changepoint_prior_scale = changepoint_prior_scale
        self.seasonality_mode = seasonality_mode

    def min_length(self) -> int:
        return 2 * int(self.season_length) + 2

    def _fit(self, y, ds, X):
        _quiet_prophet()
        from prophet import Prophet

        _quiet_prophet()  # prophet re-configures cmdstanpy's logger on import
        self.log_ = _use_log(self.log, y)
        z = np.log1p(y) if self.log_ else y
        model = Prophet(
            weekly_seasonality=True,
            yearly_seasonality=False,
            daily_seasonality=False,
            uncertainty_samples=int(self.uncertainty_samples),
            changepoint_prior_scale=float(self.changepoint_prior_scale),
            seasonality_mode=self.seasonality_mode,
        )
        if len(y) >= 365 + 180:
            # Prophet's own yearly term (period 365.25, order 10, the model's
            # prior scale and mode), added by hand: with yearly_seasonality=True
            # Prophet warns on every fit of a series shorter than 730 days.
            model.add_seasonality(name="yearly", period=365.25, fourier_order=10)
        if self.country:
            model.add_country_holidays(country_name=str(self.country).upper())
        model.fit(pd.DataFrame({"ds": ds, "y": z}))
        self.model_ = model

    def _predict(self, h, levels, X):
        _quiet_prophet()
        future = pd.DataFrame(
            {"ds": pd.date_range(self.last_ds_ + pd.Timedelta(days=1), periods=h, freq="D")}
        )
        mean_z = self.model_.predict(future)["yhat"].to_numpy(np.float64)
        if not levels:  # point forecast only (backtests): skip the simulation
            return _back(mean_z, self.log_), {}
        if self.model_.uncertainty_samples:
            samples = self.model_.predictive_samples(future)["yhat"]
        else:  # pragma: no cover - only when configured without sampling
            samples = np.repeat(mean_z[:, None], 2, axis=1)
        bounds = {}
        for v in levels:
            lo = np.quantile(samples, 0.5 - v / 200.0, axis=1)
            hi = np.quantile(samples, 0.5 + v / 200.0, axis=1)
            bounds[v] = (_back(lo, self.log_), _back(hi, self.log_))
        return _back(mean_z, self.log_), bounds


def seasonal_indices(z: np.ndarray, m: int, window: int | None = None) -> np.ndarray | None:
    """Additive seasonal indices of ``z`` (summing to 0), or ``None`` without seasonality.

    Classical decomposition: the lag-``m`` autocorrelation must exceed its 90 %
    limit (the test of the M4 Theta benchmark); the indices are the mean
    deviation from a centred moving average (``2 x m`` for even ``m``) per
    phase, over the last ``window`` seasons when given.  Apply it to
    ``log(y)`` for a multiplicative decomposition.  Phase ``p`` is position
    ``i`` with ``i % m == p`` counted from the first value.
    """
    n = len(z)
    if m < 2 or n < 2 * m + 2:
        return None
    x = z - z.mean()
    denom = float(x @ x)
    if denom <= 0:
        return None
    acf = np.array([float(x[k:] @ x[:-k]) / denom for k in range(1, m + 1)])
    limit = 1.645 * np.sqrt((1 + 2 * np.sum(acf[:-1] ** 2)) / n)
    if abs(acf[-1]) <= limit:
        return None
    window_len = m if m % 2 else m + 1
    kernel = np.ones(window_len) / window_len
    if m % 2 == 0:  # 2 x m centred average for even seasons
        kernel = np.r_[0.5, np.ones(m - 1), 0.5] / m
    trend = np.convolve(z, kernel, mode="same")
    half = len(kernel) // 2
    detrended = (z - trend)[half : n - half]
    phase = (np.arange(n) % m)[half : n - half]
    if window:
        keep = int(window) * m
        detrended, phase = detrended[-keep:], phase[-keep:]
    indices = np.array([detrended[phase == p].mean() for p in range(m)])
    return indices - indices.mean()


def _ses_sse(z: np.ndarray, alphas: np.ndarray) -> np.ndarray:
    from scipy.signal import lfilter

    sse = np.empty(len(alphas))
    for i, alpha in enumerate(alphas):
        level = lfilter([alpha], [1.0, alpha - 1.0], z, zi=[(1.0 - alpha) * z[0]])[0]
        err = z[1:] - level[:-1]
        sse[i] = float(err @ err)
    return sse


class ThetaForecaster(BaseForecaster):
    """Classical Theta method on the seasonally adjusted series.

    Steps: additive seasonal indices from a centred moving average when the
    lag-``m`` autocorrelation is significant (90 %), simple exponential
    smoothing with ``alpha`` chosen on a grid then refined, plus half the
    slope of a linear trend (the ``theta = 2`` line), re-seasonalised.
    ``seasonal_window`` (weeks, ``None`` = all) limits the data used for the
    seasonal indices; ``log=True``/``"auto"`` works on ``log1p(y)``.  The
    defaults (raw scale, all data) scored best on the Wikipedia sample
    (0.885 x seasonal-naive MASE, like statsforecast's AutoTheta).  Bands: SES
    variance ``sigma^2 (1 + (k - 1) alpha^2)`` on in-sample errors; not
    native, the orchestrator may recalibrate them.

    ``multiplicative="auto"`` uses a classical *multiplicative* decomposition
    (indices of ``log y``, positive series) for seasons of
    :data:`LONG_SEASON` or more, as the M4 Theta benchmark does for yearly
    cycles of weekly/monthly data (M4 Weekly, ``season_length=52``: OWA 0.870
    against 0.959 additive); short daily seasons keep the additive indices.
    A series shorter than two seasons is fitted without seasonal adjustment.
    """

    name = "theta"
    native_intervals = False

    def __init__(
        self,
        season_length: int = 7,
        log: bool | str = False,
        seasonal_window: int | None = None,
        theta: float = 2.0,
        multiplicative: bool | str = "auto",
    ):
        self.season_length = season_length
        self.log = log
        self.seasonal_window = seasonal_window
        self.theta = theta
        self.multiplicative = multiplicative

    def min_length(self) -> int:
        # the seasonal test needs 2 m + 2 points; shorter series get the non-seasonal theta
        return 4

    def _seasonal_indices(self, z: np.ndarray) -> np.ndarray | None:
        return seasonal_indices(z, int(self.season_length), self.seasonal_window)

    def _fit(self, y, ds, X):
        from scipy.optimize import minimize_scalar

        self.log_ = _use_log(self.log, y)
        z = np.log1p(y) if self.log_ else y.copy()
        n = len(z)
        m = int(self.season_length)
        mult = self.multiplicative
        if mult == "auto":
            mult = m >= LONG_SEASON
        self.mult_ = bool(mult) and not self.log_ and bool(np.all(y > 0))
        phase = np.arange(n) % max(m, 1)
        if self.mult_:
            # classical multiplicative decomposition (indices of log y), as the M4 Theta benchmark
            log_idx = self._seasonal_indices(np.log(y))
            self.factors_ = None if log_idx is None else np.exp(log_idx)
            self.seasonal_ = None
            adjusted = z / self.factors_[phase] if self.factors_ is not None else z
        else:
            self.factors_ = None
            self.seasonal_ = self._seasonal_indices(z)
            adjusted = z - self.seasonal_[phase] if self.seasonal_ is not None else z
        grid = np.linspace(0.05, 0.95, 10)
        sse = _ses_sse(adjusted, grid)
        best = int(np.argmin(sse))
        lo, hi = grid[max(best - 1, 0)], grid[min(best + 1, len(grid) - 1)]
        lo = 0.01 if best == 0 else lo
        hi = 0.999 if best == len(grid) - 1 else hi
        res = minimize_scalar(
            lambda a: _ses_sse(adjusted, np.array([a]))[0],
            bounds=(lo, hi),
            method="bounded",
            options={"xatol": 1e-3},
        )
        alpha = float(res.x)
        from scipy.signal import lfilter

        level = lfilter([alpha], [1.0, alpha - 1.0], adjusted, zi=[(1.0 - alpha) * adjusted[0]])[0]
        t = np.arange(n, dtype=np.float64)
        tc = t - t.mean()  # closed-form OLS slope: np.polyfit goes through LAPACK
        slope = float(tc @ (adjusted - adjusted.mean()) / (tc @ tc)) if n > 2 else 0.0
        self.alpha_ = alpha
        self.level_ = float(level[-1])
        self.drift_ = slope * (1.0 - 1.0 / float(self.theta))
        self.phase0_ = n % max(m, 1)
        self.sigma_ = _robust_sd(adjusted[1:] - level[:-1])
        self.n_fit_ = n

    def _predict(self, h, levels, X):
        k = np.arange(1, h + 1, dtype=np.float64)
        a, n = self.alpha_, self.n_fit_
        mean_z = self.level_ + self.drift_ * ((k - 1) + 1.0 / a - (1.0 - a) ** n / a)
        if self.seasonal_ is not None:
            m = len(self.seasonal_)
            mean_z = mean_z + self.seasonal_[(self.phase0_ + np.arange(h)) % m]
        factor = np.ones(h)
        if getattr(self, "factors_", None) is not None:
            factor = self.factors_[(self.phase0_ + np.arange(h)) % len(self.factors_)]
        sd = self.sigma_ * np.sqrt(1.0 + (k - 1) * a * a)
        bounds = {
            v: (
                _back((mean_z - _z_value(v) * sd) * factor, self.log_),
                _back((mean_z + _z_value(v) * sd) * factor, self.log_),
            )
            for v in levels
        }
        return _back(mean_z * factor, self.log_), bounds


_LEVEL_PREFIXES = ("lag", "rmean", "slag", "smean")


class GBMForecaster(BaseForecaster):
    """Direct multi-horizon ``HistGradientBoostingRegressor`` (horizon as a feature).

    Training rows: every origin ``o`` and horizon ``k = 1..max_horizon``;
    target ``z[o + k] - rmean7(o)`` with ``z = log1p(y)`` (auto); features
    from :func:`~project.utils.train_column.direct_design` with the level
    columns (lags, rolling and same-weekday means) also expressed relative to
    ``rmean7(o)``.  The model is scale-free, so spikes and level shifts do not
    dominate the loss.  Rows older than ``max_train`` target days are dropped.
    Horizons beyond ``max_horizon`` reuse its features (the tree saturates).
    Exogenous columns go through ``FeatureConfig.known_exog`` /
    ``observed_exog``: pass ``X`` to ``fit`` (history rows) and to ``predict``
    (the ``h`` future rows; observed-only columns may be NaN there).
    Bands come from in-sample residual quantiles per horizon
    (``native_intervals = False``).
    """

    name = "gbm"
    native_intervals = False

    def __init__(
        self,
        season_length: int = 7,
        max_horizon: int = 28,
        country: str | None = None,
        log: bool | str = "auto",
        max_iter: int = 100,
        learning_rate: float = 0.08,
        max_leaf_nodes: int = 7,
        min_samples_leaf: int = 100,
        loss: str = "absolute_error",
        max_train: int | None = 730,
        max_rows: int | None = 4000,
        yearly_order: int | None = None,
        known_exog: Sequence[str] = (),
        observed_exog: Sequence[str] = (),
        select_features: bool = False,
        random_state: int = 0,
    ):
        self.season_length = season_length
        self.max_horizon = max_horizon
        self.country = country
        self.log = log
        self.max_iter = max_iter
        self.learning_rate = learning_rate
        self.max_leaf_nodes = max_leaf_nodes
        self.min_samples_leaf = min_samples_leaf
        self.loss = loss
        self.max_train = max_train
        self.max_rows = max_rows
        self.yearly_order = yearly_order
        self.known_exog = known_exog
        self.observed_exog = observed_exog
        self.select_features = select_features
        self.random_state = random_state

    def _feature_season(self) -> int:
        # same-phase lags of a long (yearly) season need years of history per row
        m = int(self.season_length)
        return m if m < LONG_SEASON else 1

    def min_length(self) -> int:
        return 4 * self._feature_season() + 8

    def _config(self) -> FeatureConfig:
        return FeatureConfig(
            season_length=self._feature_season(),
            yearly_order=self.yearly_order_,
            country=self.country,
            known_exog=tuple(self.known_exog),
            observed_exog=tuple(self.observed_exog),
        )

    def _design(self, z, ds, horizons, exog, future):
        design = direct_design(z, ds, horizons, self._config(), exog=exog, future=future)
        base = design["rmean7"].to_numpy()
        for name in design.columns:
            if name.startswith(_LEVEL_PREFIXES):
                design[name] = design[name].to_numpy() - base
        drops = ["dayofmonth", "weekofyear"]
        if not self.yearly_order_:
            drops += ["dayofyear", "month"]
        for drop in drops:
            if drop in design.columns:
                del design[drop]
        return design, base

    def _fit(self, y, ds, X):
        from sklearn.ensemble import HistGradientBoostingRegressor

        from .train_column import select_features as _select

        self.log_ = _use_log(self.log, y)
        z = np.log1p(y) if self.log_ else y.copy()
        n = len(z)
        H = int(self.max_horizon)
        if self.yearly_order is None:
            # a yearly shape learnt from less than two years is one year's noise
            self.yearly_order_ = 4 if n >= 2 * 365 else 0
        else:
            self.yearly_order_ = int(self.yearly_order)
        exog = None
        if X is not None and (self.known_exog or self.observed_exog):
            exog = X.reset_index(drop=True)
        design, base = self._design(z, ds, range(1, H + 1), exog, 0)
        rows = design["target_row"].to_numpy()
        target = z[rows] - base
        keep = np.isfinite(target)
        if self.max_train:
            keep &= rows >= n - int(self.max_train)
        if self.max_rows and keep.sum() > int(self.max_rows):
            # a random subset of (origin, horizon) pairs: neighbouring origins
            # are nearly duplicate rows, so this costs little accuracy
            rng = np.random.default_rng(self.random_state)
            chosen = rng.choice(np.flatnonzero(keep), int(self.max_rows), replace=False)
            keep = np.zeros_like(keep)
            keep[np.sort(chosen)] = True
        features = [c for c in design.columns if c != "target_row"]
        Xtr = design.loc[keep, features]
        ytr = target[keep]
        if len(ytr) < 50:
            raise ValueError(f"gbm has only {len(ytr)} training rows; need at least 50")
        if self.select_features:
            with _one_thread("openmp"):
                features = _select(Xtr, ytr, keep=("horizon", "rmean7", "dayofweek"))
            Xtr = Xtr[features]
        self.features_ = features
        self.model_ = HistGradientBoostingRegressor(
            loss=self.loss,
            max_iter=int(self.max_iter),
            learning_rate=float(self.learning_rate),
            max_leaf_nodes=int(self.max_leaf_nodes),
            min_samples_leaf=int(self.min_samples_leaf),
            early_stopping=False,
            random_state=self.random_state,
        )
        horizon = Xtr["horizon"].to_numpy()
        recent = rows[keep] >= n - 182
        with _one_thread("openmp"):
            self.model_.fit(Xtr.to_numpy(np.float64), ytr)
            # residual quantiles per horizon from the most recent rows
            fitted = self.model_.predict(Xtr.loc[recent].to_numpy(np.float64))
        resid = np.abs(ytr[recent] - fitted)
        self.resid_by_h_ = [resid[horizon[recent] == k] for k in range(1, H + 1)]
        # keep only what predict needs: the recent tail and dates
        tail = min(n, max(8 * self._feature_season(), 56) + 2 * H + 8)
        self.tail_z_ = z[-tail:].copy()
        self.tail_ds_ = pd.DatetimeIndex(ds[-tail:])
        self.tail_exog_ = None if exog is None else exog.iloc[-tail:].reset_index(drop=True)

    def _predict(self, h, levels, X):
        exog = None
        if self.tail_exog_ is not None:
            if X is None or len(X) < h:
                raise ValueError(
                    f"gbm was fitted with exogenous columns; predict needs X with {h} future rows"
                )
            exog = pd.concat(
                [self.tail_exog_, X.iloc[:h].reset_index(drop=True)[self.tail_exog_.columns]],
                ignore_index=True,
            )
        n = len(self.tail_z_)
        design, base = self._design(self.tail_z_, self.tail_ds_, range(1, h + 1), exog, h)
        rows = design["target_row"].to_numpy()
        horizon = design["horizon"].to_numpy()
        pick = rows == (n - 1 + horizon)
        Xp = design.loc[pick, self.features_].copy()
        order = np.argsort(horizon[pick])
        Xp = Xp.iloc[order]
        H = int(self.max_horizon)
        Xp["horizon"] = np.minimum(Xp["horizon"].to_numpy(), H)
        base_p = base[pick][order]
        with _one_thread("openmp"):
            mean_z = base_p + self.model_.predict(Xp.to_numpy(np.float64))
        bounds = {}
        for v in levels:
            q = np.array(
                [
                    np.quantile(r, v / 100.0) if len(r) else 0.0
                    for r in (self.resid_by_h_[min(k, H) - 1] for k in range(1, h + 1))
                ]
            )
            bounds[v] = (_back(mean_z - q, self.log_), _back(mean_z + q, self.log_))
        return _back(mean_z, self.log_), bounds


MODELS: dict[str, type[BaseForecaster]] = {
    "naive": NaiveModel,
    "snaive": SeasonalNaiveModel,
    "ets": ETSForecaster,
    "sarimax": SarimaxForecaster,
    "prophet": ProphetForecaster,
    "gbm": GBMForecaster,
    "theta": ThetaForecaster,
}


def make_model(name: str, **params: Any) -> BaseForecaster:
    """Instantiate the candidate ``name`` (see :data:`MODELS`) with ``params``.

    Parameters a model does not take (for example ``country`` for ``ets``) are
    dropped with a debug log, so the orchestrator can pass one set of options
    to every candidate.
    """
    import inspect

    try:
        cls = MODELS[name]
    except KeyError:
        raise ValueError(f"Unknown model {name!r}; expected one of: {', '.join(sorted(MODELS))}") from None
    accepted = set(inspect.signature(cls.__init__).parameters) - {"self"}
    unused = sorted(set(params) - accepted)
    if unused:
        logger.debug("make_model(%r): ignoring parameters %s", name, unused)
    return cls(**{k: v for k, v in params.items() if k in accepted})


# --------------------------------------------------------------------------- guard


class GuardedModel:
    """Wrap a candidate so that it always yields a usable forecast.

    ``fit`` also fits the fallback (seasonal naive by default).  The fallback
    is used, and ``fallback_reason_`` says why, when the series is shorter than
    ``model.min_length()``, when ``fit``/``predict`` raises, or when the
    forecast is non-finite or its absolute value exceeds
    ``EXPLOSION_FACTOR x max|y|``.  ``fallback_reason_`` is ``None`` while the
    wrapped model is in use.
    """

    def __init__(
        self,
        model: BaseForecaster | str,
        fallback: str = "snaive",
        season_length: int = 7,
        explosion_factor: float = EXPLOSION_FACTOR,
    ):
        self.model = model
        self.fallback = fallback
        self.season_length = season_length
        self.explosion_factor = explosion_factor

    @property
    def name(self) -> str:
        model = self.model
        return model if isinstance(model, str) else model.name

    @property
    def native_intervals(self) -> bool:
        active = getattr(self, "active_", None)
        return bool((active or self._candidate()).native_intervals)

    def _candidate(self) -> BaseForecaster:
        if isinstance(self.model, str):
            return make_model(self.model, season_length=self.season_length)
        return self.model

    def _fail(self, reason: str) -> None:
        logger.info("%s falls back to %s: %s", self.name, self.fallback, reason)
        self.fallback_reason_ = reason
        self.active_ = self.fallback_model_

    def fit(self, y: np.ndarray, ds: pd.DatetimeIndex | None = None, X: pd.DataFrame | None = None):
        self.fallback_model_ = make_model(self.fallback, season_length=self.season_length)
        self.fallback_model_.fit(y, ds)
        values = _clean_series(y)
        self.y_max_abs_ = float(np.max(np.abs(values)))
        self.fallback_reason_: str | None = None
        candidate = self._candidate()
        self.active_ = candidate
        if len(values) < candidate.min_length():
            self._fail(
                f"series too short for {candidate.name}: {len(values)} observations, "
                f"needs {candidate.min_length()}"
            )
            return self
        try:
            candidate.fit(values, ds, X)
        except Exception as exc:  # noqa: BLE001 - any model failure must fall back
            self._fail(f"{candidate.name} fit failed: {type(exc).__name__}: {exc}")
        return self

    def predict(
        self, h: int, level: Sequence[int] | None = DEFAULT_LEVELS, X: pd.DataFrame | None = None
    ) -> pd.DataFrame:
        if not hasattr(self, "active_"):
            raise RuntimeError("GuardedModel is not fitted; call fit() first")
        if self.active_ is not self.fallback_model_:
            try:
                frame = self.active_.predict(h, level, X=X)
                values = frame.to_numpy(np.float64)
                limit = self.explosion_factor * self.y_max_abs_
                if not np.all(np.isfinite(values)):
                    self._fail(f"{self.active_.name} forecast is not finite")
                elif np.max(np.abs(frame["mean"].to_numpy())) > limit + 1e-9:
                    self._fail(
                        f"{self.active_.name} forecast explodes: max |mean| "
                        f"{np.max(np.abs(frame['mean'].to_numpy())):.4g} > "
                        f"{self.explosion_factor:g} x max|y| = {limit:.4g}"
                    )
                else:
                    return frame
            except Exception as exc:  # noqa: BLE001
                self._fail(f"{self.active_.name} predict failed: {type(exc).__name__}: {exc}")
        return self.fallback_model_.predict(h, level)
