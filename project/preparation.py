"""Preparation of a user table as complete long-format series (calendar, missing days, stale series).

The training pipeline works on one convention (``unique_id``, ``ds``, ``y``;
see ``readme/ARCHITECTURE.md``). This module turns what users actually upload
(CSV exports with a local delimiter and encoding, GA4 reports that send dates
as ``YYYYMMDD`` and omit zero rows, Parquet files) into that convention and
says, per series, what it had to do on the way: how many duplicate rows were
summed, how many days were filled and how, which days look like outliers.

Row numbers in messages count data rows from 1 (the header line is not
counted), so "row 3" is the third data row of the file.

Missing-day policy ``auto`` (the default)
-----------------------------------------
An absent day means different things in different series. GA4 omits rows
whose metrics are zero and many shops close on some weekdays: there an absent
day *is* a zero. In a busy series that never comes near zero, an absent day is
an outage of the data feed, and reading it as zero sales would teach the model
a collapse that never happened. The rule, applied per series between its
first and last observation, in this order:

1. **Closed weekdays** (daily data): a weekday absent in at least half of the
   weeks the series spans, while the other weekdays are absent on less than
   25 % of their days (a shop closed on Sundays, a call centre open on
   weekdays).  Absent closed weekdays are zeros.  They are set aside before
   the next test, so a weekday-only business is not intermittent.
2. The series is **intermittent** -- every absent day is a zero -- if, on its
   open days, with observed values ``v``, any of:

   a. ``zero_share >= 0.10``: explicit zeros are a normal state;
   b. ``quantile(v, 0.05) <= max(1, 0.10 * median(v))``: the series regularly
      comes close to zero (low counts), so an omitted row is plausibly zero;
   c. ``missing_share >= 0.25``: absent days are routine, not an incident.

3. Otherwise the series is **busy**: each absent open day is interpolated
   linearly between the neighbouring observations and flagged
   ``interpolated`` (an outage), whatever the gap length.

``zero``, ``interpolate`` and ``nan`` apply one treatment to every series.

Where a calendar ends
---------------------
Each series may end on its own date.  Its trailing silence (open steps from
its last observation to the end of the input) is measured against the stale
rule of :mod:`project.calendars`.  A series that is not stale runs on to the
end of the input when its silence is routine -- zero-filled series (GA4
omits trailing zero rows) or a silence made only of closed weekdays -- and
otherwise ends at its own last observation.  A **stale** series follows the
``stale`` policy: ``own-end`` (default; the calendar ends at its own last
observation, the forecast starts the step after it, the series is flagged in
the report, the warnings and the policy metadata), ``zero`` (the silence is
zero demand up to the end of the input) or ``drop`` (left out, reported).
Nothing is ever filled for years after a series stopped unless asked.

Weekly and monthly data (``freq="W"`` / ``"M"``) use calendars of weeks on
one weekday and of month starts (or month ends); the closed-weekday rule is
daily only.

Outliers are flagged, never removed: a day is an outlier when
``|y - rolling_median| > 5 * max(1.4826 * rolling_MAD, 0.5 * series_scale)``
over a centred 29-day window, where ``series_scale`` is the series' own
robust scale (``1.4826 * MAD``, or its standard deviation when the MAD is 0).
"""

from __future__ import annotations

import datetime as _dt
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from .calendars import (
    DEFAULT_HORIZON,
    FREQUENCIES,
    STALE_GAP_FACTOR,
    STALE_MIN_STEPS,
    STALE_POLICIES,
    calendar,
    check_dates,
    infer_freq,
    is_stale,
    step_index,
    usual_gap,
)
from .datasets.parsing import parse_dates
from .errors import InputError

__all__ = [
    "MISSING_POLICIES",
    "PreparedData",
    "WEEKDAY_NAMES",
    "prepare",
    "prepare_future",
    "series_key",
]

logger = logging.getLogger(__name__)

MISSING_POLICIES = ("auto", "zero", "interpolate", "nan")
KEY_SEPARATOR = " | "
TOTAL_SERIES = "total"

