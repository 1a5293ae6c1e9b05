"""The yearly shape of daily series: its test, the adjusted models and their place in the pipeline."""

from __future__ import annotations

import numpy as np
import pandas as pd

from project.forecasting.models import make_model
from project.forecasting.yearly import YearlyAdjusted, yearly_profile, yearly_season
from project.incremental_training import update_series
from project.training import TrainConfig
from project.utils.selection import fit_series

H = 28


def _yearly(n: int = 1200, seed: int = 0, amplitude: float = 30.0) -> tuple[np.ndarray, pd.DatetimeIndex]:
    """A weekly and a yearly cycle around a level, with noise."""
    rng = np.random.default_rng(seed)
    ds = pd.date_range("2019-01-01", periods=n, freq="D")
    t = np.arange(n)
    y = 100 + amplitude * np.sin(2 * np.pi * t / 365.25) + 5 * np.sin(2 * np.pi * t / 7) + rng.normal(0, 3, n)
    return y, ds


def _walk(n: int = 1200, seed: int = 0) -> tuple[np.ndarray, pd.DatetimeIndex]:
    rng = np.random.default_rng(seed)
    return 100 + np.cumsum(rng.normal(0, 1, n)), pd.date_range("2019-01-01", periods=n, freq="D")


def test_yearly_season_needs_the_same_shape_in_both_years():
    assert yearly_season(*_yearly())
    # a random walk's yearly curves differ from one year to the next
    assert sum(yearly_season(*_walk(seed=s)) for s in range(20)) <= 4
    y, ds = _yearly()
    assert not yearly_season(y[-700:], ds[-700:])  # less than two years
    flat = np.full(1200, 50.0)
    assert not yearly_season(flat, ds)  # no shape at all
    gappy = y.copy()
    gappy[-365:-100] = np.nan  # the last year is mostly missing
    assert not yearly_season(gappy, ds)


def test_yearly_profile_finds_the_yearly_curve_and_not_the_trend():
    y, ds = _yearly(n=900, amplitude=30.0)
    trend = 0.05 * np.arange(900)
    coef = yearly_profile(y + trend, ds)
    # the first harmonic holds the whole yearly amplitude (about 30), the others almost none
    assert 27 < np.hypot(coef[0], coef[1]) < 33
    assert np.abs(coef[2:]).max() < 3
    assert yearly_profile(np.full(300, np.nan), ds[:300]) is None


def test_the_adjusted_model_follows_the_yearly_curve_the_plain_one_lags():
    # 821 days end at the yearly peak: a trend model carries the climb on, the curve turns
    plain_mae, adjusted_mae = [], []
    for seed in range(4):
        y, ds = _yearly(n=821 + H, seed=seed)
        train, test = y[:-H], y[-H:]
        plain = make_model("ets", season_length=7).fit(train, ds[:-H]).predict(H)
        wrapped = YearlyAdjusted(make_model("ets", season_length=7))
        adjusted = wrapped.fit(train, ds[:-H]).predict(H, level=(80,))
        assert wrapped.name == "ets" and wrapped.coef_ is not None
        assert (adjusted["hi-80"] > adjusted["mean"]).all() and (adjusted["lo-80"] < adjusted["mean"]).all()
        plain_mae.append(np.mean(np.abs(plain["mean"].to_numpy() - test)))
        adjusted_mae.append(np.mean(np.abs(adjusted["mean"].to_numpy() - test)))
    assert np.mean(adjusted_mae) < 0.7 * np.mean(plain_mae)
    assert np.mean(adjusted_mae) < 1.2 * 3 * np.sqrt(2 / np.pi)  # near the noise's own MAE
    y, ds = _yearly(n=400)
    short = YearlyAdjusted(make_model("theta", season_length=7)).fit(y[-200:], ds[-200:])
    assert short.coef_ is None  # under a year: passed through unchanged
    same = make_model("theta", season_length=7).fit(y[-200:], ds[-200:]).predict(H)
    pd.testing.assert_frame_equal(short.predict(H), same)


def test_fit_series_adjusts_ets_and_theta_of_a_yearly_series_only():
    config = TrainConfig(horizon=H, candidates=("naive", "ets", "theta")).for_freq("D")
    y, ds = _yearly()
    result = fit_series("births", y, ds, config)
    assert result.yearly
    for name, fitted in result.fitted.items():
        assert isinstance(fitted.model, YearlyAdjusted) == (name in ("ets", "theta"))
    off_config = TrainConfig(horizon=H, candidates=config.candidates, yearly_adjust=False)
    off = fit_series("births", y, ds, off_config)
    assert not off.yearly
    assert not any(isinstance(f.model, YearlyAdjusted) for f in off.fitted.values())
    walk = fit_series("price", *_walk(), config)
    assert walk.random_walk and not walk.yearly
    # weekly data: the yearly cycle is the models' own season
    weekly = pd.date_range("2000-01-02", periods=400, freq="W-SUN")
    wy = 100 + 20 * np.sin(2 * np.pi * np.arange(400) / 52.18) + np.random.default_rng(2).normal(0, 2, 400)
    assert not fit_series("w", wy, weekly, TrainConfig(freq="W", horizon=None).for_freq()).yearly


def test_an_update_refits_around_the_yearly_shape_it_was_trained_with():
    config = TrainConfig(horizon=H, candidates=("ets", "theta")).for_freq("D")
    y, ds = _yearly(n=1230)
    stored = fit_series("births", y[:-30], ds[:-30], config)
    assert stored.yearly
    updated, info = update_series("births", y, ds, stored, config, degrade_threshold=10.0)
    assert info["action"].startswith("refit"), info  # the stored choice kept, refitted
    assert updated.yearly and updated.last_date == ds[-1]
    assert all(isinstance(f.model, YearlyAdjusted) for f in updated.fitted.values())


def test_a_yearly_series_is_forecast_better_with_its_shape():
    """Through the whole pipeline (backtests, choice, refit): the forecast past a yearly peak."""
    config = TrainConfig(horizon=H, candidates=("ets", "theta")).for_freq("D")
    off_config = TrainConfig(horizon=H, candidates=("ets", "theta"), yearly_adjust=False).for_freq("D")
    on, off = [], []
    for seed in range(3):
        y, ds = _yearly(n=821 + H, seed=seed)
        for errors, cfg in ((on, config), (off, off_config)):
            forecast = fit_series("s", y[:-H], ds[:-H], cfg).forecast["mean"].to_numpy()
            errors.append(np.mean(np.abs(forecast - y[-H:])))
    assert np.mean(on) < 0.8 * np.mean(off)
