"""statsforecast models behind the candidate contract: intermittent demand and the Auto* family.

Intermittent demand (:mod:`project.utils.demand` decides which series are
sparse):

* ``croston`` -- Croston's method with optimised smoothing of sizes and
  intervals (``CrostonOptimized``);
* ``tsb`` -- Teunter-Syntetos-Babai: the *probability* of a demand is smoothed
  instead of the interval, so a product that stops selling fades out (Croston
  keeps forecasting its last rate forever).  Smoothing parameters are chosen
  on a small grid by in-sample squared error;
* ``adida`` -- aggregate-disaggregate: the series is summed over blocks of the
  mean inter-demand interval, smoothed there (where it is no longer
  intermittent) and spread back evenly;
* ``imapa`` -- ADIDA over several aggregation levels, averaged.

Their forecasts are flat demand *rates*.  They have no interval of their own
(``native_intervals = False``): the bands returned here are the empirical
spread of recent demand around the rate, and the orchestrator replaces them
with conformal bands from its backtest.

Auto* models (``auto_ets``, ``auto_theta``, ``auto_arima``, ``auto_ces``):
statsforecast's automatic ETS, Theta, ARIMA and complex exponential
smoothing, with their own prediction intervals.

statsforecast releases before 2.1 compile their kernels with numba on first
use.  :func:`statsforecast_env` asks numba to cache the compiled code on disk
(``NIXTLA_NUMBA_CACHE=1``, ``NUMBA_CACHE_DIR`` under the user's cache
directory unless already set) before the first import, so the compile time
is paid once per machine rather than in every training (releases from 2.1
on ship compiled kernels and need no cache).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from .base import BaseForecaster
from .decomposition import seasonal_indices

__all__ = [
    "INTERMITTENT_MODELS",
    "AUTO_MODELS",
    "StatsforecastForecaster",
    "CrostonForecaster",
    "TSBForecaster",
    "ADIDAForecaster",
    "IMAPAForecaster",
    "AutoETSForecaster",
    "AutoThetaForecaster",
    "AutoARIMAForecaster",
    "AutoCESForecaster",
    "statsforecast_env",
]

#: Seasons at least this long are not modelled by statsforecast's seasonal ETS/CES states.
_MAX_STATE_SEASON = 24


def statsforecast_env() -> None:
    """Set numba's on-disk cache before statsforecast is first imported (no-op afterwards)."""
    os.environ.setdefault("NIXTLA_NUMBA_CACHE", "1")
    os.environ.setdefault("NIXTLA_ID_AS_COL", "1")
    if "NUMBA_CACHE_DIR" not in os.environ:
        base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
        os.environ["NUMBA_CACHE_DIR"] = str(base / "ai_train_model" / "numba")


def _models():
    statsforecast_env()
    from statsforecast import models

    return models


class StatsforecastForecaster(BaseForecaster):
    """A statsforecast model fitted on the series and forecast ``h`` steps (base of the wrappers).

    ``decompose`` (the Auto* wrappers whose models cannot hold a season of
    :data:`_MAX_STATE_SEASON` or more observations: 52 weeks) removes such a
    season by classical decomposition before the fit -- multiplicative for
    positive series, only when the 90 % autocorrelation test finds it
    (:func:`~.decomposition.seasonal_indices`) -- fits the model without a
    season and re-seasonalises the forecast and its bands, as ``ets`` and
    ``theta`` do and as the M4 statistical benchmarks did.  Without it those
    models would ignore the yearly cycle of weekly data.
    """

    name = "statsforecast"
    native_intervals = True

    def __init__(self, season_length: int = 7, decompose: bool = False):
        self.season_length = season_length
        self.decompose = decompose

    def _build(self, y: np.ndarray) -> Any:
        raise NotImplementedError

    def _season(self, y: np.ndarray) -> int:
        """The season length the statsforecast model is built with (1 once decomposed)."""
        return 1 if getattr(self, "decomposed_", False) else int(self.season_length)

    def _fit(self, y, ds, X):
        z = np.asarray(y, dtype=np.float64)
        m = int(self.season_length)
        self.factors_ = None
        self.decomposed_ = bool(getattr(self, "decompose", False)) and m >= _MAX_STATE_SEASON
        if self.decomposed_:
            mult = bool(np.all(z > 0))
            idx = seasonal_indices(np.log(z) if mult else z, m)
            if idx is not None:
                self.factors_ = (np.exp(idx) if mult else idx, mult)
                phase = np.arange(len(z)) % m
                z = z / self.factors_[0][phase] if mult else z - self.factors_[0][phase]
        self.n_fit_ = len(z)
        self.model_ = self._build(z).fit(y=z)

    def _reseason(self, values: np.ndarray) -> np.ndarray:
        if getattr(self, "factors_", None) is None:
            return values
        season, mult = self.factors_
        s = season[(self.n_fit_ + np.arange(len(values))) % len(season)]
        return values * s if mult else values + s

    def _predict(self, h, levels, X):
        if self.native_intervals and levels:
            out = self.model_.predict(h=int(h), level=[int(v) for v in levels])
            mean = self._reseason(np.asarray(out["mean"], dtype=np.float64))
            bounds = {
                v: (
                    self._reseason(np.asarray(out[f"lo-{v}"], np.float64)),
                    self._reseason(np.asarray(out[f"hi-{v}"], np.float64)),
                )
                for v in levels
            }
            return mean, bounds
        mean = self._reseason(np.asarray(self.model_.predict(h=int(h))["mean"], dtype=np.float64))
        return mean, dict.fromkeys(levels, (mean, mean))


