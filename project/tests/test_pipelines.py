"""Contract, guard and interval tests of project.utils.pipelines."""

import io
import logging

import joblib
import numpy as np
import pandas as pd
import pytest

from project.utils.pipelines import (
    MODELS,
    BaseForecaster,
    GuardedModel,
    conformal_bands,
    make_model,
)

H = 14
FAST = ["naive", "snaive", "ets", "sarimax", "gbm", "theta"]


def _synthetic(n=150, seed=0):
    rng = np.random.default_rng(seed)
    ds = pd.date_range("2023-01-02", periods=n, freq="D")
    weekly = np.array([1.0, 1.1, 1.2, 1.1, 1.0, 0.6, 0.5])[ds.dayofweek]
    y = (100 + 0.2 * np.arange(n)) * weekly * rng.lognormal(0, 0.08, n)
    return y, ds


def _check_contract(frame: pd.DataFrame, h: int, levels=(80, 95)):
    expected = ["mean"] + [f"{s}-{lv}" for lv in levels for s in ("lo", "hi")]
    assert list(frame.columns) == expected
    assert len(frame) == h
    values = frame.to_numpy(dtype=float)
    assert np.isfinite(values).all()
    narrow, wide = min(levels), max(levels)
    assert (frame[f"lo-{wide}"] <= frame[f"lo-{narrow}"] + 1e-9).all()
    assert (frame[f"lo-{narrow}"] <= frame["mean"] + 1e-9).all()
    assert (frame["mean"] <= frame[f"hi-{narrow}"] + 1e-9).all()
    assert (frame[f"hi-{narrow}"] <= frame[f"hi-{wide}"] + 1e-9).all()


@pytest.mark.parametrize("name", FAST)
def test_model_contract_and_pickle(name):
    y, ds = _synthetic()
    model = make_model(name, season_length=7)
    assert model.fit(y, ds) is model
    frame = model.predict(H)
    _check_contract(frame, H)
    # a sensible forecast of a level-100 weekly series, not just any finite numbers
    assert 30 < frame["mean"].mean() < 300
    assert (frame["lo-95"] >= 0).all()  # non-negative series stay non-negative
    buffer = io.BytesIO()
    joblib.dump(model, buffer)
    assert buffer.tell() < 2_000_000
    buffer.seek(0)
    restored = joblib.load(buffer)
    pd.testing.assert_frame_equal(restored.predict(H), frame)


def test_prophet_contract_with_holidays(capfd):
    pytest.importorskip("prophet")
    y, ds = _synthetic(n=120)
    model = make_model("prophet", country="US", uncertainty_samples=50)
    model.fit(y, ds)
    assert "cmdstanpy - INFO" not in capfd.readouterr().err  # fit logging silenced
    frame = model.predict(7, level=(50, 90))
    _check_contract(frame, 7, levels=(50, 90))
    assert "Christmas Day" in set(model.model_.train_holiday_names)
    restored = joblib.load(_dump(model))
    assert len(restored.predict(3, level=(80,))) == 3


def test_prophet_point_forecast_skips_the_simulation_and_keeps_yhat():
    pytest.importorskip("prophet")
    y, ds = _synthetic(n=120)
    model = make_model("prophet", uncertainty_samples=30).fit(y, ds)
    future = pd.DataFrame({"ds": ds[-1] + pd.Timedelta(days=1) * np.arange(1, 8)})
    expected = model.model_.predict(future)  # Prophet's own predict, with its draws
    assert {"yhat_lower", "yhat_upper"} <= set(expected.columns)
    draws = []
    simulate = model.model_.predict_uncertainty
    model.model_.predict_uncertainty = lambda *a, **k: draws.append(a) or simulate(*a, **k)
    point = model.predict(7, level=())
    assert not draws  # the point forecast of a backtest draws nothing
    np.testing.assert_allclose(point["mean"].to_numpy(), np.maximum(expected["yhat"].to_numpy(), 0))
    assert model.model_.uncertainty_samples == 30  # restored for the bands
    banded = model.predict(7, level=(80,))
    np.testing.assert_allclose(banded["mean"].to_numpy(), point["mean"].to_numpy())
    assert (banded["hi-80"] > banded["lo-80"]).all()


