"""Candidate forecasting models behind one ``fit``/``predict`` interface, the guard and conformal bands.

This seed-named module is the entry point; the code lives in
:mod:`project.forecasting`: ``base`` (the base class and transforms),
``models`` (naive, snaive, ets, sarimax, prophet, theta and the registry),
``gbm`` (direct gradient boosting), ``decomposition`` (classical
decomposition and SES maths of Theta), ``intervals`` (the forecast-frame
contract and conformal bands), ``threads`` (BLAS/OpenMP limits) and
``guard`` (:class:`GuardedModel`).  See ``readme/ARCHITECTURE.md`` for the
model contract.
"""

from __future__ import annotations

from ..forecasting.base import BaseForecaster
from ..forecasting.decomposition import LONG_SEASON, seasonal_indices
from ..forecasting.guard import EXPLOSION_FACTOR, GuardedModel
from ..forecasting.intervals import DEFAULT_LEVELS, conformal_bands
from ..forecasting.models import (
    MODELS,
    ETSForecaster,
    GBMForecaster,
    NaiveModel,
    ProphetForecaster,
    SarimaxForecaster,
    SeasonalNaiveModel,
    ThetaForecaster,
    make_model,
)

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
