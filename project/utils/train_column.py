"""Features for the daily forecasting models (calendar, Fourier, holidays, lags, rolling means, selection).

This seed-named module is the entry point; the code lives in
:mod:`project.forecasting.features`.
"""

from __future__ import annotations

from ..forecasting.features import *  # noqa: F403 - the seed's name re-exports the features module
from ..forecasting.features import __all__  # noqa: F401
