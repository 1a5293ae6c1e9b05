import datetime as dt

import pandas as pd
import pytest

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
