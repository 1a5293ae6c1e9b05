"""Live monitoring of stored forecasts: drift, anomalies, live accuracy, alert thresholds.

Once a model's forecasts are stored and the actuals arrive, three questions
matter to the people who rely on them: has the data moved away from what the
model was trained on (:func:`psi`, :func:`ks_statistic`, and per exogenous
column :func:`column_drift`), is a given day out of
the ordinary (:func:`anomaly_scores`, grouped into :func:`anomaly_runs` so one
incident raises one alert), and how right have the forecasts turned out
(:func:`live_accuracy`, which reuses the backtest metrics and horizon buckets
of :mod:`.utils.evaluacion` so live and backtest figures are comparable).
The ``crossed_*`` functions turn those figures into the list of thresholds
crossed; deciding whom to warn, and not warning twice, is the caller's job.

Everything here is a pure function over arrays or DataFrames: no I/O, no state.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from .errors import InputError
from .utils.evaluacion import evaluate

__all__ = [
    "LIVE_BUCKETS",
    "psi",
    "ks_statistic",
    "exogenous_columns",
    "column_drift",
    "anomaly_scores",
    "anomaly_runs",
    "live_accuracy",
    "crossed_drift_thresholds",
    "crossed_accuracy_thresholds",
]

#: Horizon buckets of live accuracy, the same labels as the backtest report.
LIVE_BUCKETS: dict[str, tuple[int, int]] = {"D+1": (1, 1), "D+7": (7, 7), "D+28": (28, 28), "1-28": (1, 28)}

#: Smallest share given to an empty PSI bin: ``log(0)`` would make one empty bin
#: dominate the index (infinite PSI), so both distributions are floored here.
PSI_EPSILON = 1e-4


def _finite(values: Any) -> np.ndarray:
    array = np.asarray(values, dtype=float).ravel()
    return array[np.isfinite(array)]


# --------------------------------------------------------------------------- drift


def psi(reference: Any, recent: Any, bins: int = 10) -> float:
    """Population Stability Index of ``recent`` against ``reference``.

    Bins are the ``bins`` quantiles of the reference, so each holds about the
    same share of the training data and the index reacts to a shift wherever
    the mass is, not only in the tails. Repeated quantiles (many zeros in
    sparse retail series, a constant series) are merged, so ties never make an
    empty bin; values beyond the reference's range fall in the first or last
    bin. Shares are floored at :data:`PSI_EPSILON` so an empty bin gives a
    large but finite index. NaN values are ignored; NaN when either side is
    empty. Usual reading: < 0.1 stable, 0.1-0.25 moderate, > 0.25 large shift.
    """
    if bins < 1:
        raise InputError(f"bins must be at least 1, got {bins}")
    ref, new = _finite(reference), _finite(recent)
    if not ref.size or not new.size:
        return float("nan")
    # Inner edges only: the outer bins are open so every value lands somewhere.
    inner = np.unique(np.quantile(ref, np.linspace(0.0, 1.0, bins + 1)[1:-1]))
    if inner.size == 0 or (inner.size == 1 and np.all(ref == inner[0])):
        # Constant reference: one bin below, at and above the value.
        value = float(ref[0])
        ref_idx = np.ones(ref.size, dtype=int)
        new_idx = np.where(new < value, 0, np.where(new > value, 2, 1))
        nbins = 3
    else:
        ref_idx = np.searchsorted(inner, ref, side="right")
        new_idx = np.searchsorted(inner, new, side="right")
        nbins = inner.size + 1
    expected = np.bincount(ref_idx, minlength=nbins) / ref.size
    actual = np.bincount(new_idx, minlength=nbins) / new.size
    expected = np.maximum(expected, PSI_EPSILON)
    actual = np.maximum(actual, PSI_EPSILON)
    return float(np.sum((actual - expected) * np.log(actual / expected)))


def ks_statistic(reference: Any, recent: Any) -> tuple[float, float]:
    """Two-sample Kolmogorov-Smirnov statistic and p-value (scipy's ``ks_2samp``).

    Complements :func:`psi`: it needs no binning and its p-value says whether
    a difference this large could be chance for samples of these sizes. NaN
    values are ignored; ``(nan, nan)`` when either side is empty.
    """
    ref, new = _finite(reference), _finite(recent)
    if not ref.size or not new.size:
        return float("nan"), float("nan")
    result = stats.ks_2samp(ref, new)
    return float(result.statistic), float(result.pvalue)


def exogenous_columns(frame: pd.DataFrame, exclude: Sequence[str] = ()) -> list[str]:
    """Numeric columns of ``frame`` other than ``exclude`` (the date, target
    and series columns): the exogenous variables whose drift is worth
    watching (prices, promotions, temperature). Booleans count as numeric
    (a promotion flag's share can drift); text and date columns do not. In
    the frame's column order."""
    excluded = set(exclude)
    return [
        str(name)
        for name in frame.columns
        if name not in excluded
        and (pd.api.types.is_numeric_dtype(frame[name]) or pd.api.types.is_bool_dtype(frame[name]))
    ]


def column_drift(
    reference: pd.DataFrame, recent: pd.DataFrame, columns: Sequence[str], bins: int = 10
) -> pd.DataFrame:
    """PSI and Kolmogorov-Smirnov of each of ``columns``, ``recent`` rows
    against ``reference`` rows (the training window), as for the target.

    Returns one row per column, in the given order, with ``column``, ``psi``,
    ``ks``, ``pvalue``, ``n_reference`` and ``n_recent`` (finite values
    compared). A column absent from either frame, or without finite values on
    one side, gets NaN figures, which cross no threshold (see
    :func:`crossed_drift_thresholds`)."""
    rows = []
    for column in columns:
        if column in reference.columns and column in recent.columns:
            ref = _finite(pd.to_numeric(reference[column], errors="coerce").astype(float))
            new = _finite(pd.to_numeric(recent[column], errors="coerce").astype(float))
        else:
            ref = new = np.array([], dtype=float)
        ks, pvalue = ks_statistic(ref, new)
        rows.append(
            {
                "column": str(column),
                "psi": psi(ref, new, bins=bins),
                "ks": ks,
                "pvalue": pvalue,
                "n_reference": int(ref.size),
                "n_recent": int(new.size),
            }
        )
    frame = pd.DataFrame(rows, columns=["column", "psi", "ks", "pvalue", "n_reference", "n_recent"])
    return frame.astype({"psi": float, "ks": float, "pvalue": float, "n_reference": int, "n_recent": int})


# --------------------------------------------------------------------------- anomalies


def anomaly_scores(
    actual: Any,
    yhat: Any,
    lo95: Any,
    hi95: Any,
    scale: Any,
    threshold: float = 4.0,
) -> tuple[np.ndarray, np.ndarray]:
    """Flag and score actuals against their forecast; return ``(is_anomaly, score)``.

    ``score = |actual - yhat| / scale`` where ``scale`` is the series' in-sample
    error scale (the MASE scale, a mean absolute error): it says how many
    "typical errors" the day is away from its forecast, comparable across
    series of any size. A day is an anomaly when its actual lies outside the
    95% band, or when its score exceeds ``threshold``: the band misses nothing
    when intervals are well calibrated, the score still catches a day far off
    when the band is too wide (a volatile training window). ``scale`` may be
    one number or one per row; where it is not positive the score is NaN and
    only the band decides. A missing actual (NaN) is never an anomaly, and its
    score is NaN.
    """
    y = np.asarray(actual, dtype=float).ravel()
    n = y.size
    f, lo, hi = (np.asarray(v, dtype=float).ravel() for v in (yhat, lo95, hi95))
    s = np.asarray(scale, dtype=float).ravel()
    if s.size == 1:
        s = np.full(n, s[0])
    if not (f.size == lo.size == hi.size == s.size == n):
        raise InputError(
            f"anomaly inputs differ in length: actual {n}, yhat {f.size}, lo95 {lo.size}, "
            f"hi95 {hi.size}, scale {s.size}"
        )
    known = np.isfinite(y) & np.isfinite(f)
    with np.errstate(invalid="ignore", divide="ignore"):
        score = np.where(known & np.isfinite(s) & (s > 0), np.abs(y - f) / s, np.nan)
    outside = known & (((y < lo) & np.isfinite(lo)) | ((y > hi) & np.isfinite(hi)))
    flags = outside | (np.nan_to_num(score, nan=0.0) > threshold)
    return flags & known, score


def anomaly_runs(dates: Any, flags: Any, scores: Any = None, max_gap_days: int = 1) -> pd.DataFrame:
    """Group the anomalous days of one series into runs of consecutive days.

    A series that stays off for a week is one incident: the caller raises one
    activity per run (keyed by its start) instead of one per day. Days are
    consecutive when at most ``max_gap_days`` apart (1: strictly consecutive
    calendar days; a larger gap tolerates a missing actual inside a run).
    Dates need not be sorted; duplicates count once. Returns one row per run,
    in date order, with ``start``, ``end``, ``days`` (anomalous days in the run)
    and ``max_score`` (NaN without ``scores``).
    """
    if max_gap_days < 1:
        raise InputError(f"max_gap_days must be at least 1, got {max_gap_days}")
    ds = pd.to_datetime(pd.Series(np.asarray(dates).ravel()))
    flag = np.asarray(flags, dtype=bool).ravel()
    score = np.full(flag.size, np.nan) if scores is None else np.asarray(scores, dtype=float).ravel()
    if not (ds.size == flag.size == score.size):
        raise InputError(f"dates ({ds.size}), flags ({flag.size}) and scores ({score.size}) differ in length")
    columns = ["start", "end", "days", "max_score"]
    frame = pd.DataFrame({"ds": ds.dt.normalize(), "score": score})[flag]
    if frame.empty:
        return pd.DataFrame(columns=columns).astype({"days": int, "max_score": float})
    frame = frame.groupby("ds", sort=True)["score"].max().reset_index()
    gaps = frame["ds"].diff().dt.days
    frame["run"] = (gaps.isna() | (gaps > max_gap_days)).cumsum()
    runs = frame.groupby("run", sort=True).agg(
        start=("ds", "min"), end=("ds", "max"), days=("ds", "size"), max_score=("score", "max")
    )
    return runs.reset_index(drop=True)[columns]


# --------------------------------------------------------------------------- live accuracy

LIVE_COLUMNS = ("unique_id", "horizon", "y", "yhat", "lo-80", "hi-80", "lo-95", "hi-95", "scale")


def live_accuracy(
    frame: pd.DataFrame,
    per_series: bool = False,
    buckets: Mapping[str, tuple[int, int]] | None = None,
) -> pd.DataFrame:
    """Accuracy of stored forecasts whose actuals are known, per horizon bucket.

    ``frame`` holds one row per stored prediction: ``unique_id``, ``horizon``,
    ``y`` (the actual; NaN while unknown, those rows are ignored), ``yhat``, the
    80% and 95% bounds and ``scale`` (the series' MASE scale at training). The
    metrics are those of the backtest report (:func:`.utils.evaluacion.evaluate`)
    so live and backtest figures read the same: ``mae``, ``mase``, ``wmape``
    (%), ``bias`` (forecast minus actual), ``coverage-80`` and ``coverage-95``
    (%), plus ``n``, the number of actuals scored. MASE is averaged over series
    (each series' MAE over its own scale), so large series do not drown small
    ones; wMAPE and MAE pool all rows. One row per bucket (``D+1``, ``D+7``,
    ``D+28``, ``1-28`` by default), and per ``unique_id`` when ``per_series``.
    Buckets with no known actual get ``n = 0`` and NaN metrics.
    """
    absent = [c for c in LIVE_COLUMNS if c not in frame.columns]
    if absent:
        raise InputError(f"live accuracy frame lacks column(s) {', '.join(absent)}")
    buckets = dict(LIVE_BUCKETS if buckets is None else buckets)
    metric_columns = ["mae", "mase", "wmape", "bias", "coverage-80", "coverage-95"]
    keys = ["unique_id", "bucket"] if per_series else ["bucket"]
    known = frame[np.isfinite(frame["y"].to_numpy(float))]
    if known.empty:
        return pd.DataFrame(columns=[*keys, *metric_columns, "n"])
    cv = known.rename(columns={"yhat": "mean"})
    # evaluate() averages MASE over "cutoff" groups, each with its own scale:
    # one group per series (and per scale, should a series carry two).
    cv = cv.assign(cutoff=cv.groupby(["unique_id", "scale"], sort=False, dropna=False).ngroup())
    cv = cv.assign(horizon=cv["horizon"].astype(int))
    if not per_series:
        cv = cv.drop(columns="unique_id")
    table = evaluate(cv, metrics=("mae", "mase", "wmape", "bias", "coverage"), buckets=buckets)
    counts = []
    groups = cv.groupby("unique_id", sort=True) if per_series else [(None, cv)]
    for uid, part in groups:
        for label, (first, last) in buckets.items():
            n = int(((part["horizon"] >= first) & (part["horizon"] <= last)).sum())
            counts.append({**({} if uid is None else {"unique_id": uid}), "bucket": label, "n": n})
    # evaluate() leaves out buckets beyond the largest horizon seen: kept here, empty.
    result = pd.DataFrame(counts).merge(table, on=keys, how="left")
    for column in metric_columns:
        if column not in result.columns:
            result[column] = np.nan
    return result[[*keys, *metric_columns, "n"]].reset_index(drop=True)


# --------------------------------------------------------------------------- thresholds


def _above(value: float | None, limit: float | None) -> bool:
    return limit is not None and value is not None and bool(np.isfinite(value)) and value > limit


def crossed_drift_thresholds(
    psi_value: float | None,
    ks_pvalue: float | None,
    *,
    psi_max: float | None = 0.25,
    ks_pvalue_min: float | None = 0.01,
) -> list[str]:
    """Names of the drift thresholds crossed: ``"psi"`` and/or ``"ks"``.

    PSI above ``psi_max`` (0.25: a large shift by the usual reading), or a KS
    p-value below ``ks_pvalue_min``. A threshold of ``None`` is disabled; an
    unknown figure (NaN, None) crosses nothing, because an alert must rest on
    evidence, not on missing data.
    """
    crossed = []
    if _above(psi_value, psi_max):
        crossed.append("psi")
    if (
        ks_pvalue_min is not None
        and ks_pvalue is not None
        and np.isfinite(ks_pvalue)
        and ks_pvalue < ks_pvalue_min
    ):
        crossed.append("ks")
    return crossed


def crossed_accuracy_thresholds(
    metrics: Mapping[str, float | None],
    *,
    mase_max: float | None = None,
    wmape_max: float | None = None,
    min_actuals: int = 1,
    names: Sequence[str] = ("mase", "wmape"),
) -> list[str]:
    """Names of the accuracy thresholds crossed: ``"mase"`` and/or ``"wmape"``.

    ``metrics`` is one row of :func:`live_accuracy` (a dict or a Series).
    Nothing is crossed with fewer than ``min_actuals`` scored actuals (``n``,
    when present): a single bad day should not raise an accuracy alert. A
    threshold of ``None`` is disabled; NaN figures cross nothing.
    """
    count = metrics.get("n")
    if count is not None and np.isfinite(count) and count < min_actuals:
        return []
    limits = {"mase": mase_max, "wmape": wmape_max}
    return [name for name in names if _above(metrics.get(name), limits.get(name))]
