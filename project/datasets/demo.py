"""Two dataset versions of a demo forecast, cut from a daily table (the embedded sample)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pandas as pd

from ..errors import InputError

__all__ = ["DEMO_DATA", "demo_versions"]

#: The embedded sample: daily pageviews of 9 Wikipedia pages (see project/data/README.md).
DEMO_DATA = Path(__file__).resolve().parent.parent / "data" / "wikipedia_pageviews_daily.csv"


def demo_versions(
    frame: pd.DataFrame,
    *,
    date_col: str,
    today: dt.date,
    actual_days: int = 7,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Return ``(first, second)``: the versions a demo forecast is built from.

    The dates move by whole weeks (weekdays and so weekly seasonality are
    kept, values are untouched) so that the newest day is at most a week
    before ``today`` and never after yesterday: the demo's forecast then
    covers the coming days, and its predictions stay inside any retention
    window. ``first`` stops ``actual_days`` days before the newest day (what
    the demo model is trained on and forecasts from); ``second`` is the whole
    table, the version that brings the actuals of those days. Dates are
    written back as ``YYYY-MM-DD`` text.
    """
    if actual_days < 1:
        raise InputError(f"actual_days must be at least 1, not {actual_days}")
    if date_col not in frame.columns:
        raise InputError(f"column {date_col!r} not found; columns: {', '.join(map(str, frame.columns))}")
    dates = pd.to_datetime(frame[date_col], format="%Y-%m-%d", errors="coerce")
    if dates.isna().any():
        row = int(dates.isna().to_numpy().argmax())
        value = frame[date_col].iloc[row]
        raise InputError(f"row {row + 1}: {date_col!r} is not a YYYY-MM-DD date ({value!r})")
    last = dates.max()
    if (dates > last - pd.Timedelta(days=actual_days)).all():
        raise InputError(f"the table has no day older than the last {actual_days} days")
    yesterday = pd.Timestamp(today) - pd.Timedelta(days=1)
    shift = pd.Timedelta(days=7 * ((yesterday - last).days // 7))
    moved = dates + shift
    second = frame.copy()
    second[date_col] = moved.dt.strftime("%Y-%m-%d")
    cut = last + shift - pd.Timedelta(days=actual_days)
    first = second[(moved <= cut).to_numpy()]
    return first.reset_index(drop=True), second.reset_index(drop=True)
