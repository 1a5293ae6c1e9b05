"""Merge a freshly downloaded GA4 window into the data already stored.

GA4 keeps revising the last two or three days of a property's data, so every
scheduled download re-pulls a *lookback* of days it already has. The merge
rule is by day: every stored row whose date falls inside the re-downloaded
window is dropped and replaced by the window's rows (even when the window has
no row for that day any more: GA4 said so), and every older (or later) day is
kept as it was. Merging by day instead of by dimension key matters: a row that
vanished from GA4 (a city below the thresholding limit, say) must vanish from
the dataset too.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Sequence
from typing import Any

from ..errors import InputError

__all__ = ["merge_window"]

logger = logging.getLogger(__name__)


def merge_window(
    old_df: Any,
    new_df: Any,
    date_col: str = "date",
    keys: Sequence[str] | None = None,
    *,
    window_start: str | dt.date | None = None,
    window_end: str | dt.date | None = None,
    keep_from: str | dt.date | None = None,
) -> Any:
    """Return ``old_df`` with the days ``[window_start, window_end]`` replaced by ``new_df``.

    ``window_start``/``window_end`` are the dates that were downloaded (default:
    the first and last date of ``new_df``); give them explicitly so days the
    new download no longer has are dropped too. ``keys`` are the other
    dimension columns (default: the non-numeric columns besides ``date_col``);
    the result is sorted by date then keys. ``keep_from`` drops every day
    before it (a rolling window). ``old_df`` may be ``None`` (first download).

    The date column of the result has the representation of ``new_df``'s
    (``datetime.date`` objects from a GA4 Parquet file, or ``datetime64``).
    Raises :class:`InputError` when the frames have different columns, when a
    frame lacks ``date_col`` or has unparsable dates, or when ``new_df`` holds
    dates outside the window.
    """
    import pandas as pd

    if date_col not in new_df.columns:
        raise InputError(f"the new data has no {date_col!r} column; columns: {list(new_df.columns)}")
    new_dates = _as_datetime(new_df[date_col], "new data", date_col)
    start = _bound(window_start, new_dates.min() if len(new_df) else None, "window start")
    end = _bound(window_end, new_dates.max() if len(new_df) else None, "window end")
    if start is not None and end is not None and end < start:
        raise InputError(f"window end {end.date()} is before window start {start.date()}")
    outside = (new_dates < start) | (new_dates > end) if start is not None else new_dates.isna()
    if bool(outside.any()):
        bad = sorted({d.date().isoformat() for d in new_dates[outside].dropna()})[:5]
        raise InputError(
            f"the new data has {int(outside.sum())} row(s) dated outside the window "
            f"{start.date() if start is not None else '?'}..{end.date() if end is not None else '?'} "
            f"(e.g. {', '.join(bad)})"
        )

    frames = [new_df]
    if old_df is not None and len(old_df.columns):
        missing = [c for c in new_df.columns if c not in old_df.columns]
        extra = [c for c in old_df.columns if c not in new_df.columns]
        if missing or extra:
            raise InputError(
                "the stored data and the new download have different columns "
                f"(only in the new download: {missing or 'none'}; only in the stored data: "
                f"{extra or 'none'}); a changed report definition starts a new dataset"
            )
        old_dates = _as_datetime(old_df[date_col], "stored data", date_col)
        keep = ~((old_dates >= start) & (old_dates <= end)) if start is not None else old_dates.notna()
        kept = old_df.loc[keep.to_numpy(), list(new_df.columns)].copy()
        kept[date_col] = _like(old_dates[keep], new_df[date_col])
        for column in new_df.columns:  # int64 stays int64 when both sides agree
            if column != date_col and kept[column].dtype != new_df[column].dtype:
                try:
                    kept[column] = kept[column].astype(new_df[column].dtype)
                except (TypeError, ValueError):
                    raise InputError(
                        f"column {column!r} is {kept[column].dtype} in the stored data but "
                        f"{new_df[column].dtype} in the new download"
                    ) from None
        frames.insert(0, kept)
    merged = pd.concat(frames, ignore_index=True) if len(frames) > 1 else new_df.copy()
    if keep_from is not None:
        cut = _bound(keep_from, None, "keep from")
        merged = merged[(_as_datetime(merged[date_col], "merged data", date_col) >= cut).to_numpy()]
    if keys is None:
        keys = [c for c in merged.columns if c != date_col and not pd.api.types.is_numeric_dtype(merged[c])]
    order = [date_col, *[k for k in keys if k in merged.columns and k != date_col]]
    merged = merged.sort_values(order, kind="stable").reset_index(drop=True)
    logger.debug("merged window %s..%s: %d rows", start, end, len(merged))
    return merged


def _as_datetime(values: Any, label: str, date_col: str) -> Any:
    import pandas as pd

    parsed = pd.to_datetime(values, errors="coerce", format="ISO8601")
    bad = parsed.isna() & values.notna()
    if bool(bad.any()):
        first = values[bad].iloc[0]
        raise InputError(
            f"{label}: column {date_col!r} has {int(bad.sum())} unparsable date(s), "
            f"e.g. {first!r}; expected YYYY-MM-DD"
        )
    return parsed.dt.normalize()


def _bound(value: Any, default: Any, label: str) -> Any:
    import pandas as pd

    if value is None:
        return default
    try:
        return pd.Timestamp(value).normalize()
    except (TypeError, ValueError):
        raise InputError(f"{label} must be YYYY-MM-DD, got {value!r}") from None


def _like(dates: Any, template: Any) -> Any:
    """``dates`` (datetime64) in the representation of ``template``."""
    import pandas as pd

    if pd.api.types.is_datetime64_any_dtype(template):
        return dates.astype(template.dtype).to_numpy()
    sample = template.dropna()
    if len(sample) and isinstance(sample.iloc[0], str):
        return dates.dt.strftime("%Y-%m-%d").to_numpy()
    return dates.dt.date.to_numpy()
