"""Serve forecasts from a trained artifact.

A stored model version keeps serving after it was trained: every night it
forecasts the next days from the newest history without choosing its models
again. :func:`forecast_from_artifact` does that for a loaded artifact
(:func:`project.model_artifact.load_artifact`): series with days newer than the
artifact's history get their chosen model (or ensemble) refitted on the
extended history through :func:`project.incremental_training.update_series` with
the selection kept; the other series keep the forecast stored in the artifact.

Known-future regressors (promotions, prices, planned closures declared at
training) travel with the data: the history rows carry their values, and the
values for the days to forecast come from the **future rows** of the same
table -- rows dated after their series' last observed target value, with the
target left empty and the regressors filled, the way a user adds next
month's promotion calendar to a sales file. :func:`split_future` tells those
rows apart; a refit without the values for every day of its horizon is
refused (nothing is forecast from guessed promotions).

:func:`dataset_frames` (and :func:`observed_frame`) turns a dataset table into
the long frames the core uses, with the ``filled`` flag telling observed days
from filled ones (actuals are only ever taken from observed days), and
:func:`series_labels` gives each series a readable label.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any, NamedTuple

import numpy as np
import pandas as pd

from .errors import ArtifactError, InputError

__all__ = [
    "FORECAST_COLUMNS",
    "DatasetFrames",
    "dataset_frames",
    "declared_regressors",
    "forecast_from_artifact",
    "observed_frame",
    "series_labels",
    "series_scales",
    "split_future",
    "training_history",
]

#: Columns of :func:`forecast_from_artifact`'s frame.
FORECAST_COLUMNS = (
    "unique_id",
    "ds",
    "horizon",
    "yhat",
    "yhat_lower_80",
    "yhat_upper_80",
    "yhat_lower_95",
    "yhat_upper_95",
)

# forecast.csv names (project.entrenar_modelo._level_columns, 80 % main band)
_CSV_NAMES = {"yhat_lower": "yhat_lower_80", "yhat_upper": "yhat_upper_80"}
# SeriesResult.forecast names
_RESULT_NAMES = {
    "mean": "yhat",
    "lo-80": "yhat_lower_80",
    "hi-80": "yhat_upper_80",
    "lo-95": "yhat_lower_95",
    "hi-95": "yhat_upper_95",
}


def _normalise(frame: pd.DataFrame, names: dict[str, str]) -> pd.DataFrame:
    out = frame.rename(columns=names)
    for column in FORECAST_COLUMNS:
        if column not in out.columns:
            out[column] = np.nan
    out = out[list(FORECAST_COLUMNS)].copy()
    out["unique_id"] = out["unique_id"].astype(str)
    out["ds"] = pd.to_datetime(out["ds"]).dt.normalize()
    out["horizon"] = out["horizon"].astype(int)
    return out.sort_values(["unique_id", "horizon"]).reset_index(drop=True)


def training_history(loaded: Any) -> pd.DataFrame:
    """The history an artifact carries (``unique_id, ds, y``; empty when none)."""
    model = getattr(loaded, "model", None)
    if isinstance(model, dict) and isinstance(model.get("history"), pd.DataFrame):
        return model["history"][["unique_id", "ds", "y"]].copy()
    return pd.DataFrame(columns=["unique_id", "ds", "y"])


def declared_regressors(loaded: Any) -> tuple[str, ...]:
    """The known-future regressor columns ``loaded`` was trained with (empty when none).

    The artifact's own configuration is the authority: the nightly forecast
    must feed a model exactly the columns it learnt from.
    """
    model = getattr(loaded, "model", None)
    config = model.get("config") if isinstance(model, dict) else None
    return tuple(getattr(config, "regressors", ()) or ())


def _future_long(future: pd.DataFrame | None, regressors: Sequence[str]) -> pd.DataFrame:
    """``future`` as ``unique_id, ds, <regressors>``; no frame reads as one without rows,
    so that the missing values are named series by series."""
    columns = ["unique_id", "ds", *regressors]
    if future is None:
        dtypes = {"unique_id": object, "ds": "datetime64[ns]"}
        return pd.DataFrame({name: pd.Series(dtype=dtypes.get(name, float)) for name in columns})
    absent = [c for c in columns if c not in future.columns]
    if absent:
        raise InputError(
            f"the future values lack column(s) {', '.join(map(repr, absent))}; they need the series, "
            "the date and every known-future regressor"
        )
    out = future[columns].copy()
    out["unique_id"] = out["unique_id"].astype(str)
    out["ds"] = pd.to_datetime(out["ds"]).dt.normalize()
    return out


def forecast_from_artifact(
    loaded: Any,
    new_data: pd.DataFrame | None = None,
    future: pd.DataFrame | None = None,
    *,
    n_jobs: int = 1,
) -> pd.DataFrame:
    """Forecast D+1..D+h of every series of ``loaded`` from its newest history.

    ``new_data`` is a long frame ``unique_id, ds, y`` (typically the whole
    current dataset); rows newer than the artifact's history move the forecast
    origin of their series, which is refitted with its chosen models (no new
    selection, so the version stays the model that was evaluated). Without new
    data the artifact's stored forecast is returned. Returns
    :data:`FORECAST_COLUMNS`; bounds the model does not give are NaN.

    An artifact trained with known-future regressors
    (:func:`declared_regressors`) needs their values on both sides of the new
    origin: ``new_data`` carries their columns (the refit learns from them)
    and ``future`` (long frame ``unique_id, ds, <regressors>``, e.g.
    :attr:`DatasetFrames.future`) their values on the ``horizon`` days after
    each moved series' newest day. A missing column or value raises
    :class:`~project.errors.InputError` naming the series, the column and the
    first missing date before any series is refitted: a forecast that
    silently forgot next week's promotion would look plausible and be wrong.
    """
    model = getattr(loaded, "model", None)
    if not isinstance(model, dict) or "series" not in model or "history" not in model:
        # An artifact without refittable series: only its stored forecast.
        if loaded.forecast is None or not len(loaded.forecast):
            raise ArtifactError("the artifact holds neither fitted series nor a forecast")
        return _normalise(loaded.forecast, _CSV_NAMES)
    stored: dict[str, Any] = model["series"]
    config = model["config"]
    if new_data is None or not len(new_data):
        frames = [result.forecast for result in stored.values()]
        return _normalise(pd.concat(frames, ignore_index=True), _RESULT_NAMES)

    from .incremental_training import merge_history, update_series
    from .training import future_regressors

    regressors = declared_regressors(loaded)
    absent = [c for c in regressors if c not in new_data.columns]
    if absent:
        raise InputError(
            f"the new rows lack the known-future column(s) {', '.join(map(repr, absent))} the model was "
            "trained with; the refit needs their values on every day"
        )
    new = new_data[["unique_id", "ds", "y", *regressors]].copy()
    new["unique_id"] = new["unique_id"].astype(str)
    new["ds"] = pd.to_datetime(new["ds"]).dt.normalize()
    new = new[new["y"].notna()]
    history = model["history"]
    last_stored = history.groupby("unique_id")["ds"].max()
    newest = new.groupby("unique_id")["ds"].max()
    moved = {
        uid for uid, day in newest.items() if uid in stored and day > last_stored.get(uid, pd.Timestamp.min)
    }
    frames = [result.forecast for uid, result in stored.items() if uid not in moved]
    if moved:
        absent = [c for c in regressors if c not in history.columns]
        if absent:
            raise ArtifactError(
                f"the artifact was trained with regressor(s) {', '.join(map(repr, absent))} but does not "
                "carry their history; retrain it with this version to forecast from new days"
            )
        merged = merge_history(
            history[history["unique_id"].isin(moved)],
            new[new["unique_id"].isin(moved)],
            regressors,
            str(getattr(config, "freq", None) or "D"),
        )
        # Every moved series' future values are checked before any refit: all or nothing.
        ahead = future_regressors(_future_long(future, regressors), merged, config) if regressors else {}
        tasks = [
            (
                uid,
                part["y"].to_numpy(float),
                part["ds"].to_numpy("datetime64[ns]"),
                stored[uid],
                config,
                math.inf,  # an infinite threshold keeps every series' selection: refit only
                part[list(regressors)].reset_index(drop=True) if regressors else None,
                ahead.get(uid),
            )
            for uid, part in merged.groupby("unique_id", sort=True)
        ]
        if int(n_jobs) == 1 or len(tasks) <= 1:
            pairs = [update_series(*task) for task in tasks]
        else:
            from joblib import Parallel, delayed

            pairs = Parallel(n_jobs=int(n_jobs))(delayed(update_series)(*task) for task in tasks)
        frames += [result.forecast for result, _info in pairs]
    return _normalise(pd.concat(frames, ignore_index=True), _RESULT_NAMES)


class DatasetFrames(NamedTuple):
    """A dataset table in the core's long frames (:func:`dataset_frames`)."""

    #: ``unique_id, ds, y, <regressors>, observed``: the history, one row per calendar step.
    long: pd.DataFrame
    #: ``unique_id`` plus the series key columns, one row per series.
    keys: pd.DataFrame
    #: ``unique_id, ds, <regressors>``: the future rows' known-future values.
    future: pd.DataFrame


