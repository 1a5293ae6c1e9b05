"""Serve forecasts from a trained artifact.

A stored model version keeps serving after it was trained: every night it
forecasts the next days from the newest history without choosing its models
again. :func:`forecast_from_artifact` does that for a loaded artifact
(:func:`project.model_artifact.load_artifact`): series with days newer than the
artifact's history get their chosen model (or ensemble) refitted on the
extended history through :func:`project.utils.incremental.update_series` with
the selection kept; the other series keep the forecast stored in the artifact.

:func:`observed_frame` turns a dataset table into the long frame the core
uses, with the ``filled`` flag telling observed days from filled ones (actuals
are only ever taken from observed days), and :func:`series_labels` gives each
series a readable label.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from .errors import ArtifactError

__all__ = [
    "FORECAST_COLUMNS",
    "forecast_from_artifact",
    "observed_frame",
    "series_labels",
    "series_scales",
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


def forecast_from_artifact(
    loaded: Any, new_data: pd.DataFrame | None = None, *, n_jobs: int = 1
) -> pd.DataFrame:
    """Forecast D+1..D+h of every series of ``loaded`` from its newest history.

    ``new_data`` is a long frame ``unique_id, ds, y`` (typically the whole
    current dataset); rows newer than the artifact's history move the forecast
    origin of their series, which is refitted with its chosen models (no new
    selection, so the version stays the model that was evaluated). Without new
    data the artifact's stored forecast is returned. Returns
    :data:`FORECAST_COLUMNS`; bounds the model does not give are NaN.
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

    from .utils.incremental import merge_history, update_series

    new = new_data[["unique_id", "ds", "y"]].copy()
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
        merged = merge_history(history[history["unique_id"].isin(moved)], new[new["unique_id"].isin(moved)])
        tasks = [
            (uid, part["y"].to_numpy(float), part["ds"].to_numpy("datetime64[ns]"))
            for uid, part in merged.groupby("unique_id", sort=True)
        ]
        # An infinite threshold keeps every series' selection: refit only.
        if int(n_jobs) == 1 or len(tasks) <= 1:
            pairs = [update_series(uid, y, ds, stored[uid], config, math.inf) for uid, y, ds in tasks]
        else:
            from joblib import Parallel, delayed

            pairs = Parallel(n_jobs=int(n_jobs))(
                delayed(update_series)(uid, y, ds, stored[uid], config, math.inf) for uid, y, ds in tasks
            )
        frames += [result.forecast for result, _info in pairs]
    return _normalise(pd.concat(frames, ignore_index=True), _RESULT_NAMES)


def observed_frame(
    data: pd.DataFrame, date_col: str, target_col: str, series_cols: Sequence[str] = ()
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """A dataset table as ``(long, keys)``: ``long`` has ``unique_id, ds, y,
    observed`` (``observed`` false on days the input lacked and the missing-day
    policy filled), ``keys`` the key columns per ``unique_id``. Raises
    :class:`~project.errors.InputError` for an unusable table."""
    from .utils.datos import prepare

    prepared = prepare(data, date_col, target_col, list(series_cols))
    long = prepared.data[["unique_id", "ds", "y"]].copy()
    filled = prepared.data["filled"] if "filled" in prepared.data.columns else False
    long["observed"] = ~np.asarray(filled, dtype=bool)
    long["unique_id"] = long["unique_id"].astype(str)
    return long, prepared.keys


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