# Thresholds of the ``auto`` rule (module docstring); part of the recorded policy.
AUTO_ZERO_SHARE = 0.10
AUTO_LOW_QUANTILE = 0.05
AUTO_LOW_FRACTION = 0.10
AUTO_LOW_ABSOLUTE = 1.0
AUTO_MISSING_SHARE = 0.25
AUTO_CLOSED_WEEKDAY_SHARE = 0.5
OUTLIER_WINDOW = 29
OUTLIER_THRESHOLD = 5.0

_MAX_EXAMPLES = 5


@dataclass(frozen=True)
class PreparedData:
    """Result of :func:`prepare`.

    Attributes
    ----------
    data:
        Long format ``unique_id, ds, y, filled, interpolated, outlier`` sorted by
        series then date, one row per calendar day. ``filled`` marks days absent
        from the input (whatever the treatment), ``interpolated`` the filled days
        whose value was interpolated, ``outlier`` observed days flagged by the
        rolling median/MAD rule.
    keys:
        ``unique_id`` plus the original series key columns, one row per series.
    report:
        One row per series: what was found and done (see :func:`prepare`).
    policy:
        JSON-serialisable description of the treatment, stored in the artifact's
        metadata.
    warnings:
        Human-readable notes (negative values, short series, all-zero series...).
    """

    data: pd.DataFrame
    keys: pd.DataFrame
    report: pd.DataFrame
    policy: dict[str, Any]
    warnings: list[str] = field(default_factory=list)
    freq: str = "D"


def series_key(frame: pd.DataFrame, series_cols: Sequence[str]) -> pd.Series:
    """The ``unique_id`` of each row: key values joined by ``" | "`` (``"total"`` without keys).

    Missing key values read ``"(missing)"``. Strings are built once per distinct
    key, not per row.
    """
    if not series_cols:
        return pd.Series(TOTAL_SERIES, index=frame.index, dtype=object)
    codes = []
    labels = []
    for col in series_cols:
        col_codes, uniques = pd.factorize(frame[col], use_na_sentinel=True)
        codes.append(col_codes)
        labels.append(np.array([str(u).strip() for u in uniques] + ["(missing)"], dtype=object))
    combo_codes, combos = pd.factorize(pd.MultiIndex.from_arrays(codes))
    names = np.array(
        [KEY_SEPARATOR.join(str(labels[i][c]) for i, c in enumerate(combo)) for combo in combos], dtype=object
    )
    return pd.Series(names[combo_codes], index=frame.index, dtype=object)


