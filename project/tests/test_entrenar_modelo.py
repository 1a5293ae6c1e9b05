"""Training over all series: joblib/Dask equivalence, artifact contents, CLI and bad input."""

from __future__ import annotations

import io
import json
import logging
import zipfile

import numpy as np
import pandas as pd
import pytest

from project import entrenar_modelo as em
from project.entrenar_modelo import TrainConfig, main, train, train_to_artifact
from project.model_artifact import load_artifact, verify_artifact

KEY = b"test-signing-key"
FAST = "naive,snaive,theta"


def _frame(n=120, stores=("A", "B", "C")):
    rng = np.random.default_rng(0)
    rows = []
    for i, store in enumerate(stores):
        ds = pd.date_range("2024-01-01", periods=n, freq="D")
        y = 20 + 5 * i + 4 * np.sin(np.arange(n) * 2 * np.pi / 7) + rng.normal(0, 1, n)
        rows.append(pd.DataFrame({"day": ds.strftime("%Y-%m-%d"), "store": store, "sales": y.round(2)}))
    return pd.concat(rows, ignore_index=True)


def _config(**kw):
    base = {"horizon": 14, "candidates": ("naive", "snaive", "theta"), "cv_windows": 2}
    base.update(kw)
    return TrainConfig(**base)


def _long(frame):
    return pd.DataFrame(
        {"unique_id": frame["store"], "ds": pd.to_datetime(frame["day"]), "y": frame["sales"].astype(float)}
    )


def _forecasts(result):
    return pd.concat([r.forecast for r in result.results], ignore_index=True)


def test_parallel_joblib_gives_the_same_result_as_sequential():
    data = _long(_frame())
    calls = []
    one = train(data, _config(n_jobs=1), progress=lambda d, t: calls.append((d, t)))
    two = train(data, _config(n_jobs=2))
    assert [r.unique_id for r in one.results] == ["A", "B", "C"]
    assert [r.model for r in one.results] == [r.model for r in two.results]
    pd.testing.assert_frame_equal(_forecasts(one), _forecasts(two))
    assert calls == [(1, 3), (2, 3), (3, 3)]


def test_dask_local_cluster_gives_the_same_result():
    distributed = pytest.importorskip("distributed")
    data = _long(_frame(stores=("A", "B")))
    local = train(data, _config())
    with distributed.LocalCluster(
        n_workers=1, threads_per_worker=1, processes=False, dashboard_address=None
    ) as cluster:
        done = []
        remote = train(
            data, _config(dask_address=cluster.scheduler_address), progress=lambda d, t: done.append(d)
        )
    assert [r.model for r in local.results] == [r.model for r in remote.results]
    pd.testing.assert_frame_equal(_forecasts(local), _forecasts(remote))
    assert done == [1, 2]


def test_train_to_artifact_writes_a_verifiable_complete_zip(tmp_path):
    out = tmp_path / "model.zip"
    summary = train_to_artifact(
        _frame(),
        out,
        date_col="day",
        target_col="sales",
        series_cols=["store"],
        config=_config(),
        signing_key=KEY,
        source_sha256="ab" * 32,
    )
    members = verify_artifact(out, KEY)
    assert {
        "model.joblib",
        "metadata.json",
        "forecast.csv",
        "metrics.csv",
        "MODEL_CARD.md",
        "report.png",
    } <= set(members)
    assert members["report.png"].startswith(b"\x89PNG")
    meta = json.loads(members["metadata.json"])
    for key in (
        "format_version",
        "created_at",
        "horizon",
        "interval_levels",
        "chosen_models",
        "metrics",
        "data",
    ):
        assert key in meta
    assert meta["data"]["sha256"] == "ab" * 32
    assert meta["data"]["series"] == 3 and meta["data"]["rows"] == 360
    assert meta["data"]["first_date"] == "2024-01-01" and meta["data"]["last_date"] == "2024-04-29"
    assert set(meta["chosen_models"]) == {"A", "B", "C"}
    assert set(meta["metrics"]["candidates"]["A"]) >= {"naive", "snaive", "theta"}
    assert meta["metrics"]["chosen"]["A"]["1-14"]["mase"] > 0
    assert meta["params"]["horizon"] == 14 and meta["missing_policy"]["missing"] == "auto"
    fc = summary.forecast
    assert list(fc.columns[:3]) == ["unique_id", "store", "ds"]
    assert {"horizon", "yhat", "yhat_lower", "yhat_upper", "yhat_lower_95", "yhat_upper_95", "model"} <= set(
        fc
    )
    assert len(fc) == 3 * 14 and fc["horizon"].max() == 14
    assert (fc["yhat_lower"] <= fc["yhat"]).all() and (fc["yhat"] <= fc["yhat_upper"]).all()
    assert (fc["yhat_lower_95"] <= fc["yhat_lower"]).all()
    assert fc["ds"].min() == pd.Timestamp("2024-04-30")
    assert set(summary.metrics.columns) == {"unique_id", "model", "bucket", "metric", "value", "chosen"}
    assert set(summary.series.columns) >= {
        "unique_id",
        "model",
        "fallback",
        "length",
        "first_date",
        "last_date",
    }
    loaded = load_artifact(out, KEY)
    assert set(loaded.model["series"]) == {"A", "B", "C"}
    assert loaded.model["series"]["A"].fitted  # refitted member models travel in model.joblib
    assert not list(tmp_path.glob(".*tmp"))