def _dump(obj):
    buffer = io.BytesIO()
    joblib.dump(obj, buffer)
    buffer.seek(0)
    return buffer


def test_registry_and_factory():
    assert set(MODELS) == {
        *("naive", "snaive", "ets", "sarimax", "prophet", "gbm", "theta"),
        *("auto_ets", "auto_theta", "auto_arima", "auto_ces"),  # statsforecast (issue 9)
        *("croston", "tsb", "adida", "imapa"),  # intermittent demand (issue 9)
    }
    model = make_model("ets", season_length=7, country="US", damped=False)
    assert model.damped is False
    with pytest.raises(ValueError, match="Unknown model 'arima'"):
        make_model("arima")
    assert make_model("gbm").native_intervals is False
    assert make_model("theta").native_intervals is False
    assert make_model("ets").native_intervals is True


def test_custom_levels_and_unfitted_model():
    y, ds = _synthetic()
    frame = make_model("snaive").fit(y, ds).predict(10, level=(50, 99))
    _check_contract(frame, 10, levels=(50, 99))
    with pytest.raises(RuntimeError, match="not fitted"):
        make_model("theta").predict(3)
    with pytest.raises(ValueError, match="level"):
        make_model("naive").fit(y, ds).predict(3, level=(120,))


@pytest.mark.parametrize("name", [*FAST, "prophet"])
def test_point_forecast_without_levels(name):
    """``level=()`` (what backtests ask for) returns the mean column only."""
    if name == "prophet":
        pytest.importorskip("prophet")
    y, ds = _synthetic(n=100)
    model = make_model(name, uncertainty_samples=20)
    frame = model.fit(y, ds).predict(5, level=())
    assert list(frame.columns) == ["mean"]
    assert len(frame) == 5 and np.isfinite(frame["mean"]).all()


def test_seasonal_naive_values_and_band_growth():
    y = np.tile(np.arange(1.0, 8.0), 5) + np.r_[np.zeros(28), np.ones(7)]
    ds = pd.date_range("2024-01-01", periods=len(y))
    frame = make_model("snaive").fit(y, ds).predict(14)
    np.testing.assert_allclose(frame["mean"], np.tile(y[-7:], 2))
    width = (frame["hi-80"] - frame["lo-80"]).to_numpy()
    assert width[7] > width[6] > 0  # second season is wider (sqrt of seasons)


def test_sample_forecasts_are_close_to_actuals(wiki_df):
    """On a real page every fast model stays within a sane MASE of the hold-out."""
    page = wiki_df["page"].iloc[0]
    g = wiki_df[wiki_df["page"] == page]
    y = g["pageviews"].to_numpy(float)
    ds = pd.DatetimeIndex(pd.to_datetime(g["date"]))
    train, test = y[:-28], y[-28:]
    scale = np.mean(np.abs(train[7:] - train[:-7]))
    for name in FAST:
        model = GuardedModel(make_model(name))
        frame = model.fit(train, ds[:-28]).predict(28)
        _check_contract(frame, 28)
        assert model.fallback_reason_ is None, (name, model.fallback_reason_)
        mase = np.mean(np.abs(test - frame["mean"].to_numpy())) / scale
        assert mase < 3.0, (name, mase)


# ---------------------------------------------------------------- guard / fallback


class _Exploding(BaseForecaster):
    name = "exploding"

    def __init__(self, season_length=7):
        self.season_length = season_length

    def _fit(self, y, ds, X):
        self.top_ = float(np.max(y))

    def _predict(self, h, levels, X):
        mean = np.full(h, 1000.0 * self.top_)
        return mean, dict.fromkeys(levels, (mean - 1, mean + 1))


class _NaN(_Exploding):
    name = "nan"

    def _predict(self, h, levels, X):
        mean = np.full(h, np.nan)
        return mean, dict.fromkeys(levels, (mean, mean))


class _Broken(_Exploding):
    name = "broken"

    def _fit(self, y, ds, X):
        raise np.linalg.LinAlgError("singular matrix")


def _snaive_forecast(y, ds, h=H):
    return make_model("snaive").fit(y, ds).predict(h)


