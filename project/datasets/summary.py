"""Dataset summary: per-column statistics, coverage and gaps per series, consistency alerts."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from typing import Any

import pandas as pd

__all__ = ["summarize", "series_table", "consistency_checks", "infer_roles", "planned_rows"]

MIN_TRAIN_DAYS = 56  # two horizons of 28 days: less cannot be backtested
MISSING_ALERT = 0.05


def infer_roles(
    df: pd.DataFrame, metadata: Mapping[str, Any] | None = None
) -> tuple[str, list[str], str | None]:
    """(date column, series key columns, target column) from metadata or canonical names."""
    metadata = metadata or {}
    date_col = metadata.get("date_column") or next(
        (c for c in ("date", "ds") if c in df.columns),
        next((c for c in df.columns if pd.api.types.is_datetime64_any_dtype(df[c])), None),
    )
    if date_col is None:
        from ..errors import InputError

        raise InputError(f"the dataset has no date column; its columns are {', '.join(map(str, df.columns))}")
    keys = [k for k in metadata.get("series_columns", []) if k in df.columns]
    if not metadata.get("series_columns"):
        from .templates import TEMPLATES

        tpl = TEMPLATES.get(metadata.get("template", "sales"), TEMPLATES["sales"])
        keys = tpl.key_fields(df.columns)
    target = next((c for c in ("sales", "y", "sessions", "revenue") if c in df.columns), None)
    return date_col, keys, target


def _series_ids(df: pd.DataFrame, keys: Sequence[str]) -> pd.Series:
    """Series names ``"A | x"``: joined once per distinct key combination, not per row
    (a row-wise join costs seconds per 100,000 rows)."""
    if not keys:
        return pd.Series("total", index=df.index)
    parts = df[list(keys)].astype("string").fillna("")
    if len(keys) == 1:
        return parts[keys[0]].astype(object)
    codes = parts.groupby(list(keys), sort=False).ngroup().to_numpy()
    names = parts.drop_duplicates().agg(" | ".join, axis=1).to_numpy(dtype=object)
    return pd.Series(names[codes], index=df.index)


def series_table(df: pd.DataFrame, date_col: str, keys: Sequence[str], target: str | None) -> pd.DataFrame:
    """One row per series: first/last date, rows, expected days, missing days, gaps, zeros."""
    if df.empty:
        return pd.DataFrame(
            columns=[
                "series",
                "first_date",
                "last_date",
                "rows",
                "days_expected",
                "days_missing",
                "gaps",
                "longest_gap_days",
                "zero_days",
                "coverage_pct",
            ]
        )
    d = pd.DataFrame(
        {
            "series": _series_ids(df, keys).to_numpy(),
            "day": pd.to_datetime(df[date_col]).dt.normalize().to_numpy(),
        }
    )
    if target:
        d["y"] = pd.to_numeric(df[target], errors="coerce").to_numpy()
    d = d.sort_values(["series", "day"], kind="stable")
    uniq = d.drop_duplicates(["series", "day"])
    step = uniq.groupby("series", sort=False)["day"].diff().dt.days
    gap = (step - 1).where(step > 1)
    uniq = uniq.assign(gap=gap)
    g = uniq.groupby("series", sort=True)
    out = pd.DataFrame(
        {
            "first_date": g["day"].min(),
            "last_date": g["day"].max(),
            "distinct_days": g["day"].size(),
            "gaps": g["gap"].count(),
            "longest_gap_days": g["gap"].max().fillna(0).astype(int),
        }
    )
    out["rows"] = d.groupby("series", sort=True).size()
    out["days_expected"] = (out["last_date"] - out["first_date"]).dt.days + 1
    out["days_missing"] = out["days_expected"] - out["distinct_days"]
    out["coverage_pct"] = (100 * out["distinct_days"] / out["days_expected"]).round(2)
    if target:
        out["zero_days"] = d.assign(z=d["y"].eq(0)).groupby("series", sort=True)["z"].sum().astype(int)
        out["mean"] = d.groupby("series", sort=True)["y"].mean().round(4)
    out = out.reset_index()
    cols = [
        "series",
        "first_date",
        "last_date",
        "rows",
        "days_expected",
        "days_missing",
        "gaps",
        "longest_gap_days",
        "coverage_pct",
    ] + (["zero_days", "mean"] if target else [])
    return out[cols]


def planned_rows(df: pd.DataFrame, date_col: str, keys: Sequence[str], target: str | None) -> pd.Series:
    """Rows that give the known-future values of the coming days (a promotion calendar).

    The target is empty and the row is dated after the last day of its series
    with a target value, as :func:`project.forecast_service.split_future`
    reads them: they are neither missing values nor history.
    """
    none = pd.Series(False, index=df.index)
    if not target or target not in df.columns or df.empty:
        return none
    values = df[target]
    empty = values.isna()
    if not pd.api.types.is_numeric_dtype(values):
        empty |= values.astype("string").str.strip().fillna("").eq("")
    if not empty.any():
        return none
    day = pd.to_datetime(df[date_col], errors="coerce").dt.normalize()
    last = day.where(~empty).groupby(_series_ids(df, keys)).transform("max")
    return empty & day.notna() & (last.isna() | (day > last))


def _column_stats(df: pd.DataFrame) -> list[dict]:
    rows = []
    n = len(df)
    for col in df.columns:
        s = df[col]
        info: dict[str, Any] = {
            "column": col,
            "dtype": str(s.dtype),
            "missing": int(s.isna().sum()),
            "missing_pct": round(100 * float(s.isna().mean()), 3) if n else 0.0,
            "unique": int(s.nunique(dropna=True)),
        }
        if pd.api.types.is_bool_dtype(s):
            info["true_pct"] = round(100 * float(s.mean()), 3) if n else None
        elif pd.api.types.is_numeric_dtype(s):
            desc = s.describe()
            info.update(
                {
                    k: (None if pd.isna(desc.get(k)) else round(float(desc[k]), 6))
                    for k in ("mean", "std", "min", "50%", "max")
                }
            )
            info["median"] = info.pop("50%")
            info["negative"] = int((s < 0).sum())
            info["zeros"] = int((s == 0).sum())
        elif pd.api.types.is_datetime64_any_dtype(s):
            info["min"] = None if s.dropna().empty else s.min().date().isoformat()
            info["max"] = None if s.dropna().empty else s.max().date().isoformat()
        else:
            top = s.value_counts().head(1)
            info["top"] = None if top.empty else str(top.index[0])
            info["top_count"] = None if top.empty else int(top.iloc[0])
        rows.append(info)
    return rows


def consistency_checks(
    df: pd.DataFrame,
    series: pd.DataFrame,
    date_col: str,
    keys: Sequence[str],
    target: str | None,
    today: dt.date | None = None,
) -> list[dict]:
    """Named checks with status ok/warning/error and a detail naming the rows or series."""
    today = today or dt.date.today()
    checks: list[dict] = []

    def add(check: str, bad: int, detail: str, level: str = "warning") -> None:
        checks.append(
            {
                "check": check,
                "status": "ok" if bad == 0 else level,
                "count": int(bad),
                "detail": detail if bad else "",
            }
        )

    dup = df.duplicated([*keys, date_col]).sum() if len(df) else 0
    add("duplicate keys and date", dup, f"{dup} rows repeat ({', '.join([*keys, date_col])})", "error")
    if target:
        neg = int((df[target] < 0).sum())
        add(f"negative {target}", neg, f"{neg} rows with {target} < 0", "error")
        miss = int(df[target].isna().sum())
        add(f"missing {target}", miss, f"{miss} rows without {target}", "error")
    future = int((pd.to_datetime(df[date_col]) > pd.Timestamp(today)).sum()) if len(df) else 0
    add("dates in the future", future, f"{future} rows after {today.isoformat()}", "error")
    high_missing = [c for c in df.columns if len(df) and df[c].isna().mean() > MISSING_ALERT]
    add("columns over 5% missing", len(high_missing), ", ".join(high_missing))
    gappy = series[series["days_missing"] > 0] if len(series) else series
    add(
        "series with missing days",
        len(gappy),
        f"{len(gappy)} series miss days, e.g. " + ", ".join(gappy["series"].astype(str).head(3)),
    )
    short = series[series["days_expected"] < MIN_TRAIN_DAYS] if len(series) else series
    add(
        f"series shorter than {MIN_TRAIN_DAYS} days",
        len(short),
        f"{len(short)} series too short to backtest, e.g. " + ", ".join(short["series"].astype(str).head(3)),
    )
    if len(series):
        end = series["last_date"].max()
        stale = series[series["last_date"] < end - pd.Timedelta(days=28)]
        add(
            "series ending 28+ days before the others",
            len(stale),
            f"{len(stale)} series stop early, e.g. " + ", ".join(stale["series"].astype(str).head(3)),
        )
    if target and len(series) and "mean" in series:
        flat = df.groupby(_series_ids(df, keys).to_numpy())[target].nunique()
        flat = int((flat <= 1).sum())
        add("constant series", flat, f"{flat} series never change value")
    return checks


def summarize(
    df: pd.DataFrame, metadata: Mapping[str, Any] | None = None, today: dt.date | None = None
) -> dict:
    """Summary dict (JSON-serialisable): rows, columns, date coverage, series, checks, alerts.

    Planned rows (:func:`planned_rows`: the known-future values of the coming
    days) are counted apart: the coverage, the series and the checks describe
    the history, where an empty target or a date after today is a problem.
    """
    date_col, keys, target = infer_roles(df, metadata)
    planned = planned_rows(df, date_col, keys, target)
    full, df = df, df[~planned]
    series = series_table(df, date_col, keys, target)
    checks = consistency_checks(df, series, date_col, keys, target, today)
    dates = pd.to_datetime(df[date_col]) if len(df) else pd.Series(dtype="datetime64[ns]")
    span = int((dates.max() - dates.min()).days + 1) if len(df) else 0
    ser = series.copy()
    for c in ("first_date", "last_date"):
        ser[c] = ser[c].dt.date.astype(str) if len(ser) else ser[c]
    return {
        "name": (metadata or {}).get("name"),
        "version": (metadata or {}).get("version"),
        "rows": int(len(full)),
        "date_column": date_col,
        "series_columns": keys,
        "target": target,
        "date_min": dates.min().date().isoformat() if len(df) else None,
        "date_max": dates.max().date().isoformat() if len(df) else None,
        "days_spanned": span,
        "series_count": int(len(series)),
        "planned_rows": int(planned.sum()),
        "planned_until": (
            pd.to_datetime(full.loc[planned, date_col]).max().date().isoformat() if planned.any() else None
        ),
        "missing_pct": {
            c: round(100 * float(df[c].isna().mean()), 3) if len(df) else 0.0 for c in df.columns
        },
        "columns": _column_stats(df),
        "series": ser.to_dict(orient="records"),
        "checks": checks,
        "alerts": [
            f"{c['status'].upper()}: {c['check']}: {c['detail']}" for c in checks if c["status"] != "ok"
        ],
    }