def test_cli_end_to_end(tmp_path, capsys):
    src = tmp_path / "sales.csv"
    _frame().to_csv(src, index=False)
    out = tmp_path / "m.zip"
    code = main(
        [
            "--input", str(src), "--date-col", "day", "--target-col", "sales", "--series-cols", "store",
            "--horizon", "14", "--candidates", FAST, "--cv-windows", "2", "--signing-key", "k1",
            "--output", str(out), "-q",
        ]
    )  # fmt: skip
    captured = capsys.readouterr()
    assert code == em.EXIT_OK, captured.err
    assert verify_artifact(out, "k1")
    assert "MASE D+1" in captured.out and "MASE 1-14" in captured.out
    assert f"model artifact: {out}" in captured.out
    assert "k1" not in captured.out + captured.err  # a configured key is never printed


def test_cli_short_series_falls_back_and_reports_it(tmp_path, capsys):
    frame = pd.concat([_frame(stores=("A",)), _frame(n=10, stores=("tiny",))], ignore_index=True)
    src = tmp_path / "s.csv"
    frame.to_csv(src, index=False)
    out = tmp_path / "m.zip"
    args = ["--input", str(src), "--date-col", "day", "--target-col", "sales", "--series-cols", "store"]
    code = main(
        [*args, "--horizon", "14", "--candidates", FAST, "--signing-key", "k", "--output", str(out), "-q"]
    )
    captured = capsys.readouterr()
    assert code == 0, captured.err
    meta = json.loads(zipfile.ZipFile(out).read("metadata.json"))
    assert "too short" in meta["fallbacks"]["tiny"]
    assert "tiny" in captured.err  # the short-series warning names it


def test_cli_prints_each_data_warning_once(tmp_path, capsys, caplog):
    # store B stopped 60 days before the end of the file: stale, flagged by preparation
    frame = pd.concat([_frame(stores=("A",)), _frame(n=60, stores=("B",))], ignore_index=True)
    src = tmp_path / "s.csv"
    frame.to_csv(src, index=False)
    args = ["--input", str(src), "--date-col", "day", "--target-col", "sales", "--series-cols", "store",
            "--horizon", "14", "--candidates", FAST, "--cv-windows", "2", "--signing-key", "k"]  # fmt: skip
    caplog.set_level(logging.DEBUG)
    assert main([*args, "--output", str(tmp_path / "m.zip")]) == em.EXIT_OK
    err = capsys.readouterr().err
    assert err.count("series 'B' is stale") == 1  # the warning line after training
    assert not [r for r in caplog.records if "is stale" in r.getMessage()]
    assert logging.getLogger("project.preparation").level == logging.NOTSET  # left as it was
    caplog.clear()
    assert main([*args, "--output", str(tmp_path / "v.zip"), "-v"]) == em.EXIT_OK
    assert [r for r in caplog.records if "is stale" in r.getMessage()]  # -v: logged as found, too