class _IntermittentForecaster(StatsforecastForecaster):
    """Demand-rate forecasts shaped by the seasonal profile; bands from recent spread (not native).

    The statsforecast models forecast one flat rate.  Demand of a shop still
    follows its week (closed or quiet weekdays), so with a season of 2 to 24
    observations and two cycles of data the rate is multiplied by the
    seasonal profile: each phase's mean over the last ``profile_cycles``
    cycles divided by the overall mean (a closed weekday gets about zero, the
    weekly total is unchanged).  ``profile=False`` keeps the flat rate.
    """

    native_intervals = False
    #: recent observations whose spread gives the (replaceable) band
    recent = 90

    def __init__(self, season_length: int = 7, profile: bool = True, profile_cycles: int = 52):
        self.season_length = season_length
        self.profile = profile
        self.profile_cycles = profile_cycles

    def min_length(self) -> int:
        return 2

    def _fit(self, y, ds, X):
        super()._fit(y, ds, X)
        self.recent_ = np.asarray(y[-self.recent :], dtype=np.float64).copy()
        m = int(self.season_length)
        self.profile_ = None
        if self.profile and 1 < m < _MAX_STATE_SEASON and len(y) >= 2 * m:
            tail = np.asarray(y[-int(self.profile_cycles) * m :], dtype=np.float64)
            phase = (len(y) - len(tail) + np.arange(len(tail))) % m
            level = float(np.mean(tail))
            if level > 0:
                self.profile_ = np.array([tail[phase == p].mean() / level for p in range(m)])
        self.n_fit_ = len(y)

    def _predict(self, h, levels, X):
        rate = np.asarray(self.model_.predict(h=int(h))["mean"], dtype=np.float64)
        rate = np.where(np.isfinite(rate), rate, 0.0)
        mean = rate
        if self.profile_ is not None:
            mean = rate * self.profile_[(self.n_fit_ + np.arange(int(h))) % len(self.profile_)]
        spread = np.abs(self.recent_ - float(rate[0]))
        bounds = {}
        for v in levels:
            width = float(np.quantile(spread, v / 100.0)) if spread.size else 0.0
            bounds[v] = (mean - width, mean + width)
        return mean, bounds


class CrostonForecaster(_IntermittentForecaster):
    """Croston's method with optimised smoothing (statsforecast ``CrostonOptimized``)."""

    name = "croston"

    def _build(self, y):
        return _models().CrostonOptimized()


