"""Ragged panels, stale series, demand classes, intermittent models, frequencies and regressors (issue 9)."""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd
import pytest

from project.calendars import infer_freq, is_stale, stale_limit, usual_gap
from project.errors import InputError
from project.forecasting.demand import classify_demand, closed_now, closed_phases
from project.forecasting.models import make_model
from project.incremental_training import update_series
from project.preparation import prepare
from project.training import TrainConfig, train, train_to_artifact
from project.utils.selection import fit_series

TODAY = "2030-01-01"


def _long(uid: str, days: pd.DatetimeIndex, values) -> pd.DataFrame:
    return pd.DataFrame({"store": uid, "date": days.strftime("%Y-%m-%d"), "sales": np.asarray(values, float)})


# --------------------------------------------------------------------------- stale rule


def test_stale_rule_thresholds():
    # usual gap 1 day: a week of silence is routine, eight days are not
    assert stale_limit(1.0, 28) == 7 and not is_stale(7, 1.0, 28) and is_stale(8, 1.0, 28)
    # a slow product selling every ~6 days may stay silent 18 days
    assert stale_limit(6.0, 28) == 18 and not is_stale(18, 6.0, 28) and is_stale(19, 6.0, 28)
    # never longer than the horizon, whatever the usual gaps
    assert stale_limit(20.0, 28) == 28 and is_stale(29, 20.0, 28)
    # weekly data: two silent weeks are still routine
    assert stale_limit(1.0, 13, "W") == 3 and not is_stale(3, 1.0, 13, "W") and is_stale(4, 1.0, 13, "W")
    assert usual_gap(np.array([0, 1, 2, 3, 10])) == pytest.approx(np.quantile([1, 1, 1, 7], 0.95))
    assert usual_gap(np.array([5])) == 1.0


def _ragged_panel() -> pd.DataFrame:
    rng = np.random.default_rng(0)
    days = pd.date_range("2023-01-01", "2023-12-31", freq="D")
    busy = _long("busy", days, 500 + rng.normal(0, 20, len(days)))
    old = _long("old", days[:200], 300 + rng.normal(0, 10, 200))  # stopped in July
    sparse_days = days[rng.random(len(days)) < 0.3]
    sparse_days = sparse_days[sparse_days <= pd.Timestamp("2023-12-27")]
    sparse = _long("sparse", sparse_days, rng.integers(1, 4, len(sparse_days)))
    return pd.concat([busy, old, sparse], ignore_index=True)


def test_stale_series_forecast_from_own_end_by_default():
    prepared = prepare(_ragged_panel(), "date", "sales", ["store"], today=TODAY, horizon=28)
    report = prepared.report.set_index("unique_id")
    assert bool(report.loc["old", "stale"]) and report.loc["old", "last_date"] == "2023-07-19"
    assert not report.loc[["busy", "sparse"], "stale"].any()
    # a routine silence of a sparse series (a few days) is zero demand up to the input's end
    assert report.loc["sparse", "last_date"] == "2023-12-31"
    last_sale = pd.Timestamp(report.loc["sparse", "last_observed"])
    assert report.loc["sparse", "silence"] == (pd.Timestamp("2023-12-31") - last_sale).days
    assert prepared.policy["stale_series"] == ["old"]
    assert any("'old' is stale: nothing since 2023-07-19" in w for w in prepared.warnings)
    result = train(prepared, TrainConfig(candidates=("naive", "snaive"), horizon=7))
    starts = {r.unique_id: r.forecast["ds"].iloc[0] for r in result.results}
    assert starts == {
        "busy": pd.Timestamp("2024-01-01"),
        "old": pd.Timestamp("2023-07-20"),
        "sparse": pd.Timestamp("2024-01-01"),
    }