@pytest.mark.parametrize("horizon", ["1", "3"])
def test_cli_trains_a_short_horizon(tmp_path, capsys, horizon):
    src = tmp_path / "sales.csv"
    _frame().to_csv(src, index=False)
    out = tmp_path / "m.zip"
    code = main(
        [
            "--input", str(src), "--date-col", "day", "--target-col", "sales", "--series-cols", "store",
            "--horizon", horizon, "--signing-key", "k", "--output", str(out), "-q",
        ]
    )  # fmt: skip
    assert code == em.EXIT_OK, capsys.readouterr().err
    with zipfile.ZipFile(out) as archive:
        forecast = pd.read_csv(io.BytesIO(archive.read("forecast.csv")))
    assert forecast.groupby("unique_id").size().eq(int(horizon)).all()


def _train_items(tmp_path, capsys, frame: pd.DataFrame, candidates: str):
    """Train ``frame`` (``day, item, value``) through the CLI at h = 14; the zip and the captured output."""
    src = tmp_path / "items.csv"
    frame.to_csv(src, index=False)
    out = tmp_path / "m.zip"
    args = ["--input", str(src), "--date-col", "day", "--target-col", "value", "--series-cols", "item"]
    code = main([*args, "--horizon", "14", "--candidates", candidates, "--signing-key", "k",
                 "--output", str(out), "-q"])  # fmt: skip
    captured = capsys.readouterr()
    assert code == em.EXIT_OK, captured.err
    return out, captured


def test_cli_reports_random_walk_series_and_keeps_them_to_level_trackers(tmp_path, capsys):
    rng = np.random.default_rng(8)
    ds = pd.date_range("2023-01-01", periods=500, freq="D").strftime("%Y-%m-%d")
    weekly = 40 * np.sin(np.arange(500) * 2 * np.pi / 7)
    frame = pd.concat(
        [
            pd.DataFrame({"day": ds, "item": "fx", "value": 100 + np.cumsum(rng.normal(0, 1, 500))}),
            pd.DataFrame({"day": ds, "item": "shop", "value": 300 + weekly + rng.normal(0, 5, 500)}),
        ]
    )
    out, captured = _train_items(tmp_path, capsys, frame.round(3), "naive,snaive,theta")
    meta = json.loads(zipfile.ZipFile(out).read("metadata.json"))
    assert meta["random_walk_series"] == ["fx"]
    assert set(meta["metrics"]["candidates"]["fx"]) == {"naive", "theta", "mean(naive+theta)"}
    assert "snaive" in meta["metrics"]["candidates"]["shop"]
    assert "1 series whose level wanders like a random walk" in captured.out and ": fx" in captured.out


def test_cli_forecasts_zero_on_the_weekdays_a_series_is_closed(tmp_path, capsys):
    rng = np.random.default_rng(9)
    days = pd.date_range("2023-01-02", periods=420, freq="D")  # a Monday
    open_days = days[days.dayofweek < 5]  # the call centre sends no rows for weekends
    calls = 3000 + rng.normal(0, 90, len(open_days))
    shop = 300 + rng.normal(0, 9, len(days))
    frame = pd.concat(
        [
            pd.DataFrame({"day": open_days.strftime("%Y-%m-%d"), "item": "calls", "value": calls}),
            pd.DataFrame({"day": days.strftime("%Y-%m-%d"), "item": "shop", "value": shop}),
        ]
    )
    out, captured = _train_items(tmp_path, capsys, frame.round(2), "snaive,ets,theta")
    archive = zipfile.ZipFile(out)
    assert json.loads(archive.read("metadata.json"))["closed_weekdays"] == {"calls": [5, 6]}
    forecast = pd.read_csv(io.BytesIO(archive.read("forecast.csv")), parse_dates=["ds"])
    calls = forecast[forecast["item"] == "calls"]
    weekend = calls["ds"].dt.dayofweek >= 5
    assert weekend.sum() == 4 and (calls.loc[weekend, ["yhat", "yhat_lower", "yhat_upper"]] == 0).all().all()
    assert (calls.loc[~weekend, "yhat"] > 2000).all()
    assert "1 series forecast as zero on the weekdays they are closed: calls (Sat, Sun)" in captured.out


def test_cli_names_the_series_fitted_around_their_yearly_shape(tmp_path, capsys):
    rng = np.random.default_rng(4)
    days = pd.date_range("2021-01-01", periods=900, freq="D")
    t = np.arange(len(days))
    births = 500 + 80 * np.sin(2 * np.pi * t / 365.25) + rng.normal(0, 10, len(days))
    price = 50 + np.cumsum(rng.normal(0, 1, len(days)))
    frame = pd.concat(
        [
            pd.DataFrame({"day": days.strftime("%Y-%m-%d"), "item": "births", "value": births}),
            pd.DataFrame({"day": days.strftime("%Y-%m-%d"), "item": "price", "value": price}),
        ]
    )
    out, captured = _train_items(tmp_path, capsys, frame.round(2), "naive,ets,theta")
    meta = json.loads(zipfile.ZipFile(out).read("metadata.json"))
    assert meta["yearly_series"] == ["births"]
    assert "1 series that repeat their yearly shape (ets and theta fitted around it): births" in captured.out


