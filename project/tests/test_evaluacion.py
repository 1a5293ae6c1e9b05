"""Tests for project.utils.evaluacion: metrics, backtest cutoffs, buckets, report."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from project.errors import InputError
from project.utils import evaluacion as ev

Y = np.array([10.0, 0.0, 20.0, 30.0])
F = np.array([12.0, 1.0, 15.0, 30.0])


# --------------------------------------------------------------------------- metrics by hand


def test_point_metrics_hand_computed():
    # errors f - y: 2, 1, -5, 0
    assert ev.mae(Y, F) == pytest.approx(8 / 4)
    assert ev.rmse(Y, F) == pytest.approx(np.sqrt((4 + 1 + 25 + 0) / 4))
    assert ev.bias(Y, F) == pytest.approx((2 + 1 - 5 + 0) / 4)
    # MAPE skips the zero actual: (2/10 + 5/20 + 0/30) / 3
    assert ev.mape(Y, F) == pytest.approx(100 * (0.2 + 0.25 + 0.0) / 3)
    # sMAPE: 200*|e|/(|y|+|f|) = 200*2/22, 200*1/1, 200*5/35, 0
    assert ev.smape(Y, F) == pytest.approx((400 / 22 + 200 + 1000 / 35 + 0) / 4)
    assert ev.wmape(Y, F) == pytest.approx(100 * 8 / 60)


def test_zero_safe_edge_cases():
    zeros = np.zeros(3)
    assert np.isnan(ev.mape(zeros, [1, 2, 3]))
    assert np.isnan(ev.wmape(zeros, [1, 2, 3]))
    assert ev.smape(zeros, zeros) == 0.0  # 0/0 defined as a perfect forecast
    assert np.isnan(ev.mae([], []))


def test_mase_hand_computed():
    train = np.array([1.0, 2.0, 4.0, 7.0, 11.0])
    # lag-1 abs diffs 1,2,3,4 -> scale 2.5; lag-2: 3,5,7 -> 5
    assert ev.seasonal_scale(train, 1) == pytest.approx(2.5)
    assert ev.seasonal_scale(train, 2) == pytest.approx(5.0)
    assert ev.mase([12, 14], [11, 11], train, season_length=1) == pytest.approx(((1 + 3) / 2) / 2.5)
    assert ev.mase([12, 14], [11, 11], scale=4.0) == pytest.approx(0.5)
    # shorter than a season: falls back to lag 1
    assert ev.seasonal_scale(train, 7) == pytest.approx(2.5)
    assert np.isnan(ev.mase([1], [1], [3.0, 3.0, 3.0], season_length=1))  # constant training: undefined


def test_interval_metrics_hand_computed():
    y = np.array([5.0, 10.0, 20.0])
    lo = np.array([4.0, 11.0, 10.0])
    hi = np.array([6.0, 12.0, 15.0])
    assert ev.coverage(y, lo, hi) == pytest.approx(100 / 3)
    # 80% interval, alpha 0.2, penalty 2/alpha = 10
    expected = ((2 + 0) + (1 + 10 * 1) + (5 + 10 * 5)) / 3
    assert ev.winkler(y, lo, hi, 80) == pytest.approx(expected)
    # pinball at q=0.9 for prediction 6 vs y 5 -> (0.9-1)*(-1) = 0.1; y 10 vs 12 -> 0.2; y 20 vs 15 -> 4.5
    assert ev.pinball(y, hi, 0.9) == pytest.approx((0.1 + 0.2 + 4.5) / 3)


def test_owa():
    assert ev.owa(9.161, 2.777, 9.161, 2.777) == pytest.approx(1.0)
    assert ev.owa(8.0, 2.0, 10.0, 4.0) == pytest.approx(0.5 * (0.8 + 0.5))


def test_length_mismatch_is_refused():
    with pytest.raises(InputError, match="differ in length"):
        ev.mae([1, 2], [1])


# --------------------------------------------------------------------------- cross_validation


class RecordingNaive:
    """Last-value model that records what it was trained on (leakage probe)."""

    log: list[tuple[int, float, pd.Timestamp]] = []

    def fit(self, y, ds):
        self.last_ = float(y[-1])
        RecordingNaive.log.append((len(y), float(y[-1]), pd.Timestamp(ds[-1])))
        return self

    def predict(self, h, level=(80, 95)):
        frame = pd.DataFrame({"mean": np.full(h, self.last_)})
        for lv in level:
            frame[f"lo-{lv}"] = self.last_ - lv / 10
            frame[f"hi-{lv}"] = self.last_ + lv / 10
        return frame


@pytest.fixture()
def series():
    ds = pd.date_range("2024-01-01", periods=100, freq="D")
    return np.arange(100, dtype=float), ds


def test_cross_validation_cutoffs_and_no_leakage(series):
    y, ds = series
    RecordingNaive.log = []
    cv = ev.cross_validation(y, ds, RecordingNaive, h=10, n_windows=3, step=5, level=(80,))
    ends = [100 - 10 - 10, 100 - 10 - 5, 100 - 10]
    assert [n for n, _, _ in RecordingNaive.log] == ends
    # each model saw exactly the days before its cutoff, never a later one
    assert [last for _, last, _ in RecordingNaive.log] == [float(e - 1) for e in ends]
    assert list(cv["cutoff"].unique()) == [ds[e - 1] for e in ends]
    assert (cv["ds"] > cv["cutoff"]).all()
    assert cv.groupby("cutoff")["horizon"].apply(list).tolist() == [list(range(1, 11))] * 3
    assert cv["ds"].max() == ds[-1]
    np.testing.assert_array_equal(cv["y"].to_numpy(), y[[d for e in ends for d in range(e, e + 10)]])
    assert list(cv.columns) == ["cutoff", "ds", "horizon", "y", "mean", "lo-80", "hi-80", "scale"]
    assert (cv["scale"] == 7.0).all()  # lag-7 differences of a unit ramp


def test_cross_validation_scale_is_lag_m_of_training_window(series):
    y, ds = series
    cv = ev.cross_validation(
        y**2, ds, RecordingNaive, h=5, n_windows=1, step=None, level=(80,), season_length=7
    )
    train = (y**2)[:95]
    assert cv["scale"].iloc[0] == pytest.approx(np.mean(np.abs(train[7:] - train[:-7])))


def test_cross_validation_max_train(series):
    y, ds = series
    RecordingNaive.log = []
    ev.cross_validation(y, ds, RecordingNaive, h=10, n_windows=2, step=10, max_train=30)
    assert [n for n, _, _ in RecordingNaive.log] == [30, 30]


def test_cross_validation_too_short(series):
    y, ds = series
    with pytest.raises(InputError, match="too short for 3 backtest window"):
        ev.cross_validation(y[:30], ds[:30], RecordingNaive, h=10, n_windows=3, step=10)


def test_cross_validation_checks_model_output(series):
    y, ds = series

    class Short(RecordingNaive):
        def predict(self, h, level=(80, 95)):
            return super().predict(h, level=(80,)).head(h - 1)

    with pytest.raises(
        ValueError, match=r"returned 9 row\(s\) for horizon 10 without column\(s\) lo-95, hi-95"
    ):
        ev.cross_validation(y, ds, Short, h=10, n_windows=1, step=10)


# --------------------------------------------------------------------------- evaluate


def _cv_frame():
    rows = []
    # second cutoff: the actual 12 falls 0.5 above the 80% band [9, 11.5]
    for cutoff, scale, actual, err in [("2024-01-10", 2.0, 10.0, 1.0), ("2024-01-20", 4.0, 12.0, 3.0)]:
        for hzn in range(1, 29):
            rows.append(
                {
                    "cutoff": pd.Timestamp(cutoff),
                    "horizon": hzn,
                    "y": actual,
                    "mean": actual + err,
                    "lo-80": 9.0,
                    "hi-80": 11.5,
                    "scale": scale,
                }
            )
    return pd.DataFrame(rows)


def test_evaluate_buckets_and_mase_per_cutoff():
    table = ev.evaluate(_cv_frame())
    assert table["bucket"].tolist() == ["D+1", "D+7", "D+28", "1-28"]
    overall = table.set_index("bucket").loc["1-28"]
    # MASE per cutoff: 1/2 and 3/4, averaged -> 0.625 (pooled MAE/scale would differ)
    assert overall["mase"] == pytest.approx(0.625)
    assert overall["mae"] == pytest.approx(2.0)
    assert overall["coverage-80"] == pytest.approx(50.0)
    assert overall["winkler-80"] == pytest.approx((2.5 + (2.5 + 10 * 0.5)) / 2)
    assert {"winkler-80", "pinball", "smape", "wmape", "rmse", "bias", "mape"} <= set(table.columns)


def test_evaluate_only_buckets_within_horizon():
    cv = _cv_frame()
    table = ev.evaluate(cv[cv["horizon"] <= 7], metrics=("mae",))
    assert table["bucket"].tolist() == ["D+1", "D+7", "1-7"]
    assert list(table.columns) == ["bucket", "mae"]


def test_evaluate_per_series_and_unknown_metric():
    cv = pd.concat([_cv_frame().assign(unique_id="a"), _cv_frame().assign(unique_id="b")])
    table = ev.evaluate(cv, metrics=("mase",))
    assert len(table) == 8 and set(table["unique_id"]) == {"a", "b"}
    with pytest.raises(InputError, match="unknown metric 'r2'"):
        ev.evaluate(cv, metrics=("r2",))


def test_evaluate_on_real_backtest(series):
    y, ds = series
    cv = ev.cross_validation(y, ds, RecordingNaive, h=7, n_windows=2, step=7, season_length=1)
    table = ev.evaluate(cv, metrics=("mase", "mae")).set_index("bucket")
    # naive on a unit ramp: error at horizon k is k; scale (lag 1) is 1
    assert table.loc["D+1", "mae"] == pytest.approx(1.0)
    assert table.loc["D+7", "mase"] == pytest.approx(7.0)
    assert table.loc["1-7", "mase"] == pytest.approx(4.0)


def test_evaluate_leaves_out_missing_actuals_and_scores_rmsse_per_cutoff():
    cv = _cv_frame().assign(scale2=lambda f: f["scale"] ** 2)
    first = cv["cutoff"] == pd.Timestamp("2024-01-10")
    cv.loc[first & (cv["horizon"] > 1), "y"] = np.nan  # the first cutoff keeps only D+1
    table = ev.evaluate(cv, metrics=("mase", "rmsse", "mae")).set_index("bucket")
    # D+7: only the second cutoff has an actual (error 3, scale 4)
    assert table.loc["D+7", "mase"] == pytest.approx(0.75)
    assert table.loc["D+7", "rmsse"] == pytest.approx(0.75)
    # 1-28: each cutoff its own scale, averaged; MAE over the 29 rows with an actual
    assert table.loc["1-28", "mase"] == pytest.approx((1 / 2 + 3 / 4) / 2)
    assert table.loc["1-28", "mae"] == pytest.approx((1 + 28 * 3) / 29)
    without = ev.evaluate(cv.drop(columns="scale2"), metrics=("rmsse",))
    assert without["rmsse"].isna().all()  # no squared scale, no RMSSE
    cv["y"] = np.nan
    assert ev.evaluate(cv, metrics=("mase", "mae"))[["mase", "mae"]].isna().all().all()


def test_error_by_horizon_averages_each_step_over_cutoffs():
    cv = _cv_frame()
    first = cv["cutoff"] == pd.Timestamp("2024-01-10")
    cv.loc[first & (cv["horizon"] == 2), "y"] = np.nan
    cv.loc[first & (cv["horizon"] == 3), "scale"] = 0.0  # no scale: out of MASE, not of MAE
    cv.loc[cv["horizon"] == 4, "y"] = np.nan
    table = ev.error_by_horizon(cv.sample(frac=1.0, random_state=0))  # row order does not matter
    assert table["horizon"].tolist() == list(range(1, 29))
    by = table.set_index("horizon")
    assert by.loc[1, "mae"] == pytest.approx(2.0) and by.loc[1, "mase"] == pytest.approx(0.625)
    assert by.loc[2, "mae"] == pytest.approx(3.0) and by.loc[2, "mase"] == pytest.approx(0.75)
    assert by.loc[3, "mae"] == pytest.approx(2.0) and by.loc[3, "mase"] == pytest.approx(0.75)
    assert np.isnan(by.loc[4, "mae"]) and np.isnan(by.loc[4, "mase"])


# --------------------------------------------------------------------------- report


def test_markdown_table():
    md = ev.metrics_markdown(pd.DataFrame({"bucket": ["D+1"], "mase": [0.91234], "mape": [float("nan")]}))
    assert md.splitlines() == ["| bucket | mase | mape |", "|---|---|---|", "| D+1 | 0.912 | n/a |"]


def test_report_png(series):
    y, ds = series
    cv = ev.cross_validation(y, ds, RecordingNaive, h=7, n_windows=2, step=7)
    future = pd.date_range(ds[-1] + pd.Timedelta(days=1), periods=7, freq="D")
    forecast = pd.DataFrame({"ds": future, "mean": 100.0, "lo-80": 95.0, "hi-80": 105.0})
    png = ev.render_report_png(pd.DataFrame({"ds": ds, "y": y}), forecast, cv, title="ramp")
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    assert len(png) > 5000
