"""The statistical candidate models (naive, seasonal naive, ETS, SARIMAX, Prophet, Theta) and the registry.

Every model follows the contract of ``readme/ARCHITECTURE.md``::

    model = make_model("ets", season_length=7)
    model.fit(y, ds)                       # numpy values, daily DatetimeIndex
    frame = model.predict(28, level=(80, 95))
    # columns mean, lo-80, hi-80, lo-95, hi-95; 28 rows (RangeIndex); finite;
    # lo-95 <= lo-80 <= mean <= hi-80 <= hi-95

Design choices, and why:

* ``log="auto"`` fits ``sarimax`` and ``gbm`` on ``log1p(y)``; ``ets`` and
  ``theta`` only on request (their raw scale scored better, see
  ``bench/README.md``).
* **theta** is the classical Theta method (SES with half the linear drift) on
  a seasonally adjusted series, implemented with ``scipy.signal.lfilter``
  so a fit is cheap; AutoTheta is a strong peer on web data.
* **Long seasons** (:data:`~.decomposition.LONG_SEASON`): ``ets`` and
  ``theta`` remove the yearly cycle by classical decomposition, and ``gbm``
  builds lags without the same-phase (seasonal) ones, so short weekly series
  are still fitted.
* **Intervals**: ``naive``/``snaive`` use the residual standard deviation
  scaled by the square root of the number of steps (seasons); ``ets``,
  ``sarimax`` and ``prophet`` use their own; ``gbm`` and ``theta`` flag
  ``native_intervals = False`` and return bands from in-sample residuals,
  which the orchestrator may replace with
  :func:`~.intervals.conformal_bands` of backtest errors.
"""

from __future__ import annotations

import logging
import warnings
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from .base import BaseForecaster, back_transform, dates_after, robust_sd, step_of, use_log
from .decomposition import LONG_SEASON, seasonal_indices, ses_sse
from .gbm import GBMForecaster
from .intervals import normal_bounds, z_value
from .statsforecast_models import AUTO_MODELS, INTERMITTENT_MODELS
from .threads import one_thread

__all__ = [
    "NaiveModel",
    "SeasonalNaiveModel",
    "ETSForecaster",
    "SarimaxForecaster",
    "ProphetForecaster",
    "ThetaForecaster",
    "GBMForecaster",
    "MODELS",
    "make_model",
]

logger = logging.getLogger(__name__)


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


class NaiveModel(BaseForecaster):
    """Last value carried forward; band ``sd(diff) * sqrt(k)`` (random walk)."""

    name = "naive"

    def __init__(self, season_length: int = 7):
        self.season_length = season_length  # accepted for a uniform factory; unused

    def _fit(self, y, ds, X):
        self.last_ = float(y[-1])
        self.sigma_ = robust_sd(np.diff(y))

    def _predict(self, h, levels, X):
        mean = np.full(h, self.last_)
        sd = self.sigma_ * np.sqrt(np.arange(1, h + 1))
        return mean, normal_bounds(mean, sd, levels)


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
            self.sigma_ = robust_sd(np.diff(y))
        else:
            self.season_ = y[-m:].copy()
            self.sigma_ = robust_sd(y[m:] - y[:-m])

    def _predict(self, h, levels, X):
        m = len(self.season_)
        steps = np.arange(h)
        mean = self.season_[steps % m]
        k = np.ceil((steps + 1) / m) if m > 1 else steps + 1.0
        sd = self.sigma_ * np.sqrt(k)
        return mean, normal_bounds(mean, sd, levels)