def split_future(
    data: pd.DataFrame, date_col: str, target_col: str, series_cols: Sequence[str] = ()
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """``(history, future)``: the rows of a user table before and after its series' ends.

    A row belongs to the future when its target is empty and it is dated
    after the last row of its series that has a target value. That is how a
    user gives the values of known-future columns (next month's promotions,
    prices, planned closures): by adding the coming days to the table they
    already upload, with the target left empty. Those rows are not missing
    observations -- read as history they would be filled as missing days, or
    refused for lying after today. Empty targets between observed days stay
    in the history (missing days). A table without the named columns comes
    back whole, so that :func:`project.preparation.prepare` names what is
    missing.
    """
    from .datasets.parsing import parse_dates
    from .preparation import series_key

    series_cols = list(series_cols)
    if not isinstance(data, pd.DataFrame):
        return data, pd.DataFrame()
    if any(c not in data.columns for c in [date_col, target_col, *series_cols]):
        return data, data.iloc[:0]
    frame = data.reset_index(drop=True)
    target = frame[target_col]
    empty = target.isna()
    if not pd.api.types.is_numeric_dtype(target):
        empty |= target.astype("string").str.strip().fillna("").eq("")
    if not empty.any():
        return frame, frame.iloc[:0]
    dates, _format = parse_dates(frame[date_col])
    last = dates.where(~empty).groupby(series_key(frame, series_cols)).transform("max")
    ahead = (empty & (last.isna() | (dates > last))).to_numpy()
    return frame[~ahead].reset_index(drop=True), frame[ahead].reset_index(drop=True)


def dataset_frames(
    data: pd.DataFrame,
    date_col: str,
    target_col: str,
    series_cols: Sequence[str] = (),
    regressors: Sequence[str] = (),
) -> DatasetFrames:
    """A dataset table as :class:`DatasetFrames`: its history and its future rows.

    The history (:func:`split_future`) goes through
    :func:`project.preparation.prepare` with ``regressors`` carried; the
    future rows become ``unique_id, ds, <regressors>`` (empty when the table
    has none: whoever needs them says which are missing). Raises
    :class:`~project.errors.InputError` for an unusable table.
    """
    from .preparation import prepare, prepare_future

    regressors = list(regressors)
    history, ahead = split_future(data, date_col, target_col, series_cols)
    prepared = prepare(history, date_col, target_col, list(series_cols), regressors=regressors)
    long = prepared.data[["unique_id", "ds", "y", *regressors]].copy()
    filled = prepared.data["filled"] if "filled" in prepared.data.columns else False
    long["observed"] = ~np.asarray(filled, dtype=bool)
    long["unique_id"] = long["unique_id"].astype(str)
    if len(ahead):
        future = prepare_future(ahead, date_col, list(series_cols), regressors)
        future["unique_id"] = future["unique_id"].astype(str)
    else:
        future = _future_long(None, regressors)
    return DatasetFrames(long=long, keys=prepared.keys, future=future)


def observed_frame(
    data: pd.DataFrame,
    date_col: str,
    target_col: str,
    series_cols: Sequence[str] = (),
    regressors: Sequence[str] = (),
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """A dataset table as ``(long, keys)``: ``long`` has ``unique_id, ds, y,
    <regressors>, observed`` (``observed`` false on days the input lacked and
    the missing-day policy filled), ``keys`` the key columns per ``unique_id``.
    Future rows (:func:`split_future`) are left out: they are no observation.
    Raises :class:`~project.errors.InputError` for an unusable table."""
    frames = dataset_frames(data, date_col, target_col, series_cols, regressors)
    return frames.long, frames.keys


def series_labels(keys: pd.DataFrame | None, uids: Sequence[str]) -> dict[str, str]:
    """Readable label per series: ``column: value`` pairs, ``Total`` for the
    single series of a table without key columns."""
    labels = {str(uid): ("Total" if str(uid) == "total" else str(uid)) for uid in uids}
    if keys is None or not len(keys) or len(keys.columns) < 2:
        return labels
    columns = [c for c in keys.columns if c != "unique_id"]
    for values in keys.to_dict("records"):
        uid = str(values["unique_id"])
        if uid not in labels:
            continue
        if len(columns) == 1:
            labels[uid] = str(values[columns[0]])
        else:
            labels[uid] = ", ".join(f"{column}: {values[column]}" for column in columns)
    return labels


def series_scales(history: pd.DataFrame, season_length: int = 7) -> dict[str, float]:
    """Typical error of each series: the mean absolute ``season_length``-day
    difference of its history (the MASE denominator; lag 1 for series shorter
    than two seasons). NaN where undefined (fewer than two values)."""
    scales: dict[str, float] = {}
    for uid, part in history.sort_values(["unique_id", "ds"]).groupby("unique_id", sort=True):
        y = part["y"].to_numpy(float)
        lag = season_length if len(y) > 2 * season_length else 1
        diffs = np.abs(y[lag:] - y[:-lag]) if len(y) > lag else np.array([])
        diffs = diffs[np.isfinite(diffs)]
        scales[str(uid)] = float(diffs.mean()) if diffs.size else float("nan")
    return scales
