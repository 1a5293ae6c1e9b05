"""Prediction intervals: level checks, the forecast-frame contract and split-conformal bands.

Every model returns its forecast through :func:`build_frame`, which enforces
the contract of ``readme/ARCHITECTURE.md``: columns ``mean, lo-L, hi-L...``,
finite values, ``lo <= mean <= hi`` and wider levels containing narrower ones.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import pandas as pd

__all__ = [
    "DEFAULT_LEVELS",
    "z_value",
    "check_levels",
    "level_name",
    "build_frame",
    "normal_bounds",
    "conformal_bands",
    "dispersion_ratio",
    "finite_frame",
]

DEFAULT_LEVELS: tuple[int, ...] = (80, 95)


def z_value(level: float) -> float:
    from statistics import NormalDist

    return NormalDist().inv_cdf(0.5 + float(level) / 200.0)


def check_levels(level: Sequence[int] | None) -> list[int]:
    levels = list(DEFAULT_LEVELS if level is None else level)
    for value in levels:
        if not 0 < float(value) < 100:
            raise ValueError(f"interval level must be in (0, 100), got {value!r}")
    return sorted({int(v) if float(v).is_integer() else v for v in levels})


def level_name(value: float) -> str:
    return f"{value:g}"


def build_frame(
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
        out[f"lo-{level_name(value)}"] = lo
        out[f"hi-{level_name(value)}"] = hi
    frame = pd.DataFrame(out)
    ordered = ["mean"] + [f"{side}-{level_name(v)}" for v in levels for side in ("lo", "hi")]
    return frame[ordered]


def conformal_bands(
    mean: np.ndarray | Sequence[float],
    errors: np.ndarray,
    levels: Sequence[int] = DEFAULT_LEVELS,
    lower_bound: float | None = None,
    nondecreasing: bool = False,
    scale: float | np.ndarray = 1.0,
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
    ``nondecreasing`` replaces the widths by the closest non-decreasing
    sequence (isotonic regression, each horizon weighted by its number of
    errors): uncertainty does not shrink with the distance, and a few
    overlapping backtest windows otherwise under-cover some far horizons by
    chance.  A running maximum would also be non-decreasing, but it carries
    the widest quantile's noise to every later horizon and over-covers.
    ``scale`` (a number, or one per horizon) multiplies
    the half-widths: errors of a few recent, overlapping windows are less
    dispersed than those of the future they stand for, and a factor
    calibrated on data the forecasts are not scored on restores the nominal
    coverage.
    """
    from sklearn.isotonic import isotonic_regression

    mean = np.asarray(mean, dtype=np.float64).ravel()
    h = mean.size
    levels = check_levels(levels)
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
        if nondecreasing:
            widths = isotonic_regression(widths, sample_weight=np.maximum(count, 1))
        widths = np.maximum(widths * np.broadcast_to(np.asarray(scale, dtype=np.float64), (h,)), widths_prev)
        widths_prev = widths
        bounds[value] = (mean - widths, mean + widths)
    return build_frame(mean, bounds, levels, lower_bound)


def dispersion_ratio(y: np.ndarray | Sequence[float], span: int, lag: int, history: int) -> float:
    """How much calmer the last ``span`` values were than the last ``history`` ones.

    The ratio of the mean absolute lag-``lag`` change (the scale of MASE)
    over the last ``history`` values to the same over the last ``span``
    values, the days whose backtest errors calibrate the conformal bands.
    Above 1 when those few recent weeks were quieter than the series'
    history: their errors then understate the spread of the next ones (a
    calm spell is followed by the series' usual variation more often than by
    another calm spell).  Each change counts on the day it ends on; ``lag``
    falls back to 1 when the series is too short for it; NaN values are
    skipped.  NaN when either mean cannot be computed, ``inf`` when the span
    did not move at all while the history did.
    """
    y = np.asarray(y, dtype=np.float64).ravel()
    span, lag, history = max(int(span), 1), max(int(lag), 1), max(int(history), int(span))
    if y.size < span + lag:
        lag = 1
    if y.size < span + lag + 1:
        return math.nan
    changes = np.abs(y[lag:] - y[:-lag])  # changes[i] ends on y[i + lag]

    def spread(values: np.ndarray) -> float:
        values = values[np.isfinite(values)]
        return float(values.mean()) if values.size else math.nan

    recent, past = spread(changes[-span:]), spread(changes[-history:])
    if not (np.isfinite(recent) and np.isfinite(past)):
        return math.nan
    if recent == 0:
        return math.inf if past > 0 else 1.0
    return past / recent


def normal_bounds(mean: np.ndarray, sd: np.ndarray, levels: Sequence[float]) -> dict:
    return {v: (mean - z_value(v) * sd, mean + z_value(v) * sd) for v in levels}

def finite_frame(frame: pd.DataFrame, levels: Sequence[int], nonnegative: bool) -> pd.DataFrame:
    """Enforce the forecast contract again after combining or re-banding."""
    mean = frame["mean"].to_numpy(np.float64)
    mean = np.where(np.isfinite(mean), mean, 0.0)
    if nonnegative:
        mean = np.maximum(mean, 0.0)
    out = {"mean": mean}
    prev_lo, prev_hi = mean, mean
    for lv in sorted(levels):
        lo = frame[f"lo-{lv}"].to_numpy(np.float64)
        hi = frame[f"hi-{lv}"].to_numpy(np.float64)
        lo = np.minimum(np.where(np.isfinite(lo), lo, mean), prev_lo)
        hi = np.maximum(np.where(np.isfinite(hi), hi, mean), prev_hi)
        if nonnegative:
            lo = np.maximum(lo, 0.0)
        out[f"lo-{lv}"], out[f"hi-{lv}"] = lo, hi
        prev_lo, prev_hi = lo, hi
    cols = ["mean"] + [f"{s}-{lv}" for lv in levels for s in ("lo", "hi")]
    return pd.DataFrame(out)[cols]
