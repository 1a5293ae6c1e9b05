"""Classical seasonal decomposition and simple exponential smoothing, the maths of Theta.

Seasons of :data:`LONG_SEASON` or more observations (weekly data with
``season_length=52``, monthly with 12) are yearly cycles: ``ets`` and
``theta`` remove them by classical decomposition (:func:`seasonal_indices`)
when a 90 % autocorrelation test finds them, instead of fitting seasonal
states -- the practice of the M4 statistical benchmarks.
"""

from __future__ import annotations

import numpy as np

__all__ = [
    "LONG_SEASON",
    "seasonal_indices",
    "season_detected",
    "season_strength",
    "ses_sse",
    "variance_ratio",
]

#: Seasons at least this long (observations) are yearly cycles of weekly or monthly data:
#: handled by classical decomposition instead of seasonal states (see ``ETSForecaster``).
LONG_SEASON = 12


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


def _filled(y: np.ndarray) -> tuple[np.ndarray, int]:
    """``y`` as a flat float array with missing values interpolated, and how many were finite."""
    z = np.asarray(y, dtype=np.float64).ravel()
    finite = np.isfinite(z)
    count = int(finite.sum())
    if 0 < count < z.size:
        idx = np.arange(z.size)
        z = np.interp(idx, idx[finite], z[finite])
    return z, count


def season_strength(y: np.ndarray, m: int, clip: float = 5.0) -> float:
    """How far a short season of ``m`` observations shows in the *changes* of
    ``y``: the lag-``m`` autocorrelation of the first differences (NaN
    interpolated, clipped at ``clip`` robust standard deviations around their
    median) over its 90 % limit.  Above 1 the season is significant (see
    :func:`season_detected`); NaN when there are too few points to tell
    (fewer than ``2 m + 3``, or a season below 2), 0 for constant changes.
    """
    z, count = _filled(y)
    if m < 2 or count < 2 * m + 3:
        return float("nan")
    x = np.diff(z)
    median = float(np.median(x))
    mad = 1.4826 * float(np.median(np.abs(x - median)))
    if mad > 0:
        x = np.clip(x, median - clip * mad, median + clip * mad)
    x = x - x.mean()
    denom = float(x @ x)
    if denom <= 0:
        return 0.0
    acf = np.array([float(x[k:] @ x[:-k]) / denom for k in range(1, m + 1)])
    limit = 1.645 * np.sqrt((1 + 2 * np.sum(acf[:-1] ** 2)) / x.size)
    return float(abs(acf[-1]) / limit)


def season_detected(y: np.ndarray, m: int, clip: float = 5.0) -> bool:
    """Whether a short season of ``m`` observations shows in the *changes* of ``y``.

    The 90 % autocorrelation test of :func:`seasonal_indices`, applied to the
    first differences (:func:`season_strength` above 1): on levels a random
    walk or a trend correlates at every lag and always "passes", while its
    day-to-day changes only correlate at lag ``m`` when there is a real cycle.
    The changes are clipped at ``clip`` robust standard deviations (MAD)
    around their median first, so one news spike of web traffic does not hide
    a weekly rhythm by inflating the variance.  Series shorter than ``2 m + 3``
    points, and seasons below 2, are taken as seasonal (no evidence either
    way: keep the models' default).
    """
    strength = season_strength(y, m, clip)
    return bool(np.isnan(strength) or strength > 1.0)


def variance_ratio(y: np.ndarray, lag: int) -> float:
    """How much of a random walk's wander the level of ``y`` shows over ``lag`` steps.

    The variance of the ``lag``-step changes over ``lag`` times the variance of
    the one-step changes (Lo and MacKinlay's variance ratio; NaN interpolated).
    A random walk's changes add up, so the ratio is near 1; noise or spikes
    around a level that holds cancel out over ``lag`` steps (``1 / lag``
    for white noise), and a weekly rhythm inflates the one-step changes only,
    so demand, traffic and counts sit near 0.  NaN with fewer than
    ``2 lag + 2`` points or constant changes.
    """
    z, count = _filled(y)
    if lag < 1 or count < 2 * lag + 2:
        return float("nan")
    one = float(np.var(np.diff(z)))
    if one <= 0:
        return float("nan")
    return float(np.var(z[lag:] - z[:-lag]) / (lag * one))


def ses_sse(z: np.ndarray, alphas: np.ndarray) -> np.ndarray:
    from scipy.signal import lfilter

    sse = np.empty(len(alphas))
    for i, alpha in enumerate(alphas):
        level = lfilter([alpha], [1.0, alpha - 1.0], z, zi=[(1.0 - alpha) * z[0]])[0]
        err = z[1:] - level[:-1]
        sse[i] = float(err @ err)
    return sse
