"""Per-series selection: right model on constructed series, ensembles, fallbacks, bands."""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd
import pytest

from project.training import TrainConfig
from project.utils.selection import fit_series, pooled_errors

H = 14


def _config(**kw):
    base = {"horizon": H, "candidates": ("naive", "snaive", "theta"), "cv_windows": 3, "levels": (80, 95)}
    base.update(kw)
    return TrainConfig(**base)


def _dates(n):
    return pd.date_range("2024-01-01", periods=n, freq="D")


def _check_contract(result, h=H, levels=(80, 95)):
    fc = result.forecast
    assert len(fc) == h
    assert list(fc["horizon"]) == list(range(1, h + 1))
    values = fc[["mean", *[f"{s}-{lv}" for lv in levels for s in ("lo", "hi")]]].to_numpy()
    assert np.isfinite(values).all()
    for lv in levels:
        assert (fc[f"lo-{lv}"] <= fc["mean"] + 1e-9).all()
        assert (fc["mean"] <= fc[f"hi-{lv}"] + 1e-9).all()
    assert (fc["lo-95"] <= fc["lo-80"] + 1e-9).all() and (fc["hi-80"] <= fc["hi-95"] + 1e-9).all()


def test_weekly_pattern_prefers_seasonal_model_over_naive():
    n = 140
    pattern = np.array([10.0, 12, 15, 20, 30, 50, 40])
    rng = np.random.default_rng(0)
    y = np.tile(pattern, n // 7) + rng.normal(0, 0.5, n)
    result = fit_series("weekly", y, _dates(n), _config(ensemble=False))
    assert result.model in ("snaive", "theta")
    assert result.scores[result.model] < 0.5 * result.scores["naive"]
    assert result.fallback is None
    _check_contract(result)
    # the forecast follows the weekly pattern of the right weekdays
    expected = pattern[(np.arange(n, n + H)) % 7]
    assert np.mean(np.abs(result.forecast["mean"].to_numpy() - expected)) < 2.0


def test_trend_prefers_naive_over_seasonal_naive():
    n = 200
    rng = np.random.default_rng(1)
    y = 1000 + 2.0 * np.arange(n) + rng.normal(0, 0.2, n)
    config = _config(candidates=("naive", "snaive"), ensemble=False, season_test=False)
    result = fit_series("trend", y, _dates(n), config)
    assert result.scores["naive"] < result.scores["snaive"]
    assert result.model == "naive" and result.combine == "single"
    assert all("(" not in name for name in result.scores), "ensemble=False scores no combination"


def test_season_detected_reads_the_changes_not_the_levels():
    from project.forecasting.decomposition import season_detected

    rng = np.random.default_rng(3)
    walk = 500 + np.cumsum(rng.normal(0, 1, 700))
    weekly = np.array([0.0, 1, 2, 3, 4, 8, 6])[np.arange(700) % 7]
    assert not season_detected(walk, 7)  # levels of a walk correlate at lag 7, its steps do not
    assert season_detected(walk + 3 * weekly, 7)
    spiky = walk + 3 * weekly
    spiky[300] += 5000  # one news spike must not hide the weekly rhythm
    assert season_detected(spiky, 7)
    assert season_detected(walk[:15], 7)  # too short to tell: keep the season


def test_season_strength_is_the_test_statistic():
    from project.forecasting.decomposition import season_detected, season_strength

    rng = np.random.default_rng(3)
    walk = 500 + np.cumsum(rng.normal(0, 1, 700))
    weekly = np.array([0.0, 1, 2, 3, 4, 8, 6])[np.arange(700) % 7]
    assert season_strength(walk, 7) < 1.0 < season_strength(walk + 3 * weekly, 7)
    assert season_strength(walk + 3 * weekly, 7) > season_strength(walk + 0.3 * weekly, 7)
    assert np.isnan(season_strength(walk[:15], 7))
    assert season_strength(np.arange(50.0), 7) == 0.0  # constant changes: no season
    assert not season_detected(np.arange(50.0), 7)


def test_series_without_a_weekly_season_drops_seasonal_models():
    n = 300
    rng = np.random.default_rng(4)
    y = 500 + np.cumsum(rng.normal(0, 1, n))
    config = _config(candidates=("snaive", "theta"), random_walk_ratio=None)  # the season rule alone
    result = fit_series("walk", y, _dates(n), config)
    assert not result.seasonal and result.model == "theta"  # seasonal naive never chosen or pooled
    assert "snaive" in result.scores and not any("snaive" in name for name in result.scores if "(" in name)
    assert result.fitted["theta"].model.season_length == 1  # fitted without a weekly season
    _check_contract(result)
    kept = fit_series("walk", y, _dates(n), _config(season_test=False, random_walk_ratio=None))
    assert kept.seasonal and "snaive" in kept.scores


def test_variance_ratio_tells_a_wandering_level_from_noise_around_one():
    from project.forecasting.decomposition import variance_ratio

    rng = np.random.default_rng(11)
    walk = 500 + np.cumsum(rng.normal(0, 1, 1000))
    weekly = np.array([0.0, 1, 2, 3, 4, 8, 6])[np.arange(1000) % 7]
    traffic = 200 + 20 * weekly + rng.normal(0, 5, 1000)
    traffic[[300, 301, 640]] += 3000  # news spikes come back down
    assert 0.7 < variance_ratio(walk, 28) < 1.3
    assert variance_ratio(traffic, 28) < 0.1
    assert variance_ratio(rng.normal(0, 1, 1000), 28) == pytest.approx(1 / 28, abs=0.01)
    gappy = walk.copy()
    gappy[::5] = np.nan  # missing days are interpolated
    assert 0.7 < variance_ratio(gappy, 28) < 1.3
    assert np.isnan(variance_ratio(walk[:40], 28))  # too short to tell
    assert np.isnan(variance_ratio(np.arange(100.0), 7))  # constant changes


def test_random_walk_series_keeps_to_level_trackers():
    from project.forecasting.decomposition import season_detected

    n = 700
    rng = np.random.default_rng(12)
    weekly = np.array([0.0, 1, 2, 3, 4, 8, 6])[np.arange(n) % 7]
    y = 500 + np.cumsum(rng.normal(0, 3, n)) + 0.5 * weekly  # a weak weekly shape on a wandering level
    assert season_detected(y, 7)  # the season test alone would keep seasonal models
    config = _config(candidates=("naive", "snaive", "ets", "theta", "gbm"))
    result = fit_series("price", y, _dates(n), config)
    assert result.random_walk and not result.seasonal
    assert set(result.members) <= {"naive", "ets", "theta"}
    assert set(result.scores) >= {"naive", "ets", "theta"} and not {"snaive", "gbm"} & set(result.scores)
    _check_contract(result)
    off = fit_series("price", y, _dates(n), dataclasses.replace(config, random_walk_ratio=None))
    assert not off.random_walk and {"snaive", "gbm"} <= set(off.scores)
    # noise around a level with a weekly rhythm is not a walk
    demand = 100 + 10 * weekly + rng.normal(0, 2, n)
    assert not fit_series("shop", demand, _dates(n), config).random_walk
    # only the trackers the user listed; none listed: the rule does not apply
    mine = fit_series("price", y, _dates(n), _config(candidates=("naive", "snaive")))
    assert mine.random_walk and set(mine.scores) == {"naive"}
    other = fit_series("price", y, _dates(n), _config(candidates=("snaive", "gbm")))
    assert not other.random_walk and {"snaive", "gbm"} <= set(other.scores)


def test_random_walk_rule_reads_four_weeks_of_changes_whatever_the_horizon():
    n = 700
    rng = np.random.default_rng(12)
    demand = 100 + rng.normal(0, 5, n)  # noise around a level that holds
    walk = 500 + np.cumsum(rng.normal(0, 3, n))
    config = _config(candidates=("naive", "snaive", "ets", "theta"))
    for h in (1, 3, 7):  # over one step any series' variance ratio is 1
        short = dataclasses.replace(config, horizon=h)
        assert not fit_series("shop", demand, _dates(n), short).random_walk
        assert fit_series("price", walk, _dates(n), short).random_walk


def test_short_horizons_get_bands_from_the_horizons_they_have():
    from project.utils.selection import pooled_errors

    errors = np.arange(1.0, 10.0).reshape(3, 3)
    pooled = pooled_errors(errors, radius=7)  # wider than the horizon: only shifts of 1 and 2 lend
    assert pooled.shape == (15, 3)
    assert np.array_equal(pooled, pooled_errors(errors, radius=2), equal_nan=True)
    rng = np.random.default_rng(5)
    y = 100 + 10 * np.sin(np.arange(300)) + rng.normal(0, 3, 300)
    for h in (1, 3, 6):
        result = fit_series("s", y, _dates(300), _config(horizon=h))
        _check_contract(result, h)


def test_random_walk_settings_are_validated_and_off_for_weekly_data():
    from project.errors import InputError

    with pytest.raises(InputError, match="random-walk candidate"):
        _config(random_walk_candidates=("naive", "lstm")).validate()
    with pytest.raises(InputError, match="random-walk ratio"):
        _config(random_walk_ratio=0).validate()
    assert _config().validate().random_walk_ratio == 0.5
    assert TrainConfig(freq="W").for_freq().random_walk_ratio is None
    assert TrainConfig(freq="W", random_walk_ratio=0.7).for_freq().random_walk_ratio == 0.7


def test_a_seasonal_monthly_series_is_not_taken_for_a_random_walk():
    # a ski shop's months, 18 months ahead: over 18 steps (half a year out of phase) the
    # season alone lifts the variance ratio above the limit (0.515); over 28 it does not (0.268)
    rng = np.random.default_rng(0)
    n, season = 116, np.array([10.6, 10.6, 6, 4, 2, 1.4, 1.4, 1.7, 2.1, 3, 4.8, 7.3])
    ds = pd.date_range(end="2000-12-01", periods=n, freq="MS")
    y = 1000 * season[ds.month - 1] * rng.lognormal(0, 0.05, n)
    config = TrainConfig(freq="M", horizon=18, candidates=("naive", "snaive", "ets", "theta")).for_freq()
    result = fit_series("shop", y, ds, config)
    assert not result.random_walk
    months = result.forecast["ds"].dt.month.to_numpy() - 1
    assert np.corrcoef(result.forecast["mean"], season[months])[0, 1] > 0.95


def test_ensemble_kept_only_when_it_wins_the_backtest():
    n = 182
    rng = np.random.default_rng(2)
    y = np.tile([5.0, 6, 7, 8, 9, 30, 25], n // 7) + rng.normal(0, 1.0, n)
    result = fit_series("s", y, _dates(n), _config(ensemble_margin=0.0))
    singles = {k: v for k, v in result.scores.items() if "(" not in k}
    ensembles = {k: v for k, v in result.scores.items() if "(" in k}
    assert ensembles, "top-k ensembles are scored"
    best_single = min(singles.values())
    if result.combine == "single":
        assert best_single <= min(ensembles.values())
    else:
        assert result.scores[result.model] < best_single
    # a series where one model is exact: the ensemble cannot win, the single model is kept
    exact = np.tile([1.0, 2, 3, 4, 5, 6, 70], n // 7)
    result = fit_series("exact", exact, _dates(n), _config(candidates=("naive", "snaive")))
    assert result.model == "snaive" and result.combine == "single"
    assert result.scores["snaive"] == pytest.approx(0.0)


def test_pool_is_kept_unless_an_option_beats_it_by_the_margin():
    n = 182
    rng = np.random.default_rng(6)
    y = 50 + np.tile([0.0, 2, 4, 6, 8, 20, 15], n // 7) + np.cumsum(rng.normal(0, 1.0, n))
    result = fit_series("p", y, _dates(n), _config(ensemble_margin=0.1))
    singles = [k for k in ("naive", "snaive", "theta") if k in result.scores]  # candidate order
    pool = f"mean({'+'.join(singles)})"
    assert pool in result.scores, result.scores
    if result.model == pool:
        assert min(result.scores.values()) > 0.9 * result.scores[pool] - 1e-12
    else:
        assert result.scores[result.model] <= 0.9 * result.scores[pool]
    # pool_trim=1.0 leaves only the best model in the pool, so no pool: plain lowest score wins
    trimmed = fit_series("p", y, _dates(n), _config(ensemble_margin=0.1, pool_trim=1.0))
    assert trimmed.model == min(trimmed.scores, key=lambda k: (trimmed.scores[k], "(" in k))


def test_short_series_falls_back_to_simple_model_and_says_so():
    y = np.arange(1.0, 20.0)
    result = fit_series("short", y, _dates(len(y)), _config())
    assert result.model == "snaive"
    assert "too short" in result.fallback
    _check_contract(result)
    tiny = fit_series("tiny", np.array([3.0, 4.0, 5.0]), _dates(3), _config())
    assert tiny.model == "naive" and "too short" in tiny.fallback
    assert np.allclose(tiny.forecast["mean"], 5.0)


def test_all_zero_series_gives_zero_forecast():
    y = np.zeros(100)
    result = fit_series("zeros", y, _dates(100), _config())
    assert result.fallback.startswith("all-zero")
    assert np.allclose(result.forecast[["mean", "lo-80", "hi-95"]].to_numpy(), 0.0)
    _check_contract(result)


def test_nonfinite_values_and_nonnegative_bands():
    n = 140
    rng = np.random.default_rng(3)
    y = np.abs(rng.normal(3, 3, n))
    y[50:53] = np.nan  # kept missing days
    result = fit_series("gappy", y, _dates(n), _config(candidates=("naive", "snaive", "theta")))
    _check_contract(result)
    assert (result.forecast["lo-95"] >= 0).all()


def test_metrics_cover_every_candidate_and_bucket():
    n = 150
    rng = np.random.default_rng(4)
    y = 50 + 5 * np.sin(np.arange(n) * 2 * np.pi / 7) + rng.normal(0, 1, n)
    result = fit_series("m", y, _dates(n), _config(horizon=28, cv_windows=2))
    m = result.metrics
    assert set(m["bucket"]) == {"D+1", "D+7", "D+28", "1-28"}
    assert {"naive", "snaive", "theta"} <= set(m["model"])
    assert set(m.loc[m["chosen"], "model"]) == {result.model}
    mase = m[(m["metric"] == "mase") & (m["bucket"] == "1-28")].set_index("model")["value"]
    assert mase[result.model] == pytest.approx(result.scores[result.model])
    assert len(result.cutoffs) == 2


def test_conformal_bands_for_models_without_native_intervals():
    n = 150
    rng = np.random.default_rng(5)
    y = 100 + np.tile([0.0, 5, 10, 5, 0, -5, -10], n // 7 + 1)[:n] + rng.normal(0, 2, n)
    result = fit_series("t", y, _dates(n), _config(candidates=("theta",), ensemble=False))
    assert result.model == "theta"
    assert result.interval_method.startswith("conformal")
    width80 = (result.forecast["hi-80"] - result.forecast["lo-80"]).to_numpy()
    width95 = (result.forecast["hi-95"] - result.forecast["lo-95"]).to_numpy()
    assert (width80 > 0).all() and (width95 >= width80).all()


def test_pooled_errors_adds_neighbouring_horizons():
    err = np.arange(12.0).reshape(2, 6)
    pooled = pooled_errors(err, radius=1)
    assert pooled.shape == (6, 6)
    col = pooled[:, 2]
    assert sorted(col[np.isfinite(col)]) == sorted([1.0, 2, 3, 7, 8, 9])
    assert np.isnan(pooled[:, 0]).sum() == 2


def test_pooled_errors_rescaled_to_the_horizon_they_are_lent_to():
    from project.utils.selection import MAX_GROWTH, error_growth

    steps = np.arange(1.0, 29.0)
    walk = np.vstack([steps**0.5, -(steps**0.5), 2 * steps**0.5])  # errors of a random walk
    assert error_growth(walk) == pytest.approx(0.5)
    assert error_growth(np.vstack([steps**2] * 3)) == MAX_GROWTH  # clipped
    assert error_growth(-walk[:, ::-1]) == 0.0  # errors that shrink: none
    assert error_growth(np.full((3, 2), 1.0)) == 0.0  # too few horizons to fit
    assert error_growth(walk[:2]) == 0.0  # too few windows: one or two paths decide nothing
    # with the right exponent, every value lent to a horizon is that horizon's own error
    pooled = pooled_errors(walk, radius=3, growth=0.5)
    for k in (0, 10, 27):
        col = np.abs(pooled[:, k])
        col = col[np.isfinite(col)]
        assert np.allclose(np.sort(col), np.sort(np.repeat(np.abs(walk[:, k]), col.size // 3)))
    # D+1 without rescaling borrows the larger errors of D+2..D+4
    assert np.nanmax(np.abs(pooled_errors(walk, radius=3)[:, 0])) > 3.9


def test_bands_at_d1_do_not_borrow_the_far_horizons_errors():
    """Random-walk errors: pooled as they are, D+1 borrows the larger errors of
    D+2..D+8; rescaled, its band is much narrower while D+28's hardly moves."""
    from project.utils.selection import calibrated_bands

    rng = np.random.default_rng(8)
    errors = np.cumsum(rng.normal(0, 1.0, (30, 28)), axis=1)
    mean = np.full(28, 100.0)
    config = TrainConfig(horizon=28, conformal_history=0)
    grown = calibrated_bands(mean, errors, (80,), False, config)
    flat = calibrated_bands(mean, errors, (80,), False, dataclasses.replace(config, conformal_growth=False))
    width = {name: (f["hi-80"] - f["lo-80"]).to_numpy() for name, f in (("grown", grown), ("flat", flat))}
    assert width["grown"][0] < 0.6 * width["flat"][0]
    assert width["grown"][27] == pytest.approx(width["flat"][27], rel=0.25)
    assert np.all(np.diff(width["grown"]) >= -1e-9)


def test_result_is_picklable():
    import pickle

    n = 100
    y = np.tile([1.0, 2, 3, 4, 5, 6, 7], 15)[:n]
    result = fit_series("p", y, _dates(n), _config())
    back = pickle.loads(pickle.dumps(result))
    assert back.model == result.model
    pd.testing.assert_frame_equal(back.forecast, result.forecast)


def test_weekly_series_with_a_yearly_season_is_selected_not_sent_to_naive():
    from project.utils.selection import min_train_length

    # 80 weeks: less than two yearly cycles, but enough for a backtest of 13-week horizons
    rng = np.random.default_rng(3)
    n, h = 80, 13
    ds = pd.date_range("2020-01-05", periods=n, freq="W-SUN")
    y = 500 + 3 * np.arange(n) + rng.normal(0, 10, n)
    config = _config(horizon=h, season_length=52, step=4, candidates=("naive", "ets", "theta"))
    assert min_train_length(config) == 26
    assert min_train_length(_config()) == 14 and min_train_length(_config(season_length=10)) == 20
    result = fit_series("w", y, ds, config)
    assert result.fallback is None  # a real backtest and selection happened
    assert set(result.scores) >= {"naive", "ets", "theta"}
    _check_contract(result, h=h)
    # weekly dates continue weekly, and the trend is followed rather than flattened
    assert (result.forecast["ds"].diff().dropna() == pd.Timedelta(weeks=1)).all()
    assert result.forecast["mean"].iloc[-1] > y[-1]


def test_bands_are_calibrated_conformal_by_default_native_on_request():
    n = 150
    rng = np.random.default_rng(7)
    y = 50 + 5 * np.sin(np.arange(n) * 2 * np.pi / 7) + rng.normal(0, 1, n)
    config = _config(candidates=("snaive",), ensemble=False)
    result = fit_series("c", y, _dates(n), config)
    assert result.combine == "single" and result.interval_method.startswith("conformal")
    _check_contract(result)
    native = fit_series("c", y, _dates(n), _config(candidates=("snaive",), conformal_always=False))
    assert native.interval_method == "native"
    # the scale multiplies the half-widths of the same backtest errors
    one = fit_series("c", y, _dates(n), _config(candidates=("snaive",), conformal_scale=1.0))
    wide = fit_series("c", y, _dates(n), _config(candidates=("snaive",), conformal_scale=2.0))
    half = (one.forecast["hi-80"] - one.forecast["mean"]).to_numpy()
    assert np.allclose((wide.forecast["hi-80"] - wide.forecast["mean"]).to_numpy(), 2 * half)
    # widths do not shrink with the horizon (non-decreasing by default)
    assert (np.diff(half) >= -1e-9).all()


def test_conformal_settings_are_validated():
    from project.errors import InputError

    with pytest.raises(InputError, match="conformal scale"):
        _config(conformal_scale=0).validate()
    with pytest.raises(InputError, match="conformal radius"):
        _config(conformal_radius=-1).validate()
    with pytest.raises(InputError, match="conformal history"):
        _config(conformal_history=-1).validate()
    defaults = _config().validate()
    assert (defaults.conformal_scale, defaults.conformal_history) == (1.0, 1095)
    assert _config().validate().pool_trim == 1.25


# --------------------------------------------------------------------------- calibration of the bands


def test_dispersion_ratio_compares_the_backtest_span_with_the_history():
    from project.forecasting.intervals import dispersion_ratio
    from project.utils.selection import MAX_WIDENING, widening

    rng = np.random.default_rng(11)
    noise = rng.normal(0, 2, 1000)
    calm = np.concatenate([noise[:-42], noise[-42:] / 2])
    ratio = dispersion_ratio(calm, 42, 7, 1095)
    assert 1.6 < ratio < 2.4  # the last 42 days moved about half as much as usual
    wild = np.concatenate([noise[:-42], noise[-42:] * 2])
    assert dispersion_ratio(wild, 42, 7, 1095) < 0.7
    config = _config(horizon=28, conformal_history=1095)  # span 28 + 2 x 7 = 42
    factors = widening(28, calm, config)
    assert factors.shape == (28,)
    assert factors[:7] == pytest.approx(np.full(7, ratio))  # the first week: lag-7 changes
    assert np.all(np.diff(factors) >= 0)
    assert np.all(widening(28, wild, config) == 1.0)  # never narrowed
    assert np.all(widening(28, calm, _config(horizon=28, conformal_history=0)) == 1.0)  # off
    assert np.all(widening(28, None, config) == 1.0)
    flat = np.concatenate([noise[:-100], np.zeros(100)])
    assert dispersion_ratio(flat, 42, 7, 1095) == np.inf
    assert np.all(widening(28, flat, config) == MAX_WIDENING)
    assert np.isnan(dispersion_ratio(noise[:30], 42, 7, 1095))
    assert np.all(widening(28, noise[:30], config) == 1.0)


def test_far_horizons_widen_when_the_level_drifted_less_than_usual():
    """A random-walk level plus daily noise: over the backtest span the level
    hardly moved, so day-to-day changes look as usual but the changes over
    two to four weeks are far smaller than the series' history says."""
    from project.forecasting.intervals import dispersion_ratio
    from project.utils.selection import widening

    rng = np.random.default_rng(3)
    steps = rng.normal(0, 1.0, 1000)
    steps[-70:] = 0.0  # the level stood still for the last ten weeks
    y = 100 + np.cumsum(steps) + rng.normal(0, 3.0, 1000)
    config = _config(horizon=28, conformal_history=1095)
    factors = widening(28, y, config)
    assert factors[0] == pytest.approx(max(1.0, dispersion_ratio(y, 42, 7, 1095)))
    by_lag = [min(3.0, dispersion_ratio(y, 42, lag, 1095)) for lag in (7, 14, 21, 28)]
    assert factors[27] == pytest.approx(max(by_lag))  # weeks 1..4: changes over 1..4 weeks
    assert factors[0] < 1.1  # day-to-day the span looked as usual...
    assert factors[27] > 1.5  # ...but it never saw the level drift
    assert np.all(np.diff(factors) >= 0)


def test_sparse_bands_take_one_width_from_every_backtest_error():
    """Intermittent demand: one width at every horizon, the conformal quantile of all
    the backtest errors, however the few windows' errors happen to vary by horizon
    and however calm the last weeks were."""
    from project.utils.selection import calibrated_bands

    rng = np.random.default_rng(5)
    errors = rng.poisson(0.4, (3, 28)) * rng.integers(1, 6, (3, 28)) - 0.8  # y - a flat rate
    history = np.concatenate([rng.poisson(2.0, 900), np.zeros(42)])  # calm: a smooth series widens
    config = _config(horizon=28, conformal_history=1095)
    mean = np.full(28, 0.8)
    sparse = calibrated_bands(mean, errors, (80, 95), True, config, history, sparse=True)
    pooled = np.sort(np.abs(errors).ravel())
    for level in (80, 95):
        rank = min(pooled.size, int(np.ceil((pooled.size + 1) * level / 100)))
        np.testing.assert_allclose(sparse[f"hi-{level}"] - mean, np.full(28, pooled[rank - 1]))
    smooth = calibrated_bands(mean, errors, (80,), True, config, history)
    assert np.ptp(smooth["hi-80"].to_numpy()) > 0  # neighbours pooled, grown, widened


def test_an_intermittent_series_gets_the_same_band_width_at_every_horizon():
    rng = np.random.default_rng(8)
    n = 400
    y = (rng.random(n) < 0.25) * rng.integers(1, 8, n).astype(float)
    ds = pd.date_range("2024-01-01", periods=n)
    result = fit_series("slow_product", y, ds, _config(horizon=28))
    assert result.demand in ("intermittent", "lumpy")
    fc = result.forecast
    open_days = fc["mean"] > 0
    for level in (80, 95):
        width = (fc[f"hi-{level}"] - fc["mean"])[open_days].to_numpy()
        assert open_days.sum() >= 24 and np.ptp(width) == pytest.approx(0.0, abs=1e-9)
        assert width[0] > 0


def test_weekly_forecast_reads_the_last_five_years_only():
    """Weeks before the weekly training window (260 weeks, plus the backtest windows) move nothing."""
    rng = np.random.default_rng(8)
    n = 700
    weeks = np.arange(n)
    y = 200 + 30 * np.sin(2 * np.pi * weeks / 52) + np.cumsum(rng.normal(0, 3, n))
    y[:300] += 400  # a level the series left long ago
    ds = pd.date_range(end="2024-12-29", periods=n, freq="W-SUN")
    weekly = TrainConfig(horizon=13, freq="W", candidates=("naive", "snaive", "ets", "theta")).for_freq("W")
    keep = 260 + 13 + 2 * 4  # the refit window and the oldest backtest window's reach
    full = fit_series("w", y, ds, weekly)
    recent = fit_series("w", y[-keep:], ds[-keep:], weekly)
    assert full.members == recent.members
    pd.testing.assert_frame_equal(full.forecast, recent.forecast)
    # the daily-length window (1,095 observations) reads the old level and forecasts otherwise
    long = fit_series("w", y, ds, dataclasses.replace(weekly, max_train_days=1095))
    assert not np.allclose(long.forecast["mean"], full.forecast["mean"])


def test_weekly_widening_keeps_one_lag_52_factor_and_odd_inputs_stay_finite():
    from project.forecasting.intervals import dispersion_ratio
    from project.utils.selection import calibrated_bands, error_growth, widening

    rng = np.random.default_rng(4)
    y = 50 + np.cumsum(rng.normal(0, 1, 400))
    weekly = TrainConfig(horizon=13, freq="W").for_freq("W")  # season 52, step 4: span 13 + 8
    ratio = dispersion_ratio(y, 21, 52, 1095)
    assert np.allclose(widening(13, y, weekly), min(max(ratio, 1.0), 3.0))
    # a horizon of one, errors with NaN cells and a missing window: finite, ordered bands
    assert error_growth(np.array([[np.nan, 1.0, np.nan]] * 3)) == 0.0
    errors = rng.normal(0, 2, (3, 28))
    errors[1, 5:9] = np.nan
    errors[2] = np.nan
    for h in (1, 28):
        band = calibrated_bands(np.full(h, 10.0), errors[:, :h], (80, 95), True, _config(horizon=h), y)
        values = band[["lo-95", "lo-80", "mean", "hi-80", "hi-95"]].to_numpy()
        assert np.isfinite(values).all() and (np.diff(values, axis=1) >= 0).all()


def _coverage(calm_tail=0, series=16, n=300, h=28, sigma=4.0):
    """Share of the next ``h`` true values inside the 80 % and 95 % bands of ``fit_series``.

    Series of a weekly pattern plus Gaussian noise of known ``sigma``; the
    last ``calm_tail`` days of the training part have a third of it (the
    backtest windows then see a calm spell that the future does not share).
    Bands with the default calibration, and from the same fit and backtest
    errors without the history widening (``recent only``).
    """
    from project.utils.selection import calibrated_bands

    rng = np.random.default_rng(42)
    pattern = np.array([0.0, 5, 10, 5, 0, -5, -10])
    config = _config(horizon=h, candidates=("naive", "snaive"))
    recent_only = _config(horizon=h, candidates=("naive", "snaive"), conformal_history=0)
    hits = {name: {80: [], 95: []} for name in ("default", "recent only")}
    for _ in range(series):
        t = np.arange(n + h)
        noise = rng.normal(0, sigma, n + h)
        if calm_tail:
            noise[n - calm_tail : n] /= 3
        y = 100 + pattern[t % 7] + noise
        result = fit_series("s", y[:n], _dates(n), config)
        assert result.interval_method.startswith("conformal")
        mean = result.forecast["mean"].to_numpy()
        frames = {
            "default": result.forecast,
            "recent only": calibrated_bands(mean, result.conformal_errors, (80, 95), True, recent_only),
        }
        for name, fc in frames.items():
            for lv in (80, 95):
                inside = (y[n:] >= fc[f"lo-{lv}"].to_numpy()) & (y[n:] <= fc[f"hi-{lv}"].to_numpy())
                hits[name][lv].append(inside)
    return {name: {lv: float(np.mean(v)) for lv, v in by.items()} for name, by in hits.items()}


def test_default_bands_cover_near_nominal_on_known_noise():
    cover = _coverage()
    # 16 series x 28 days: a binomial standard error of about 2 points at 80 %; the
    # non-decreasing widths and the one-sided widening lean to over-covering
    assert 0.76 <= cover["default"][80] <= 0.90
    assert 0.91 <= cover["default"][95] <= 0.995


def test_bands_calibrated_on_a_calm_spell_are_widened_to_the_history():
    cover = _coverage(calm_tail=56)
    # the backtest windows (the last 42 days) saw a third of the usual noise
    assert cover["recent only"][80] < 0.6 and cover["recent only"][95] < 0.75
    assert cover["default"][80] >= 0.8 and cover["default"][95] >= 0.93
