"""The guard that turns any model failure into a seasonal-naive forecast (``GuardedModel``)."""

from __future__ import annotations

import logging
from collections.abc import Sequence

import numpy as np
import pandas as pd

from .base import BaseForecaster, clean_series
from .intervals import DEFAULT_LEVELS
from .models import make_model

__all__ = ["GuardedModel", "EXPLOSION_FACTOR"]

logger = logging.getLogger(__name__)

#: A forecast whose absolute value exceeds this many times the series' max |y| is rejected.
EXPLOSION_FACTOR = 10.0


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
        values = clean_series(y)
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
