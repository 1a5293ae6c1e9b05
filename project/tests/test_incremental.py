"""Incremental update of a trained artifact: selection kept, degradation detected, lineage."""

from __future__ import annotations

import json
import zipfile

import numpy as np
import pandas as pd
import pytest

from project.model_artifact import file_sha256, load_artifact, verify_artifact
from project.training import TrainConfig, train_to_artifact
from project.utils.incremental import main, merge_history, update_artifact

KEY = b"incremental-key"
PATTERN = np.array([10.0, 12, 14, 16, 18, 40, 30])


def _series(start, n, level=0.0, seed=0):
    rng = np.random.default_rng(seed)
    ds = pd.date_range(start, periods=n, freq="D")
    phase = ((ds - pd.Timestamp("2024-01-01")).days % 7).to_numpy()
    return ds, PATTERN[phase] + level + rng.normal(0, 0.3, n)


def _table(start, n, levels=None, seed=0):
    levels = levels or {"A": 0.0, "B": 20.0}
    rows = []
    for i, (store, level) in enumerate(levels.items()):
        ds, y = _series(start, n, level, seed + i)
        rows.append(pd.DataFrame({"day": ds.strftime("%Y-%m-%d"), "store": store, "sales": y.round(3)}))
    return pd.concat(rows, ignore_index=True)


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    out = tmp_path_factory.mktemp("inc") / "model.zip"
    config = TrainConfig(horizon=14, candidates=("naive", "snaive", "theta"), cv_windows=2)
    train_to_artifact(
        _table("2024-01-01", 140), out, date_col="day", target_col="sales", series_cols=["store"],
        config=config, signing_key=KEY,
    )  # fmt: skip
    return out


def test_merge_history_new_rows_win_and_calendar_is_complete():
    old = pd.DataFrame({"unique_id": "A", "ds": pd.date_range("2024-01-01", periods=3), "y": [1.0, 2.0, 3.0]})
    new = pd.DataFrame(
        {"unique_id": ["A", "A"], "ds": pd.to_datetime(["2024-01-03", "2024-01-05"]), "y": [30.0, 5.0]}
    )
    merged = merge_history(old, new)
    assert list(merged["ds"].dt.day) == [1, 2, 3, 4, 5]
    assert merged["y"].iloc[2] == 30.0 and np.isnan(merged["y"].iloc[3]) and merged["y"].iloc[4] == 5.0


def test_update_keeps_selection_and_names_parent(trained, tmp_path):
    before = load_artifact(trained, KEY)
    out = tmp_path / "updated.zip"
    new = _table("2024-05-20", 7)  # the 7 days after the training data, same behaviour
    summary = update_artifact(
        trained, new, out, KEY, date_col="day", target_col="sales", series_cols=["store"]
    )
    verify_artifact(out, KEY)
    meta = summary.metadata
    assert meta["parent_artifact_sha256"] == file_sha256(trained)
    assert meta["chosen_models"] == before.metadata["chosen_models"]
    for uid in ("A", "B"):
        assert "selection kept" in meta["update"]["series"][uid]["action"]
    after = load_artifact(out, KEY)
    assert after.forecast["ds"].min() == pd.Timestamp("2024-05-27")
    assert after.model["history"].groupby("unique_id")["ds"].max().eq(pd.Timestamp("2024-05-26")).all()
    assert len(after.forecast) == 2 * 14
    fc = after.forecast
    assert (fc["yhat_lower"] <= fc["yhat"]).all() and (fc["yhat"] <= fc["yhat_upper"]).all()
    # a kept selection keeps its backtest error by horizon day (carried over, like its metrics)
    pd.testing.assert_frame_equal(after.horizon_errors, before.horizon_errors)
    assert len(after.horizon_errors) > 0


def test_degraded_series_is_reselected_and_new_series_trained(trained, tmp_path):
    out = tmp_path / "updated.zip"
    ds, y = _series("2024-05-20", 21)
    shifted = pd.DataFrame({"day": ds.strftime("%Y-%m-%d"), "store": "A", "sales": y * 6})  # regime change
    fresh = _table("2024-01-01", 145, levels={"C": 5.0}, seed=7)
    summary = update_artifact(
        trained, pd.concat([shifted, fresh]), out, KEY, degrade_threshold=0.1,
        date_col="day", target_col="sales", series_cols=["store"],
    )  # fmt: skip
    actions = summary.metadata["update"]["series"]
    assert actions["A"]["action"].startswith("accuracy degraded")
    assert actions["A"]["newest_window_score"] > actions["A"]["stored_score"] * 1.1
    assert actions["B"]["action"] == "no new data: kept"
    assert actions["C"]["action"].startswith("new series")
    assert set(summary.metadata["chosen_models"]) == {"A", "B", "C"}
    after = load_artifact(out, KEY)
    assert set(after.forecast["store"]) == {"A", "B", "C"}
    # reselected and new series get fresh errors by horizon day, kept ones keep theirs
    assert set(after.horizon_errors["unique_id"].astype(str)) == {"A", "B", "C"}
    assert (after.horizon_errors.groupby(["unique_id", "model"]).size() == 14).all()