def test_weekly_configuration_has_its_own_defaults():
    """The weekly defaults (chosen on M4 Weekly 1-100) apply to weekly data, never to daily data."""
    from project.training import DEFAULT_CANDIDATES, WEEKLY_CANDIDATES

    weekly = TrainConfig(freq="W", horizon=None).for_freq()  # as the CLI builds it for --freq W
    assert weekly.candidates == WEEKLY_CANDIDATES == ("naive", "snaive", "ets", "theta", "auto_arima")
    assert weekly.pool_trim is None  # the mean of every candidate is the pool
    assert (weekly.season_length, weekly.step, weekly.horizon) == (52, 4, 13)
    assert weekly.max_train_days == 260  # five years of weeks
    assert weekly.random_walk_ratio is None  # the weekly defaults were chosen without the rule
    assert TrainConfig().for_freq("W").candidates == WEEKLY_CANDIDATES  # weekly dates, freq inferred
    daily = TrainConfig().for_freq("D")
    assert (daily.candidates, daily.pool_trim, daily.max_train_days) == (DEFAULT_CANDIDATES, 1.25, 1095)
    explicit = TrainConfig(candidates=("naive", "theta"), pool_trim=1.1, max_train_days=400).for_freq("W")
    assert explicit.candidates == ("naive", "theta")
    assert (explicit.pool_trim, explicit.max_train_days) == (1.1, 400)
    # known-future regressors keep gbm, the default candidate that reads them
    assert TrainConfig(freq="W", regressors=("promo",)).for_freq().candidates == (*WEEKLY_CANDIDATES, "gbm")


def test_cli_weekly_data_is_trained_with_the_weekly_candidates(tmp_path, capsys):
    rng = np.random.default_rng(3)
    weeks = pd.date_range("2021-01-03", periods=90, freq="W-SUN")
    sales = 500 + 80 * np.sin(np.arange(90) * 2 * np.pi / 52) + rng.normal(0, 15, 90)
    src = tmp_path / "weekly.csv"
    pd.DataFrame({"week": weeks.strftime("%Y-%m-%d"), "sales": sales.round(1)}).to_csv(src, index=False)
    out = tmp_path / "w.zip"
    args = ["--input", str(src), "--date-col", "week", "--target-col", "sales", "--freq", "W"]
    code = main([*args, "--signing-key", "k", "--output", str(out), "-q"])
    assert code == em.EXIT_OK, capsys.readouterr().err
    meta = json.loads(zipfile.ZipFile(out).read("metadata.json"))
    assert tuple(meta["params"]["candidates"]) == em.WEEKLY_CANDIDATES
    assert meta["params"]["pool_trim"] is None and meta["params"]["season_length"] == 52
    (scores,) = meta["metrics"]["candidates"].values()
    assert "auto_arima" in scores  # backtested like every candidate


BAD_INPUTS = {
    "empty": ("", "empty"),
    "one_row": ("day,sales\n2024-01-01,3\n", "single data row"),
    "non_numeric": ("day,sales\n2024-01-01,3\n2024-01-02,abc\n2024-01-03,4\n", "sales"),
    "bad_dates": ("day,sales\nyesterday,3\nnot a date,4\n2024-01-03,5\n", "day"),
    "future": ("day,sales\n2024-01-01,3\n2099-01-02,4\n", "after today"),
    "all_zero": ("day,sales\n" + "".join(f"2024-01-{d:02d},0\n" for d in range(1, 29)), "zero"),
}


@pytest.mark.parametrize("case", sorted(BAD_INPUTS))
def test_cli_bad_input_one_line_exit_2_and_no_zip(tmp_path, capsys, case):
    text, expected = BAD_INPUTS[case]
    src = tmp_path / "bad.csv"
    src.write_text(text)
    out = tmp_path / "m.zip"
    code = main(
        ["--input", str(src), "--date-col", "day", "--target-col", "sales", "--horizon", "7",
         "--candidates", FAST, "--signing-key", "k", "--output", str(out), "-q"]
    )  # fmt: skip
    err = capsys.readouterr().err
    assert code == em.EXIT_BAD_INPUT
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error:"), err
    assert expected in lines[0]
    assert "Traceback" not in err
    assert list(tmp_path.iterdir()) == [src]


