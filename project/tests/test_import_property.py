"""Property-based tests of the CSV parser, and the template / CLI contracts."""

from __future__ import annotations

import csv
import datetime as dt
import io
import unicodedata

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from project.datasets.metadata import read_dataset
from project.datasets.parsing import detect_decimal
from project.importar_datos import import_file, main, template_file

SETTINGS = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
TODAY = dt.date(2024, 6, 30)


def fmt_number(value: float, decimal: str, thousands: bool) -> str:
    """Format like a spreadsheet of the given locale would."""
    text = f"{value:,.2f}" if thousands else f"{value:.2f}"
    if decimal == ",":
        text = text.replace(",", "\0").replace(".", ",").replace("\0", ".")
    return text


amounts = st.floats(min_value=0, max_value=1e9, allow_nan=False).map(lambda v: round(v, 2))


@SETTINGS
@given(
    values=st.lists(amounts, min_size=1, max_size=30),
    delim=st.sampled_from([",", ";", "\t", "|"]),
    decimal=st.sampled_from([".", ","]),
    thousands=st.booleans(),
    crlf=st.booleans(),
)
def test_numbers_round_trip_any_locale(values, delim, decimal, thousands, crlf):
    buf = io.StringIO()
    writer = csv.writer(buf, delimiter=delim, lineterminator="\r\n" if crlf else "\n")
    writer.writerow(["fecha", "ventas"])
    # one value with two decimals that are not 00 makes the locale unambiguous, as in real exports
    rows = [*values, 0.25]
    start = dt.date(2020, 1, 1)
    for i, v in enumerate(rows):
        writer.writerow([(start + dt.timedelta(days=i)).isoformat(), fmt_number(v, decimal, thousands)])
    r = import_file(buf.getvalue().encode(), "x.csv", today=TODAY)
    assert r.accepted, r.reason
    assert r.data["sales"].tolist() == pytest.approx(rows, rel=1e-12, abs=1e-9)


text_keys = st.text(st.characters(blacklist_categories=("Cs", "Cc")), min_size=1, max_size=12).filter(
    lambda s: s.strip() and not s.strip().startswith(("date", "fecha"))
)


@SETTINGS
@given(
    keys=st.lists(
        text_keys, min_size=1, max_size=10, unique_by=lambda s: unicodedata.normalize("NFC", s.strip())
    ),
    delim=st.sampled_from([",", ";", "\t", "|"]),
)
def test_text_keys_round_trip_with_quoting(keys, delim):
    buf = io.StringIO()
    writer = csv.writer(buf, delimiter=delim, lineterminator="\n")
    writer.writerow(["date", "store", "sales"])
    for k in keys:
        writer.writerow(["2024-01-01", k, "1"])
    r = import_file(buf.getvalue().encode(), "x.csv", today=TODAY, max_error_rate=0)
    assert r.accepted, r.reason
    expected = [unicodedata.normalize("NFC", k.strip()) for k in keys]
    assert r.data["store"].tolist() == expected


@SETTINGS
@given(
    day=st.dates(min_value=dt.date(1990, 1, 1), max_value=dt.date(2024, 6, 30)),
    fmt=st.sampled_from(["%Y-%m-%d", "%d/%m/%Y", "%Y%m%d", "%d.%m.%Y"]),
)
def test_dates_round_trip_in_supported_formats(day, fmt):
    # a second unambiguous day-first date keeps the column's format decidable
    body = f"date,sales\n{day.strftime(fmt)},1\n{dt.date(2000, 1, 31).strftime(fmt)},2\n"
    r = import_file(body.encode(), "x.csv", today=TODAY, max_error_rate=0)
    assert r.data["date"].dt.date.tolist()[0] == day


@given(
    st.lists(
        st.floats(min_value=0.01, max_value=1e6).map(lambda v: f"{v:.2f}".replace(".", ",")),
        min_size=1,
        max_size=20,
    )
)
def test_decimal_comma_detected_from_two_decimals(values):
    assert detect_decimal(values, hint=".") == ","