def test_update_refuses_tampered_parent(trained, tmp_path):
    bad = tmp_path / "tampered.zip"
    with zipfile.ZipFile(trained) as src, zipfile.ZipFile(bad, "w") as dst:
        for info in src.infolist():
            data = src.read(info.filename)
            if info.filename == "metadata.json":
                meta = json.loads(data)
                meta["horizon"] = 99
                data = json.dumps(meta).encode()
            dst.writestr(info, data)
    from project.errors import ArtifactError

    with pytest.raises(ArtifactError):
        update_artifact(
            bad, _table("2024-05-20", 7), tmp_path / "o.zip", KEY,
            date_col="day", target_col="sales", series_cols=["store"],
        )  # fmt: skip
    assert not (tmp_path / "o.zip").exists()


def test_cli_update(trained, tmp_path, capsys):
    src = tmp_path / "new.csv"
    _table("2024-05-20", 7).to_csv(src, index=False)
    out = tmp_path / "cli.zip"
    code = main(
        ["--artifact", str(trained), "--input", str(src), "--date-col", "day", "--target-col", "sales",
         "--series-cols", "store", "--output", str(out), "--signing-key", KEY.decode(), "-q"]
    )  # fmt: skip
    captured = capsys.readouterr()
    assert code == 0, captured.err
    assert "selection kept" in captured.out and "parent sha256" in captured.out
    code = main(
        ["--artifact", str(trained), "--input", str(src), "--date-col", "day", "--target-col", "sales",
         "--series-cols", "store", "--output", str(tmp_path / "x.zip"), "--signing-key", "wrong-key", "-q"]
    )  # fmt: skip
    assert code == 2 and not (tmp_path / "x.zip").exists()
    assert "Traceback" not in capsys.readouterr().err


def test_update_on_dask_gives_the_serial_result(trained, tmp_path):
    """Incremental training uses the training dispatcher, so a Dask scheduler address works too."""
    import dataclasses

    distributed = pytest.importorskip("distributed")
    config = load_artifact(trained, KEY).model["config"]
    new = _table("2024-05-20", 7)
    serial = update_artifact(
        trained, new, tmp_path / "serial.zip", KEY, config, date_col="day", target_col="sales",
        series_cols=["store"],
    )  # fmt: skip
    done = []
    with distributed.LocalCluster(
        n_workers=1, threads_per_worker=1, processes=False, dashboard_address=None
    ) as cluster:
        remote = update_artifact(
            trained, new, tmp_path / "dask.zip", KEY,
            dataclasses.replace(config, dask_address=cluster.scheduler_address),
            date_col="day", target_col="sales", series_cols=["store"],
            progress=lambda d, t: done.append(d),
        )  # fmt: skip
    assert done == [1, 2]
    pd.testing.assert_frame_equal(serial.forecast, remote.forecast)
    assert serial.metadata["update"] == remote.metadata["update"]


# --------------------------------------------------------------------------- known-future regressors


def _promo_table(start, n, seed=0):
    """One store whose sales jump by 30 on promotion days (every third day)."""
    rng = np.random.default_rng(seed)
    ds = pd.date_range(start, periods=n, freq="D")
    promo = ((ds - pd.Timestamp("2024-01-01")).days % 3 == 0).astype(float)
    sales = 20.0 + 30.0 * promo + rng.normal(0, 0.5, n)
    day = ds.strftime("%Y-%m-%d")
    return pd.DataFrame({"day": day, "store": "A", "sales": sales.round(3), "promo": promo})


def _promo_future(start, n):
    frame = _promo_table(start, n)
    return frame[["day", "store", "promo"]]


@pytest.fixture(scope="module")
def trained_promo(tmp_path_factory):
    out = tmp_path_factory.mktemp("inc_promo") / "model.zip"
    config = TrainConfig(horizon=14, candidates=("gbm",), cv_windows=2, regressors=("promo",))
    train_to_artifact(
        _promo_table("2024-01-01", 300), out, date_col="day", target_col="sales", series_cols=["store"],
        config=config, signing_key=KEY, future=_promo_future("2024-10-27", 14),
    )  # fmt: skip
    return out


def test_update_carries_regressors_into_the_new_forecast(trained_promo, tmp_path):
    out = tmp_path / "promo.zip"
    new = _promo_table("2024-10-27", 7, seed=5)
    summary = update_artifact(
        trained_promo, new, out, KEY, date_col="day", target_col="sales", series_cols=["store"],
        future=_promo_future("2024-11-03", 14),
    )  # fmt: skip
    fc = summary.forecast
    assert fc["ds"].min() == pd.Timestamp("2024-11-03")
    promo_days = np.asarray((pd.DatetimeIndex(fc["ds"]) - pd.Timestamp("2024-01-01")).days % 3 == 0)
    # the promotion effect comes from the future frame: promotion days forecast about 30 higher
    gap = fc.loc[promo_days, "yhat"].mean() - fc.loc[~promo_days, "yhat"].mean()
    assert 20 < gap < 40
    history = load_artifact(out, KEY).model["history"]
    assert "promo" in history.columns and history["ds"].max() == pd.Timestamp("2024-11-02")
    assert history.loc[history["ds"] >= "2024-10-27", "promo"].tolist() == new["promo"].tolist()


