"""Tests of project.utils.train_column: calendar, Fourier, holidays, lags, selection."""

import numpy as np
import pandas as pd
import pytest

from project.utils.train_column import (
    FeatureConfig,
    calendar_features,
    direct_design,
    exog_features,
    fourier_terms,
    holiday_features,
    known_features,
    lag_features,
    select_features,
)


@pytest.fixture()
def series():
    rng = np.random.default_rng(0)
    ds = pd.date_range("2022-01-01", periods=200, freq="D")
    y = 50 + 10 * (ds.dayofweek >= 5) + rng.normal(0, 2, len(ds))
    return np.asarray(y, dtype=float), ds


def test_calendar_features_known_date():
    frame = calendar_features(pd.to_datetime(["2024-02-29", "2024-03-02"]))
    first = frame.iloc[0]
    assert first["dayofweek"] == 3  # Thursday
    assert first["month"] == 2
    assert first["dayofyear"] == 60
    assert first["is_month_end"] == 1 and first["is_month_start"] == 0
    assert first["is_weekend"] == 0
    assert frame.iloc[1]["is_weekend"] == 1  # Saturday
    assert frame.iloc[1]["weekofyear"] == 9


def test_fourier_terms_periodic_and_anchored():
    ds = pd.date_range("2023-01-01", periods=30, freq="D")
    terms = fourier_terms(ds, 7, 2, prefix="week")
    assert list(terms.columns) == ["week_sin1", "week_cos1", "week_sin2", "week_cos2"]
    np.testing.assert_allclose(terms.iloc[:7].to_numpy(), terms.iloc[7:14].to_numpy(), atol=1e-9)
    # anchored on the epoch: a future date has the same terms whatever the start
    later = fourier_terms(ds[10:], 7, 2, prefix="week")
    np.testing.assert_allclose(later.to_numpy(), terms.iloc[10:].to_numpy())


def test_holidays_present_for_known_dates():
    ds = pd.to_datetime(["2023-12-24", "2023-12-25", "2023-12-26", "2023-07-04", "2023-07-05"])
    us = holiday_features(ds, "US")
    assert us["is_holiday"].tolist() == [0, 1, 0, 1, 0]
    assert us.loc["2023-12-24", "holiday_eve"] == 1
    assert us.loc["2023-07-05", "holiday_after"] == 1
    es = holiday_features(pd.to_datetime(["2023-10-12"]), "es")  # Fiesta Nacional de España
    assert es["is_holiday"].tolist() == [1]
    assert holiday_features(ds, None).shape == (5, 0)


def test_unknown_country_is_a_clear_error():
    with pytest.raises(ValueError, match="Unknown holiday country code 'XX'"):
        holiday_features(pd.date_range("2023-01-01", periods=3), "XX")


def test_lag_features_values_and_alignment():
    y = np.arange(40, dtype=float)
    frame = lag_features(y, horizon=3, lags=(1, 7), windows=(7,), season_length=7)
    # row 20, horizon 3: origin is row 17
    assert frame.loc[20, "lag1"] == 17
    assert frame.loc[20, "lag7"] == 11
    assert frame.loc[20, "rmean7"] == pytest.approx(np.mean(np.arange(11, 18)))
    assert frame.loc[20, "slag"] == 13  # same weekday, one week back
    assert frame.loc[20, "smean4"] == pytest.approx(np.mean([13, 6]))  # 4 weeks back: only 2 exist
    assert np.isnan(frame.loc[2, "lag1"])  # no history yet


@pytest.mark.parametrize("horizon", [1, 7, 13, 28])
def test_lag_features_do_not_leak(horizon):
    """Changing y after the origin never changes the features of that origin's targets."""
    rng = np.random.default_rng(1)
    y = rng.normal(100, 10, 120)
    before = lag_features(y, horizon=horizon)
    for origin in (40, 80, 110):
        changed = y.copy()
        changed[origin + 1 :] = rng.normal(-1000, 500, len(y) - origin - 1)
        after = lag_features(changed, horizon=horizon)
        target = origin + horizon
        if target < len(y):
            pd.testing.assert_series_equal(before.loc[target], after.loc[target])


def test_direct_design_does_not_leak_and_builds_prediction_rows(series):
    y, ds = series
    config = FeatureConfig(country="US")
    origin = 150
    full = direct_design(y[: origin + 1], ds[: origin + 1], range(1, 29), config, future=28)
    spoiled = y.copy()
    spoiled[origin + 1 :] = 1e6
    again = direct_design(spoiled, ds, range(1, 29), config, future=0)
    # prediction rows at the origin (target_row = origin + h) from the truncated history
    pred = full[full["target_row"] == origin + full["horizon"]].reset_index(drop=True)
    same = again[again["target_row"] == origin + again["horizon"]].reset_index(drop=True)
    assert len(pred) == 28
    assert not pred.filter(like="lag").isna().all().any()
    pd.testing.assert_frame_equal(pred, same)


def test_direct_design_history_columns_match_lag_features_with_gaps(series):
    """The design computes each rolling window once and shifts it per horizon: same values."""
    y, ds = series
    y = y.copy()
    y[[3, 40, 41, 42, 90]] = np.nan  # gaps inside the rolling windows
    config = FeatureConfig()
    design = direct_design(y, ds, range(1, 29), config)
    for horizon in (1, 5, 28):
        block = design[design["horizon"] == horizon].reset_index(drop=True)
        alone = lag_features(y, horizon=horizon, lags=config.lags, windows=config.windows)
        for name in alone.columns:
            np.testing.assert_array_equal(block[name].to_numpy(), alone[name].to_numpy(), err_msg=name)


def test_exog_observed_columns_are_lagged_by_horizon():
    exog = pd.DataFrame({"promo": [0, 1, 0, 1, 1], "temp": [10.0, 11.0, 12.0, 13.0, 14.0]})
    out = exog_features(exog, horizon=2, known=("promo",), observed=("temp",))
    assert out["x_promo"].tolist() == [0, 1, 0, 1, 1]
    assert np.isnan(out["xo_temp"].iloc[1])
    assert out["xo_temp"].iloc[4] == 12.0
    with pytest.raises(ValueError, match="rain"):
        exog_features(exog, horizon=1, known=("rain",))


def test_known_features_columns():
    frame = known_features(pd.date_range("2023-01-01", periods=10), FeatureConfig(country="DE"))
    assert {"dayofweek", "week_sin1", "year_cos4", "is_holiday"} <= set(frame.columns)
    assert frame.loc["2023-01-01", "is_holiday"] == 1  # Neujahr
    assert np.isfinite(frame.to_numpy(dtype=float)).all()


def test_select_features_returns_informative_subset():
    rng = np.random.default_rng(2)
    n = 1500
    X = pd.DataFrame(
        {
            "signal": rng.normal(size=n),
            "noise1": rng.normal(size=n),
            "noise2": rng.normal(size=n),
            "noise3": rng.normal(size=n),
        }
    )
    y = 5 * X["signal"].to_numpy() + rng.normal(0, 0.1, n)
    chosen = select_features(X, y, max_features=2, min_importance=0.01, keep=("noise3",))
    assert "signal" in chosen
    assert "noise3" in chosen  # forced
    assert set(chosen) < set(X.columns)
    assert chosen == [c for c in X.columns if c in chosen]  # original order
