"""Tests for project.utils.datos: reading, date parsing, validation, missing-day policy."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from project.errors import InputError
from project.utils.datos import parse_dates, prepare, read_table, series_key

TODAY = "2024-12-31"


def _frame(dates, values, **keys):
    return pd.DataFrame({"date": dates, "sales": values, **keys})


def _daily(start: str, n: int) -> pd.DatetimeIndex:
    return pd.date_range(start, periods=n, freq="D")


# --------------------------------------------------------------------------- read_table


@pytest.mark.parametrize("sep", [",", ";", "\t", "|"])
def test_read_table_sniffs_delimiter(tmp_path, sep):
    path = tmp_path / "data.csv"
    path.write_text(
        sep.join(["date", "store", "sales"])
        + "\n"
        + sep.join(["2024-01-01", "A", "5"])
        + "\n"
        + sep.join(["2024-01-02", "A", "7"])
        + "\n"
    )
    frame = read_table(path)
    assert list(frame.columns) == ["date", "store", "sales"]
    assert frame["sales"].tolist() == [5, 7]


@pytest.mark.parametrize("encoding", ["utf-8", "utf-8-sig", "latin-1"])
def test_read_table_encodings(tmp_path, encoding):
    path = tmp_path / "data.csv"
    path.write_bytes("fecha;tienda;ventas\n2024-01-01;Peñíscola;5\n2024-01-02;Peñíscola;6\n".encode(encoding))
    frame = read_table(path)
    assert list(frame.columns) == ["fecha", "tienda", "ventas"]  # no BOM left in the first name
    assert frame["tienda"].iloc[0] == "Peñíscola"


def test_read_table_parquet_by_magic_bytes(tmp_path):
    path = tmp_path / "export.dat"  # misleading extension on purpose
    _frame(["2024-01-01", "2024-01-02"], [1.0, 2.0]).to_parquet(path)
    frame = read_table(path)
    assert frame["sales"].tolist() == [1.0, 2.0]


def test_read_table_empty_file(tmp_path):
    path = tmp_path / "empty.csv"
    path.write_bytes(b"")
    with pytest.raises(InputError, match=r"'empty.csv' is empty"):
        read_table(path)


def test_read_table_header_only(tmp_path):
    path = tmp_path / "header.csv"
    path.write_text("date,sales\n")
    with pytest.raises(InputError, match="has a header but no data rows"):
        read_table(path)


def test_read_table_missing_file(tmp_path):
    with pytest.raises(InputError, match="does not exist"):
        read_table(tmp_path / "nope.csv")


def test_read_table_binary_garbage(tmp_path):
    path = tmp_path / "book.xlsx"
    path.write_bytes(b"PK\x03\x04\x00\x00\x00garbage")
    with pytest.raises(InputError, match="neither CSV text nor Parquet"):
        read_table(path)


# --------------------------------------------------------------------------- dates


def test_parse_dates_ga4_yyyymmdd_as_integers():
    parsed, fmt = parse_dates(pd.Series([20240301, 20240302, 20240303]))
    assert fmt == "YYYYMMDD"
    assert parsed.tolist() == list(_daily("2024-03-01", 3))


def test_parse_dates_iso_with_time_is_normalised():
    parsed, fmt = parse_dates(pd.Series(["2024-03-01 13:45:00", "2024-03-02T08:00:00", "2024-03-03"]))
    assert fmt == "ISO"
    assert parsed.tolist() == list(_daily("2024-03-01", 3))
    assert parsed.dtype == "datetime64[ns]"


def test_parse_dates_day_first_decided_by_whole_column():
    # "13/03/2024" proves day-first, so "01/03/2024" is 1 March, not 3 January.
    parsed, fmt = parse_dates(pd.Series(["01/03/2024", "13/03/2024"]))
    assert fmt == "DD/MM/YYYY"
    assert parsed.iloc[0] == pd.Timestamp("2024-03-01")


def test_parse_dates_month_first_decided_by_whole_column():
    parsed, fmt = parse_dates(pd.Series(["03/01/2024", "03/13/2024"]))
    assert fmt == "MM/DD/YYYY"
    assert parsed.iloc[0] == pd.Timestamp("2024-03-01")


def test_parse_dates_ambiguous_column_uses_calendar_regularity():
    # Every value <= 12 on both sides; only month-first gives consecutive days.
    values = [f"01/{d:02d}/2024" for d in range(1, 11)]
    parsed, fmt = parse_dates(pd.Series(values))
    assert fmt == "MM/DD/YYYY"
    assert parsed.tolist() == list(_daily("2024-01-01", 10))


def test_parse_dates_mixed_day_and_month_first_is_refused():
    with pytest.raises(InputError, match="mixes day-first and month-first"):
        parse_dates(pd.Series(["13/01/2024", "01/13/2024"]))


def test_parse_dates_names_bad_rows():
    with pytest.raises(InputError) as info:
        parse_dates(pd.Series(["2024-01-01", "2024-02-30", "2024-01-03", "tomorrow"]))
    message = str(info.value)
    assert "2 date(s) cannot be parsed" in message
    assert "row 2 ('2024-02-30')" in message and "row 4 ('tomorrow')" in message


def test_parse_dates_timezone_aware_keeps_wall_date():
    values = pd.Series(pd.to_datetime(["2024-03-01 23:30", "2024-03-02 00:10"]).tz_localize("Europe/Madrid"))
    parsed, fmt = parse_dates(values)
    assert fmt == "datetime"
    assert parsed.tolist() == list(_daily("2024-03-01", 2))


# --------------------------------------------------------------------------- validation messages


def test_missing_columns_lists_available():
    df = _frame(["2024-01-01", "2024-01-02"], [1, 2])
    with pytest.raises(InputError) as info:
        prepare(df, "fecha", "sales", series_cols=["store"], today=TODAY)
    message = str(info.value)
    assert "date column 'fecha'" in message and "series column 'store'" in message
    assert "available columns: 'date', 'sales'" in message


def test_single_row_is_refused():
    with pytest.raises(InputError, match="single data row"):
        prepare(_frame(["2024-01-01"], [1]), "date", "sales", today=TODAY)


def test_empty_frame_is_refused():
    with pytest.raises(InputError, match="no data rows"):
        prepare(_frame([], []), "date", "sales", today=TODAY)


def test_non_numeric_target_names_rows_and_values():
    df = _frame(["2024-01-01", "2024-01-02", "2024-01-03"], ["5", "n/a", "12kg"])
    with pytest.raises(InputError) as info:
        prepare(df, "date", "sales", today=TODAY)
    message = str(info.value)
    assert "target column 'sales' must be numeric" in message
    assert "row 2 ('n/a')" in message and "row 3 ('12kg')" in message


def test_decimal_comma_target_is_accepted():
    df = _frame(["2024-01-01", "2024-01-02"], ["1.234,5", "12,25"])
    prepared = prepare(df, "date", "sales", today=TODAY)
    assert prepared.data["y"].tolist() == [1234.5, 12.25]


def test_future_dates_are_refused_with_rows():
    df = _frame(["2024-12-30", "2024-12-31", "2025-01-02"], [1, 2, 3])
    with pytest.raises(InputError) as info:
        prepare(df, "date", "sales", today=TODAY)
    assert "1 row(s) are dated after today (2024-12-31): row 3 (2025-01-02)" in str(info.value)


def test_unknown_policy_is_refused():
    with pytest.raises(InputError, match="policy 'mean' is unknown"):
        prepare(_frame(["2024-01-01", "2024-01-02"], [1, 2]), "date", "sales", missing="mean", today=TODAY)


def test_same_column_for_two_roles_is_refused():
    df = _frame(["2024-01-01", "2024-01-02"], [1, 2])
    with pytest.raises(InputError, match="more than one role"):
        prepare(df, "date", "sales", series_cols=["date"], today=TODAY)


def test_infinite_target_is_refused():
    with pytest.raises(InputError, match="infinite values in rows 2"):
        prepare(_frame(["2024-01-01", "2024-01-02"], [1.0, np.inf]), "date", "sales", today=TODAY)


# --------------------------------------------------------------------------- shaping


def test_duplicates_are_summed_and_reported():
    df = _frame(
        ["2024-01-01", "2024-01-01", "2024-01-02", "2024-01-02", "2024-01-02"],
        [1, 2, 3, 4, 5],
        store=["A"] * 5,
    )
    prepared = prepare(df, "date", "sales", series_cols=["store"], today=TODAY)
    assert prepared.data["y"].tolist() == [3.0, 12.0]
    assert prepared.report.loc[0, "duplicates_summed"] == 3
    assert prepared.policy["duplicates_summed"] == 3
    assert any("3 duplicate" in w for w in prepared.warnings)


def test_series_key_and_keys_frame():
    df = _frame(["2024-01-01", "2024-01-02"] * 2, [1, 2, 3, 4], store=["A", "A", "B", "B"], sku=[7, 7, 8, 8])
    prepared = prepare(df, "date", "sales", series_cols=["store", "sku"], today=TODAY)
    assert sorted(prepared.data["unique_id"].unique()) == ["A | 7", "B | 8"]
    assert prepared.keys.to_dict("records") == [
        {"unique_id": "A | 7", "store": "A", "sku": 7},
        {"unique_id": "B | 8", "store": "B", "sku": 8},
    ]
    assert series_key(df.iloc[:0], []).empty


def test_no_series_columns_gives_total():
    prepared = prepare(_frame(["2024-01-01", "2024-01-02"], [1, 2]), "date", "sales", today=TODAY)
    assert set(prepared.data["unique_id"]) == {"total"}
    assert list(prepared.data.columns) == ["unique_id", "ds", "y", "filled", "interpolated", "outlier"]


def test_short_series_and_negatives_are_reported_not_refused():
    df = _frame(list(_daily("2024-01-01", 10).strftime("%Y-%m-%d")), [5, -1, 4, 6, 5, 7, 5, 6, 4, 5])
    prepared = prepare(df, "date", "sales", today=TODAY, horizon=28)
    row = prepared.report.iloc[0]
    assert bool(row["short"]) and row["negatives"] == 1
    assert any("fewer than the horizon 28" in w for w in prepared.warnings)
    assert any("1 negative value" in w for w in prepared.warnings)
    assert prepared.data["y"].iloc[1] == -1.0  # kept as given


def test_all_zero_series_is_reported():
    df = _frame(["2024-01-01", "2024-01-02", "2024-01-03"], [0, 0, 0])
    prepared = prepare(df, "date", "sales", today=TODAY)
    assert prepared.report.loc[0, "zero_share"] == 1.0
    assert any("zero on every day" in w for w in prepared.warnings)


# --------------------------------------------------------------------------- missing-day policy


def _busy_with_gap(n: int = 120, gap=(60, 65)) -> tuple[pd.DataFrame, pd.DatetimeIndex]:
    rng = np.random.default_rng(0)
    days = _daily("2024-01-01", n)
    values = 1000 + 50 * np.sin(np.arange(n) * 2 * np.pi / 7) + rng.normal(0, 20, n)
    keep = np.ones(n, dtype=bool)
    keep[gap[0] : gap[1]] = False
    df = _frame(days[keep].strftime("%Y-%m-%d"), values[keep].round(1))
    return df, days[gap[0] : gap[1]]


def test_auto_busy_series_gap_is_interpolated_and_flagged():
    df, gap_days = _busy_with_gap()
    prepared = prepare(df, "date", "sales", today=TODAY)
    data = prepared.data.set_index("ds")
    gap = data.loc[gap_days]
    assert gap["filled"].all() and gap["interpolated"].all()
    assert (gap["y"] > 900).all(), "an outage in a busy series must never read as zero sales"
    before, after = (
        data["y"].loc[gap_days[0] - pd.Timedelta(days=1)],
        data["y"].loc[gap_days[-1] + pd.Timedelta(days=1)],
    )
    assert gap["y"].between(min(before, after), max(before, after)).all()  # linear between neighbours
    report = prepared.report.iloc[0]
    assert report["policy"] == "auto:busy"
    assert report["days_interpolated"] == 5 and report["days_zero_filled"] == 0
    assert data["interpolated"].sum() == 5
    assert any("outage" in w for w in prepared.warnings)


def test_auto_sparse_series_missing_days_are_zero():
    rng = np.random.default_rng(1)
    days = _daily("2024-01-01", 90)
    counts = rng.poisson(1.5, 90)
    present = counts > 0  # GA4 omits the zero rows
    df = _frame(days[present].strftime("%Y-%m-%d"), counts[present], page=["/p"] * int(present.sum()))
    df = pd.concat([df, _frame(["2024-03-30"], [400], page=["/busy"])] * 1, ignore_index=True)
    prepared = prepare(df, "date", "sales", series_cols=["page"], today=TODAY)
    sparse = prepared.data[prepared.data["unique_id"] == "/p"].set_index("ds")
    absent = days[~present & (days >= days[present][0]) & (days <= days[present][-1])]
    assert len(absent) > 5
    assert (sparse.loc[absent, "y"] == 0).all()
    assert sparse.loc[absent, "filled"].all() and not sparse["interpolated"].any()
    assert prepared.report.set_index("unique_id").loc["/p", "policy"] == "auto:intermittent"


def test_auto_intermittent_calendar_runs_to_end_of_input():
    # GA4 sends nothing for a page once it goes quiet: the trailing days are zeros.
    df = pd.concat(
        [
            _frame(["2024-01-01", "2024-01-03"], [2, 1], page=["/quiet"] * 2),
            _frame(list(_daily("2024-01-01", 10).strftime("%Y-%m-%d")), [500] * 10, page=["/home"] * 10),
        ]
    )
    prepared = prepare(df, "date", "sales", series_cols=["page"], today=TODAY)
    quiet = prepared.data[prepared.data["unique_id"] == "/quiet"]
    assert quiet["ds"].max() == pd.Timestamp("2024-01-10")
    assert quiet["y"].tolist() == [2, 0, 1] + [0] * 7


def test_auto_busy_closed_weekday_is_zero_not_interpolated():
    days = _daily("2024-01-01", 84)  # 12 weeks; 2024-01-07 is a Sunday
    open_days = days[days.dayofweek != 6]
    df = _frame(open_days.strftime("%Y-%m-%d"), np.full(len(open_days), 300.0))
    prepared = prepare(df, "date", "sales", today=TODAY)
    data = prepared.data.set_index("ds")
    sundays = days[(days.dayofweek == 6) & (days <= open_days[-1])]
    assert (data.loc[sundays, "y"] == 0).all()
    assert not data["interpolated"].any()
    assert prepared.report.loc[0, "closed_weekdays"] == "Sun"


@pytest.mark.parametrize(
    "policy, expected",
    [
        ("zero", [10.0, 0.0, 0.0, 40.0]),
        ("interpolate", [10.0, 20.0, 30.0, 40.0]),
        ("nan", [10.0, np.nan, np.nan, 40.0]),
    ],
)
def test_explicit_policies(policy, expected):
    df = _frame(["2024-01-01", "2024-01-04"], [10, 40])
    prepared = prepare(df, "date", "sales", missing=policy, today=TODAY)
    np.testing.assert_array_equal(prepared.data["y"].to_numpy(), np.array(expected))
    assert prepared.data["filled"].tolist() == [False, True, True, False]
    assert prepared.policy["missing"] == policy
    assert prepared.report.loc[0, "policy"] == policy


def test_outliers_are_flagged_not_removed():
    rng = np.random.default_rng(2)
    values = 100 + rng.normal(0, 3, 60)
    values[30] = 1000
    df = _frame(list(_daily("2024-01-01", 60).strftime("%Y-%m-%d")), values)
    prepared = prepare(df, "date", "sales", today=TODAY)
    assert prepared.data["outlier"].sum() == 1
    assert bool(prepared.data["outlier"].iloc[30])
    assert prepared.data["y"].iloc[30] == 1000  # kept
    assert prepared.report.loc[0, "outliers"] == 1


def test_policy_is_json_serialisable():
    import json

    df, _ = _busy_with_gap()
    prepared = prepare(df, "date", "sales", today=TODAY)
    assert json.loads(json.dumps(prepared.policy))["resolved"] == {"auto:busy": 1}


def test_embedded_sample(wiki_df):
    prepared = prepare(wiki_df, "date", "pageviews", series_cols=["page"], today=TODAY, horizon=28)
    assert len(prepared.report) == wiki_df["page"].nunique()
    assert (prepared.report["length"] == 550).all()
    assert prepared.data["y"].notna().all()


# --------------------------------------------------------------------------- number formats, more shapes


@pytest.mark.parametrize(
    "values, expected",
    [
        (["1.234,5", "12,25", "7"], [1234.5, 12.25, 7.0]),  # European
        (["1,234.5", "12.25", "7"], [1234.5, 12.25, 7.0]),  # US
        (["1.234", "12,5"], [1234.0, 12.5]),  # "1.234" is a thousands group once the column reads European
    ],
)
def test_separated_numbers_decided_per_column(values, expected):
    dates = list(_daily("2024-01-01", len(values)).strftime("%Y-%m-%d"))
    prepared = prepare(_frame(dates, values), "date", "sales", today=TODAY)
    assert prepared.data["y"].tolist() == expected


def test_ambiguous_thousands_comma_is_refused():
    with pytest.raises(InputError, match="may use ',' as a decimal or as a thousands separator"):
        prepare(_frame(["2024-01-01", "2024-01-02"], ["1,234", "2,000"]), "date", "sales", today=TODAY)


def test_mixed_number_conventions_are_refused():
    with pytest.raises(InputError, match="mixes number formats"):
        prepare(_frame(["2024-01-01", "2024-01-02"], ["1.5", "2,5"]), "date", "sales", today=TODAY)


def test_parse_dates_iso_without_zero_padding():
    parsed, fmt = parse_dates(pd.Series(["2024-3-5", "2024-3-6 10:00", "2024-03-07T00:00:00Z"]))
    assert fmt == "ISO"
    assert parsed.tolist() == list(_daily("2024-03-05", 3))


def test_outlier_pass_never_mixes_series():
    # A busy series followed by a small one: a shared rolling window would flag the boundary.
    days = list(_daily("2024-01-01", 40).strftime("%Y-%m-%d"))
    rng = np.random.default_rng(3)
    df = pd.concat(
        [
            _frame(days, 10000 + rng.normal(0, 50, 40), store=["big"] * 40),
            _frame(days, 10 + rng.normal(0, 0.5, 40), store=["small"] * 40),
        ]
    )
    prepared = prepare(df, "date", "sales", series_cols=["store"], today=TODAY)
    assert not prepared.data["outlier"].any()
    assert prepared.report["outliers"].tolist() == [0, 0]


def test_busy_series_ending_early_keeps_its_own_end():
    days = _daily("2024-01-01", 30)
    df = pd.concat(
        [
            _frame(days.strftime("%Y-%m-%d"), np.full(30, 500.0), store=["A"] * 30),
            _frame(days[:20].strftime("%Y-%m-%d"), np.full(20, 800.0), store=["B"] * 20),
        ]
    )
    prepared = prepare(df, "date", "sales", series_cols=["store"], today=TODAY)
    report = prepared.report.set_index("unique_id")
    assert report.loc["B", "last_date"] == "2024-01-20"  # no invented zeros after a busy series stops
    assert report.loc["B", "days_filled"] == 0
    # ten silent days against a usual gap of one: stale, forecast from its own end (issue 9)
    assert bool(report.loc["B", "stale"]) and not bool(report.loc["A", "stale"])
    assert any("'B' is stale: nothing since 2024-01-20" in w and "own-end" in w for w in prepared.warnings)


def test_today_is_allowed_but_reported_as_possibly_incomplete():
    prepared = prepare(_frame(["2024-12-30", "2024-12-31"], [5, 1]), "date", "sales", today=TODAY)
    assert prepared.data["ds"].max() == pd.Timestamp(TODAY)
    assert any("includes today (2024-12-31)" in w for w in prepared.warnings)
