"""Incremental training: cheap update of a trained artifact with new days.

:func:`update_artifact` verifies and loads an artifact written by
:func:`project.training.train_to_artifact`, appends the new days to the
history it carries (a new row replaces a stored one for the same series and
date: GA4 revises the last ~72 hours), and for every series with new data:

1. backtests the *chosen* model (or ensemble) on the newest window only: fit
   on everything before the last ``horizon`` days, forecast them, score with
   the selection metric;
2. if that score is worse than the stored backtest score by more than
   ``degrade_threshold`` (10 % by default), the series goes through the full
   selection again (:func:`project.utils.selection.fit_series`);
3. otherwise the chosen member models are refitted on the extended series and
   forecast again; conformal bands reuse the stored backtest errors plus the
   newest window's.

Series without new rows keep their stored model and forecast; series never
seen before get a full selection.  The new artifact's metadata names its
parent (``parent_artifact_sha256``) and says what happened to each series
(``update``).

Per-series updates go through the training dispatcher
(:func:`project.training.run_series`: serial, joblib or Dask).
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from .calendars import offset_of
from .errors import ArtifactError, InputError
from .forecasting.demand import SPARSE_KINDS, classify_demand
from .forecasting.intervals import finite_frame
from .training import TrainResult, run_series, summarise, write_artifact
from .utils.selection import (
    calibrated_bands,
    closed_steps,
    fit_series,
    forecast_frame,
    make_candidate,
    min_train_length,
    selection_score,
    still_closed,
    weekdays_of,
    window_scale,
    zero_closed,
)

__all__ = ["update_artifact", "update_series", "merge_history"]

logger = logging.getLogger(__name__)


def merge_history(history: Any, new: Any, regressors: Sequence[str] = (), freq: str = "D") -> Any:
    """Stored long history plus new rows; a new row wins over a stored one on the same day.

    Each series is reindexed to a complete calendar of ``freq`` (``D``, ``W``
    or ``M``, anchored like its dates) from its first to its last date; steps
    that neither frame has stay NaN (the models interpolate).
    ``regressors`` (known-future columns declared at training) travel with the
    rows; a day without a value takes the previous day's (then the next day's),
    as :func:`project.preparation.prepare` fills them at training.
    """
    cols = ["unique_id", "ds", "y", *regressors]
    both = pd.concat([history[cols], new[cols]], ignore_index=True)
    both["unique_id"] = both["unique_id"].astype(str)
    both = both.drop_duplicates(["unique_id", "ds"], keep="last").sort_values(["unique_id", "ds"])
    pieces = []
    for uid, part in both.groupby("unique_id", sort=True):
        dates = pd.DatetimeIndex(part["ds"])
        calendar = pd.date_range(dates.min(), dates.max(), freq=offset_of(freq, dates))
        full = part.set_index("ds").reindex(calendar)
        piece = pd.DataFrame({"unique_id": uid, "ds": calendar, "y": full["y"].to_numpy(float)})
        for name in regressors:
            piece[name] = full[name].ffill().bfill().to_numpy(float)
        pieces.append(piece)
    return pd.concat(pieces, ignore_index=True)


def _newest_window_score(
    stored: Any, y: Any, ds: Any, config: Any, X: pd.DataFrame | None = None
) -> tuple[float, Any]:
    """Backtest the stored choice on the last ``horizon`` days; (score, errors)."""

    h = int(config.horizon)
    n = len(y)
    end = n - h
    start = max(0, end - int(config.max_train_days))
    preds = []
    for name in stored.members:
        model = make_candidate(
            name, config, getattr(stored, "seasonal", True), getattr(stored, "yearly", False)
        )
        model.fit(y[start:end], ds[start:end], _rows(X, start, end))
        preds.append(model.predict(h, level=(), X=_rows(X, end, n))["mean"].to_numpy(np.float64))
    combine = "median" if stored.combine == "median" else "mean"
    fc = getattr(np, combine)(preds, axis=0)
    actual = y[end:]
    valid = np.isfinite(actual)
    act0 = np.where(valid, actual, 0.0)
    err = np.where(valid, act0 - fc, 0.0)
    scale = np.array([window_scale(y[start:end], int(config.season_length))])
    score = selection_score(err[None, :], act0[None, :], scale, str(config.metric))
    return score, np.where(valid, act0 - fc, np.nan)


def _rows(X: pd.DataFrame | None, start: int, stop: int) -> pd.DataFrame | None:
    return None if X is None else X.iloc[start:stop].reset_index(drop=True)


def update_series(
    uid: str,
    y: Any,
    ds: Any,
    stored: Any | None,
    config: Any,
    degrade_threshold: float,
    X: pd.DataFrame | None = None,
    X_future: pd.DataFrame | None = None,
) -> tuple[Any, dict[str, Any]]:
    """Update one series; returns the new :class:`SeriesResult` and what was done.

    With known-future regressors, ``X`` holds their values on the ``ds`` rows
    and ``X_future`` on the ``horizon`` steps after the last one (as for
    :func:`~project.utils.selection.fit_series`).
    """
    y = np.asarray(y, dtype=np.float64)
    ds = pd.DatetimeIndex(ds)
    h = int(config.horizon)
    if stored is None:
        return fit_series(uid, y, ds, config, X, X_future), {"action": "new series: full selection"}
    if stored.fallback or len(y) < 2 * h + min_train_length(config):
        result = fit_series(uid, y, ds, config, X, X_future)
        return result, {"action": "simple-model series: selection rerun"}
    stored_score = float(stored.scores.get(stored.model, np.inf))
    new_score, new_err = _newest_window_score(stored, y, ds, config, X)
    info = {"stored_score": stored_score, "newest_window_score": new_score, "metric": config.metric}
    if not np.isfinite(stored_score) or new_score > stored_score * (1 + float(degrade_threshold)):
        result = fit_series(uid, y, ds, config, X, X_future)
        info["action"] = (
            f"accuracy degraded ({config.metric} {new_score:.3f} > {stored_score:.3f} x "
            f"{1 + degrade_threshold:g}): full selection, now {result.model}"
        )
        info["previous_model"] = stored.model
        return result, info
    levels = tuple(int(v) for v in config.levels)
    season = int(config.season_length)
    closed = still_closed(y, classify_demand(y, season, window=int(config.max_train_days)), config)
    # closed days are forecast as zero: their errors are left out of the bands, as in fit_series
    new_err = np.where(closed_steps(len(y) - h, h, season, closed)[0], np.nan, new_err)
    start = max(0, len(y) - int(config.max_train_days))
    fitted, preds = {}, []
    for name in stored.members:
        model = make_candidate(
            name, config, getattr(stored, "seasonal", True), getattr(stored, "yearly", False)
        )
        model.fit(y[start:], ds[start:], _rows(X, start, len(y)))
        fitted[name] = model
        preds.append(model.predict(h, levels, X=X_future))
    finite = y[np.isfinite(y)]
    nonnegative = bool(np.all(finite >= 0))
    errors = stored.conformal_errors
    errors = new_err[None, :] if errors is None else np.vstack([errors, new_err[None, :]])
    native = stored.combine == "single" and bool(fitted[stored.members[0]].native_intervals)
    if native and not stored.interval_method.startswith("conformal"):
        pred = preds[0]
    else:
        combine = "median" if stored.combine == "median" else "mean"
        mean = getattr(np, combine)([p["mean"].to_numpy(np.float64) for p in preds], axis=0)
        sparse = getattr(stored, "demand", "") in SPARSE_KINDS
        pred = calibrated_bands(mean, errors, levels, nonnegative, config, y[start:], sparse=sparse)
    pred = finite_frame(zero_closed(pred, len(y), season, closed), levels, nonnegative)
    result = dataclasses.replace(
        stored,
        fitted=fitted,
        forecast=forecast_frame(uid, ds, pred, h),
        n_obs=int(len(y)),
        first_date=ds[0],
        last_date=ds[-1],
        conformal_errors=errors,
        closed_weekdays=weekdays_of(ds, closed),
    )
    info["action"] = f"refit {stored.model} (selection kept)"
    return result, info


def _prepare_new(
    new_data: Any,
    date_col: str,
    target_col: str,
    series_cols: Sequence[str],
    missing: str,
    regressors: Sequence[str] = (),
) -> Any:
    from .preparation import prepare

    cols = set(new_data.columns)
    regressors = list(regressors)
    long_form = {"unique_id", "ds", "y"} <= cols and date_col == "ds" and target_col == "y"
    absent = [c for c in regressors if c not in cols]
    if absent:
        raise InputError(
            f"the new data lacks known-future regressor column(s) {', '.join(map(repr, absent))} "
            "declared when the model was trained; every update needs their values on the new days"
        )
    if long_form and not series_cols:
        frame = new_data[["unique_id", "ds", "y", *regressors]].copy()
        frame["ds"] = pd.to_datetime(frame["ds"]).dt.normalize()
        frame["unique_id"] = frame["unique_id"].astype(str)
        return frame, None, len(new_data)
    prepared = prepare(new_data, date_col, target_col, series_cols, missing=missing, regressors=regressors)
    return prepared.data[["unique_id", "ds", "y", *regressors]], prepared.keys, len(new_data)


def _future_long(future: Any, date_col: str, series_cols: Sequence[str], regressors: Sequence[str]) -> Any:
    """The future frame as ``unique_id, ds, <regressors>`` (a long frame passes as it is)."""
    from .preparation import prepare_future

    if future is None:
        return None
    if isinstance(future, pd.DataFrame) and {"unique_id", "ds"} <= set(future.columns) and not series_cols:
        absent = [c for c in regressors if c not in future.columns]
        if absent:
            raise InputError(
                f"the future frame lacks regressor column(s) {', '.join(map(repr, absent))}"
            )
        out = future[["unique_id", "ds", *regressors]].copy()
        out["unique_id"] = out["unique_id"].astype(str)
        out["ds"] = pd.to_datetime(out["ds"]).dt.normalize()
        return out
    return prepare_future(future, date_col, series_cols, regressors)


def update_artifact(
    artifact_path: str | Path,
    new_data: Any,
    output: str | Path,
    signing_key: bytes | str,
    config: Any | None = None,
    degrade_threshold: float = 0.1,
    *,
    date_col: str = "ds",
    target_col: str = "y",
    series_cols: Sequence[str] = (),
    source_sha256: str | None = None,
    progress: Callable[[int, int], None] | None = None,
    future: Any = None,
) -> Any:
    """Append ``new_data`` to a trained artifact and write the updated artifact.

    ``new_data`` is a user table (``date_col``, ``target_col``, ``series_cols``,
    validated by :func:`project.preparation.prepare`) or a long frame
    ``unique_id, ds, y``.  ``config`` overrides the stored
    :class:`~project.training.TrainConfig` (e.g. ``n_jobs``); by default
    the artifact's own is used so the selection stays comparable.  Known-future
    regressors declared at training (``config.regressors``) are carried: the
    new rows must have their columns, and ``future`` (the user's date and
    series columns, or a long frame ``unique_id, ds, <regressors>``) their
    values for the ``horizon`` steps after each updated series' new last
    date; :class:`InputError` names a missing column, series or date.  Returns the
    :class:`~project.training.TrainSummary` of the new artifact.
    """
    from .model_artifact import file_sha256, load_artifact

    if not 0 <= float(degrade_threshold) < 10:
        raise InputError(f"degrade threshold must be between 0 and 10, got {degrade_threshold}")
    artifact_path = Path(artifact_path)
    if not artifact_path.is_file():
        raise InputError(f"artifact {str(artifact_path)!r} does not exist")
    loaded = load_artifact(artifact_path, signing_key)  # verifies before unpickling
    model = loaded.model
    if not isinstance(model, dict) or "series" not in model or "history" not in model:
        raise ArtifactError(
            f"{artifact_path.name} is not a per-series model artifact this version can update"
        )
    config = config or model["config"]
    config.validate()
    regressors = tuple(getattr(config, "regressors", ()) or ())
    new, new_keys, new_rows = _prepare_new(
        new_data, date_col, target_col, series_cols, config.missing, regressors
    )
    if new.empty:
        raise InputError("the new data has no rows")
    stored_history = model["history"]
    absent = [c for c in regressors if c not in stored_history.columns]
    if absent:
        raise ArtifactError(
            f"{artifact_path.name} was trained with regressor(s) {', '.join(map(repr, absent))} but does "
            "not carry their history; retrain it with this version to update it"
        )
    history = merge_history(stored_history, new, regressors, str(getattr(config, "freq", None) or "D"))
    stored: dict[str, Any] = model["series"]
    touched = set(new["unique_id"].astype(str))
    tasks = []
    for uid, part in history.groupby("unique_id", sort=True):
        if uid in touched or uid not in stored:
            tasks.append((str(uid), part["y"].to_numpy(float), part["ds"].to_numpy("datetime64[ns]")))
    results = {uid: r for uid, r in stored.items() if uid not in touched}
    actions: dict[str, Any] = {uid: {"action": "no new data: kept"} for uid in results}
    total, done = len(tasks), 0

    def collect(item: tuple[Any, dict[str, Any]]) -> None:
        nonlocal done
        result, info = item
        results[result.unique_id], actions[result.unique_id] = result, info
        done += 1
        if progress is not None:
            progress(done, total)

    jobs = [(uid, y, ds, stored.get(uid), config, degrade_threshold) for uid, y, ds in tasks]
    if regressors:
        from .training import future_regressors

        updated = history[history["unique_id"].isin([uid for uid, _, _ in tasks])]
        ahead = future_regressors(_future_long(future, date_col, series_cols, regressors), updated, config)
        past = {
            str(uid): part[list(regressors)].reset_index(drop=True)
            for uid, part in updated.groupby("unique_id", sort=True)
        }
        jobs = [(*job, past[job[0]], ahead[job[0]]) for job in jobs]
    run_series(update_series, jobs, config, collect)
    result = TrainResult(config=config, results=[results[k] for k in sorted(results)])
    keys = model.get("keys")
    if new_keys is not None:
        keys = new_keys if keys is None else pd.concat([keys, new_keys]).drop_duplicates("unique_id")
    parent = file_sha256(artifact_path)
    summary = summarise(
        result,
        history,
        keys=keys,
        policy=model.get("policy"),
        source_sha256=source_sha256,
        rows=new_rows,
        extra={
            "parent_artifact_sha256": parent,
            "parent_created_at": loaded.metadata.get("created_at"),
            "update": {"degrade_threshold": float(degrade_threshold), "series": actions},
        },
    )
    write_artifact(
        summary, Path(output), history, keys=keys, policy=model.get("policy"), signing_key=signing_key
    )
    return summary