_BASE = [
    "--input",
    "x.csv",
    "--date-col",
    "d",
    "--target-col",
    "y",
    "--output",
    "m.zip",
    "--signing-key",
    "k",
]


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (["--date-col", "d"], "missing argument"),
        (["--input", "nope.csv", *_BASE[2:]], "does not exist"),
        ([*_BASE, "--candidates", "magic"], "unknown candidate"),
        ([*_BASE, "--metric", "r2"], "unknown metric"),
        (["--horizon", "many"], "invalid int"),
    ],
)
def test_cli_bad_arguments_exit_2(tmp_path, monkeypatch, capsys, argv, expected):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("AI_TRAIN_MODEL_SIGNING_KEY", raising=False)
    code = main(argv)  # argparse's usage error too: main returns the code, never raises SystemExit
    err = capsys.readouterr().err
    assert code == em.EXIT_BAD_INPUT
    assert expected in err and "Traceback" not in err
    assert not list(tmp_path.glob("*.zip"))


def test_cli_without_signing_key_refuses(tmp_path, monkeypatch, capsys):
    monkeypatch.delenv("AI_TRAIN_MODEL_SIGNING_KEY", raising=False)
    src = tmp_path / "s.csv"
    _frame(stores=("A",)).to_csv(src, index=False)
    code = main(
        [
            "--input",
            str(src),
            "--date-col",
            "day",
            "--target-col",
            "sales",
            "--output",
            str(tmp_path / "m.zip"),
        ]
    )
    assert code == em.EXIT_BAD_INPUT
    assert "signing key" in capsys.readouterr().err
    assert not (tmp_path / "m.zip").exists()



def test_artifact_keeps_the_backtest_error_of_every_horizon_day(tmp_path):
    out = tmp_path / "model.zip"
    summary = train_to_artifact(
        _frame(),
        out,
        date_col="day",
        target_col="sales",
        series_cols=["store"],
        config=_config(),
        signing_key=KEY,
    )
    assert "horizon_errors.csv" in verify_artifact(out, KEY)  # signed like the other members
    per_day = load_artifact(out, KEY).horizon_errors
    assert list(per_day.columns) == ["unique_id", "model", "horizon", "mase"]
    per_day["unique_id"] = per_day["unique_id"].astype(str)
    counts = per_day.groupby(["unique_id", "model"]).size()
    assert (counts == 14).all() and set(counts.index.get_level_values(0)) == {"A", "B", "C"}
    assert np.isfinite(per_day["mase"]).all() and (per_day["mase"] >= 0).all()
    metrics = summary.metrics[summary.metrics["metric"] == "mase"].copy()
    # every candidate and ensemble of the metrics has its lines, the chosen one included
    assert set(map(tuple, metrics[["unique_id", "model"]].drop_duplicates().to_numpy())) == set(counts.index)
    for bucket, day in (("D+1", 1), ("D+7", 7)):
        stored = metrics[metrics["bucket"] == bucket].set_index(["unique_id", "model"])["value"]
        daily = per_day[per_day["horizon"] == day].set_index(["unique_id", "model"])["mase"]
        pd.testing.assert_series_equal(daily.sort_index(), stored.sort_index(), check_names=False)
    whole = metrics[metrics["bucket"] == "1-14"].set_index(["unique_id", "model"])["value"]
    mean_1_14 = per_day.groupby(["unique_id", "model"])["mase"].mean()
    np.testing.assert_allclose(mean_1_14.sort_index(), whole.sort_index(), rtol=1e-9)


def test_artifact_without_backtest_has_no_horizon_errors_member(tmp_path):
    out = tmp_path / "model.zip"
    short = _frame(n=20)  # too short for a backtest: no per-day error to keep
    train_to_artifact(
        short, out, date_col="day", target_col="sales", series_cols=["store"],
        config=_config(), signing_key=KEY,
    )  # fmt: skip
    assert "horizon_errors.csv" not in verify_artifact(out, KEY)
    assert load_artifact(out, KEY).horizon_errors.empty