@pytest.mark.parametrize(
    "model, reason",
    [
        (_Exploding(), "explodes"),
        (_NaN(), "not finite"),
        (_Broken(), "fit failed: LinAlgError: singular matrix"),
    ],
)
def test_guard_falls_back_to_seasonal_naive(model, reason):
    y, ds = _synthetic()
    guarded = GuardedModel(model).fit(y, ds)
    frame = guarded.predict(H)
    assert reason in guarded.fallback_reason_
    _check_contract(frame, H)
    pd.testing.assert_frame_equal(frame, _snaive_forecast(y, ds))
    assert joblib.load(_dump(guarded)).predict(H).equals(frame)


def test_guard_too_short_series_is_reported():
    y, ds = _synthetic(n=12)
    guarded = GuardedModel(make_model("ets")).fit(y, ds)
    assert "too short for ets: 12 observations, needs 18" in guarded.fallback_reason_
    _check_contract(guarded.predict(H), H)
    tiny = GuardedModel("gbm").fit(np.array([5.0, 6.0, 7.0]), pd.date_range("2024-01-01", periods=3))
    frame = tiny.predict(5)
    assert "too short for gbm" in tiny.fallback_reason_
    np.testing.assert_allclose(frame["mean"], 7.0)  # snaive degrades to naive


def test_guard_keeps_a_healthy_model():
    y, ds = _synthetic()
    guarded = GuardedModel("theta").fit(y, ds)
    frame = guarded.predict(H)
    assert guarded.fallback_reason_ is None
    assert guarded.native_intervals is False
    pd.testing.assert_frame_equal(frame, make_model("theta").fit(y, ds).predict(H))


@pytest.mark.parametrize("name", FAST)
def test_all_zero_series_does_not_crash(name):
    y = np.zeros(90)
    ds = pd.date_range("2024-01-01", periods=90)
    guarded = GuardedModel(make_model(name)).fit(y, ds)
    frame = guarded.predict(7)
    _check_contract(frame, 7)
    np.testing.assert_allclose(frame.to_numpy(), 0.0, atol=1e-6)


def test_missing_values_are_interpolated_not_fatal():
    y, ds = _synthetic()
    y[[10, 11, 50]] = np.nan
    frame = make_model("theta").fit(y, ds).predict(7)
    _check_contract(frame, 7)


# ---------------------------------------------------------------- conformal bands


def test_conformal_bands_quantiles_and_monotone():
    mean = np.array([10.0, 10.0, 10.0])
    errors = np.array(
        [
            [1.0, -2.0, 3.0],
            [-1.5, 2.5, -4.0],
            [0.5, -1.0, 5.0],
            [2.0, 0.5, np.nan],
        ]
    )
    frame = conformal_bands(mean, errors, levels=(50, 95))
    _check_contract(frame, 3, levels=(50, 95))
    # level 50 with n = 4: the ceil(5 * 0.5) = 3rd smallest |e| of 0.5, 1, 1.5, 2
    assert frame.loc[0, "hi-50"] == pytest.approx(11.5)
    # level 95: the largest error (finite-sample correction saturates)
    assert frame.loc[0, "hi-95"] == pytest.approx(12.0)
    assert frame.loc[2, "lo-95"] == pytest.approx(5.0)  # NaN ignored: max of 3, 4, 5
    assert frame.loc[1, "lo-95"] == pytest.approx(7.5)


def test_conformal_bands_extends_horizon_and_clips():
    mean = np.array([1.0, 2.0, 3.0, 4.0])
    errors = np.array([[0.5, 3.0], [1.0, 2.0]])
    frame = conformal_bands(mean, errors, levels=(80,), lower_bound=0.0)
    assert len(frame) == 4
    assert frame["hi-80"].tolist() == pytest.approx([2.0, 5.0, 6.0, 7.0])
    assert (frame["lo-80"] >= 0).all()
    empty = conformal_bands(mean, np.empty((0, 4)), levels=(80, 95))
    np.testing.assert_allclose(empty["hi-95"], mean)