def prepare(
    df: pd.DataFrame,
    date_col: str,
    target_col: str,
    series_cols: Sequence[str] = (),
    missing: str = "auto",
    today: _dt.date | str | None = None,
    *,
    horizon: int | None = None,
    freq: str | None = None,
    stale: str = "own-end",
    end: _dt.date | str | pd.Timestamp | None = None,
    regressors: Sequence[str] = (),
) -> PreparedData:
    """Validate a user table and turn it into complete daily long-format series.

    Steps: check columns; parse dates (:func:`parse_dates`); coerce the target
    to numbers (decimal commas accepted); refuse future dates; sum duplicate
    ``(key, date)`` rows; reindex each series to a full daily calendar and fill
    absent days with the ``missing`` policy (module docstring); flag outliers.

    A series shorter than ``horizon`` days is *not* an error: it is reported
    (``short``) and the orchestrator falls back to a simple model.

    ``freq`` is ``"D"``, ``"W"`` or ``"M"`` (``None``: inferred from the
    dates, :func:`project.calendars.infer_freq`); ``stale`` is the policy for
    stale series (``own-end``, ``zero`` or ``drop``, see
    :mod:`project.calendars`); ``end`` is the last date the input covers
    (default: its last date), against which trailing silences are measured.
    ``regressors`` name numeric columns known in advance (promotions, prices,
    planned closures) carried into ``data``: duplicate rows are averaged and
    days without a value take the previous day's (the next one's at the
    start of a series).

    Raises :class:`InputError` with the rows, columns or values at fault.
    """
    if missing not in MISSING_POLICIES:
        raise InputError(
            f"missing-day policy {missing!r} is unknown; expected one of {', '.join(MISSING_POLICIES)}"
        )
    if stale not in STALE_POLICIES:
        raise InputError(f"stale policy {stale!r} is unknown; expected one of {', '.join(STALE_POLICIES)}")
    if freq is not None and freq not in FREQUENCIES:
        raise InputError(f"frequency {freq!r} is unknown; expected one of {', '.join(FREQUENCIES)}")
    series_cols = list(series_cols)
    _check_columns(df, date_col, target_col, series_cols)
    regressors = list(regressors)
    absent = [c for c in regressors if c not in df.columns]
    if absent:
        raise InputError(
            f"regressor column(s) {', '.join(map(repr, absent))} not found; available columns: "
            f"{', '.join(repr(str(c)) for c in df.columns)}"
        )
    clash = [c for c in regressors if c in (date_col, target_col, *series_cols)]
    if clash:
        raise InputError(f"column(s) {', '.join(map(repr, clash))} cannot be both a regressor and a key")
    if len(df) == 0:
        raise InputError("the input has no data rows")
    if len(df) == 1:
        raise InputError("the input has a single data row; a forecast needs at least two days of history")

    dates, date_format = parse_dates(df[date_col].reset_index(drop=True))
    target = _coerce_target(df[target_col].reset_index(drop=True), target_col)
    today_ts = pd.Timestamp(today if today is not None else _dt.date.today()).normalize()
    future = (dates > today_ts).to_numpy()
    if future.any():
        rows = np.flatnonzero(future)
        examples = ", ".join(f"row {i + 1} ({dates.iloc[i].date()})" for i in rows[:_MAX_EXAMPLES])
        raise InputError(
            f"{len(rows)} row(s) are dated after today ({today_ts.date()}): {examples}; "
            "history cannot contain future days (check the date format or the date column)"
        )

    long = pd.DataFrame(
        {
            "unique_id": series_key(df.reset_index(drop=True), series_cols).to_numpy(),
            "ds": dates.to_numpy(),
            "y": target.to_numpy(),
        }
    )
    for name in regressors:
        long[name] = _coerce_regressor(df[name].reset_index(drop=True), name).to_numpy()
    keys = _keys_frame(df.reset_index(drop=True), series_cols, long["unique_id"])
    warnings: list[str] = []

    rows_per_series = long.groupby("unique_id", sort=True).size()
    empty_targets = int(long["y"].isna().sum())
    if empty_targets:
        warnings.append(
            f"{empty_targets} row(s) have an empty {target_col!r}; those days are treated as missing"
        )
    summed = long.groupby(["unique_id", "ds"], sort=True)["y"].agg(["sum", "size", "count"])
    summed["y"] = summed["sum"].where(summed["count"] > 0)  # all-empty duplicates stay missing
    duplicates = (summed["size"] - 1).groupby(level="unique_id").sum()
    total_dups = int(duplicates.sum())
    if total_dups:
        warnings.append(f"{total_dups} duplicate (series, date) row(s) were summed")
    summed = summed.reset_index()[["unique_id", "ds", "y"]]
    summed = summed[summed["y"].notna()]
    if summed.empty:
        raise InputError(f"column {target_col!r} has no values in any row")
    global_end = summed["ds"].max()
    if end is not None:
        global_end = max(global_end, pd.Timestamp(end).normalize())

    uids = summed["unique_id"].to_numpy()
    all_ds = summed["ds"].to_numpy("datetime64[ns]")
    all_y = summed["y"].to_numpy(float)
    bounds = np.flatnonzero(np.r_[True, uids[1:] != uids[:-1], True])
    if freq is None:
        freq = infer_freq(all_ds[a:b] for a, b in zip(bounds[:-1], bounds[1:]))
    check_dates(summed["ds"], freq)
    limit_horizon = int(horizon) if horizon else DEFAULT_HORIZON[freq]
    pieces, reports, dropped_stale = [], [], []
    for start, stop in zip(bounds[:-1], bounds[1:]):
        uid = str(uids[start])
        piece, info = _complete_series(
            all_ds[start:stop],
            all_y[start:stop],
            missing,
            global_end,
            freq=freq,
            stale_policy=stale,
            horizon=limit_horizon,
        )
        if piece is None:
            dropped_stale.append((uid, str(pd.Timestamp(all_ds[stop - 1]).date()), info["silence"]))
            continue
        info = {
            "unique_id": uid,
            "rows": int(rows_per_series.get(uids[start], 0)),
            "duplicates_summed": int(duplicates.get(uids[start], 0)),
            **info,
        }
        pieces.append(piece)
        reports.append(info)
    # Series whose every target was empty have no observation at all.
    dropped = sorted(set(rows_per_series.index) - set(summed["unique_id"]))
    for uid in dropped:
        warnings.append(f"series {uid!r} has no target value in any row and was left out")
    unit = {"D": "day", "W": "week", "M": "month"}[freq]
    for uid, last, silence in dropped_stale:
        warnings.append(
            f"series {uid!r} is stale: nothing since {last} ({silence} {unit}(s) of silence before the "
            f"end of the input); left out (--stale drop)"
        )
    if not pieces:
        raise InputError(
            f"every series is stale (no data for longer than the horizon before {global_end.date()}) "
            "and the stale policy drops them; use --stale own-end to forecast them from their own end"
        )
    lengths = np.array([len(p["y"]) for p in pieces])
    data = pd.DataFrame(
        {
            "unique_id": np.repeat(np.array([r["unique_id"] for r in reports], dtype=object), lengths),
            "ds": np.concatenate([p["ds"] for p in pieces]),
            "y": np.concatenate([p["y"] for p in pieces]),
            "filled": np.concatenate([p["filled"] for p in pieces]),
            "interpolated": np.concatenate([p["interpolated"] for p in pieces]),
        }
    )
    data["outlier"] = _flag_outliers(data["y"].to_numpy(), ~data["filled"].to_numpy(), lengths)
    if regressors:
        data = _attach_regressors(data, long, regressors)
    outliers_per_series = np.add.reduceat(
        data["outlier"].to_numpy(np.int64), np.r_[0, np.cumsum(lengths)[:-1]]
    )
    for info, count in zip(reports, outliers_per_series):
        info["outliers"] = int(count)
    report = pd.DataFrame(reports)
    report["short"] = report["length"] < horizon if horizon else False
    report = report[
        [
            "unique_id",
            "rows",
            "duplicates_summed",
            "length",
            "first_date",
            "last_date",
            "last_observed",
            "days_filled",
            "days_zero_filled",
            "days_interpolated",
            "days_nan",
            "zero_share",
            "negatives",
            "outliers",
            "policy",
            "closed_weekdays",
            "silence",
            "usual_gap",
            "stale",
            "short",
        ]
    ]
    keys = keys[keys["unique_id"].isin(report["unique_id"])].reset_index(drop=True)

    last_input_day = str(global_end.date())
    if global_end == today_ts:
        warnings.append(
            f"the input includes today ({last_input_day}); a day still in progress is usually "
            "incomplete (GA4 also revises the last 72 hours), consider ending the data yesterday"
        )
    for row in report.itertuples(index=False):
        if row.stale:
            if stale == "zero":
                treatment = f"its {row.silence} silent {unit}(s) were read as zero demand (--stale zero)"
            else:
                treatment = f"its forecast starts the {unit} after its own end (--stale own-end)"
            warnings.append(
                f"series {row.unique_id!r} is stale: nothing since {row.last_observed}, {row.silence} "
                f"{unit}(s) before the end of the input ({last_input_day}), longer than its usual gaps "
                f"({row.usual_gap:g} {unit}(s)) allow; {treatment}"
            )
        elif row.last_date != last_input_day:
            warnings.append(
                f"series {row.unique_id!r} ends on {row.last_date}, before the last date of the input "
                f"({last_input_day}); its forecast starts the {unit} after its own end"
            )
        if row.negatives:
            warnings.append(f"series {row.unique_id!r} has {row.negatives} negative value(s) (kept as given)")
        if row.zero_share == 1.0:
            warnings.append(f"series {row.unique_id!r} is zero on every day; it will get a zero forecast")
        if row.short:
            warnings.append(
                f"series {row.unique_id!r} has {row.length} days, fewer than the horizon {horizon}; "
                "a simple fallback model will be used"
            )
        if row.days_interpolated:
            warnings.append(
                f"series {row.unique_id!r}: {row.days_interpolated} absent day(s) inside a busy "
                "stretch were read as a data outage and interpolated"
            )
    for message in warnings:
        logger.info(message)

    policy = {
        "missing": missing,
        "freq": freq,
        "stale": stale,
        "stale_series": sorted(report.loc[report["stale"], "unique_id"].tolist()),
        "dropped_stale": [uid for uid, _, _ in dropped_stale],
        "stale_rule": {
            "silence_longer_than": f"min(horizon, max({STALE_GAP_FACTOR:g} * usual_gap, "
            f"{STALE_MIN_STEPS[freq]}))",
            "usual_gap": "95th percentile of the steps between observations",
            "horizon": limit_horizon,
        },
        "date_format": date_format,
        "duplicates_summed": total_dups,
        "rows": int(len(df)),
        "series": int(len(report)),
        "resolved": {k: int(v) for k, v in report["policy"].value_counts().sort_index().items()},
        "auto_rule": {
            "zero_share_at_least": AUTO_ZERO_SHARE,
            "low_quantile": AUTO_LOW_QUANTILE,
            "low_quantile_at_most": f"max({AUTO_LOW_ABSOLUTE:g}, {AUTO_LOW_FRACTION:g} * median)",
            "missing_share_at_least": AUTO_MISSING_SHARE,
            "closed_weekday_missing_share": AUTO_CLOSED_WEEKDAY_SHARE,
        },
        "outliers": {
            "method": "rolling median/MAD",
            "window": OUTLIER_WINDOW,
            "threshold": OUTLIER_THRESHOLD,
        },
    }
    return PreparedData(data=data, keys=keys, report=report, policy=policy, warnings=warnings, freq=freq)


