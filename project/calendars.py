"""Per-series calendars: frequency, season length, and stale (discontinued) series.

Frequency
---------
Daily (``D``), weekly (``W``) and monthly (``M``) data are supported; each
comes with the season length of its main cycle (:data:`SEASON_LENGTH`: a
week of days, a year of weeks, a year of months), a backtest step and a
default horizon.  :func:`infer_freq` reads the frequency off the dates when
only one reading fits: every date on the first (or every date on the last)
day of its month with steps of at least 28 days is monthly; every date on
one weekday with steps that are whole weeks is weekly; anything else with
whole-day steps is daily.  A panel with no step at all (one date per series)
is ambiguous and needs an explicit ``--freq``.

Stale series
------------
In a panel every series may end on its own date (a product withdrawn, a
sensor replaced, an export cut early).  Its *trailing silence* is the number
of steps from its last observation to the last date of the input.  Reading
that silence as zero demand is right when it is routine -- GA4 omits zero
rows, a slow product sells every ten days -- and wrong when it is years long.
The rule (:func:`is_stale`): a series is **stale** when its silence, counted
on its open phases only (closed weekdays are not silence), exceeds

    ``min(horizon, max(STALE_GAP_FACTOR x usual_gap, STALE_MIN_STEPS[freq]))``

where ``usual_gap`` is the 95th percentile of the steps between its
consecutive observations.  So a silence is stale when it is longer than the
horizon (a zero forecast would extrapolate nothing but the silence), or much
longer than the gaps the series usually has (three times, and at least a week
of days, two weeks or one month).  What happens to a stale series is the
``stale`` policy of :func:`project.preparation.prepare`: ``own-end``
(default: its calendar ends at its own last observation and its forecast
starts the step after it; flagged), ``zero`` (the silence is read as zero
demand up to the input's end) or ``drop`` (left out, reported).
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
import pandas as pd

from .errors import InputError

__all__ = [
    "FREQUENCIES",
    "SEASON_LENGTH",
    "BACKTEST_STEP",
    "DEFAULT_HORIZON",
    "STALE_POLICIES",
    "STALE_GAP_FACTOR",
    "STALE_MIN_STEPS",
    "infer_freq",
    "step_index",
    "calendar",
    "offset_of",
    "check_dates",
    "usual_gap",
    "stale_limit",
    "is_stale",
]

FREQUENCIES = ("D", "W", "M")
SEASON_LENGTH = {"D": 7, "W": 52, "M": 12}
BACKTEST_STEP = {"D": 7, "W": 4, "M": 3}
DEFAULT_HORIZON = {"D": 28, "W": 13, "M": 12}
FREQ_NAMES = {"D": "daily", "W": "weekly", "M": "monthly"}

STALE_POLICIES = ("own-end", "zero", "drop")
STALE_GAP_FACTOR = 3.0
STALE_MIN_STEPS = {"D": 7, "W": 2, "M": 1}

_NS_PER_DAY = 86_400 * 10**9


def _days(ds: np.ndarray) -> np.ndarray:
    return np.asarray(ds, dtype="datetime64[D]").astype(np.int64)


def _month_aligned(dates: pd.DatetimeIndex) -> str | None:
    if len(dates) and (dates.day == 1).all():
        return "start"
    if len(dates) and dates.is_month_end.all():
        return "end"
    return None


def infer_freq(series_dates: Iterable[np.ndarray]) -> str:
    """``"D"``, ``"W"`` or ``"M"`` from each series' sorted unique dates (see the module docstring).

    Raises :class:`InputError` when no series has two dates.
    """
    steps: list[np.ndarray] = []
    all_dates: list[np.ndarray] = []
    for dates in series_dates:
        days = _days(dates)
        all_dates.append(days)
        if days.size >= 2:
            steps.append(np.diff(days))
    if not steps:
        raise InputError(
            "the frequency cannot be inferred: no series has two dates; pass the frequency "
            "explicitly (--freq D, W or M)"
        )
    step = np.concatenate(steps)
    dates = pd.DatetimeIndex(np.concatenate(all_dates).astype("datetime64[D]"))
    if step.min() >= 28 and _month_aligned(dates):
        return "M"
    weekdays = (np.concatenate(all_dates) + 3) % 7  # 1970-01-01 was a Thursday
    if (step % 7 == 0).all() and np.unique(weekdays).size == 1:
        return "W"
    return "D"


def check_dates(dates: pd.Series | pd.DatetimeIndex, freq: str) -> None:
    """Raise :class:`InputError` when dates do not fit the calendar of ``freq``."""
    index = pd.DatetimeIndex(dates)
    if freq == "W":
        weekdays = np.unique(index.dayofweek)
        if weekdays.size > 1:
            names = ", ".join(pd.Timestamp(2024, 1, 1 + int(d)).day_name() for d in weekdays[:4])
            raise InputError(
                f"weekly data must have one date per week on the same weekday; the dates fall on {names}"
            )
    elif freq == "M" and _month_aligned(index) is None:
        bad = index[(index.day != 1) & ~index.is_month_end][0]
        raise InputError(
            "monthly data must be dated on the first (or every date on the last) day of its month; "
            f"found {bad.date()}"
        )


def offset_of(freq: str, dates: pd.DatetimeIndex | None = None) -> pd.DateOffset:
    """The pandas offset of one step of ``freq`` anchored like ``dates``."""
    if freq == "D":
        return pd.tseries.frequencies.to_offset("D")
    if freq == "W":
        day = pd.DatetimeIndex(dates)[0].day_name()[:3].upper() if dates is not None and len(dates) else "SUN"
        return pd.tseries.frequencies.to_offset(f"W-{day}")
    if freq == "M":
        aligned = _month_aligned(pd.DatetimeIndex(dates)) if dates is not None else "start"
        return pd.tseries.frequencies.to_offset("ME" if aligned == "end" else "MS")
    raise InputError(f"frequency {freq!r} is unknown; expected one of {', '.join(FREQUENCIES)}")


def step_index(ds: np.ndarray, freq: str) -> np.ndarray:
    """Integer position of each date on the calendar of ``freq`` (consecutive steps differ by 1)."""
    if freq == "D":
        return _days(ds)
    if freq == "W":
        return (_days(ds) + 3) // 7  # weeks counted from a Monday (1970-01-01 was a Thursday)
    index = pd.DatetimeIndex(ds)
    return np.asarray(index.year * 12 + index.month - 1, dtype=np.int64)


def calendar(first: pd.Timestamp, periods: int, freq: str, like: pd.DatetimeIndex) -> pd.DatetimeIndex:
    """``periods`` dates of ``freq`` starting at ``first``, anchored like ``like``."""
    return pd.date_range(pd.Timestamp(first), periods=int(periods), freq=offset_of(freq, like))


def usual_gap(positions: np.ndarray) -> float:
    """95th percentile of the steps between consecutive observations (1 with fewer than 2)."""
    positions = np.asarray(positions, dtype=np.int64)
    if positions.size < 2:
        return 1.0
    return float(np.quantile(np.diff(positions), 0.95))


def stale_limit(gap: float, horizon: int, freq: str = "D") -> float:
    """Longest trailing silence (steps) that is still routine for a series with ``gap``."""
    return float(min(int(horizon), max(STALE_GAP_FACTOR * float(gap), STALE_MIN_STEPS.get(freq, 1))))


def is_stale(silence: int, gap: float, horizon: int, freq: str = "D") -> bool:
    """True when a trailing silence of ``silence`` open steps means a stale series."""
    return int(silence) > stale_limit(gap, horizon, freq)