def test_stale_policy_zero_and_drop():
    zero = prepare(_ragged_panel(), "date", "sales", ["store"], today=TODAY, horizon=28, stale="zero")
    old = zero.data[zero.data["unique_id"] == "old"].set_index("ds")["y"]
    assert old.index[-1] == pd.Timestamp("2023-12-31") and (old.loc["2023-07-20":] == 0).all()
    assert any("read as zero demand (--stale zero)" in w for w in zero.warnings)
    dropped = prepare(_ragged_panel(), "date", "sales", ["store"], today=TODAY, horizon=28, stale="drop")
    assert sorted(dropped.report["unique_id"]) == ["busy", "sparse"]
    assert dropped.policy["dropped_stale"] == ["old"]
    assert any("'old' is stale" in w and "left out" in w for w in dropped.warnings)
    with pytest.raises(InputError, match="stale policy 'later' is unknown"):
        prepare(_ragged_panel(), "date", "sales", ["store"], today=TODAY, stale="later")


def test_stale_flag_reaches_series_summary_and_metadata(tmp_path):
    config = TrainConfig(candidates=("naive", "snaive"), horizon=7)
    summary = train_to_artifact(
        _ragged_panel()[lambda f: f["store"] != "sparse"],
        tmp_path / "m.zip",
        date_col="date",
        target_col="sales",
        series_cols=["store"],
        config=config,
        signing_key=b"k" * 32,
    )
    assert summary.metadata["stale_series"] == ["old"]
    assert summary.series.set_index("unique_id")["stale"].to_dict() == {"busy": False, "old": True}
    assert summary.metadata["missing_policy"]["stale"] == "own-end"


# --------------------------------------------------------------------------- closed weekdays, demand


def test_weekday_only_business_is_closed_on_weekends_not_intermittent():
    rng = np.random.default_rng(1)
    days = pd.date_range("2024-01-01", periods=140, freq="D")
    weekdays = days[days.dayofweek < 5]  # no rows on Saturdays and Sundays
    frame = _long("calls", weekdays, 30000 + rng.normal(0, 500, len(weekdays)))
    prepared = prepare(frame, "date", "sales", ["store"], today=TODAY)
    row = prepared.report.iloc[0]
    assert row["policy"] == "auto:busy" and row["closed_weekdays"] == "Sat,Sun"
    y = prepared.data["y"].to_numpy()
    profile = classify_demand(y, 7)
    assert profile.kind == "smooth" and not profile.sparse and profile.closed == (5, 6)
    # without the closed-weekday rule the same zeros would look intermittent
    assert classify_demand(np.where(y == 0, 0.0, y), 1).kind == "intermittent"


@pytest.mark.parametrize(
    "values, kind",
    [
        (np.tile([10.0, 11.0, 9.0, 10.0], 30), "smooth"),
        (np.tile([1.0, 30.0, 2.0, 25.0], 30), "erratic"),
        (np.tile([5.0, 0.0, 0.0, 5.0, 0.0], 24), "intermittent"),
        (np.tile([1.0, 0.0, 0.0, 40.0, 0.0, 0.0], 20), "lumpy"),
        (np.zeros(60), "zero"),
    ],
)
def test_syntetos_boylan_classification(values, kind):
    profile = classify_demand(values, season_length=1)
    assert profile.kind == kind
    assert profile.sparse == (kind in ("intermittent", "lumpy"))


def test_classification_reads_the_recent_window_and_closed_phases():
    old = np.tile([3.0, 0.0, 0.0, 0.0], 50)
    recent = np.full(100, 10.0)
    assert classify_demand(np.r_[old, recent], season_length=1, window=100).kind == "smooth"
    assert classify_demand(np.r_[old, recent], season_length=1).sparse
    week = np.tile([5.0, 6.0, 5.0, 7.0, 6.0, 0.0, 0.0], 10)
    assert closed_phases(week, 7) == (5, 6)
    assert closed_phases(week, 7, offset=2) == (0, 1)


def test_closed_now_keeps_the_phases_still_closed():
    week = np.tile([5.0, 6.0, 5.0, 7.0, 6.0, 0.0, 0.0], 20)
    assert closed_now(week, 7, (5, 6)) == (5, 6)
    reopened = week.copy()
    reopened[-1] = 4.0  # the last Sunday had sales
    assert closed_now(reopened, 7, (5, 6)) == (5,)
    missing = week.copy()
    missing[-2] = np.nan  # a missing Saturday is no evidence of an opening
    assert closed_now(missing, 7, (5, 6)) == (5, 6)
    assert closed_now(week[:21], 7, (5, 6)) == ()  # fewer than four cycles
    assert closed_now(week, 7, ()) == ()


