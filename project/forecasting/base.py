"""The base class of every candidate model and the value transforms they share.

``__init__`` only stores parameters (scikit-learn rule), learned attributes
end with ``_``.  Heavy libraries are imported inside ``fit``.

* **Log transform.**  Web traffic and sales are multiplicative and spiky;
  ``log="auto"`` (:func:`use_log`) fits on ``log1p(y)`` when the series is
  non-negative and :func:`back_transform` maps back with ``expm1``.  The
  back-transformed mean is the conditional median, which is what MASE/MAE
  reward, and quantiles map exactly through a monotone transform, so bands
  stay valid.
* **Non-negative series stay non-negative**: forecasts and bands are clipped
  at zero when the training data has no negative value.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from .intervals import DEFAULT_LEVELS, build_frame, check_levels

__all__ = [
    "BaseForecaster",
    "back_transform",
    "clean_series",
    "dates_after",
    "day_index",
    "robust_sd",
    "step_of",
    "use_log",
]


def clean_series(y: np.ndarray | Sequence[float]) -> np.ndarray:
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


def use_log(log: bool | str, y: np.ndarray) -> bool:
    if log == "auto":
        return bool(np.all(y >= 0))
    return bool(log)


def back_transform(values: np.ndarray, log: bool) -> np.ndarray:
    if not log:
        return values
    return np.expm1(np.clip(values, -50.0, 50.0))


def robust_sd(residuals: np.ndarray) -> float:
    """Residual scale: the standard deviation, or 0 when there are none."""
    residuals = residuals[np.isfinite(residuals)]
    if residuals.size < 2:
        return 0.0
    return float(np.std(residuals, ddof=1))


def day_index(ds: pd.DatetimeIndex | pd.Series | Sequence) -> pd.DatetimeIndex:
    """``ds`` as a ``DatetimeIndex`` at midnight.

    An index is used as it is: ``pd.to_datetime`` walks one it is given date
    by date, and every fit and design of every backtest asks for this.
    """
    index = ds if isinstance(ds, pd.DatetimeIndex) else pd.DatetimeIndex(pd.to_datetime(ds))
    return index.normalize()


def step_of(ds: pd.DatetimeIndex) -> pd.DateOffset:
    """The series' step: daily unless the dates say otherwise (weekly, or month starts/ends)."""
    if len(ds) >= 2:
        delta = ds[-1] - ds[-2]
        if delta >= pd.Timedelta(days=28) and (ds[-2:].day == 1).all():
            return pd.offsets.MonthBegin()
        if delta >= pd.Timedelta(days=28) and ds[-2:].is_month_end.all():
            return pd.offsets.MonthEnd()
        if delta != pd.Timedelta(days=1):
            return pd.tseries.frequencies.to_offset(delta)
    return pd.tseries.frequencies.to_offset("D")


def dates_after(last: pd.Timestamp, step: pd.DateOffset | pd.Timedelta, periods: int) -> pd.DatetimeIndex:
    """The ``periods`` dates after ``last``, ``step`` apart (a month is a calendar month, not 30 days)."""
    return pd.DatetimeIndex([last + step * k for k in range(1, int(periods) + 1)])


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
        values = clean_series(y)
        if len(values) < self.min_length():
            raise ValueError(
                f"{self.name} needs at least {self.min_length()} observations, got {len(values)}"
            )
        if ds is None:
            ds = pd.date_range(end=pd.Timestamp("2000-01-01"), periods=len(values), freq="D")
        ds = day_index(ds)
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
        levels = check_levels(level)
        mean, bounds = self._predict(h, levels, X)
        return build_frame(mean, bounds, levels, 0.0 if self.nonnegative_ else None)

    def get_params(self) -> dict[str, Any]:
        return {k: v for k, v in vars(self).items() if not k.endswith("_") and not k.startswith("_")}

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_params().items())
        return f"{type(self).__name__}({args})"

    def _fit(self, y: np.ndarray, ds: pd.DatetimeIndex, X: pd.DataFrame | None) -> None:
        raise NotImplementedError

    def _predict(self, h: int, levels: list, X: pd.DataFrame | None):
        raise NotImplementedError
