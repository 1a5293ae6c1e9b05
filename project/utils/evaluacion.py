"""Forecast accuracy: metrics, rolling-origin backtests, horizon buckets, report.

Metrics are pure functions over arrays. Percentage metrics (MAPE, sMAPE,
wMAPE) are in percent, as the M4 competition reports them. MASE is scaled by
the in-sample seasonal-naive error: the mean absolute lag-``m`` difference of
the training data, with ``m = season_length`` (7 for daily data; 1 for M4
Weekly, where Naive2 equals Naive1).

:func:`cross_validation` backtests one series with explicit cutoffs and
:func:`evaluate` summarises a backtest per horizon bucket (``D+1``, ``D+7``,
``D+28`` and ``1-h`` overall), computing MASE per cutoff and then averaging
over cutoffs, the protocol of ``bench/accuracy.py``.
"""

from __future__ import annotations

import io
import logging
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from ..errors import InputError

__all__ = [
    "mae",
    "rmse",
    "mape",
    "smape",
    "wmape",
    "mase",
    "rmsse",
    "naive_mse",
    "bias",
    "coverage",
    "winkler",
    "pinball",
    "seasonal_scale",
    "owa",
    "default_buckets",
    "cross_validation",
    "evaluate",
    "error_by_horizon",
    "metrics_markdown",
    "render_report_png",
    "DEFAULT_METRICS",
]

logger = logging.getLogger(__name__)

DEFAULT_METRICS = ("mae", "rmse", "mape", "smape", "wmape", "mase", "bias", "coverage", "winkler", "pinball")


def _arrays(*values: Any) -> list[np.ndarray]:
    arrays = [np.asarray(v, dtype=float).ravel() for v in values]
    if len({a.size for a in arrays}) > 1:
        raise InputError(f"metric inputs differ in length: {[a.size for a in arrays]}")
    return arrays


# --------------------------------------------------------------------------- point metrics


def mae(y: Any, yhat: Any) -> float:
    """Mean absolute error."""
    y, yhat = _arrays(y, yhat)
    return float(np.mean(np.abs(y - yhat))) if y.size else float("nan")


def rmse(y: Any, yhat: Any) -> float:
    """Root mean squared error."""
    y, yhat = _arrays(y, yhat)
    return float(np.sqrt(np.mean((y - yhat) ** 2))) if y.size else float("nan")


def mape(y: Any, yhat: Any) -> float:
    """Mean absolute percentage error (%), over the non-zero actuals only.

    Days with a zero actual have no defined percentage error and are skipped;
    NaN when every actual is zero (use wMAPE or MASE for intermittent series).
    """
    y, yhat = _arrays(y, yhat)
    keep = y != 0
    if not keep.any():
        return float("nan")
    return float(100.0 * np.mean(np.abs((y[keep] - yhat[keep]) / y[keep])))


def smape(y: Any, yhat: Any) -> float:
    """Symmetric MAPE (%), M4 definition ``200 |y - f| / (|y| + |f|)``; 0 where both are 0."""
    y, yhat = _arrays(y, yhat)
    if not y.size:
        return float("nan")
    denom = np.abs(y) + np.abs(yhat)
    with np.errstate(invalid="ignore", divide="ignore"):
        terms = np.where(denom == 0, 0.0, 200.0 * np.abs(y - yhat) / denom)
    return float(np.mean(terms))


def wmape(y: Any, yhat: Any) -> float:
    """Weighted MAPE (%): ``sum |y - f| / sum |y|``; NaN when every actual is zero."""
    y, yhat = _arrays(y, yhat)
    total = np.sum(np.abs(y))
    return float(100.0 * np.sum(np.abs(y - yhat)) / total) if total > 0 else float("nan")


def seasonal_scale(y_train: Any, season_length: int = 7) -> float:
    """Mean absolute lag-``season_length`` difference of the training data (MASE scale).

    Falls back to lag 1 when the training data is shorter than one season plus
    one; NaN values are ignored; NaN when nothing is left.
    """
    y_train = np.asarray(y_train, dtype=float).ravel()
    m = season_length if y_train.size > season_length else 1
    if y_train.size <= m:
        return float("nan")
    diffs = np.abs(y_train[m:] - y_train[:-m])
    diffs = diffs[np.isfinite(diffs)]
    return float(np.mean(diffs)) if diffs.size else float("nan")