def _call_centre(n: int = 280, seed: int = 4) -> tuple[np.ndarray, pd.DatetimeIndex]:
    """Calls on weekdays with a weekly shape and a drift, zero on Saturdays and Sundays."""
    rng = np.random.default_rng(seed)
    ds = pd.date_range("2024-01-01", periods=n, freq="D")  # a Monday
    shape = np.array([1.2, 1.0, 0.95, 0.9, 0.8, 0.0, 0.0])[ds.dayofweek]
    y = shape * (30000 + 10 * np.arange(n) + rng.normal(0, 900, n))
    return y, ds


def test_closed_weekdays_are_forecast_as_zero_and_left_out_of_the_bands():
    y, ds = _call_centre()
    config = TrainConfig(candidates=("snaive", "ets", "theta")).for_freq("D")
    on = fit_series("calls", y, ds, config)
    off = fit_series("calls", y, ds, dataclasses.replace(config, closed_zero=False))
    weekend = on.forecast["ds"].dt.dayofweek.to_numpy() >= 5
    bands = [c for c in on.forecast.columns if c.startswith(("lo-", "hi-"))]
    assert (on.forecast.loc[weekend, ["mean", *bands]] == 0).all().all()
    assert on.closed_weekdays == (5, 6) and off.closed_weekdays == ()
    assert (off.forecast.loc[weekend, "mean"] != 0).any()  # what the models leave without the rule
    # the choice and the open days' forecast are the same with and without the rule
    assert on.model == off.model
    np.testing.assert_allclose(on.forecast.loc[~weekend, "mean"], off.forecast.loc[~weekend, "mean"])
    assert (on.forecast.loc[~weekend, "lo-80"] < on.forecast.loc[~weekend, "mean"]).all()
    # closed days' backtest errors do not calibrate the bands
    n, h, w = y.size, int(config.horizon), on.conformal_errors.shape[0]
    starts = [n - h - k * 7 for k in range(w)][::-1]
    shut = np.stack([ds[s : s + h].dayofweek >= 5 for s in starts])
    assert np.isnan(on.conformal_errors[shut]).all() and np.isfinite(on.conformal_errors[~shut]).all()
    # an update refits and keeps the closed days at zero
    more, more_ds = _call_centre(n=y.size + 7)
    updated, info = update_series("calls", more, more_ds, on, config, 10.0)
    assert info["action"].startswith("refit") and updated.closed_weekdays == (5, 6)
    weekend = updated.forecast["ds"].dt.dayofweek.to_numpy() >= 5
    assert (updated.forecast.loc[weekend, ["mean", *bands]] == 0).all().all()
    newest = updated.conformal_errors[-1]  # the errors of the last h days, added by the update
    closed = more_ds[-h:].dayofweek >= 5
    assert np.isnan(newest[closed]).all() and np.isfinite(newest[~closed]).all()


def test_a_weekday_that_reopened_gets_a_forecast_again():
    y, ds = _call_centre()
    y[np.flatnonzero(ds.dayofweek == 5)[-3:]] = [9000.0, 9500.0, 9800.0]  # open the last three Saturdays
    result = fit_series("calls", y, ds, TrainConfig(candidates=("snaive", "ets")).for_freq("D"))
    day = result.forecast["ds"].dt.dayofweek
    assert (result.forecast.loc[day == 6, "mean"] == 0).all()
    assert (result.forecast.loc[day == 5, "mean"] > 0).all()
    assert result.closed_weekdays == (6,)


# --------------------------------------------------------------------------- intermittent models


def test_sparse_series_get_intermittent_models_and_finite_scores():
    rng = np.random.default_rng(2)
    n = 300
    y = np.where(rng.random(n) < 0.25, rng.integers(1, 6, n), 0).astype(float)
    ds = pd.date_range("2023-01-01", periods=n, freq="D")
    result = fit_series("slow", y, ds, TrainConfig().for_freq("D"))
    assert result.demand in ("intermittent", "lumpy")
    assert set(result.members) <= {"croston", "tsb", "adida", "imapa"}
    chosen = result.metrics[result.metrics["chosen"]]
    for metric in ("rmsse", "mase"):
        values = chosen.loc[chosen["metric"] == metric, "value"]
        assert len(values) and np.isfinite(values).all()
    fc = result.forecast
    assert (fc["mean"] > 0).all() and (fc["mean"] < y.max()).all()  # a rate, not zero
    assert (fc["lo-95"] <= fc["mean"]).all() and (fc["mean"] <= fc["hi-95"]).all()
    assert result.interval_method.startswith("conformal")


