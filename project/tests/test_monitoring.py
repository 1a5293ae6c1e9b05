"""Tests for project.monitoring: PSI, KS, anomalies, runs, live accuracy, thresholds."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from project import monitoring as mon
from project.errors import InputError
from project.utils import evaluacion as ev

# --------------------------------------------------------------------------- PSI


def test_psi_hand_computed_two_bins():
    # Reference median 2.5 -> bins (<2.5, >=2.5) with shares 0.5/0.5; recent 0.25/0.75.
    reference = [1.0, 2.0, 3.0, 4.0]
    recent = [1.0, 3.0, 4.0, 4.0]
    expected = (0.25 - 0.5) * np.log(0.25 / 0.5) + (0.75 - 0.5) * np.log(0.75 / 0.5)
    assert mon.psi(reference, recent, bins=2) == pytest.approx(expected)


def test_psi_same_distribution_near_zero_and_shift_large():
    rng = np.random.default_rng(0)
    reference = rng.normal(100, 10, 5000)
    same = rng.normal(100, 10, 5000)
    shifted = rng.normal(115, 10, 5000)
    assert mon.psi(reference, same) < 0.02
    assert mon.psi(reference, shifted) > 0.5
    assert mon.psi(reference, reference) == pytest.approx(0.0, abs=1e-12)


def test_psi_sparse_series_with_many_zeros_is_finite():
    # 70% zeros: the lower quantiles coincide; merged bins must not be empty by construction.
    rng = np.random.default_rng(1)
    reference = np.where(rng.random(1000) < 0.7, 0.0, rng.poisson(5, 1000))
    value = mon.psi(reference, reference.copy())
    assert value == pytest.approx(0.0, abs=1e-12)
    all_zero = mon.psi(reference, np.zeros(200))
    assert np.isfinite(all_zero) and all_zero > 0.5


def test_psi_constant_reference():
    assert mon.psi([5.0] * 50, [5.0] * 20) == pytest.approx(0.0)
    moved = mon.psi([5.0] * 50, [7.0] * 20)
    assert np.isfinite(moved) and moved > 5  # everything moved bins: floored shares, large finite index
    assert mon.psi([5.0] * 50, [3.0] * 10 + [5.0] * 10) > 1


def test_psi_empty_bin_in_recent_is_finite():
    reference = np.arange(100.0)
    recent = np.arange(50.0)  # the upper half of the reference bins is empty
    value = mon.psi(reference, recent)
    assert np.isfinite(value) and value > 1


def test_psi_ignores_nan_and_empty_is_nan():
    assert mon.psi([1.0, np.nan, 2.0, 3.0], [1.0, 2.0, 3.0, np.nan]) == pytest.approx(0.0, abs=1e-12)
    assert np.isnan(mon.psi([], [1.0]))
    assert np.isnan(mon.psi([1.0, 2.0], [np.nan]))
    with pytest.raises(InputError, match="bins"):
        mon.psi([1.0], [1.0], bins=0)


# --------------------------------------------------------------------------- KS


def test_ks_matches_scipy_and_ignores_nan():
    rng = np.random.default_rng(2)
    a, b = rng.normal(0, 1, 300), rng.normal(0.5, 1, 200)
    stat, pvalue = mon.ks_statistic(np.append(a, np.nan), b)
    expected = stats.ks_2samp(a, b)
    assert stat == pytest.approx(expected.statistic)
    assert pvalue == pytest.approx(expected.pvalue)
    assert pvalue < 0.01
    same_stat, same_p = mon.ks_statistic(a, a)
    assert same_stat == 0.0 and same_p == pytest.approx(1.0)


def test_ks_empty_is_nan():
    stat, pvalue = mon.ks_statistic([], [1.0, 2.0])
    assert np.isnan(stat) and np.isnan(pvalue)


# --------------------------------------------------------------------------- anomalies


def test_exogenous_columns_numeric_outside_the_key_columns():
    frame = pd.DataFrame(
        {
            "date": pd.date_range("2026-01-01", periods=3),
            "store": ["a", "b", "c"],
            "sales": [1.0, 2.0, 3.0],
            "price": [9.5, 9.0, 9.9],
            "promo": [True, False, True],
            "units": [1, 2, 3],
            "note": ["x", "y", "z"],
        }
    )
    assert mon.exogenous_columns(frame, ["date", "store", "sales"]) == ["price", "promo", "units"]
    assert mon.exogenous_columns(frame[["date", "store", "sales"]], ["date", "store", "sales"]) == []


def test_column_drift_flags_the_shifted_column_only():
    days = pd.date_range("2026-01-01", periods=120)
    reference = pd.DataFrame({"temperature": 20 + np.arange(120) % 10, "price": 10 + days.dayofweek})
    recent_days = pd.date_range("2026-05-01", periods=28)
    recent = pd.DataFrame({"temperature": np.full(28, 45.0), "price": 10 + recent_days.dayofweek})
    table = mon.column_drift(reference, recent, ["temperature", "price"])
    assert list(table["column"]) == ["temperature", "price"]
    assert list(table["n_reference"]) == [120, 120] and list(table["n_recent"]) == [28, 28]
    row = table.set_index("column")
    expected = mon.psi(reference["temperature"], recent["temperature"])
    assert row.loc["temperature", "psi"] == pytest.approx(expected)
    assert row.loc["temperature", "ks"] == pytest.approx(1.0)
    assert mon.crossed_drift_thresholds(row.loc["temperature", "psi"], row.loc["temperature", "pvalue"]) == [
        "psi",
        "ks",
    ]
    assert row.loc["price", "psi"] < 0.01
    assert mon.crossed_drift_thresholds(row.loc["price", "psi"], row.loc["price", "pvalue"]) == []


def test_column_drift_missing_or_empty_column_crosses_nothing():
    reference = pd.DataFrame({"price": [1.0, 2.0, np.nan]})
    recent = pd.DataFrame({"price": [np.nan, np.nan], "other": [1, 2]})
    table = mon.column_drift(reference, recent, ["price", "other", "absent"]).set_index("column")
    assert table["psi"].isna().all() and table["pvalue"].isna().all()
    assert table.loc["price", "n_reference"] == 2 and table.loc["price", "n_recent"] == 0
    for column in table.index:
        assert mon.crossed_drift_thresholds(table.loc[column, "psi"], table.loc[column, "pvalue"]) == []
    empty = mon.column_drift(reference, recent, [])
    assert empty.empty and list(empty.columns) == ["column", "psi", "ks", "pvalue", "n_reference", "n_recent"]


def test_anomaly_scores_band_and_score_rules():
    actual = [10.0, 25.0, 10.0, np.nan, 11.0, 40.0]
    yhat = [10.0, 10.0, 10.0, 10.0, 10.0, 10.0]
    lo95 = [5.0, 5.0, 5.0, 5.0, 5.0, 0.0]
    hi95 = [15.0, 15.0, 15.0, 15.0, 15.0, 100.0]  # last row: a too-wide band
    flags, score = mon.anomaly_scores(actual, yhat, lo95, hi95, scale=2.0, threshold=4.0)
    assert flags.tolist() == [False, True, False, False, False, True]
    # |25-10|/2 = 7.5 ; |40-10|/2 = 15 (inside its band, caught by the score)
    np.testing.assert_allclose(score[[0, 1, 2, 4, 5]], [0.0, 7.5, 0.0, 0.5, 15.0])
    assert np.isnan(score[3])  # a missing actual has no score and is no anomaly


def test_anomaly_scores_per_row_scale_and_zero_scale():
    flags, score = mon.anomaly_scores([12.0, 12.0], [10.0, 10.0], [0.0, 0.0], [20.0, 20.0], scale=[1.0, 0.0])
    assert score[0] == pytest.approx(2.0)
    assert np.isnan(score[1])  # no usable scale: only the band decides
    assert flags.tolist() == [False, False]
    flags, _ = mon.anomaly_scores([30.0], [10.0], [0.0], [20.0], scale=0.0)
    assert flags.tolist() == [True]  # outside the band even without a scale
    with pytest.raises(InputError, match="differ in length"):
        mon.anomaly_scores([1.0, 2.0], [1.0], [0.0, 0.0], [2.0, 2.0], scale=1.0)


def test_anomaly_runs_groups_consecutive_days():
    dates = pd.date_range("2026-01-01", periods=10, freq="D")
    flags = [False, True, True, True, False, False, True, False, True, True]
    scores = [0.0, 5.0, 9.0, 6.0, 0.0, 0.0, 4.5, 0.0, 7.0, 8.0]
    runs = mon.anomaly_runs(dates[::-1], flags[::-1], scores[::-1])  # order does not matter
    assert runs["start"].dt.strftime("%Y-%m-%d").tolist() == ["2026-01-02", "2026-01-07", "2026-01-09"]
    assert runs["end"].dt.strftime("%Y-%m-%d").tolist() == ["2026-01-04", "2026-01-07", "2026-01-10"]
    assert runs["days"].tolist() == [3, 1, 2]
    assert runs["max_score"].tolist() == [9.0, 4.5, 8.0]
    # A one-day hole is tolerated with max_gap_days=2: the last two runs merge.
    merged = mon.anomaly_runs(dates, flags, scores, max_gap_days=2)
    assert merged["days"].tolist() == [3, 3]


def test_anomaly_runs_none_and_bad_input():
    runs = mon.anomaly_runs(pd.date_range("2026-01-01", periods=3), [False] * 3)
    assert runs.empty and list(runs.columns) == ["start", "end", "days", "max_score"]
    runs = mon.anomaly_runs(["2026-01-01", "2026-01-01", "2026-01-02"], [True, True, True])
    assert runs["days"].tolist() == [2]  # a duplicated date counts once
    assert np.isnan(runs["max_score"].iloc[0])
    with pytest.raises(InputError, match="differ in length"):
        mon.anomaly_runs(["2026-01-01"], [True, False])


# --------------------------------------------------------------------------- live accuracy


def _live_frame() -> pd.DataFrame:
    rows = []
    for uid, scale, offset in (("a", 2.0, 1.0), ("b", 10.0, -5.0)):
        for h in (1, 7, 28):
            for day in range(3):
                y = 100.0 + day
                f = y + offset * h / 7
                rows.append(
                    {
                        "unique_id": uid,
                        "horizon": h,
                        "y": y,
                        "yhat": f,
                        "lo-80": f - 1.0,
                        "hi-80": f + 1.0,
                        "lo-95": f - 3.0,
                        "hi-95": f + 3.0,
                        "scale": scale,
                    }
                )
    rows.append({**rows[0], "y": np.nan, "horizon": 2})  # unknown actual: ignored
    return pd.DataFrame(rows)


def test_live_accuracy_overall_matches_evaluacion_metrics():
    frame = _live_frame()
    table = mon.live_accuracy(frame)
    assert table["bucket"].tolist() == ["D+1", "D+7", "D+28", "1-28"]
    row = table.set_index("bucket").loc["D+7"]
    part = frame[(frame["horizon"] == 7)]
    assert row["n"] == 6
    assert row["mae"] == pytest.approx(ev.mae(part["y"], part["yhat"]))
    assert row["wmape"] == pytest.approx(ev.wmape(part["y"], part["yhat"]))
    assert row["bias"] == pytest.approx(ev.bias(part["y"], part["yhat"]))
    # MASE: mean over series of each series' MAE / its scale: (1/2 + 5/10) / 2
    assert row["mase"] == pytest.approx((1.0 / 2.0 + 5.0 / 10.0) / 2)
    # Errors of 1 (series a) sit on the 80% edge (inside), errors of 5 outside both bands.
    assert row["coverage-80"] == pytest.approx(50.0)
    assert row["coverage-95"] == pytest.approx(50.0)
    overall = table.set_index("bucket").loc["1-28"]
    assert overall["n"] == 18  # the NaN actual is not counted


def test_live_accuracy_per_series_and_empty_bucket():
    frame = _live_frame()
    frame = frame[frame["horizon"] <= 7]
    table = mon.live_accuracy(frame, per_series=True)
    assert set(table["unique_id"]) == {"a", "b"}
    b = table[(table["unique_id"] == "b")].set_index("bucket")
    assert b.loc["D+1", "mae"] == pytest.approx(5.0 / 7)
    assert b.loc["D+1", "mase"] == pytest.approx(5.0 / 7 / 10.0)
    assert b.loc["D+28", "n"] == 0 and np.isnan(b.loc["D+28", "mae"])


def test_live_accuracy_without_actuals_and_missing_columns():
    frame = _live_frame().assign(y=np.nan)
    table = mon.live_accuracy(frame)
    assert table.empty and "mase" in table.columns
    with pytest.raises(InputError, match="scale"):
        mon.live_accuracy(_live_frame().drop(columns="scale"))


# --------------------------------------------------------------------------- thresholds


def test_drift_thresholds():
    assert mon.crossed_drift_thresholds(0.3, 0.5) == ["psi"]
    assert mon.crossed_drift_thresholds(0.05, 0.001) == ["ks"]
    assert mon.crossed_drift_thresholds(0.3, 0.001) == ["psi", "ks"]
    assert mon.crossed_drift_thresholds(0.3, 0.001, psi_max=None, ks_pvalue_min=None) == []
    assert mon.crossed_drift_thresholds(float("nan"), None) == []
    assert mon.crossed_drift_thresholds(0.25, 0.01) == []  # equal is not crossed


def test_accuracy_thresholds():
    row = {"mase": 1.4, "wmape": 35.0, "n": 30}
    assert mon.crossed_accuracy_thresholds(row, mase_max=1.2, wmape_max=40.0) == ["mase"]
    assert mon.crossed_accuracy_thresholds(row, mase_max=1.5, wmape_max=30.0) == ["wmape"]
    assert mon.crossed_accuracy_thresholds(row) == []  # thresholds disabled
    assert mon.crossed_accuracy_thresholds(row, mase_max=1.0, min_actuals=31) == []
    assert mon.crossed_accuracy_thresholds({"mase": float("nan")}, mase_max=1.0) == []
    table = mon.live_accuracy(_live_frame())
    overall = table.set_index("bucket").loc["1-28"]
    assert mon.crossed_accuracy_thresholds(overall, mase_max=0.1) == ["mase"]