def mase(
    y: Any, yhat: Any, y_train: Any = None, season_length: int = 7, *, scale: float | None = None
) -> float:
    """Mean absolute scaled error: MAE divided by :func:`seasonal_scale` of ``y_train``.

    Pass ``scale`` directly when it is already known (backtests store it per
    cutoff). NaN when the scale is 0 or undefined (a constant training window).
    """
    if scale is None:
        if y_train is None:
            raise InputError("mase() needs y_train or scale")
        scale = seasonal_scale(y_train, season_length)
    if not np.isfinite(scale) or scale <= 0:
        return float("nan")
    return mae(y, yhat) / scale


def naive_mse(y_train: Any) -> float:
    """Mean squared one-step difference of the training data (the RMSSE scale); NaN values ignored."""
    y_train = np.asarray(y_train, dtype=float).ravel()
    if y_train.size < 2:
        return float("nan")
    diffs = np.diff(y_train)
    diffs = diffs[np.isfinite(diffs)]
    return float(np.mean(diffs**2)) if diffs.size else float("nan")


def rmsse(y: Any, yhat: Any, y_train: Any = None, *, scale: float | None = None) -> float:
    """Root mean squared scaled error (M5): ``sqrt(mean((y - f)^2) / naive_mse(y_train))``.

    Stays finite on intermittent series whose test window is all zeros (the
    scale comes from the training data, which has some demand), and rewards
    forecasts of the mean demand rate rather than of the median (zero), which
    is what stock decisions on slow products need. ``scale`` is the squared
    scale when already known. NaN when the scale is 0 or undefined.
    """
    if scale is None:
        if y_train is None:
            raise InputError("rmsse() needs y_train or scale")
        scale = naive_mse(y_train)
    if not np.isfinite(scale) or scale <= 0:
        return float("nan")
    y, yhat = _arrays(y, yhat)
    return float(np.sqrt(np.mean((y - yhat) ** 2) / scale)) if y.size else float("nan")


def bias(y: Any, yhat: Any) -> float:
    """Mean error ``f - y``: positive when the forecast is too high."""
    y, yhat = _arrays(y, yhat)
    return float(np.mean(yhat - y)) if y.size else float("nan")


# --------------------------------------------------------------------------- interval metrics


def coverage(y: Any, lo: Any, hi: Any) -> float:
    """Share (%) of actuals inside ``[lo, hi]``."""
    y, lo, hi = _arrays(y, lo, hi)
    return float(100.0 * np.mean((y >= lo) & (y <= hi))) if y.size else float("nan")


def winkler(y: Any, lo: Any, hi: Any, level: float) -> float:
    """Mean Winkler (interval) score of a central ``level``% interval; lower is better.

    Width plus ``2/alpha`` times the distance by which the actual falls outside.
    """
    y, lo, hi = _arrays(y, lo, hi)
    if not y.size:
        return float("nan")
    alpha = 1.0 - level / 100.0
    score = (hi - lo) + (2.0 / alpha) * (np.maximum(lo - y, 0.0) + np.maximum(y - hi, 0.0))
    return float(np.mean(score))


def pinball(y: Any, q: Any, quantile: float) -> float:
    """Mean pinball (quantile) loss of predictions ``q`` for quantile ``quantile`` in (0, 1)."""
    y, q = _arrays(y, q)
    if not y.size:
        return float("nan")
    diff = y - q
    return float(np.mean(np.maximum(quantile * diff, (quantile - 1.0) * diff)))


def owa(smape_value: float, mase_value: float, smape_naive2: float, mase_naive2: float) -> float:
    """Overall weighted average of the M4 competition: mean of sMAPE and MASE relative to Naive2."""
    return 0.5 * (smape_value / smape_naive2 + mase_value / mase_naive2)


# --------------------------------------------------------------------------- backtest