def prepare_future(
    future: pd.DataFrame, date_col: str, series_cols: Sequence[str], regressors: Sequence[str]
) -> pd.DataFrame:
    """The known-future values of ``regressors`` as a long frame ``unique_id, ds, <regressors>``.

    ``future`` has the training input's date and series columns; its dates
    may lie after today.  Raises :class:`InputError` naming absent columns or
    values that are not numbers.
    """
    if not isinstance(future, pd.DataFrame) or future.empty:
        raise InputError("the future frame of known-future regressors is empty")
    series_cols = list(series_cols)
    absent = [c for c in [date_col, *series_cols, *regressors] if c not in future.columns]
    if absent:
        raise InputError(
            f"the future frame lacks column(s) {', '.join(map(repr, absent))}; it needs the date, the "
            "series key columns and every known-future regressor"
        )
    frame = future.reset_index(drop=True)
    dates, _ = parse_dates(frame[date_col])
    out = pd.DataFrame({"unique_id": series_key(frame, series_cols).to_numpy(), "ds": dates.to_numpy()})
    for name in regressors:
        out[name] = _coerce_regressor(frame[name], name).to_numpy()
    return out


def _attach_regressors(data: pd.DataFrame, long: pd.DataFrame, regressors: list[str]) -> pd.DataFrame:
    """Regressor values on every calendar day: mean of duplicates, carried forward, then back."""
    values = long.groupby(["unique_id", "ds"], sort=True)[regressors].mean().reset_index()
    out = data.merge(values, on=["unique_id", "ds"], how="left", sort=False)
    out[regressors] = out.groupby("unique_id", sort=False)[regressors].transform(lambda c: c.ffill().bfill())
    empty = out[regressors].isna().any(axis=1)
    if empty.any():
        uid = out.loc[empty, "unique_id"].iloc[0]
        column = next(c for c in regressors if out.loc[empty, c].isna().any())
        raise InputError(f"regressor column {column!r} has no value for series {uid!r}")
    return out


