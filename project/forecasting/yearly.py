"""A yearly shape for daily models that only know the week.

ETS and Theta model the weekly season of daily data with seasonal states or
indices; a yearly cycle (births, weather, air quality, heating) is left to
their level and trend, which follow it late.  When a daily series repeats its
yearly shape, :class:`YearlyAdjusted` removes a smooth yearly profile before
the model and adds it back to the forecast:

* the profile is ``order`` Fourier pairs of period 365.25 days (the terms of
  :func:`.features.fourier_terms`, anchored on the calendar), fitted by least
  squares together with an intercept and a linear trend, so that neither the
  level nor a trend leaks into the yearly shape; only the Fourier part is
  removed, and the wrapped model still sees the level and the trend;
* :func:`yearly_season` is the test: the profiles fitted on the last year
  and on the year before must correlate (:data:`YEARLY_AGREEMENT`).  A yearly
  shape fitted to one year of a random walk is a random curve, and the next
  year's is another one; a real yearly season gives the same curve twice.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from .base import BaseForecaster, day_index
from .features import YEARLY_PERIOD, fourier_terms
from .intervals import level_name

__all__ = ["YEARLY_AGREEMENT", "YEARLY_ORDER", "YearlyAdjusted", "yearly_profile", "yearly_season"]

#: Fourier pairs of the yearly profile (the yearly order of ``gbm``'s features).
YEARLY_ORDER = 4
#: Smallest correlation between the profiles of the last two years for a yearly season.
YEARLY_AGREEMENT = 0.5
#: Days a profile is fitted on at least (shorter windows are not adjusted).
MIN_PROFILE_DAYS = 365


def _terms(ds: pd.DatetimeIndex, order: int) -> np.ndarray:
    return fourier_terms(ds, YEARLY_PERIOD, order, prefix="year").to_numpy(np.float64)


def yearly_profile(y: np.ndarray, ds: pd.DatetimeIndex, order: int = YEARLY_ORDER) -> np.ndarray | None:
    """Coefficients of the yearly Fourier terms of ``y`` (``None`` with too few finite values).

    Least squares on an intercept, a linear trend and ``order`` Fourier
    pairs; the coefficients returned are those of the Fourier pairs, in the
    column order of :func:`.features.fourier_terms`.
    """
    y = np.asarray(y, dtype=np.float64)
    finite = np.isfinite(y)
    if finite.sum() < MIN_PROFILE_DAYS * 0.8:
        return None
    terms = _terms(day_index(ds), order)
    trend = np.arange(len(y), dtype=np.float64) / max(len(y), 1)
    design = np.column_stack([np.ones(len(y)), trend, terms])
    coef, *_ = np.linalg.lstsq(design[finite], y[finite], rcond=None)
    return coef[2:]


def yearly_season(
    y: np.ndarray,
    ds: pd.DatetimeIndex,
    order: int = YEARLY_ORDER,
    threshold: float = YEARLY_AGREEMENT,
) -> bool:
    """Whether the last two years of ``y`` share their yearly shape.

    The profiles of :func:`yearly_profile` fitted on the last 365 days and on
    the 365 before, evaluated on one calendar year, must correlate at
    ``threshold`` or more.  Needs 730 days.
    """
    y = np.asarray(y, dtype=np.float64)
    if len(y) < 730:
        return False
    ds = day_index(ds)
    before = yearly_profile(y[-730:-365], ds[-730:-365], order)
    last = yearly_profile(y[-365:], ds[-365:], order)
    if before is None or last is None:
        return False
    grid = _terms(pd.date_range("2001-01-01", periods=365, freq="D"), order)
    a, b = grid @ before, grid @ last
    tiny = 1e-9 * max(1.0, float(np.nanmax(np.abs(y[-730:]))))
    if min(np.std(a), np.std(b)) <= tiny:  # no yearly shape at all, only rounding
        return False
    return bool(np.corrcoef(a, b)[0, 1] >= threshold)


class YearlyAdjusted(BaseForecaster):
    """``model`` fitted on ``y`` less its yearly profile; the profile is added back to the forecast.

    Windows shorter than a year are passed through unchanged.  Bands are the
    wrapped model's, shifted by the same profile.  ``name`` is the wrapped
    model's: the selection compares it with the other candidates as usual.
    """

    def __init__(self, model: BaseForecaster, order: int = YEARLY_ORDER):
        self.model = model
        self.order = order

    @property
    def name(self) -> str:  # type: ignore[override]
        return self.model.name

    @property
    def native_intervals(self) -> bool:
        return bool(getattr(self.model, "native_intervals", True))

    def min_length(self) -> int:
        return self.model.min_length()

    def _fit(self, y: np.ndarray, ds: pd.DatetimeIndex, X: pd.DataFrame | None) -> None:
        self.coef_ = yearly_profile(y, ds, self.order) if len(y) >= MIN_PROFILE_DAYS else None
        adjusted = y if self.coef_ is None else y - _terms(ds, self.order) @ self.coef_
        self.model.fit(adjusted, ds, X)

    def _predict(self, h: int, levels: Sequence[float], X: pd.DataFrame | None):
        frame = self.model.predict(h, level=levels, X=X)
        shift = np.zeros(h)
        if self.coef_ is not None:
            future = self.last_ds_ + pd.Timedelta(days=1) * np.arange(1, h + 1)
            shift = _terms(pd.DatetimeIndex(future), self.order) @ self.coef_
        bounds = {}
        for v in levels:
            name = level_name(v)
            bounds[v] = (frame[f"lo-{name}"].to_numpy() + shift, frame[f"hi-{name}"].to_numpy() + shift)
        return frame["mean"].to_numpy() + shift, bounds