def cross_validation(
    y: Any,
    ds: Any,
    model_factory: Callable[[], Any],
    h: int,
    n_windows: int = 3,
    step: int | None = None,
    level: Sequence[int] = (80, 95),
    max_train: int | None = 1095,
    season_length: int = 7,
) -> pd.DataFrame:
    """Rolling-origin backtest of one series with explicit cutoffs.

    The last cutoff leaves exactly ``h`` days to forecast (training is
    ``y[:n - h]``); each earlier cutoff steps back ``step`` days (default
    ``h``). Each window trains a fresh ``model_factory()`` on at most
    ``max_train`` days before its cutoff and nothing after it.

    Returns one row per (cutoff, horizon) with ``cutoff`` (last training
    date), ``ds``, ``horizon`` (1..h), ``y``, ``mean``, ``lo-L``/``hi-L`` per
    level and ``scale`` (:func:`seasonal_scale` of that window's training data).
    Raises :class:`InputError` when the series is too short for the windows.
    """
    y = np.asarray(y, dtype=float).ravel()
    ds = pd.DatetimeIndex(ds)
    n = y.size
    if ds.size != n:
        raise InputError(f"y has {n} values but ds has {ds.size} dates")
    if h < 1 or n_windows < 1:
        raise InputError(f"horizon ({h}) and n_windows ({n_windows}) must be at least 1")
    step = h if step is None else int(step)
    if step < 1:
        raise InputError(f"step must be at least 1, got {step}")
    ends = [n - h - k * step for k in range(n_windows)][::-1]
    min_train = 2
    if ends[0] < min_train:
        raise InputError(
            f"series of {n} days is too short for {n_windows} backtest window(s) of {h} days "
            f"every {step} days: the first window would train on {max(ends[0], 0)} day(s), "
            f"at least {min_train} needed"
        )
    level = tuple(int(lv) for lv in level)
    frames = []
    for end in ends:
        start = 0 if not max_train else max(0, end - int(max_train))
        train_y, train_ds = y[start:end], ds[start:end]
        model = model_factory()
        model.fit(train_y, train_ds)
        pred = model.predict(h, level=level)
        expected = ["mean", *(f"{side}-{lv}" for lv in level for side in ("lo", "hi"))]
        absent = [c for c in expected if c not in pred.columns]
        if len(pred) != h or absent:
            # A broken model contract, not bad user data: a plain ValueError.
            raise ValueError(
                f"model {type(model).__name__} returned {len(pred)} row(s) for horizon {h}"
                + (f" without column(s) {', '.join(absent)}" if absent else "")
            )
        frame = pd.DataFrame(
            {
                "cutoff": ds[end - 1],
                "ds": ds[end : end + h],
                "horizon": np.arange(1, h + 1),
                "y": y[end : end + h],
                "mean": np.asarray(pred["mean"], dtype=float),
            }
        )
        for lv in level:
            for side in ("lo", "hi"):
                frame[f"{side}-{lv}"] = np.asarray(pred[f"{side}-{lv}"], dtype=float)
        frame["scale"] = seasonal_scale(train_y, season_length)
        frames.append(frame)
    return pd.concat(frames, ignore_index=True)


def default_buckets(h: int) -> dict[str, tuple[int, int]]:
    """``D+1``, ``D+7``, ``D+28`` (those within ``h``) and ``1-h`` overall."""
    buckets = {f"D+{d}": (d, d) for d in (1, 7, 28) if d <= h}
    buckets[f"1-{h}"] = (1, h)
    return buckets


def _levels(cv: pd.DataFrame) -> list[int]:
    return sorted(int(c[3:]) for c in cv.columns if c.startswith("lo-") and f"hi-{c[3:]}" in cv.columns)


def _per_cutoff(part: Mapping[str, np.ndarray], metric: Callable[..., float], scale: str) -> float:
    """``metric`` on each cutoff's rows with that cutoff's ``scale``, averaged over the finite ones."""
    if scale not in part:
        return float("nan")
    codes, cutoffs = pd.factorize(part["cutoff"], sort=True)
    values = []
    for code in range(len(cutoffs)):
        rows = codes == code
        values.append(metric(part["y"][rows], part["mean"][rows], scale=float(part[scale][rows][0])))
    finite = [v for v in values if np.isfinite(v)]
    return float(np.mean(finite)) if finite else float("nan")


