"""Two dataset versions of a demo forecast, cut from a daily table (the embedded sample)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pandas as pd

from ..errors import InputError

__all__ = ["DEMO_DATA", "demo_actuals", "demo_versions"]

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


def demo_actuals(
    second: pd.DataFrame,
    forecast: pd.DataFrame,
    *,
    date_col: str,
    target_col: str,
    key_cols: list[str] | tuple[str, ...] = (),
) -> tuple[pd.DataFrame, tuple[str, str] | None]:
    """Return ``(second, anomaly)``: ``second`` whose forecast days show exactly one anomaly.

    ``forecast`` holds the stored forecast of the days ``second`` brings
    (columns ``series_key``, ``date`` as ``YYYY-MM-DD``, ``yhat``, ``lo-80``,
    ``hi-80``, ``hi-95``, ``scale``). A demo should show what an anomaly looks
    like, once: the real value of every forecast day is kept where it lies in
    the 80% band and within three typical errors (``scale``) of the forecast,
    and moved to the nearest such value where it does not; then one day -- the
    middle day of the series with the largest forecast -- gets a spike well
    above its 95% band. ``anomaly`` is that ``(series_key, date)`` (``None``
    without any forecast day). Other days, and other columns, are untouched.
    """
    out = second.copy()
    if forecast.empty:
        return out, None
    if key_cols:
        keys = out[list(key_cols)].astype(str).agg(" | ".join, axis=1)
    else:
        keys = pd.Series("total", index=out.index)
    merged = pd.DataFrame({"series_key": keys, "date": out[date_col].astype(str), "row": out.index}).merge(
        forecast, on=["series_key", "date"], how="inner"
    )
    if merged.empty:
        return out, None
    scale = merged["scale"].where(merged["scale"] > 0)
    low = pd.concat([merged["lo-80"], merged["yhat"] - 3 * scale], axis=1).max(axis=1).clip(lower=0)
    high = pd.concat([merged["hi-80"], merged["yhat"] + 3 * scale], axis=1).min(axis=1)
    high = high.where(high >= low, low)
    actual = out.loc[merged["row"], target_col].astype(float).to_numpy()
    merged["actual"] = pd.Series(actual, index=merged.index).clip(lower=low, upper=high)
    totals = merged.groupby("series_key")["yhat"].sum()
    top = str(totals.idxmax())
    days = sorted(merged.loc[merged["series_key"] == top, "date"])
    day = days[len(days) // 2]
    spike = merged.index[(merged["series_key"] == top) & (merged["date"] == day)][0]
    typical = scale.loc[spike] if pd.notna(scale.loc[spike]) else abs(merged.at[spike, "yhat"]) * 0.1 + 1
    merged.loc[spike, "actual"] = max(merged.at[spike, "hi-95"], merged.at[spike, "yhat"]) + 6 * typical
    values = merged["actual"]
    if out[target_col].dtype.kind in "iu":
        values = values.round().astype(out[target_col].dtype)
    out.loc[merged["row"].to_numpy(), target_col] = values.to_numpy()
    return out, (top, day)