class TSBForecaster(_IntermittentForecaster):
    """Teunter-Syntetos-Babai; ``alpha_d``/``alpha_p`` chosen on ``grid`` when not given."""

    name = "tsb"

    def __init__(
        self,
        season_length: int = 7,
        alpha_d: float | None = None,
        alpha_p: float | None = None,
        grid: Sequence[float] = (0.05, 0.1, 0.2, 0.3),
        profile: bool = True,
        profile_cycles: int = 52,
    ):
        super().__init__(season_length, profile, profile_cycles)
        self.alpha_d = alpha_d
        self.alpha_p = alpha_p
        self.grid = grid

    def _build(self, y):
        models = _models()
        if self.alpha_d is not None and self.alpha_p is not None:
            self.alpha_d_, self.alpha_p_ = float(self.alpha_d), float(self.alpha_p)
            return models.TSB(alpha_d=self.alpha_d_, alpha_p=self.alpha_p_)
        best, best_sse = (0.1, 0.1), np.inf
        d_grid = [self.alpha_d] if self.alpha_d is not None else list(self.grid)
        p_grid = [self.alpha_p] if self.alpha_p is not None else list(self.grid)
        for a_d in d_grid:
            for a_p in p_grid:
                fitted = models.TSB(alpha_d=a_d, alpha_p=a_p).forecast(y=y, h=1, fitted=True)["fitted"]
                err = np.asarray(y, np.float64)[1:] - np.asarray(fitted, np.float64)[1:]
                sse = float(np.nansum(err**2))
                if sse < best_sse:
                    best, best_sse = (float(a_d), float(a_p)), sse
        self.alpha_d_, self.alpha_p_ = best
        return models.TSB(alpha_d=best[0], alpha_p=best[1])


class ADIDAForecaster(_IntermittentForecaster):
    """Aggregate-disaggregate intermittent demand approach (statsforecast ``ADIDA``)."""

    name = "adida"

    def _build(self, y):
        return _models().ADIDA()


class IMAPAForecaster(_IntermittentForecaster):
    """Intermittent multiple aggregation prediction algorithm (statsforecast ``IMAPA``)."""

    name = "imapa"

    def _build(self, y):
        return _models().IMAPA()


class AutoETSForecaster(StatsforecastForecaster):
    """statsforecast ``AutoETS`` (model chosen by AICc); long seasons removed by decomposition."""

    name = "auto_ets"

    def min_length(self) -> int:
        m = int(self.season_length)
        return 2 * m + 4 if m < _MAX_STATE_SEASON else 8

    def __init__(self, season_length: int = 7, decompose: bool = True):
        super().__init__(season_length, decompose)

    def _build(self, y):
        m = self._season(y)
        return _models().AutoETS(season_length=m if 1 < m < _MAX_STATE_SEASON and len(y) >= 2 * m + 4 else 1)


class AutoThetaForecaster(StatsforecastForecaster):
    """statsforecast ``AutoTheta`` (classical decomposition when the season tests significant)."""

    name = "auto_theta"

    def min_length(self) -> int:
        return 8

    def _build(self, y):
        m = int(self.season_length)
        return _models().AutoTheta(season_length=m if len(y) >= 2 * m + 2 else 1)


class AutoARIMAForecaster(StatsforecastForecaster):
    """statsforecast ``AutoARIMA`` (stepwise search); long seasons removed by decomposition.

    ``decompose=False`` keeps a seasonal ARIMA of the long season (slow: 52 lags).
    """

    name = "auto_arima"

    def min_length(self) -> int:
        return 2 * int(self.season_length) + 8 if int(self.season_length) < _MAX_STATE_SEASON else 16

    def __init__(self, season_length: int = 7, decompose: bool = True):
        super().__init__(season_length, decompose)

    def _build(self, y):
        m = self._season(y)
        return _models().AutoARIMA(season_length=m if len(y) >= 2 * m + 8 else 1)


class AutoCESForecaster(StatsforecastForecaster):
    """statsforecast ``AutoCES`` (complex exponential smoothing)."""

    name = "auto_ces"

    def min_length(self) -> int:
        return 2 * int(self.season_length) + 4 if int(self.season_length) < _MAX_STATE_SEASON else 8

    def __init__(self, season_length: int = 7, decompose: bool = True):
        super().__init__(season_length, decompose)

    def _build(self, y):
        m = self._season(y)
        return _models().AutoCES(season_length=m if 1 < m < _MAX_STATE_SEASON and len(y) >= 2 * m + 4 else 1)


INTERMITTENT_MODELS: dict[str, type[BaseForecaster]] = {
    "croston": CrostonForecaster,
    "tsb": TSBForecaster,
    "adida": ADIDAForecaster,
    "imapa": IMAPAForecaster,
}
AUTO_MODELS: dict[str, type[BaseForecaster]] = {
    "auto_ets": AutoETSForecaster,
    "auto_theta": AutoThetaForecaster,
    "auto_arima": AutoARIMAForecaster,
    "auto_ces": AutoCESForecaster,
}