def test_update_names_a_missing_regressor_column(trained_promo, tmp_path):
    from project.errors import InputError

    new = _promo_table("2024-10-27", 7)
    with pytest.raises(InputError, match="'promo'"):  # new rows without the declared column
        update_artifact(
            trained_promo, new.drop(columns="promo"), tmp_path / "a.zip", KEY, date_col="day",
            target_col="sales", series_cols=["store"], future=_promo_future("2024-11-03", 14),
        )  # fmt: skip
    with pytest.raises(InputError, match="'promo'.*future frame|future frame.*'promo'"):  # no future at all
        update_artifact(
            trained_promo, new, tmp_path / "b.zip", KEY, date_col="day", target_col="sales",
            series_cols=["store"],
        )  # fmt: skip
    with pytest.raises(InputError, match="'promo'"):  # a future frame without the column
        update_artifact(
            trained_promo, new, tmp_path / "c.zip", KEY, date_col="day", target_col="sales",
            series_cols=["store"], future=_promo_future("2024-11-03", 14).drop(columns="promo"),
        )  # fmt: skip
    short = _promo_future("2024-11-03", 10)  # four days of the horizon missing
    with pytest.raises(InputError, match="no 'promo' for series 'A' on 2024-11-13"):
        update_artifact(
            trained_promo, new, tmp_path / "d.zip", KEY, date_col="day", target_col="sales",
            series_cols=["store"], future=short,
        )  # fmt: skip
    assert not any((tmp_path / name).exists() for name in ("a.zip", "b.zip", "c.zip", "d.zip"))


def test_cli_update_with_future_file(trained_promo, tmp_path, capsys):
    src, fut = tmp_path / "new.csv", tmp_path / "future.csv"
    _promo_table("2024-10-27", 7).to_csv(src, index=False)
    _promo_future("2024-11-03", 14).to_csv(fut, index=False)
    args = ["--artifact", str(trained_promo), "--input", str(src), "--date-col", "day",
            "--target-col", "sales", "--series-cols", "store", "--signing-key", KEY.decode(),
            "-q"]  # fmt: skip
    assert main([*args, "--output", str(tmp_path / "ok.zip"), "--future", str(fut)]) == 0
    assert (tmp_path / "ok.zip").exists()
    capsys.readouterr()
    assert main([*args, "--output", str(tmp_path / "no.zip")]) == 2
    err = capsys.readouterr().err
    assert "'promo'" in err and "Traceback" not in err and not (tmp_path / "no.zip").exists()


def test_merge_history_keeps_a_weekly_calendar():
    weeks = pd.date_range("2024-01-07", periods=3, freq="W-SUN")
    old = pd.DataFrame({"unique_id": "A", "ds": weeks, "y": [1.0, 2.0, 3.0]})
    new = pd.DataFrame({"unique_id": "A", "ds": [weeks[-1] + pd.Timedelta(weeks=2)], "y": [5.0]})
    merged = merge_history(old, new, freq="W")
    assert list(merged["ds"].diff().dropna().dt.days) == [7, 7, 7, 7]
    assert np.isnan(merged["y"].iloc[3]) and merged["y"].iloc[4] == 5.0


def test_an_update_keeps_one_band_width_for_an_intermittent_series(tmp_path):
    rng = np.random.default_rng(8)
    ds = pd.date_range("2024-01-01", periods=400)
    sales = (rng.random(400) < 0.25) * rng.integers(1, 8, 400).astype(float)
    table = pd.DataFrame({"day": ds.strftime("%Y-%m-%d"), "store": "slow", "sales": sales})
    first, out = tmp_path / "model.zip", tmp_path / "updated.zip"
    cols = {"date_col": "day", "target_col": "sales", "series_cols": ["store"]}
    train_to_artifact(table.iloc[:393], first, config=TrainConfig(horizon=28), signing_key=KEY, **cols)
    # a threshold no window reaches: the stored selection is kept and only re-banded
    summary = update_artifact(first, table.iloc[393:], out, KEY, degrade_threshold=9.0, **cols)
    assert "selection kept" in summary.metadata["update"]["series"]["slow"]["action"]
    fc = load_artifact(out, KEY).forecast
    open_days = fc["yhat"] > 0
    width = (fc["yhat_upper"] - fc["yhat"])[open_days].to_numpy()
    assert open_days.sum() >= 24 and width[0] > 0
    assert np.ptp(width) == pytest.approx(0.0, abs=1e-9)
