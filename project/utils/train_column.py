"""Features for the daily forecasting models (calendar, Fourier, holidays, lags, rolling means, selection).

This seed-named module is the entry point; the code lives in
:mod:`project.forecasting.features`.
"""

from __future__ import annotations

from ..forecasting.features import (
    FeatureConfig,
    calendar_features,
    direct_design,
    exog_features,
    fourier_features,
    fourier_terms,
    holiday_features,
    known_features,
    lag_features,
    select_features,
)

__all__ = [
    "FeatureConfig",
    "calendar_features",
    "fourier_terms",
    "fourier_features",
    "holiday_features",
    "known_features",
    "lag_features",
    "exog_features",
    "direct_design",
    "select_features",
]