def _bucket_metrics(
    part: Mapping[str, np.ndarray], metrics: Iterable[str], levels: list[int]
) -> dict[str, float]:
    """One bucket's metrics from its columns as arrays (the rows that have an actual)."""
    y, f = part["y"], part["mean"]
    row: dict[str, float] = {}
    for name in metrics:
        if name == "mase":
            row["mase"] = _per_cutoff(part, mase, "scale")
        elif name == "rmsse":
            row["rmsse"] = _per_cutoff(part, rmsse, "scale2")
        elif name in ("coverage", "winkler"):
            for lv in levels:
                lo, hi = part[f"lo-{lv}"], part[f"hi-{lv}"]
                row[f"{name}-{lv}"] = coverage(y, lo, hi) if name == "coverage" else winkler(y, lo, hi, lv)
        elif name == "pinball":
            losses = []
            for lv in levels:
                tail = (1 - lv / 100) / 2
                losses += [pinball(y, part[f"lo-{lv}"], tail), pinball(y, part[f"hi-{lv}"], 1 - tail)]
            row["pinball"] = float(np.mean(losses)) if losses else float("nan")
        elif name in _POINT_METRICS:
            row[name] = _POINT_METRICS[name](y, f)
        else:
            raise InputError(f"unknown metric {name!r}; known: {', '.join(DEFAULT_METRICS)}")
    return row


_POINT_METRICS: dict[str, Callable[[Any, Any], float]] = {
    "mae": mae,
    "rmse": rmse,
    "mape": mape,
    "smape": smape,
    "wmape": wmape,
    "bias": bias,
}


def evaluate(
    cv: pd.DataFrame,
    metrics: Sequence[str] = DEFAULT_METRICS,
    buckets: Mapping[str, tuple[int, int]] | None = None,
) -> pd.DataFrame:
    """Summarise a backtest per horizon bucket.

    One row per bucket (and per ``unique_id`` when ``cv`` has that column),
    one column per metric; interval metrics get one column per level
    (``coverage-80``, ``winkler-95``; ``pinball`` averages the lower and upper
    quantiles of every level). MASE is computed per cutoff with that cutoff's
    ``scale`` and averaged over cutoffs. Buckets beyond the backtest horizon are
    left out.
    """
    required = {"cutoff", "horizon", "y", "mean", "scale"}
    if not required <= set(cv.columns):
        raise InputError(f"backtest frame lacks column(s) {sorted(required - set(cv.columns))}")
    h = int(cv["horizon"].max())
    buckets = default_buckets(h) if buckets is None else dict(buckets)
    levels = _levels(cv)
    columns = ["cutoff", "y", "mean", "scale"]
    columns += [c for c in ("scale2",) if c in cv.columns]
    columns += [f"{side}-{lv}" for lv in levels for side in ("lo", "hi")]
    groups = cv.groupby("unique_id", sort=True) if "unique_id" in cv.columns else [(None, cv)]
    rows = []
    for uid, series in groups:
        # plain arrays: a bucket's rows are a mask, not a frame (selection scores every candidate)
        values = {c: series[c].to_numpy() if c == "cutoff" else series[c].to_numpy(float) for c in columns}
        horizon = series["horizon"].to_numpy()
        scored = np.isfinite(values["y"])  # rows without an actual are left out of every metric
        for label, (first, last) in buckets.items():
            if first > h:
                continue
            inside = scored & (horizon >= first) & (horizon <= last)
            row: dict[str, Any] = {} if uid is None else {"unique_id": uid}
            row["bucket"] = label
            row.update(_bucket_metrics({c: v[inside] for c, v in values.items()}, metrics, levels))
            rows.append(row)
    return pd.DataFrame(rows)


