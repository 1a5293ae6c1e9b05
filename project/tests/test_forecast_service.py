"""Serving forecasts from a trained artifact: stored forecast, refit on new days, labels."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from project.entrenar_modelo import TrainConfig, train_to_artifact
from project.errors import ArtifactError
from project.forecast_service import (
    FORECAST_COLUMNS,
    forecast_from_artifact,
    observed_frame,
    series_labels,
    series_scales,
    training_history,
)
from project.model_artifact import load_artifact

KEY = b"serve-key"
PATTERN = np.array([10.0, 12, 14, 16, 18, 40, 30])


def _table(start, n, levels=None):
    levels = levels or {"A": 0.0, "B": 20.0}
    rows = []
    for i, (store, level) in enumerate(levels.items()):
        ds = pd.date_range(start, periods=n, freq="D")
        phase = ((ds - pd.Timestamp("2024-01-01")).days % 7).to_numpy()
        y = PATTERN[phase] + level + np.random.default_rng(i).normal(0, 0.3, n)
        rows.append(pd.DataFrame({"day": ds.strftime("%Y-%m-%d"), "store": store, "sales": y.round(3)}))
    return pd.concat(rows, ignore_index=True)


@pytest.fixture(scope="module")
def loaded(tmp_path_factory):
    out = tmp_path_factory.mktemp("serve") / "model.zip"
    config = TrainConfig(horizon=7, candidates=("naive", "snaive"), cv_windows=2)
    train_to_artifact(
        _table("2024-01-01", 90), out, date_col="day", target_col="sales", series_cols=["store"],
        config=config, signing_key=KEY,
    )  # fmt: skip
    return load_artifact(out, KEY)


def test_without_new_data_the_stored_forecast_is_served(loaded):
    fc = forecast_from_artifact(loaded)
    assert tuple(fc.columns) == FORECAST_COLUMNS
    assert sorted(fc["unique_id"].unique()) == ["A", "B"]
    assert fc.groupby("unique_id")["horizon"].apply(list).tolist() == [list(range(1, 8))] * 2
    assert fc["ds"].min() == pd.Timestamp("2024-01-01") + pd.Timedelta(days=90)
    assert (fc["yhat_lower_95"] <= fc["yhat_lower_80"]).all() and (
        fc["yhat_upper_80"] <= fc["yhat_upper_95"]
    ).all()


def test_new_days_move_the_origin_of_their_series_only(loaded):
    long, _keys = observed_frame(_table("2024-03-31", 5, {"A": 0.0}), "day", "sales", ["store"])
    fc = forecast_from_artifact(loaded, long)
    first = fc.groupby("unique_id")["ds"].min()
    assert first["A"] == pd.Timestamp("2024-04-05")  # after the 5 new days
    assert first["B"] == pd.Timestamp("2024-03-31")  # unchanged
    a = fc[fc["unique_id"] == "A"].set_index("ds")["yhat"]
    # the weekly pattern is still followed after the refit (snaive or an ensemble of it)
    assert a.max() > a.min() + 10


def test_observed_flag_and_labels():
    table = _table("2024-01-01", 10).drop(index=[3])  # store A misses 2024-01-04
    long, keys = observed_frame(table, "day", "sales", ["store"])
    missing = long[(long["unique_id"] == "A") & (long["ds"] == pd.Timestamp("2024-01-04"))]
    assert len(missing) == 1 and not bool(missing["observed"].iloc[0])
    assert long["observed"].sum() == len(table)
    assert series_labels(keys, ["A", "B"]) == {"A": "A", "B": "B"}
    assert series_labels(None, ["total"]) == {"total": "Total"}


def test_history_and_bad_artifact(loaded):
    assert set(training_history(loaded).columns) == {"unique_id", "ds", "y"}

    class Empty:
        model = {"kind": "handmade"}
        forecast = pd.DataFrame()

    with pytest.raises(ArtifactError):
        forecast_from_artifact(Empty())


def test_series_scales_are_the_seasonal_mae():
    days = pd.date_range("2024-01-01", periods=28)
    history = pd.concat(
        [
            pd.DataFrame({"unique_id": "weekly", "ds": days, "y": np.tile(PATTERN, 4)}),
            pd.DataFrame({"unique_id": "short", "ds": days[:3], "y": [1.0, 3.0, 6.0]}),
            pd.DataFrame({"unique_id": "one", "ds": days[:1], "y": [1.0]}),
        ]
    )
    scales = series_scales(history)
    assert scales["weekly"] == 0.0
    assert scales["short"] == 2.5
    assert np.isnan(scales["one"])