def test_gbm_uses_known_exogenous_promotions():
    rng = np.random.default_rng(3)
    n, h = 240, 14
    ds = pd.date_range("2023-01-01", periods=n + h)
    promo = (rng.random(n + h) < 0.2).astype(float)
    promo[n:] = np.arange(h) % 3 == 0  # some promotion days in the future
    y = 100 * (1 + 1.5 * promo) * rng.lognormal(0, 0.05, n + h)
    X = pd.DataFrame({"promo": promo})
    model = make_model("gbm", known_exog=("promo",), max_horizon=h, select_features=True)
    model.fit(y[:n], ds[:n], X=X.iloc[:n])
    frame = model.predict(h, X=X.iloc[n:])
    _check_contract(frame, h)
    on = frame["mean"][promo[n:] == 1]
    off = frame["mean"][promo[n:] == 0]
    assert len(on) and on.min() > 1.5 * off.max()
    assert "x_promo" in model.features_
    guarded = GuardedModel(model).fit(y[:n], ds[:n], X=X.iloc[:n])
    guarded.predict(h)  # future promotions not given: clear failure, then fallback
    assert "needs X with 14 future rows" in guarded.fallback_reason_


@pytest.mark.parametrize("name", FAST)
def test_series_with_negative_values(name):
    """A signed series (e.g. a net balance) is modelled on the raw scale, unclipped."""
    y, ds = _synthetic(seed=4)
    signed = y - 120.0
    frame = make_model(name).fit(signed, ds).predict(H)
    _check_contract(frame, H)
    assert (frame["lo-95"] < 0).any()
    assert -150 < frame["mean"].mean() < 150


def test_gbm_beyond_trained_horizon():
    y, ds = _synthetic()
    model = make_model("gbm", max_horizon=7).fit(y, ds)
    frame = model.predict(21)
    _check_contract(frame, 21)
    assert frame["mean"].min() > 30 and frame["mean"].max() < 300


# ---------------------------------------------------------------- weekly data, yearly season


def _weekly_yearly(n=260, seed=1):
    rng = np.random.default_rng(seed)
    ds = pd.date_range("2015-01-04", periods=n, freq="W-SUN")
    season = 1.0 + 0.4 * np.sin(2 * np.pi * np.arange(n) / 52)
    y = (200 + 0.5 * np.arange(n)) * season * rng.lognormal(0, 0.03, n)
    return y, ds


def test_seasonal_indices_detects_a_yearly_season_and_ignores_noise():
    from project.utils.pipelines import seasonal_indices

    y, _ = _weekly_yearly()
    idx = seasonal_indices(np.log(y), 52)
    assert idx is not None and idx.shape == (52,)
    assert abs(idx.sum()) < 1e-9
    # the peak of the sine (phase 13) and its trough (phase 39) are found
    assert np.argmax(idx) in range(11, 16) and np.argmin(idx) in range(37, 42)
    noise = np.random.default_rng(0).normal(100, 1, 260)
    assert seasonal_indices(noise, 52) is None
    assert seasonal_indices(y[:100], 52) is None  # fewer than 2 seasons + 2


@pytest.mark.parametrize("name", ["ets", "theta", "gbm", "auto_ets", "auto_arima"])
def test_long_season_models_follow_the_yearly_shape(name):
    y, ds = _weekly_yearly()
    model = make_model(name, season_length=52, max_horizon=13)
    frame = model.fit(y[:-13], ds[:-13]).predict(13)
    _check_contract(frame, 13)
    mase = np.mean(np.abs(frame["mean"].to_numpy() - y[-13:])) / np.mean(np.abs(np.diff(y[:-13])))
    naive = np.mean(np.abs(y[-14] - y[-13:])) / np.mean(np.abs(np.diff(y[:-13])))
    if name != "gbm":  # gbm has no yearly features on weekly data; it only has to be sane
        assert mase < 0.5 * naive
    else:
        assert mase < 2 * naive