def test_smooth_series_keep_the_default_candidates():
    rng = np.random.default_rng(3)
    n = 200
    y = 100 + 10 * np.sin(np.arange(n) * 2 * np.pi / 7) + rng.normal(0, 3, n)
    config = TrainConfig(candidates=("naive", "snaive", "theta")).for_freq("D")
    result = fit_series("busy", y, pd.date_range("2023-01-01", periods=n), config)
    assert result.demand == "smooth"
    assert set(result.members) <= {"naive", "snaive", "theta"}


@pytest.mark.parametrize("name", ["croston", "tsb", "adida", "imapa"])
def test_intermittent_wrappers_follow_the_model_contract(name):
    y = np.tile([0.0, 0.0, 3.0, 0.0, 1.0, 0.0, 0.0], 12)
    model = make_model(name, season_length=7).fit(y)
    frame = model.predict(14, level=(80, 95))
    assert list(frame.columns) == ["mean", "lo-80", "hi-80", "lo-95", "hi-95"]
    assert np.isfinite(frame.to_numpy()).all() and (frame["lo-95"] >= 0).all()
    assert model.native_intervals is False
    # the weekly profile: phases that never sell get (about) nothing
    phases = (len(y) + np.arange(14)) % 7
    assert frame["mean"].to_numpy()[np.isin(phases, [0, 1, 3, 5, 6])].max() == pytest.approx(0.0)


# --------------------------------------------------------------------------- frequency


def test_infer_freq():
    daily = pd.date_range("2024-01-01", periods=30, freq="D").to_numpy()
    weekly = pd.date_range("2024-01-07", periods=30, freq="W-SUN").to_numpy()
    monthly = pd.date_range("2020-01-01", periods=30, freq="MS").to_numpy()
    month_end = pd.date_range("2020-01-31", periods=30, freq="ME").to_numpy()
    assert infer_freq([daily]) == "D"
    assert infer_freq([weekly, weekly[::2]]) == "W"
    assert infer_freq([monthly]) == "M" and infer_freq([month_end]) == "M"
    assert infer_freq([weekly, daily]) == "D"  # one daily series makes the panel daily
    with pytest.raises(InputError, match="pass the frequency"):
        infer_freq([daily[:1], weekly[:1]])


def test_weekly_data_through_training_has_weekly_dates_and_yearly_season(tmp_path):
    rng = np.random.default_rng(4)
    weeks = pd.date_range("2020-01-05", periods=160, freq="W-SUN")
    values = 1000 + 100 * np.sin(np.arange(160) * 2 * np.pi / 52) + rng.normal(0, 20, 160)
    frame = _long("w", weeks, values).drop(index=[40, 41])  # two missing weeks: an outage
    summary = train_to_artifact(
        frame,
        tmp_path / "w.zip",
        date_col="date",
        target_col="sales",
        series_cols=["store"],
        config=TrainConfig(candidates=("naive", "snaive", "theta"), horizon=None),
        signing_key=b"k" * 32,
    )
    params = summary.metadata["params"]
    assert (params["freq"], params["season_length"], params["horizon"]) == ("W", 52, 13)
    fc = summary.forecast
    assert fc["ds"].iloc[0] == weeks[-1] + pd.Timedelta(days=7) and len(fc) == 13
    assert (pd.DatetimeIndex(fc["ds"]).dayofweek == 6).all()
    with pytest.raises(InputError, match="same weekday"):
        prepare(
            _long("w", pd.DatetimeIndex(["2024-01-01", "2024-01-09"]), [1, 2]),
            "date",
            "sales",
            today=TODAY,
            freq="W",
        )


# --------------------------------------------------------------------------- regressors