def _check_columns(df: pd.DataFrame, date_col: str, target_col: str, series_cols: list[str]) -> None:
    if not isinstance(df, pd.DataFrame):
        raise InputError(f"expected a pandas DataFrame, got {type(df).__name__}")
    wanted = {"date": [date_col], "target": [target_col], "series": series_cols}
    missing = [f"{role} column {c!r}" for role, cols in wanted.items() for c in cols if c not in df.columns]
    if missing:
        available = ", ".join(repr(str(c)) for c in df.columns) or "none"
        raise InputError(f"{'; '.join(missing)} not found; available columns: {available}")
    used = [date_col, target_col, *series_cols]
    repeated = sorted({c for c in used if used.count(c) > 1})
    if repeated:
        raise InputError(
            f"column(s) {', '.join(map(repr, repeated))} given for more than one role (date, target, series)"
        )


# Numbers with separators, as spreadsheets export them. "EU": 1.234,5; "US": 1,234.5.
_RE_EU_NUMBER = r"^[-+]?(\d{1,3}(\.\d{3})+|\d+)(,\d+)?$"
_RE_US_NUMBER = r"^[-+]?(\d{1,3}(,\d{3})+|\d+)(\.\d+)?$"


def _coerce_regressor(values: pd.Series, name: str) -> pd.Series:
    """A known-future column as float64: yes/no flags (a promotion) read as 1/0, numbers as numbers.

    Flags come as booleans, or as objects when some are empty (Arrow booleans
    with nulls); a target is never a flag, a regressor often is.
    """
    if pd.api.types.is_bool_dtype(values):
        return values.astype(float)
    if values.dtype == object:
        given = values.dropna()
        if len(given) and given.map(lambda v: isinstance(v, (bool, np.bool_))).all():
            return values.map(lambda v: float(v) if isinstance(v, (bool, np.bool_)) else np.nan).astype(float)
    return _coerce_target(values, name)