class ETSForecaster(BaseForecaster):
    """ETS(A, Ad, A) from statsmodels' ``ETSModel``.

    Damped additive trend and additive weekly season; analytic prediction
    intervals.  ``log=True`` (or ``"auto"``: when ``y >= 0``) fits on
    ``log1p(y)``; the default is the raw scale, which scored better on both
    benches (figures in ``bench/README.md``).  The fit is limited to ``maxiter`` optimizer iterations.

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
        self.log_ = use_log(self.log, y)
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
        with warnings.catch_warnings(), one_thread("blas"):
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
        with warnings.catch_warnings(), one_thread("blas"):
            warnings.simplefilter("ignore")
            pred = self.result_.get_prediction(start=start, end=start + h - 1)
            mean_z = self._reseason(np.asarray(pred.predicted_mean, dtype=np.float64))
            bounds = {}
            for v in levels:
                frame = pred.summary_frame(alpha=1 - v / 100.0)
                lo = back_transform(self._reseason(frame["pi_lower"].to_numpy(np.float64)), self.log_)
                hi = back_transform(self._reseason(frame["pi_upper"].to_numpy(np.float64)), self.log_)
                bounds[v] = (lo, hi)
        return back_transform(mean_z, self.log_), bounds


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
        regressors: Sequence[str] = (),
    ):
        self.season_length = season_length
        self.order = order
        self.seasonal_order = seasonal_order
        self.log = log
        self.maxiter = maxiter
        self.max_train = max_train
        self.regressors = regressors

    def min_length(self) -> int:
        return 4 * int(self.season_length) + 8

    def _fit(self, y, ds, X):
        from statsmodels.tsa.statespace.sarimax import SARIMAX

        self.log_ = use_log(self.log, y)
        z = np.log1p(y) if self.log_ else y
        if self.max_train:
            z = z[-int(self.max_train) :]
        # Known-future regressors: regression with SARIMA errors in two steps (least squares
        # on the regressors, then the SARIMA model of what they leave).
        self.beta_ = None
        if self.regressors:
            design = _regressor_matrix(X, self.regressors, len(y))[-len(z) :]
            coef = np.linalg.lstsq(np.column_stack([np.ones(len(z)), design]), z, rcond=None)[0]
            self.beta_ = coef[1:]
            z = z - design @ self.beta_
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
        with warnings.catch_warnings(), one_thread("blas"):
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
        if getattr(self, "beta_", None) is not None:
            mean_z = mean_z + _regressor_matrix(X, self.regressors, h) @ self.beta_
        ar = np.convolve(self.ar_poly_, diff_poly)
        psi = arma2ma(ar, self.ma_poly_, lags=h)
        sd = np.sqrt(self.scale_ * np.cumsum(psi**2))
        bounds = {
            v: (
                back_transform(mean_z - z_value(v) * sd, self.log_),
                back_transform(mean_z + z_value(v) * sd, self.log_),
            )
            for v in levels
        }
        return back_transform(mean_z, self.log_), bounds


def _regressor_matrix(X: pd.DataFrame | None, names: Sequence[str], rows: int) -> np.ndarray:
    """The declared regressor columns of ``X`` (at least ``rows`` rows) as a float matrix."""
    if X is None:
        raise ValueError(f"known-future regressor(s) {', '.join(names)} declared but no values given")
    absent = [name for name in names if name not in X.columns]
    if absent:
        raise ValueError(f"regressor column(s) {', '.join(absent)} missing")
    if len(X) < rows:
        raise ValueError(f"regressors have {len(X)} rows, {rows} needed")
    values = X[list(names)].to_numpy(np.float64)[:rows]
    if not np.isfinite(values).all():
        raise ValueError("regressor values must be finite")
    return values


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
        regressors: Sequence[str] = (),
    ):
        self.season_length = season_length
        self.country = country
        self.log = log
        self.uncertainty_samples = uncertainty_samples
        self.changepoint_prior_scale = changepoint_prior_scale
        self.seasonality_mode = seasonality_mode
        self.regressors = regressors

    def min_length(self) -> int:
        return 2 * int(self.season_length) + 2

    def _fit(self, y, ds, X):
        _quiet_prophet()
        from prophet import Prophet

        _quiet_prophet()  # prophet re-configures cmdstanpy's logger on import
        self.log_ = use_log(self.log, y)
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
        frame = pd.DataFrame({"ds": ds, "y": z})
        for name in self.regressors:
            model.add_regressor(name)
        if self.regressors:
            design = _regressor_matrix(X, self.regressors, len(y))
            for i, name in enumerate(self.regressors):
                frame[name] = design[:, i]
        model.fit(frame)
        self.model_ = model
        self.step_ = step_of(pd.DatetimeIndex(ds))

    def _predict(self, h, levels, X):
        _quiet_prophet()
        # artifacts of earlier versions hold a Timedelta step; both kinds work here
        step = getattr(self, "step_", pd.Timedelta(days=1))
        future = pd.DataFrame({"ds": dates_after(self.last_ds_, step, h)})
        if self.regressors:
            design = _regressor_matrix(X, self.regressors, h)
            for i, name in enumerate(self.regressors):
                future[name] = design[:, i]
        mean_z = _prophet_mean(self.model_, future)
        if not levels:  # point forecast only (backtests): skip the simulation
            return back_transform(mean_z, self.log_), {}
        if self.model_.uncertainty_samples:
            samples = self.model_.predictive_samples(future)["yhat"]
        else:  # pragma: no cover - only when configured without sampling
            samples = np.repeat(mean_z[:, None], 2, axis=1)
        bounds = {}
        for v in levels:
            lo = np.quantile(samples, 0.5 - v / 200.0, axis=1)
            hi = np.quantile(samples, 0.5 + v / 200.0, axis=1)
            bounds[v] = (back_transform(lo, self.log_), back_transform(hi, self.log_))
        return back_transform(mean_z, self.log_), bounds


def _prophet_mean(model: Any, future: pd.DataFrame) -> np.ndarray:
    """Prophet's ``yhat`` without the simulation ``predict`` also runs for its bands.

    ``yhat`` does not depend on the draws; the bands, when asked for, come
    from one call to ``predictive_samples``, so the draws ``predict`` makes
    are never used here.
    """
    samples = model.uncertainty_samples
    model.uncertainty_samples = 0
    try:
        return model.predict(future)["yhat"].to_numpy(np.float64)
    finally:
        model.uncertainty_samples = samples


class ThetaForecaster(BaseForecaster):
    """Classical Theta method on the seasonally adjusted series.

    Steps: additive seasonal indices from a centred moving average when the
    lag-``m`` autocorrelation is significant (90 %), simple exponential
    smoothing with ``alpha`` chosen on a grid then refined, plus half the
    slope of a linear trend (the ``theta = 2`` line), re-seasonalised.
    ``seasonal_window`` (weeks, ``None`` = all) limits the data used for the
    seasonal indices; ``log=True``/``"auto"`` works on ``log1p(y)``.  The
    defaults (raw scale, all data) scored best on the Wikipedia sample, on a
    par with statsforecast's AutoTheta (``bench/README.md``).  Bands: SES
    variance ``sigma^2 (1 + (k - 1) alpha^2)`` on in-sample errors; not
    native, the orchestrator may recalibrate them.

    ``multiplicative="auto"`` uses a classical *multiplicative* decomposition
    (indices of ``log y``, positive series) for seasons of
    :data:`LONG_SEASON` or more, as the M4 Theta benchmark does for yearly
    cycles of weekly/monthly data (clearly better than additive indices on M4
    Weekly, ``bench/README.md``); short daily seasons keep the additive indices.
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

        self.log_ = use_log(self.log, y)
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
        sse = ses_sse(adjusted, grid)
        best = int(np.argmin(sse))
        lo, hi = grid[max(best - 1, 0)], grid[min(best + 1, len(grid) - 1)]
        lo = 0.01 if best == 0 else lo
        hi = 0.999 if best == len(grid) - 1 else hi
        res = minimize_scalar(
            lambda a: ses_sse(adjusted, np.array([a]))[0],
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
        self.sigma_ = robust_sd(adjusted[1:] - level[:-1])
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
                back_transform((mean_z - z_value(v) * sd) * factor, self.log_),
                back_transform((mean_z + z_value(v) * sd) * factor, self.log_),
            )
            for v in levels
        }
        return back_transform(mean_z * factor, self.log_), bounds


MODELS: dict[str, type[BaseForecaster]] = {
    "naive": NaiveModel,
    "snaive": SeasonalNaiveModel,
    "ets": ETSForecaster,
    "sarimax": SarimaxForecaster,
    "prophet": ProphetForecaster,
    "gbm": GBMForecaster,
    "theta": ThetaForecaster,
}
MODELS.update(INTERMITTENT_MODELS)
MODELS.update(AUTO_MODELS)


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
