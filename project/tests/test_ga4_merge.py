"""merge_window: re-downloaded days replace stored ones, older days stay."""

import datetime as dt

import pandas as pd
import pytest

from project.errors import InputError
from project.ga4.merge import merge_window


def _frame(days, countries=("AR", "ES"), base=0, start="2024-03-01"):
    d0 = dt.date.fromisoformat(start)
    rows = [
        {"date": d0 + dt.timedelta(days=k), "country": c, "sessions": base + 10 * k + i}
        for k in days
        for i, c in enumerate(countries)
    ]
    frame = pd.DataFrame(rows, columns=["date", "country", "sessions"])
    frame["sessions"] = frame["sessions"].astype("int64")
    return frame


def test_window_replaces_lookback_days_and_keeps_older():
    old = _frame(range(0, 10))  # 2024-03-01 .. 03-10
    new = _frame(range(7, 12), base=1000)  # 03-08 .. 03-12, revised values
    merged = merge_window(old, new, window_start="2024-03-08", window_end="2024-03-12")
    assert len(merged) == 12 * 2
    assert merged["date"].tolist() == sorted(merged["date"].tolist())
    older = merged[merged["date"] < dt.date(2024, 3, 8)]
    pd.testing.assert_frame_equal(older.reset_index(drop=True), old.iloc[:14].reset_index(drop=True))
    recent = merged[merged["date"] >= dt.date(2024, 3, 8)].reset_index(drop=True)
    pd.testing.assert_frame_equal(recent, new.reset_index(drop=True))
    assert merged["sessions"].dtype == "int64"
    assert isinstance(merged["date"].iloc[0], dt.date)


def test_day_missing_from_new_download_is_dropped():
    old = _frame(range(0, 5))
    new = _frame([3], base=500)  # the window 03-04..03-05 came back with one day only
    merged = merge_window(old, new, window_start="2024-03-04", window_end="2024-03-05")
    assert dt.date(2024, 3, 5) not in set(merged["date"])
    assert merged[merged["date"] == dt.date(2024, 3, 4)]["sessions"].tolist() == [530, 531]
    assert len(merged) == 4 * 2


def test_row_vanished_inside_window_vanishes_from_result():
    old = _frame(range(0, 3))
    new = _frame([2], countries=("AR",), base=0)  # ES fell under thresholding on 03-03
    merged = merge_window(old, new, window_start="2024-03-03", window_end="2024-03-03")
    last = merged[merged["date"] == dt.date(2024, 3, 3)]
    assert last["country"].tolist() == ["AR"]


def test_first_download_and_rolling_window():
    new = _frame(range(0, 6))
    assert merge_window(None, new).equals(new.sort_values(["date", "country"]).reset_index(drop=True))
    kept = merge_window(None, new, keep_from="2024-03-04")
    assert min(kept["date"]) == dt.date(2024, 3, 4)
    assert len(kept) == 3 * 2


def test_datetime_and_string_dates_follow_the_new_frame():
    old = _frame(range(0, 4))
    new = _frame(range(2, 5), base=100)
    new["date"] = pd.to_datetime(new["date"])
    merged = merge_window(old, new)
    assert pd.api.types.is_datetime64_any_dtype(merged["date"])
    assert merged["date"].min() == pd.Timestamp("2024-03-01")
    new["date"] = new["date"].dt.strftime("%Y-%m-%d")
    merged = merge_window(old, new)
    assert merged["date"].tolist()[:2] == ["2024-03-01", "2024-03-01"]


def test_merge_is_idempotent_for_the_same_window():
    old = _frame(range(0, 8))
    new = _frame(range(5, 8), base=0)
    once = merge_window(old, new, window_start="2024-03-06", window_end="2024-03-08")
    twice = merge_window(once, new, window_start="2024-03-06", window_end="2024-03-08")
    pd.testing.assert_frame_equal(once, twice)
    pd.testing.assert_frame_equal(once, old)


@pytest.mark.parametrize(
    ("change", "match"),
    [
        (lambda f: f.rename(columns={"sessions": "activeUsers"}), "different columns"),
        (lambda f: f.assign(date="not a date"), "unparsable date"),
    ],
)
def test_bad_input_is_named(change, match):
    old = _frame(range(0, 4))
    new = change(_frame(range(2, 4)))
    with pytest.raises(InputError, match=match):
        merge_window(old, new)


def test_new_rows_outside_window_are_refused():
    new = _frame(range(0, 4))
    with pytest.raises(InputError, match="outside the window 2024-03-02..2024-03-03"):
        merge_window(None, new, window_start="2024-03-02", window_end="2024-03-03")