def _promo_frames():
    rng = np.random.default_rng(5)
    days = pd.date_range("2024-01-01", periods=200, freq="D")
    promo = (rng.random(200) < 0.2).astype(float)
    history = _long("s", days, 100 + 80 * promo + rng.normal(0, 5, 200)).assign(promo=promo)
    future_days = pd.date_range(days[-1] + pd.Timedelta(days=1), periods=14, freq="D")
    future = pd.DataFrame({"store": "s", "date": future_days.strftime("%Y-%m-%d"), "promo": 0.0})
    future.loc[[3, 10], "promo"] = 1.0
    return history, future


def test_known_future_regressors_drive_the_forecast(tmp_path):
    history, future = _promo_frames()
    config = TrainConfig(candidates=("gbm", "sarimax"), horizon=14, regressors=("promo",), ensemble=False)
    summary = train_to_artifact(
        history,
        tmp_path / "r.zip",
        date_col="date",
        target_col="sales",
        series_cols=["store"],
        config=config,
        signing_key=b"k" * 32,
        future=future,
    )
    yhat = summary.forecast["yhat"].to_numpy()
    promo_days = yhat[[3, 10]]
    other = np.delete(yhat, [3, 10])
    assert promo_days.min() > other.max()  # the promotion is seen in the forecast


def test_missing_future_regressors_are_clear_errors(tmp_path):
    history, future = _promo_frames()
    config = TrainConfig(candidates=("gbm",), horizon=14, regressors=("promo",))
    kwargs = {"date_col": "date", "target_col": "sales", "series_cols": ["store"], "config": config}
    with pytest.raises(InputError, match="pass a future frame"):
        train_to_artifact(history, tmp_path / "a.zip", signing_key=b"k" * 32, **kwargs)
    with pytest.raises(
        InputError, match=r"no 'promo' for series 's' on 2024-07-27, 2024-07-28, 2024-07-29 and 3 more"
    ):
        train_to_artifact(
            history, tmp_path / "b.zip", signing_key=b"k" * 32, future=future.iloc[:8], **kwargs
        )
    with pytest.raises(InputError, match="lacks column"):
        train_to_artifact(
            history, tmp_path / "c.zip", signing_key=b"k" * 32, future=future.drop(columns="promo"), **kwargs
        )
    with pytest.raises(InputError, match="regressor column\\(s\\) 'price' not found"):
        prepare(history, "date", "sales", ["store"], today=TODAY, regressors=["price"])
    assert not (tmp_path / "a.zip").exists() and not (tmp_path / "b.zip").exists()


# --------------------------------------------------------------------------- per-horizon conformal


def test_conformal_bands_are_per_horizon_and_never_narrow_with_distance():
    """One quantile per horizon; ``nondecreasing`` fits them isotonically (a calm horizon pools)."""
    from project.forecasting.intervals import conformal_bands

    rng = np.random.default_rng(6)
    scale = np.array([1.0, 2.0, 4.0, 1.0, 8.0])  # horizon 4 happened to be calm in the backtest
    errors = rng.normal(0, 1, (40, 5)) * scale
    plain = conformal_bands(np.zeros(5), errors, (80, 95))
    widths = plain["hi-95"].to_numpy()
    assert widths[0] < widths[1] < widths[2] and widths[3] < widths[2]  # one quantile per horizon
    assert np.quantile(np.abs(errors[:, 2]), 0.95) <= widths[2] <= np.abs(errors[:, 2]).max()
    mono = conformal_bands(np.zeros(5), errors, (80, 95), nondecreasing=True)
    for lv in (80, 95):
        hi, raw = mono[f"hi-{lv}"].to_numpy(), plain[f"hi-{lv}"].to_numpy()
        assert (np.diff(hi) >= 0).all()
        # the calm horizon and the one before it are pooled into their mean, not lifted to the wider one
        assert hi[3] == hi[2] == pytest.approx((raw[2] + raw[3]) / 2)
        assert raw[3] < hi[3] < raw[2]
        assert hi[[0, 1, 4]] == pytest.approx(raw[[0, 1, 4]])
    assert (mono["hi-95"] >= mono["hi-80"]).all()
