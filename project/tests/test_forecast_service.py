"""Serving forecasts from a trained artifact: stored forecast, refit on new days, labels."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from project.entrenar_modelo import TrainConfig, train_to_artifact
from project.errors import ArtifactError, InputError
from project.forecast_service import (
    FORECAST_COLUMNS,
    dataset_frames,
    declared_regressors,
    forecast_from_artifact,
    observed_frame,
    series_labels,
    series_scales,
    split_future,
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


# --------------------------------------------------------------------------- known-future regressors

HORIZON_PROMO = 14


def _promo_rows(start, n, stores=("A", "B"), seed=0, with_sales=True):
    """Stores whose sales jump by 30 on promotion days (every third day)."""
    rng = np.random.default_rng(seed)
    rows = []
    for level, store in enumerate(stores):
        ds = pd.date_range(start, periods=n, freq="D")
        promo = ((ds - pd.Timestamp("2024-01-01")).days % 3 == 0).astype(float)
        sales = 20.0 + 10.0 * level + 30.0 * promo + rng.normal(0, 0.5, n)
        rows.append(
            pd.DataFrame(
                {
                    "day": ds.strftime("%Y-%m-%d"),
                    "store": store,
                    "sales": sales.round(3) if with_sales else np.nan,
                    "promo": promo,
                }
            )
        )
    return pd.concat(rows, ignore_index=True)


@pytest.fixture(scope="module")
def promo_dates():
    """Real dates: the history ends yesterday and the future rows start today, as in production."""
    today = pd.Timestamp.today().normalize()
    return {"train": today - pd.Timedelta(days=307), "new": today - pd.Timedelta(days=7), "future": today}


@pytest.fixture(scope="module")
def promo_loaded(tmp_path_factory, promo_dates):
    out = tmp_path_factory.mktemp("serve_promo") / "model.zip"
    config = TrainConfig(horizon=HORIZON_PROMO, candidates=("gbm",), cv_windows=2, regressors=("promo",))
    future = _promo_rows(promo_dates["new"], HORIZON_PROMO)[["day", "store", "promo"]]
    train_to_artifact(
        _promo_rows(promo_dates["train"], 300), out, date_col="day", target_col="sales",
        series_cols=["store"], config=config, signing_key=KEY, future=future,
    )  # fmt: skip
    return load_artifact(out, KEY)


def _promo_table(promo_dates, future_days=HORIZON_PROMO):
    """The current dataset: the 7 new days, then ``future_days`` rows with the promotions and no sales."""
    new = _promo_rows(promo_dates["new"], 7, seed=5)
    ahead = _promo_rows(promo_dates["future"], future_days, with_sales=False)
    return pd.concat([new, ahead], ignore_index=True)


def test_split_future_takes_the_rows_after_each_series_end():
    table = pd.DataFrame(
        {
            "day": [f"2024-01-0{d}" for d in (1, 2, 3, 4, 1, 2, 3)],
            "store": ["A", "A", "A", "A", "B", "B", "B"],
            "sales": [1.0, None, 3.0, None, 5.0, " ", None],
            "promo": [0, 0, 1, 1, 0, 1, 1],
        }
    )
    history, future = split_future(table, "day", "sales", ["store"])
    # A's empty 2024-01-02 lies inside its history: a missing day, not a future row
    assert history[["store", "day"]].values.tolist() == [
        ["A", "2024-01-01"], ["A", "2024-01-02"], ["A", "2024-01-03"], ["B", "2024-01-01"],
    ]  # fmt: skip
    assert future[["store", "day"]].values.tolist() == [
        ["A", "2024-01-04"], ["B", "2024-01-02"], ["B", "2024-01-03"],
    ]  # fmt: skip
    observed = table.iloc[[0, 2, 4]].astype({"sales": float})
    untouched, none = split_future(observed, "day", "sales", ["store"])
    assert len(untouched) == 3 and none.empty


def test_dataset_frames_keep_future_rows_out_of_the_history(promo_dates):
    frames = dataset_frames(_promo_table(promo_dates), "day", "sales", ["store"], ["promo"])
    assert frames.long["ds"].max() == promo_dates["future"] - pd.Timedelta(days=1)
    assert {"promo", "observed"} <= set(frames.long.columns) and frames.long["observed"].all()
    assert len(frames.future) == 2 * HORIZON_PROMO
    assert frames.future["ds"].min() == promo_dates["future"]
    assert list(frames.future.columns) == ["unique_id", "ds", "promo"]
    long, _keys = observed_frame(_promo_table(promo_dates), "day", "sales", ["store"])
    assert len(long) == len(frames.long) and "promo" not in long.columns


def test_refit_uses_the_future_rows_of_the_dataset(promo_loaded, promo_dates):
    assert declared_regressors(promo_loaded) == ("promo",)
    frames = dataset_frames(_promo_table(promo_dates), "day", "sales", ["store"], ["promo"])
    fc = forecast_from_artifact(promo_loaded, frames.long[frames.long["observed"]], frames.future)
    assert (fc.groupby("unique_id")["ds"].min() == promo_dates["future"]).all()
    assert (fc.groupby("unique_id")["horizon"].max() == HORIZON_PROMO).all()
    promo = frames.future.set_index(["unique_id", "ds"])["promo"]
    on_promo = promo.reindex(pd.MultiIndex.from_frame(fc[["unique_id", "ds"]])).to_numpy() == 1.0
    for uid in ("A", "B"):
        mine = (fc["unique_id"] == uid).to_numpy()
        gap = fc.loc[mine & on_promo, "yhat"].mean() - fc.loc[mine & ~on_promo, "yhat"].mean()
        assert 20 < gap < 40, (uid, gap)  # the promotion days of the future rows are forecast ~30 higher
    # Other promotion days give another forecast: the values are read, not remembered.
    shifted = frames.future.assign(promo=1.0 - frames.future["promo"])
    other = forecast_from_artifact(promo_loaded, frames.long[frames.long["observed"]], shifted)
    assert (other.loc[on_promo, "yhat"].to_numpy() < fc.loc[on_promo, "yhat"].to_numpy() - 15).all()


def test_missing_future_values_are_named_and_nothing_is_forecast(promo_loaded, promo_dates):
    frames = dataset_frames(_promo_table(promo_dates), "day", "sales", ["store"], ["promo"])
    observed = frames.long[frames.long["observed"]]
    first = (promo_dates["future"] + pd.Timedelta(days=10)).date()
    short = dataset_frames(_promo_table(promo_dates, future_days=10), "day", "sales", ["store"], ["promo"])
    with pytest.raises(InputError, match=f"no 'promo' for series 'A' on {first}"):
        forecast_from_artifact(promo_loaded, observed, short.future)
    only_a = frames.future[frames.future["unique_id"] == "A"]
    with pytest.raises(InputError, match=f"no 'promo' for series 'B' on {promo_dates['future'].date()}"):
        forecast_from_artifact(promo_loaded, observed, only_a)
    with pytest.raises(InputError, match="'promo'"):  # no future rows at all
        forecast_from_artifact(promo_loaded, observed)
    gap = frames.future.copy()
    third = promo_dates["future"] + pd.Timedelta(days=3)
    gap.loc[(gap["unique_id"] == "B") & (gap["ds"] == third), "promo"] = np.nan
    third = third.date()
    with pytest.raises(InputError, match=f"no 'promo' for series 'B' on {third}"):  # an empty cell
        forecast_from_artifact(promo_loaded, observed, gap)
    with pytest.raises(InputError, match="lack the known-future column.*'promo'"):
        forecast_from_artifact(promo_loaded, observed.drop(columns="promo"), frames.future)
    # Without new days nothing is refitted: the stored forecast needs no future values.
    assert len(forecast_from_artifact(promo_loaded)) == 2 * HORIZON_PROMO


def test_yes_no_flags_are_known_future_values_of_one_and_zero():
    table = pd.DataFrame(
        {
            "day": [f"2024-01-0{d}" for d in range(1, 7)],
            "sales": [10.0, 12.0, 11.0, np.nan, np.nan, np.nan],
            # Arrow booleans with an empty cell reach pandas as objects
            "promo": pd.Series([False, None, True, True, False, True], dtype=object),
        }
    )
    frames = dataset_frames(table, "day", "sales", (), ["promo"])
    assert frames.long["promo"].tolist() == [0.0, 0.0, 1.0]  # the empty day takes the previous one's
    assert frames.future["promo"].tolist() == [1.0, 0.0, 1.0]
    plain = table.assign(promo=[False, False, True, True, False, True])
    flags = dataset_frames(plain, "day", "sales", (), ["promo"])
    assert flags.future["promo"].dtype == float and flags.long["promo"].tolist() == [0.0, 0.0, 1.0]