def _coerce_target(values: pd.Series, target_col: str) -> pd.Series:
    """Numbers as float64; text numbers with thousands/decimal separators decided per column."""
    if pd.api.types.is_bool_dtype(values):
        raise InputError(f"target column {target_col!r} holds true/false values; expected numbers")
    if pd.api.types.is_numeric_dtype(values):
        out = values.astype(float)
    else:
        text = values.astype("string").str.strip().str.replace("\u00a0", "", regex=False)
        text = text.mask(text == "")
        out = pd.to_numeric(text, errors="coerce").astype(float)
        bad = out.isna() & text.notna()
        if bad.any():
            out = _separated_numbers(text, bad, target_col, out)
            bad = out.isna() & text.notna()
        if bad.any():
            rows = np.flatnonzero(bad.to_numpy())
            examples = ", ".join(f"row {i + 1} ({values.iloc[i]!r})" for i in rows[:_MAX_EXAMPLES])
            more = f" and {len(rows) - _MAX_EXAMPLES} more" if len(rows) > _MAX_EXAMPLES else ""
            raise InputError(
                f"target column {target_col!r} must be numeric; {len(rows)} value(s) are not: "
                f"{examples}{more}"
            )
    infinite = np.isinf(out.to_numpy(dtype=float, na_value=np.nan))
    if infinite.any():
        rows = np.flatnonzero(infinite)
        raise InputError(
            f"target column {target_col!r} has infinite values in rows "
            f"{', '.join(str(i + 1) for i in rows[:_MAX_EXAMPLES])}"
        )
    return out.astype("float64")


def _separated_numbers(text: pd.Series, bad: pd.Series, target_col: str, out: pd.Series) -> pd.Series:
    """Re-read a text column whose numbers carry separators (``1.234,5`` or ``1,234.5``).

    The convention is chosen for the whole column from the values that only
    one convention can read; ``"1,234"`` alone is ambiguous and refused rather
    than guessed. Values that failed for other reasons stay NaN (and are
    reported by the caller).
    """
    present = text.dropna()
    eu, us = present.str.match(_RE_EU_NUMBER), present.str.match(_RE_US_NUMBER)
    failing = bad[bad].index
    if not (eu | us)[failing].any():
        return out  # nothing separator-shaped: plain garbage, let the caller report it
    # Plain "12.5" is only US-readable; "12,5" or "1.234.567" only EU-readable.
    eu_only, us_only = bool((eu & ~us).any()), bool((us & ~eu).any())
    if eu_only and us_only:
        a, b = present[eu & ~us].iloc[0], present[us & ~eu].iloc[0]
        raise InputError(
            f"target column {target_col!r} mixes number formats ({a!r} reads as 1.234,5 style, "
            f"{b!r} as 1,234.5 style); export the numbers without thousands separators"
        )
    if not eu_only and not us_only:
        sample = present[eu & us & present.str.contains(",", regex=False)].iloc[0]
        raise InputError(
            f"target column {target_col!r} has numbers like {sample!r} that may use ',' as a decimal "
            "or as a thousands separator; export the numbers without thousands separators"
        )
    if eu_only:
        fixed = text.str.replace(".", "", regex=False).str.replace(",", ".", regex=False)
    else:
        fixed = text.str.replace(",", "", regex=False)
    return pd.to_numeric(fixed, errors="coerce").astype(float)