# ---------------------------------------------------------------- templates
@pytest.mark.parametrize("fmt", ["csv", "xlsx"])
@pytest.mark.parametrize("template", ["sales", "ga4"])
def test_template_file_imports_as_is(template, fmt):
    data = template_file(template, fmt)
    r = import_file(data, f"template.{fmt}", template=template, today=TODAY, max_error_rate=0)
    assert r.accepted, r.reason
    assert r.stats["template_type_row"] is True
    assert len(r.data) == 1


def test_template_csv_lists_columns_types_and_example():
    rows = list(csv.reader(io.StringIO(template_file("sales", "csv").decode())))
    assert rows[0] == ["date", "sales", "store", "product", "price", "promotion"]
    assert rows[1][0] == "date YYYY-MM-DD (required)" and rows[1][1] == "number >= 0 (required)"
    assert rows[2][0] == "2024-01-31"


# --------------------------------------------------------------------- CLI
def test_cli_accepts_and_writes_dataset_with_metadata(tmp_path, capsys):
    src = tmp_path / "ventas.csv"
    src.write_text("fecha;tienda;ventas\n01/01/2024;A;1,5\n02/01/2024;A;2\n", encoding="utf-8")
    out = tmp_path / "ds.parquet"
    assert main([str(src), "--output", str(out), "--name", "ventas"]) == 0
    table, meta = read_dataset(out)
    assert table.column_names == ["date", "sales", "store"]
    assert meta["name"] == "ventas" and meta["version"] == 1 and meta["rows"] == 2
    assert meta["series_count"] == 1 and meta["date_min"] == "2024-01-01"
    assert (tmp_path / "ds.errors.csv").read_text(encoding="utf-8-sig").strip() == "row,column,value,reason"
    assert "accepted: 2 of 2 rows" in capsys.readouterr().out

    # a new version on top of it: lineage names the parent
    src2 = tmp_path / "mas.csv"
    src2.write_text("fecha;tienda;ventas\n02/01/2024;A;9\n03/01/2024;A;3\n", encoding="utf-8")
    out2 = tmp_path / "ds2.parquet"
    assert main([str(src2), "--output", str(out2), "--base", str(out)]) == 0
    table2, meta2 = read_dataset(out2)
    assert meta2["name"] == "ventas" and meta2["version"] == 2
    assert meta2["parents"][0]["name"] == "ventas" and meta2["parents"][0]["version"] == 1
    assert table2.num_rows == 3


@pytest.mark.parametrize(
    "content, name, expected",
    [
        ("date,sales\n" + "2024-01-01,x\n" * 5, "bad.csv", "rejected: 5 of 5 rows (100.0%) have errors"),
        ("date,store\n2024-01-01,A\n", "nosales.csv", "rejected: required field 'sales' not found"),
        ("date,sales\n2024-01-01,1\n", "text.xlsx", "rejected: text.xlsx is not a valid .xlsx file"),
    ],
)
def test_cli_rejects_with_one_line_and_no_dataset(tmp_path, capsys, content, name, expected):
    src = tmp_path / name
    src.write_text(content)
    out = tmp_path / "out.parquet"
    assert main([str(src), "--output", str(out), "--errors", str(tmp_path / "e.csv")]) == 2
    err = capsys.readouterr().err
    assert err.startswith(expected) and err.count("\n") == 1 and "Traceback" not in err
    assert not out.exists()
    assert not list(tmp_path.glob(".out.parquet*"))


def test_cli_missing_file_is_a_clean_rejection(tmp_path, capsys):
    assert main([str(tmp_path / "nope.csv"), "--output", str(tmp_path / "o.parquet")]) == 2
    assert "rejected: cannot read" in capsys.readouterr().err


def test_inspect_file_lists_columns_even_when_required_fields_do_not_map():
    from project.importar_datos import inspect_file

    info = inspect_file(b"Dia;Unidades;Tienda\n01/01/2024;3;A\n", "x.csv")
    assert info["columns"] == ["Dia", "Unidades", "Tienda"] and info["delimiter"] == ";"
    proposal = {p["field"]: p["column"] for p in info["proposal"]}
    assert proposal["date"] == "Dia" and proposal["sales"] == "Unidades" and proposal["store"] == "Tienda"
    odd = inspect_file(b"a,b\n1,2\n", "y.csv")
    assert odd["columns"] == ["a", "b"] and all(p["column"] is None for p in odd["proposal"])
    assert odd["sample"] == [["1", "2"]]
