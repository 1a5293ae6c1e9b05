"""One reading path and one day/month rule for training input and imports."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

from project.datasets.parsing import day_first_wins, parse_date, parse_dates
from project.datasets.reader import Limits, read_frame
from project.errors import InputError
from project.utils.datos import read_table

# --------------------------------------------------------------------------- the day/month rule

_DAILY_MONTH_FIRST = [f"01/{d:02d}/2024" for d in range(1, 11)]  # 1..10 January, read month-first
_DAILY_DAY_FIRST = [f"{d:02d}/01/2024" for d in range(1, 11)]  # 1..10 January, read day-first
CASES = [
    (_DAILY_MONTH_FIRST, pd.date_range("2024-01-01", periods=10, freq="D")),
    (_DAILY_DAY_FIRST, pd.date_range("2024-01-01", periods=10, freq="D")),
    (["03/04/2024"], [pd.Timestamp("2024-04-03")]),  # one ambiguous value: tie goes to day-first
    (["01/03/2024", "13/03/2024"], pd.to_datetime(["2024-03-01", "2024-03-13"])),  # 13 proves day-first
    (["03/01/2024", "03/13/2024"], pd.to_datetime(["2024-03-01", "2024-03-13"])),  # 13 proves month-first
]


@pytest.mark.parametrize(("values", "expected"), CASES)
def test_training_and_import_read_ambiguous_dates_the_same_way(values, expected):
    training, _ = parse_dates(pd.Series(values))
    imported = parse_date(pa.array(values))
    assert not imported.invalid.any()
    assert list(training) == list(pd.DatetimeIndex(expected))
    assert list(pd.DatetimeIndex(imported.values)) == list(pd.DatetimeIndex(expected))


def test_rule_counts_first_then_calendar_regularity_then_day_first():
    nat = np.datetime64("NaT", "ns")
    jan = pd.date_range("2024-01-01", periods=3).to_numpy()
    spread = pd.to_datetime(["2024-01-01", "2024-02-01", "2024-03-01"]).to_numpy()
    assert day_first_wins(jan, np.array([jan[0], nat, nat]))  # explains more values
    assert not day_first_wins(np.array([jan[0], nat, nat]), jan)
    assert not day_first_wins(spread, jan)  # same count: the daily calendar wins
    assert day_first_wins(jan, spread)
    assert day_first_wins(jan[:1], spread[:1])  # nothing to tell them apart: day-first


# --------------------------------------------------------------------------- training input


def test_training_input_obeys_the_reader_size_limit(tmp_path):
    path = tmp_path / "big.csv"
    path.write_text("date,sales\n" + "2024-01-01,1\n" * 50)
    assert len(read_frame(path)) == 50
    with pytest.raises(InputError, match="above the 0 MiB limit"):
        read_frame(path, limits=Limits(max_file_bytes=100))


def test_parquet_training_input_obeys_the_inflation_limit(tmp_path):
    path = tmp_path / "data.parquet"
    pd.DataFrame({"date": ["2024-01-01"] * 5000, "sales": np.arange(5000.0)}).to_parquet(path)
    assert read_frame(path)["sales"].sum() == np.arange(5000.0).sum()
    with pytest.raises(InputError, match="would inflate to"):
        read_frame(path, limits=Limits(max_uncompressed_bytes=1000))


def test_read_table_types_missing_markers_and_ragged_rows(tmp_path):
    path = tmp_path / "data.csv"
    path.write_text(
        "date;store;sales;units\n 2024-01-01 ; A ;NA;3\n2024-01-02;B; 7;null\n2024-01-03;;1,5;4\n"
    )
    frame = read_table(path)
    assert frame["date"].tolist() == ["2024-01-01", "2024-01-02", "2024-01-03"]
    assert frame["store"].tolist() == ["A", "B", None]
    assert frame["sales"].tolist() == [None, "7", "1,5"]  # a decimal comma is left to prepare()
    assert frame["units"].dtype == np.float64 and frame["units"].isna().tolist() == [False, True, False]
    ragged = tmp_path / "ragged.csv"
    ragged.write_text("date,sales\n2024-01-01,1\n2024-01-02,2,3\n")
    with pytest.raises(InputError, match="row 3: expected 2 fields"):
        read_table(ragged)