def _keys_frame(df: pd.DataFrame, series_cols: list[str], unique_id: pd.Series) -> pd.DataFrame:
    keys = pd.DataFrame({"unique_id": unique_id.to_numpy()})
    for col in series_cols:
        keys[col] = df[col].to_numpy()
    return keys.drop_duplicates("unique_id").sort_values("unique_id").reset_index(drop=True)


def _classify(observed: np.ndarray, span: int) -> bool:
    """True when the series is intermittent (absent day = zero) under the ``auto`` rule."""
    if observed.size == 0 or span <= 0:
        return True
    zero_share = float(np.mean(observed == 0))
    missing_share = 1.0 - observed.size / span
    low = float(np.quantile(observed, AUTO_LOW_QUANTILE))
    near_zero = low <= max(AUTO_LOW_ABSOLUTE, AUTO_LOW_FRACTION * float(np.median(observed)))
    return zero_share >= AUTO_ZERO_SHARE or near_zero or missing_share >= AUTO_MISSING_SHARE


WEEKDAY_NAMES = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")


def _closed_weekdays(weekdays: np.ndarray, present: np.ndarray) -> list[int]:
    """Weekdays absent in at least half of their weeks while the other weekdays are busy.

    "Busy" means absent on less than ``AUTO_MISSING_SHARE`` of their days:
    when every weekday is often absent the series is sparse, not closed on
    some days (its rows are missing because nothing sold).
    """
    closed = []
    for day in range(7):
        on_day = weekdays == day
        if on_day.sum() >= 2 and np.mean(~present[on_day]) >= AUTO_CLOSED_WEEKDAY_SHARE:
            closed.append(day)
    if not closed or len(closed) == 7:
        return []
    open_days = ~np.isin(weekdays, closed)
    if np.mean(~present[open_days]) >= AUTO_MISSING_SHARE:
        return []
    return closed


def _weekdays(calendar: np.ndarray) -> np.ndarray:
    return (calendar.astype("datetime64[D]").astype(np.int64) + 3) % 7  # 1970-01-01 was a Thursday