def error_by_horizon(cv: pd.DataFrame) -> pd.DataFrame:
    """MAE and scaled MAE (MAE / scale, averaged over cutoffs) per horizon step.

    Missing actuals (NaN) are left out of a step's means, as are cutoffs
    without a positive scale from its scaled one.
    """
    steps, codes = np.unique(cv["horizon"].to_numpy(), return_inverse=True)
    abs_error = np.abs(cv["y"].to_numpy(float) - cv["mean"].to_numpy(float))
    scale = cv["scale"].to_numpy(float)
    with np.errstate(invalid="ignore", divide="ignore"):
        scaled = abs_error / np.where(scale > 0, scale, np.nan)
    return pd.DataFrame(
        {
            "horizon": steps,
            "mae": _group_mean(codes, abs_error, steps.size),
            "mase": _group_mean(codes, scaled, steps.size),
        }
    )


def _group_mean(codes: np.ndarray, values: np.ndarray, groups: int) -> np.ndarray:
    """Mean of ``values`` per group code, NaN left out (NaN for a group without a value)."""
    kept = ~np.isnan(values)
    total = np.bincount(codes[kept], weights=values[kept], minlength=groups)
    count = np.bincount(codes[kept], minlength=groups)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(count > 0, total / np.maximum(count, 1), np.nan)


# --------------------------------------------------------------------------- report


def metrics_markdown(table: pd.DataFrame, digits: int = 3) -> str:
    """A metrics table as GitHub Markdown (no ``tabulate`` dependency)."""
    if table.empty:
        return "_no metrics_\n"
    cols = [str(c) for c in table.columns]

    def fmt(value: Any) -> str:
        if isinstance(value, (float, np.floating)):
            return "n/a" if not np.isfinite(value) else f"{value:.{digits}f}"
        return str(value).replace("|", "\\|")

    lines = ["| " + " | ".join(cols) + " |", "|" + "|".join("---" for _ in cols) + "|"]
    for row in table.itertuples(index=False):
        lines.append("| " + " | ".join(fmt(v) for v in row) + " |")
    return "\n".join(lines) + "\n"


def render_report_png(
    history: pd.DataFrame,
    forecast: pd.DataFrame,
    cv: pd.DataFrame | None = None,
    *,
    level: int = 80,
    title: str = "",
    history_days: int = 180,
) -> bytes:
    """Draw history, forecast with its ``level``% band and backtest error by horizon; return PNG bytes.

    ``history`` has ``ds, y``; ``forecast`` has ``ds, mean, lo-L, hi-L`` (or
    ``yhat, yhat_lower, yhat_upper``). matplotlib is imported here, on the Agg
    backend, so importing this module stays cheap and headless-safe.
    """
    import matplotlib

    matplotlib.use("Agg", force=False)
    from matplotlib.figure import Figure

    fc = forecast.rename(columns={"yhat": "mean", "yhat_lower": f"lo-{level}", "yhat_upper": f"hi-{level}"})
    hist = history.sort_values("ds").tail(history_days)
    fig = Figure(figsize=(10, 6.5 if cv is not None else 4), dpi=100)
    axes = fig.subplots(2 if cv is not None else 1, 1, squeeze=False)[:, 0]
    ax = axes[0]
    ax.plot(hist["ds"], hist["y"], color="#333333", linewidth=1, label="history")
    ax.plot(fc["ds"], fc["mean"], color="#1f77b4", linewidth=1.5, label="forecast")
    if f"lo-{level}" in fc and f"hi-{level}" in fc:
        ax.fill_between(
            fc["ds"],
            fc[f"lo-{level}"],
            fc[f"hi-{level}"],
            color="#1f77b4",
            alpha=0.25,
            label=f"{level}% interval",
        )
    ax.set_title(title or "Forecast")
    ax.legend(loc="upper left", fontsize=8)
    ax.grid(alpha=0.3)
    ax.tick_params(axis="x", labelrotation=30, labelsize=8)
    if cv is not None:
        err = error_by_horizon(cv)
        ax2 = axes[1]
        ax2.bar(err["horizon"], err["mae"], color="#ff7f0e")
        ax2.set_xlabel("horizon (days ahead)")
        ax2.set_ylabel("backtest MAE")
        ax2.set_title("Backtest error by horizon")
        ax2.grid(alpha=0.3, axis="y")
    fig.tight_layout()
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png")
    return buffer.getvalue()