def test_auto_models_remove_a_long_season_by_decomposition_unless_told_not_to():
    y, ds = _weekly_yearly()
    model = make_model("auto_ets", season_length=52).fit(y[:-13], ds[:-13])
    factors, multiplicative = model.factors_
    assert multiplicative and factors.shape == (52,) and model._season(y) == 1
    frame = model.predict(13, level=(80, 95))
    _check_contract(frame, 13)
    plain = make_model("auto_ets", season_length=52, decompose=False).fit(y[:-13], ds[:-13])
    assert plain.factors_ is None
    error = np.mean(np.abs(frame["mean"].to_numpy() - y[-13:]))
    plain_error = np.mean(np.abs(plain.predict(13, level=())["mean"].to_numpy() - y[-13:]))
    assert error < 0.5 * plain_error  # the yearly shape the season-less model misses
    short = make_model("auto_arima", season_length=52).fit(y[:80], ds[:80])
    assert short.factors_ is None  # under two cycles: no season to remove
    _check_contract(short.predict(13), 13)


def test_long_season_on_a_short_series_is_fitted_without_the_season():
    y, ds = _weekly_yearly(n=60)
    for name in ("ets", "theta"):
        guarded = GuardedModel(make_model(name, season_length=52), season_length=52).fit(y, ds)
        frame = guarded.predict(13)
        assert guarded.fallback_reason_ is None
        _check_contract(frame, 13)
        assert 100 < frame["mean"].mean() < 500


def test_prophet_yearly_term_without_the_short_history_warning(caplog):
    pytest.importorskip("prophet")
    y, ds = _synthetic(n=600)  # long enough for a yearly term, shorter than Prophet's 730 days
    model = make_model("prophet", uncertainty_samples=0)
    with caplog.at_level(logging.WARNING, logger="prophet"):
        model.fit(y, ds)
    assert "yearly" in model.model_.seasonalities
    assert model.model_.seasonalities["yearly"]["fourier_order"] == 10
    assert not [r for r in caplog.records if "730 days" in r.getMessage()]
    short = make_model("prophet", uncertainty_samples=0)
    short.fit(*_synthetic(n=120))
    assert "yearly" not in short.model_.seasonalities


# ---------------------------------------------------------------- dates of the forecast steps


@pytest.mark.parametrize(
    ("freq", "expected"),
    [
        ("D", ["2020-01-31", "2020-02-01"]),
        ("W-SUN", ["2020-08-02", "2020-08-09"]),
        ("MS", ["2022-07-01", "2022-08-01"]),
        ("ME", ["2022-07-31", "2022-08-31"]),
    ],
)
def test_forecast_dates_follow_the_series_step(freq, expected):
    from project.forecasting.base import dates_after, step_of

    ds = pd.date_range("2020-01-01", periods=30, freq=freq)
    assert list(dates_after(ds[-1], step_of(ds), 2).strftime("%Y-%m-%d")) == expected


def test_direct_design_dates_the_future_rows_one_step_of_the_series_apart():
    from project.forecasting.features import FeatureConfig, direct_design

    config = FeatureConfig(season_length=1, weekly_order=0, yearly_order=0)
    weekly = pd.date_range("2020-01-05", periods=60, freq="W-SUN")
    design = direct_design(np.arange(60.0), weekly, [1, 2], config, future=3)
    future = design[design["target_row"] >= 60]
    assert (future["dayofweek"] == 6).all()  # Sundays, like every week of the history
    assert future.loc[future["horizon"] == 1, "month"].tolist() == [2, 3, 3]  # Feb 23, Mar 1, Mar 8
    monthly = pd.date_range("2015-01-01", periods=60, freq="MS")
    design = direct_design(np.arange(60.0), monthly, [1], config, future=3)
    future = design[design["target_row"] >= 60]
    assert future["month"].tolist() == [1, 2, 3] and (future["is_month_start"] == 1).all()


def test_prophet_steps_monthly_data_by_calendar_months():
    pytest.importorskip("prophet")
    from project.forecasting.base import dates_after

    ds = pd.date_range("2016-01-01", periods=48, freq="MS")
    y = 100 + 40 * (ds.month == 12) + np.random.default_rng(0).normal(0, 2, 48)
    model = make_model("prophet", uncertainty_samples=0).fit(y, ds)
    future = dates_after(model.last_ds_, model.step_, 12)
    assert (future.day == 1).all() and future[-1] == pd.Timestamp("2020-12-01")  # not 30 days apart
    assert len(model.predict(12, ())) == 12