def _complete_series(
    ds: np.ndarray,
    y: np.ndarray,
    missing: str,
    global_end: pd.Timestamp,
    *,
    freq: str = "D",
    stale_policy: str = "own-end",
    horizon: int | None = None,
) -> tuple[dict[str, np.ndarray] | None, dict[str, Any]]:
    """Reindex one series (sorted unique ``ds``, finite ``y``) to its calendar and fill it.

    Order of the ``auto`` rule: closed weekdays first (on daily data), then the
    intermittent test on the open days only, so a weekday-only business is not
    intermittent.  Then the end of the calendar: the input's end when the
    trailing silence is routine (zero-filled series, or silence only on closed
    weekdays), the series' own end otherwise; a stale series (see
    :mod:`project.calendars`) follows ``stale_policy``.  Returns ``None``
    arrays when the policy drops the series.
    """
    first = pd.Timestamp(ds[0])
    index = step_index(ds, freq)
    pos = (index - index[0]).astype(np.int64)
    span = int(pos[-1]) + 1
    end_pos = int(step_index(np.array([np.datetime64(global_end, "ns")]), freq)[0] - index[0])
    end_pos = max(end_pos, span - 1)
    like = pd.DatetimeIndex(ds)
    full_calendar = calendar(first, end_pos + 1, freq, like).to_numpy("datetime64[ns]")
    present_full = np.zeros(end_pos + 1, dtype=bool)
    present_full[pos] = True
    closed: list[int] = []
    if missing == "auto" and freq == "D":
        closed = _closed_weekdays(_weekdays(full_calendar[:span]), present_full[:span])
    open_full = ~np.isin(_weekdays(full_calendar), closed) if closed else np.ones(end_pos + 1, dtype=bool)
    on_open = open_full[pos]
    intermittent = _classify(y[on_open], int(open_full[:span].sum()))
    zero_mode = missing == "zero" or (missing == "auto" and intermittent)

    silence = int(open_full[span:].sum())  # trailing silent steps, closed weekdays not counted
    gap = usual_gap(pos)
    limit_horizon = int(horizon) if horizon else DEFAULT_HORIZON.get(freq, 28)
    stale = is_stale(silence, gap, limit_horizon, freq)
    if stale and stale_policy == "drop":
        return None, {"silence": silence, "usual_gap": gap, "stale": True}
    if stale:
        extend = stale_policy == "zero"
    else:
        extend = zero_mode or (silence == 0 and bool(closed))
    length = end_pos + 1 if extend else span
    cal = full_calendar[:length]
    out = np.full(length, np.nan)
    out[pos] = y
    present = present_full[:length]
    filled = ~present
    zero_filled = np.zeros(length, dtype=bool)
    interpolated = np.zeros(length, dtype=bool)
    if zero_mode:
        zero_filled = filled
        label = "zero" if missing == "zero" else "auto:intermittent"
    elif missing == "nan":
        label = "nan"
    elif missing == "interpolate":
        interpolated = filled
        label = "interpolate"
    else:
        zero_filled = filled & ~open_full[:length]
        interpolated = filled & ~zero_filled
        label = "auto:busy"
    if extend and not zero_mode:
        # the trailing silence is read as zero demand (stale policy "zero" or closed days)
        tail = np.zeros(length, dtype=bool)
        tail[span:] = True
        zero_filled |= tail & filled
        interpolated &= ~tail
        if missing == "nan":
            out[span:] = 0.0
    if interpolated.any():
        # Anchor on observed days only (closed-weekday zeros are not outage evidence).
        where = np.flatnonzero(interpolated)
        out[where] = np.interp(where, pos, y)
    out[zero_filled] = 0.0
    finite = out[np.isfinite(out)]
    info = {
        "length": length,
        "first_date": str(first.date()),
        "last_date": str(pd.Timestamp(cal[-1]).date()),
        "last_observed": str(pd.Timestamp(ds[-1]).date()),
        "days_filled": int(filled.sum()),
        "days_zero_filled": int(zero_filled.sum()),
        "days_interpolated": int(interpolated.sum()),
        "days_nan": int(length - finite.size),
        "zero_share": float(np.mean(finite == 0)) if finite.size else float("nan"),
        "negatives": int((y < 0).sum()),
        "policy": label,
        "closed_weekdays": ",".join(WEEKDAY_NAMES[d] for d in closed),
        "silence": silence,
        "usual_gap": gap,
        "stale": bool(stale),
    }
    arrays = {"ds": cal, "y": out, "filled": filled, "interpolated": interpolated}
    return arrays, info


def _flag_outliers(y: np.ndarray, present: np.ndarray, lengths: np.ndarray) -> np.ndarray:
    """Rolling median/MAD outlier flags for all series at once.

    Series are laid end to end with ``OUTLIER_WINDOW // 2`` NaN days between
    them, so one centred rolling pass never mixes two series.
    """
    pad = OUTLIER_WINDOW // 2
    series_index = np.repeat(np.arange(len(lengths)), lengths)
    slot = np.arange(y.size) + pad * series_index
    padded = np.full(y.size + pad * len(lengths), np.nan)
    observed = np.where(present, y, np.nan)
    padded[slot] = observed
    rolling = pd.Series(padded).rolling(OUTLIER_WINDOW, center=True, min_periods=7)
    median = rolling.median().to_numpy()
    deviation = np.abs(padded - median)
    mad = pd.Series(deviation).rolling(OUTLIER_WINDOW, center=True, min_periods=7).median().to_numpy()
    local_scale = 1.4826 * mad[slot]
    # Floor: half the series' own robust scale, so a flat stretch (MAD 0) does not flag every wiggle.
    frame = pd.DataFrame({"s": series_index, "v": observed})
    series_median = frame.groupby("s")["v"].transform("median").to_numpy()
    frame["d"] = np.abs(observed - series_median)
    series_mad = 1.4826 * frame.groupby("s")["d"].transform("median").to_numpy()
    series_std = frame.groupby("s")["v"].transform("std", ddof=0).to_numpy()
    series_scale = np.where(series_mad > 0, series_mad, series_std)
    count = frame.groupby("s")["v"].transform("count").to_numpy()
    scale = np.fmax(local_scale, 0.5 * series_scale)
    with np.errstate(invalid="ignore"):
        flags = (deviation[slot] > OUTLIER_THRESHOLD * scale) & (scale > 0) & (count >= 7)
    return flags & present
