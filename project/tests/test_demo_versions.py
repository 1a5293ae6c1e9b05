import datetime as dt

import pandas as pd
import pytest

from project.datasets import demo
from project.datasets.demo import DEMO_DATA, demo_versions
from project.errors import InputError


@pytest.fixture(scope="module")
def sample():
    return pd.read_csv(DEMO_DATA)


@pytest.mark.parametrize("today", [dt.date(2026, 11, 30), dt.date(2027, 2, 3), dt.date(2016, 12, 30)])
def test_versions_end_in_the_week_before_today_with_weekdays_kept(sample, today):
    first, second = demo_versions(sample, date_col="date", today=today, actual_days=7)
    old = pd.to_datetime(sample["date"])
    new = pd.to_datetime(second["date"])
    assert (new - old).dt.days.nunique() == 1
    assert ((new - old).dt.days % 7 == 0).all()
    assert (new.dt.weekday == old.dt.weekday).all()
    last = new.max().date()
    assert today - dt.timedelta(days=7) <= last < today
    pd.testing.assert_frame_equal(second.drop(columns="date"), sample.drop(columns="date"))
    # The first version is the second without its last seven days, for every page.
    first_days = pd.to_datetime(first["date"])
    assert first_days.max() == new.max() - pd.Timedelta(days=7)
    expected = second[new <= first_days.max()].reset_index(drop=True)
    pd.testing.assert_frame_equal(first, expected)
    assert len(second) - len(first) == 7 * sample["page"].nunique()


def test_bad_input_is_refused_with_the_row(sample):
    bad = sample.head(20).copy()
    bad.loc[3, "date"] = "31/12/2016"
    with pytest.raises(InputError, match="row 4"):
        demo_versions(bad, date_col="date", today=dt.date(2026, 1, 1))
    with pytest.raises(InputError, match="no day older"):
        demo_versions(sample.head(3), date_col="date", today=dt.date(2026, 1, 1), actual_days=7)
    with pytest.raises(InputError, match="'day' not found"):
        demo_versions(sample, date_col="day", today=dt.date(2026, 1, 1))


def _forecast(keys, days, yhat=100.0, half80=20.0, half95=35.0, scale=10.0):
    return pd.DataFrame(
        [
            {"series_key": key, "date": day, "yhat": yhat * (i + 1), "lo-80": yhat * (i + 1) - half80,
             "hi-80": yhat * (i + 1) + half80, "hi-95": yhat * (i + 1) + half95, "scale": scale}
            for i, key in enumerate(keys)
            for day in days
        ]
    )


def test_demo_actuals_show_exactly_one_anomaly():
    from project import monitoring

    days = [f"2024-01-0{d}" for d in range(1, 8)]
    history = pd.DataFrame({"page": ["a"] * 3 + ["b"] * 3,
                            "date": ["2023-12-29", "2023-12-30", "2023-12-31"] * 2,
                            "views": [7, 8, 9, 10, 11, 12]})
    actual = pd.DataFrame({"page": ["a"] * 7 + ["b"] * 7, "date": days * 2,
                           "views": [100, 500, 90, 0, 110, 101, 99, 190, 210, 200, 1000, 205, 195, 200]})
    second = pd.concat([history, actual], ignore_index=True)
    forecast = _forecast(["a", "b"], days)
    out, anomaly = demo.demo_actuals(second, forecast, date_col="date", target_col="views", key_cols=["page"])
    assert anomaly == ("b", "2024-01-04"), "the middle day of the largest series"
    assert out.iloc[:6].equals(history), "days without a forecast are untouched"
    merged = out.merge(forecast.rename(columns={"series_key": "page"}), on=["page", "date"])
    flags, _scores = monitoring.anomaly_scores(merged["views"], merged["yhat"], merged["lo-80"] - 15,
                                               merged["hi-95"], merged["scale"])
    assert flags.sum() == 1
    assert merged.loc[flags, ["page", "date"]].values.tolist() == [["b", "2024-01-04"]]
    kept = merged[(merged["page"] == "a") & (merged["date"] == "2024-01-01")]["views"].item()
    assert kept == 100, "a value near the forecast is the real one"
    assert out["views"].dtype == second["views"].dtype
    again, _ = demo.demo_actuals(second, forecast, date_col="date", target_col="views", key_cols=["page"])
    assert again.equals(out), "deterministic"


def test_demo_actuals_without_forecast_change_nothing():
    frame = pd.DataFrame({"date": ["2024-01-01"], "views": [3]})
    out, anomaly = demo.demo_actuals(frame, _forecast([], []), date_col="date", target_col="views")
    assert anomaly is None and out.equals(frame)
