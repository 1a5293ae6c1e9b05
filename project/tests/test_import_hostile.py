"""Malformed and hostile uploads, each with the message it must produce."""

from __future__ import annotations

import datetime as dt
import io
import struct
import time
import unicodedata
import zipfile
import zlib

import numpy as np
import openpyxl
import pandas as pd
import pytest

from project.datasets.reader import Limits
from project.errors import InputError
from project.importar_datos import errors_csv, import_file

TODAY = dt.date(2024, 6, 30)


def imp(content: bytes | str, name: str = "upload.csv", **kw):
    if isinstance(content, str):
        content = content.encode("utf-8")
    kw.setdefault("today", TODAY)
    return import_file(content, name, **kw)


def refused(content, name="upload.csv", **kw) -> str:
    with pytest.raises(InputError) as info:
        imp(content, name, **kw)
    return str(info.value)


def xlsx(sheets: dict[str, list[list[object]]], merge: str | None = None) -> bytes:
    wb = openpyxl.Workbook()
    wb.remove(wb.active)
    for title, rows in sheets.items():
        ws = wb.create_sheet(title)
        for row in rows:
            ws.append(row)
        if merge and title == next(iter(sheets)):
            ws.merge_cells(merge)
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()


def errors_of(result) -> list[tuple[int, str, str]]:
    return [(int(r.row), r.column, r.reason) for r in result.errors.itertuples()]


# --------------------------------------------------------------- encodings
def test_utf8_bom_header_is_clean():
    r = imp(b"\xef\xbb\xbfFecha,Ventas\n2024-01-01,3\n")
    assert r.mapping == {"date": "Fecha", "sales": "Ventas"}
    assert r.stats["encoding"] == "utf-8-sig"


def test_latin1_text_decoded():
    r = imp("fecha;tienda;ventas\n01/02/2024;Peñíscola;3\n".encode("latin-1"))
    assert r.data["store"].tolist() == ["Peñíscola"]
    assert r.stats["encoding"] in ("cp1252", "latin-1")


def test_cp1252_euro_sign_and_amount():
    r = imp("fecha;tienda;importe\n01/02/2024;Tienda €;1.234,50 €\n".encode("cp1252"))
    assert r.data["store"].tolist() == ["Tienda €"]
    assert r.data["sales"].tolist() == [1234.5]


def test_utf16_with_bom():
    r = imp("date\tsales\n2024-01-01\t5\n".encode("utf-16"))
    assert r.data["sales"].tolist() == [5.0]


def test_non_utf8_after_first_mib_is_redetected():
    body = "date,store,sales\n" + "2024-01-01,abc,1\n" * 70_000
    r = imp(body.encode() + "2024-01-02,Ñandú,2\n".encode("cp1252"))
    assert r.data["store"].iloc[-1] == "Ñandú"


def test_binary_nul_bytes_refused():
    assert "binary data" in refused(b"date,sales\n\x00\x01\x02\xff\xfe\x00")


# -------------------------------------------------------------- delimiters
@pytest.mark.parametrize("delim", [",", ";", "\t", "|"])
def test_delimiters(delim):
    r = imp(f"date{delim}store{delim}sales\n2024-01-01{delim}A{delim}7\n")
    assert r.data["sales"].tolist() == [7.0]


def test_decimal_comma_and_thousands_point():
    r = imp("fecha;ventas\n01/01/2024;1.234,56\n02/01/2024;12,5\n")
    assert r.data["sales"].tolist() == [1234.56, 12.5]
    assert r.stats["decimal"] == {"sales": ","}


def test_thousands_comma_quoted_in_comma_file():
    r = imp('date,sales\n2024-01-01,"1,234.5"\n2024-01-02,2.25\n')
    assert r.data["sales"].tolist() == [1234.5, 2.25]


def test_crlf_line_endings_and_row_numbers():
    r = imp("date,sales\r\n2024-01-01,1\r\n2024-01-02,-1\r\n", max_error_rate=1)
    assert r.stats["newline"] == "CRLF"
    assert errors_of(r) == [(3, "sales", "negative value: 'sales' must be >= 0")]


# ------------------------------------------------------------ header shape
def test_title_rows_above_header_keep_row_numbers():
    r = imp("Informe de ventas 2024\n\nfecha,ventas\n2024-01-01,x\n", max_error_rate=1)
    assert r.stats["header_row"] == 3
    assert errors_of(r) == [(4, "ventas", "not a number: expected a number like 1234.5")]


def test_repeated_header_rows_dropped():
    r = imp("date,sales\n2024-01-01,1\ndate,sales\n2024-01-02,2\n")
    assert r.data["sales"].tolist() == [1.0, 2.0]
    assert r.stats["repeated_header_rows"] == 1
    assert r.errors.empty


def test_blank_lines_count_as_rows():
    r = imp("date,sales\n2024-01-01,1\n\n\n2024-01-02,oops\n", max_error_rate=1)
    assert errors_of(r) == [(5, "sales", "not a number: expected a number like 1234.5")]


def test_ragged_row_reported_not_fatal():
    r = imp("date,sales\n2024-01-01,1\n2024-01-02,2,extra\n2024-01-03,3\n", max_error_rate=1)
    assert errors_of(r) == [(3, "", "expected 2 fields separated by comma, found 3")]
    assert r.data["sales"].tolist() == [1.0, 3.0]


def test_missing_required_column():
    msg = refused("fecha,tienda\n2024-01-01,A\n")
    assert "required field 'sales' not found" in msg and "--mapping sales=COLUMN" in msg


def test_mapping_names_unknown_column():
    assert "the file has no column 'Unidades'" in refused(
        "a,b\n1,2\n", mapping={"sales": "Unidades", "date": "a"}
    )


def test_mapping_override_used():
    r = imp("dia,unidades vendidas,importe\n2024-01-01,3,9.5\n", mapping={"sales": "importe"})
    assert r.mapping["sales"] == "importe" and r.data["sales"].tolist() == [9.5]


def test_empty_file():
    assert "is empty (0 bytes)" in refused(b"")


def test_header_only():
    assert "no data rows below the header (row 1)" in refused("date,sales\n")


# ------------------------------------------------------------------ values
def test_negative_future_invalid_and_missing_values():
    r = imp(
        "date,sales\n2024-01-01,1\n2024-01-02,-5\n2099-01-01,3\n31/02/2024,4\n2024-01-05,\n", max_error_rate=1
    )
    assert errors_of(r) == [
        (3, "sales", "negative value: 'sales' must be >= 0"),
        (4, "date", "date in the future: history must end by 2024-06-30"),
        (5, "date", "invalid date: expected YYYY-MM-DD"),
        (6, "sales", "required value missing for 'sales'"),
    ]


def test_mixed_types_in_numeric_column():
    r = imp("date,sales\n2024-01-01,12\n2024-01-02,abc\n2024-01-03,1e2\n2024-01-04,nan\n", max_error_rate=1)
    assert r.data["sales"].tolist() == [12.0, 100.0]
    assert [e[0] for e in errors_of(r)] == [3, 5]


def test_formula_cells_in_csv_are_escaped_in_errors_csv():
    r = imp("date,store,sales\n2024-01-01,A,=1+2\n2024-01-02,@SUM(A1),+5\n2024-01-03,B,1\n", max_error_rate=1)
    assert errors_of(r)[0] == (2, "sales", "formula text instead of a value")
    text = r.errors_csv().decode("utf-8-sig")
    assert "'=1+2" in text and ",=1+2" not in text
    assert r.data["store"].tolist() == ["@SUM(A1)", "B"]  # text kept as data, escaped only in exports


def test_error_rate_over_threshold_rejected_with_reason():
    r = imp("date,sales\n" + "".join(f"2024-01-{d:02d},{'x' if d < 3 else d}\n" for d in range(1, 21)))
    assert not r.accepted
    assert r.reason.startswith("2 of 20 rows (10.0%) have errors, above the 1.0% threshold; first: row 2")


def test_unicode_keys_nfc_and_nfd_are_one_series():
    nfd = unicodedata.normalize("NFD", "Café")
    r = imp(f"date,store,sales\n2024-01-01,Café,1\n2024-01-01,{nfd},2\n", max_error_rate=1)
    assert r.data["store"].tolist() == ["Café"]
    assert errors_of(r)[0][2].startswith("duplicate of row 2")


def test_duplicates_skip_overwrite_fail():
    body = "date,store,sales\n2024-01-01,A,1\n2024-01-01,A,2\n2024-01-01,B,3\n"
    assert imp(body).data["sales"].tolist() == [1.0, 3.0]
    assert imp(body, duplicates="overwrite").data.sort_values("store")["sales"].tolist() == [2.0, 3.0]
    msg = refused(body, duplicates="fail")
    assert (
        "duplicate rows with --duplicates fail: row 2 and row 3 have the same store='A', date=2024-01-01"
        in msg
    )


def test_duplicates_against_base():
    base = pd.DataFrame(
        {"date": pd.to_datetime(["2024-01-01", "2024-01-02"]), "sales": [1.0, 2.0], "store": ["A", "A"]}
    )
    body = "date,store,sales\n2024-01-02,A,20\n2024-01-03,A,30\n"
    skip = imp(body, base=base)
    assert skip.data.sort_values("date")["sales"].tolist() == [1.0, 2.0, 30.0]
    assert errors_of(skip) == [(2, "date", "already in the base dataset (--duplicates skip)")]
    over = imp(body, base=base, duplicates="overwrite")
    assert over.data.sort_values("date")["sales"].tolist() == [1.0, 20.0, 30.0]
    assert "already exists in the base dataset" in refused(body, base=base, duplicates="fail")


def test_planned_rows_after_each_series_end_are_kept():
    """Next days' promotions and prices, sales empty, beside the history: known-future values."""
    body = (
        "date,store,sales,price,promotion\n"
        "2024-06-28,A,10,1.2,0\n2024-06-29,A,11,1.2,0\n"  # A ends on the 29th
        "2024-06-30,A,,1.0,1\n2024-07-01,A,,1.0,yes\n"  # planned: today and after
        "2024-06-27,B,5,2.0,0\n2024-06-28,B,,2.0,1\n"  # a day between B's observations: missing sales
        "2024-06-29,B,6,2.0,0\n2024-06-30,B,,2.0,1\n"  # planned
        "2024-07-02,A,12,1.0,0\n"  # sales in the future: refused, and not A's end
        "2024-07-03,B,,,\n"  # nothing planned: refused
    )
    r = imp(body, max_error_rate=1)
    assert errors_of(r) == [
        (7, "sales", "required value missing for 'sales'"),
        (10, "date", "date in the future: history must end by 2024-06-30"),
        (11, "date", "date in the future: history must end by 2024-06-30"),
        (11, "sales", "required value missing for 'sales'"),
    ]
    assert r.stats["planned_rows"] == 3
    out = r.data.assign(date=r.data["date"].dt.strftime("%Y-%m-%d"))
    planned = out[out["sales"].isna()]
    assert planned[["store", "date"]].values.tolist() == [
        ["A", "2024-06-30"], ["A", "2024-07-01"], ["B", "2024-06-30"],
    ]  # fmt: skip
    assert planned["promotion"].tolist() == [True, True, True]
    # Without an optional column nothing can be planned: the rules stay as they were.
    plain = imp("date,sales\n2024-06-29,1\n2024-07-01,\n", max_error_rate=1)
    assert [e[1:] for e in errors_of(plain)] == [
        ("date", "date in the future: history must end by 2024-06-30"),
        ("sales", "required value missing for 'sales'"),
    ]


def test_planned_rows_of_the_base_give_way_to_the_new_rows():
    base = pd.DataFrame(
        {
            "date": pd.to_datetime(["2024-06-28", "2024-06-29", "2024-06-30"]),
            "store": ["A", "A", "A"],
            "sales": [1.0, None, None],
            "promotion": [False, True, False],
        }
    )
    # The 29th happened (its sales arrive), the 30th's plan is revised: both replace the base's plans.
    body = "date,store,sales,promotion\n2024-06-28,A,9,0\n2024-06-29,A,20,1\n2024-06-30,A,,1\n"
    r = imp(body, base=base)
    out = r.data.sort_values("date")
    assert out["sales"].tolist()[:2] == [1.0, 20.0] and np.isnan(out["sales"].iloc[2])
    assert out["promotion"].tolist() == [False, True, True]
    assert errors_of(r) == [(2, "date", "already in the base dataset (--duplicates skip)")]


def test_ga4_template_yyyymmdd_dates():
    r = imp(
        "date,sessionDefaultChannelGroup,sessions,totalUsers\n20240131,Organic Search,10,8\n", template="ga4"
    )
    assert r.mapping == {
        "date": "date",
        "channel": "sessionDefaultChannelGroup",
        "sessions": "sessions",
        "users": "totalUsers",
    }
    assert r.data["date"].tolist() == [pd.Timestamp("2024-01-31")]


# ------------------------------------------------------- wrong file types
def test_xlsx_that_is_not_a_zip():
    assert (
        "not a valid .xlsx file: it is not a ZIP archive (it looks like text; rename it to .csv)"
        in refused("date,sales\n2024-01-01,1\n", "ventas.xlsx")
    )


def test_csv_that_is_a_zip():
    assert "is not a CSV text file: it is a ZIP archive" in refused(
        xlsx({"S": [["date", "sales"]]}), "ventas.csv"
    )


def test_pdf_named_csv():
    assert "it is a PDF document" in refused(b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n", "ventas.csv")


def test_old_xls_refused():
    assert "old-format (.xls)" in refused(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\x00" * 100, "v.xlsx")


def test_zip_that_is_not_a_workbook():
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("word/document.xml", "<w/>")
    assert "ZIP archive but not an Excel workbook" in refused(buf.getvalue(), "v.xlsx")


def test_truncated_xlsx():
    data = xlsx({"S": [["date", "sales"], ["2024-01-01", 1]]})
    assert "not a valid .xlsx file: damaged ZIP archive" in refused(data[: len(data) // 2], "v.xlsx")


# --------------------------------------------------------------- zip bombs
def _bomb(declared: int | None, chunk_mb: int = 16, chunks: int = 192) -> bytes:
    """An .xlsx whose sheet inflates to chunk_mb * chunks MiB, built in ~100 ms.

    One compressed block of a repetitive XML chunk, byte-aligned by a full
    flush, is repeated: each copy decodes to the same chunk.
    """
    chunk = b"<row><c><v>0</v></c></row>" * ((chunk_mb << 20) // 27)
    comp = zlib.compressobj(9, zlib.DEFLATED, -15)
    block = comp.compress(chunk) + comp.flush(zlib.Z_FULL_FLUSH)
    stream = block * chunks + b"\x03\x00"
    real = len(chunk) * chunks
    members = [
        ("[Content_Types].xml", b"<Types/>", 0),
        ("xl/workbook.xml", b"<workbook/>", 0),
        ("xl/worksheets/sheet1.xml", stream, real if declared is None else declared),
    ]
    out = io.BytesIO()
    central = []
    for name, payload, size in members:
        method = 8 if name.endswith("sheet1.xml") else 0
        usize = size if method else len(payload)
        crc = 0 if method else zlib.crc32(payload)
        offset = out.tell()
        out.write(
            struct.pack(
                "<4s5H3L2H", b"PK\x03\x04", 20, 0, method, 0, 0x21, crc, len(payload), usize, len(name), 0
            )
            + name.encode()
            + payload
        )
        central.append(
            struct.pack(
                "<4s6H3L5H2L",
                b"PK\x01\x02",
                20,
                20,
                0,
                method,
                0,
                0x21,
                crc,
                len(payload),
                usize,
                len(name),
                0,
                0,
                0,
                0,
                0,
                offset,
            )
            + name.encode()
        )
    cd_start = out.tell()
    for c in central:
        out.write(c)
    out.write(
        struct.pack(
            "<4s4H2LH", b"PK\x05\x06", 0, 0, len(central), len(central), out.tell() - cd_start, cd_start, 0
        )
    )
    return out.getvalue()


def test_xlsx_sheet_declaring_gigabytes_refused():
    data = _bomb(declared=None)
    assert len(data) < 8 << 20
    msg = refused(data, "bomb.xlsx")
    row = b"<row><c><v>0</v></c></row>"
    declared_mib = ((16 << 20) // 27) * len(row) * 192 / 2**20  # ~2.9 GiB
    assert f"would inflate to {declared_mib:,.0f} MiB" in msg and "above the 512 MiB limit" in msg


def test_xlsx_sheet_lying_about_its_size_refused_while_inflating():
    t0 = time.perf_counter()
    msg = refused(_bomb(declared=10_000), "bomb.xlsx")
    assert "inflates beyond its declared size of 10,000 bytes" in msg
    assert time.perf_counter() - t0 < 30  # bounded: stops after ~10 kB, not 3 GB (generous bound)


def test_xlsx_limit_is_configurable():
    data = xlsx({"S": [["date", "sales"]] + [["2024-01-01", i] for i in range(2000)]})
    msg = refused(data, "v.xlsx", limits=Limits(max_uncompressed_bytes=20_000))
    assert "above the 0 MiB limit" in msg or "limit" in msg


# ------------------------------------------------------------------- XLSX
def test_xlsx_excel_serial_dates_and_datetimes():
    r = imp(
        xlsx({"S": [["Fecha", "Ventas"], [45292, 1], [dt.datetime(2024, 1, 2), 2], ["03/01/2024", 3]]}),
        "v.xlsx",
    )
    assert r.data["date"].dt.strftime("%Y-%m-%d").tolist() == ["2024-01-01", "2024-01-02", "2024-01-03"]


def test_xlsx_merged_title_row_and_first_non_empty_sheet():
    data = xlsx(
        {
            "Vacía": [],
            "Datos": [
                ["Informe de ventas"],
                ["Fecha", "Tienda", "Ventas"],
                [dt.datetime(2024, 1, 1), "A", 3],
            ],
        }
    )
    r = imp(data, "v.xlsx")
    assert r.stats["sheet"] == "Datos" and r.stats["header_row"] == 2
    assert r.data["sales"].tolist() == [3.0]


def test_xlsx_all_sheets_empty():
    assert "every sheet is empty" in refused(xlsx({"A": [], "B": []}), "v.xlsx")


def test_xlsx_named_sheet_missing_or_empty():
    data = xlsx({"A": [["date", "sales"], ["2024-01-01", 1]], "B": []})
    assert "has no sheet 'C'; its sheets are: 'A', 'B'" in refused(data, "v.xlsx", sheet="C")
    assert "sheet 'B' is empty" in refused(data, "v.xlsx", sheet="B")
    assert imp(data, "v.xlsx", sheet="A").data["sales"].tolist() == [1.0]


def test_xlsx_formula_without_cached_value_and_error_values():
    data = xlsx(
        {"S": [["date", "sales"], ["2024-01-01", 1], ["2024-01-02", "=B2*2"], ["2024-01-03", "#DIV/0!"]]}
    )
    r = imp(data, "v.xlsx", max_error_rate=1)
    assert errors_of(r) == [
        (
            3,
            "sales",
            "formula without a saved result: save the file in a spreadsheet application or paste the values",
        ),
        (4, "sales", "spreadsheet error value instead of data"),
    ]
    assert "'=B2*2" in r.errors_csv().decode("utf-8-sig")


def test_xlsx_mixed_types_and_text_numbers():
    data = xlsx(
        {
            "S": [
                ["date", "sales", "promo"],
                ["2024-01-01", "12,5", "sí"],
                ["2024-01-02", 3, 0],
                ["2024-01-03", "n/a", "maybe"],
            ]
        }
    )
    r = imp(data, "v.xlsx", max_error_rate=1)
    assert r.data["sales"].tolist() == [12.5, 3.0]
    assert [e[:2] for e in errors_of(r)] == [(4, "sales"), (4, "promo")]


def test_errors_csv_escapes_every_formula_prefix():
    df = pd.DataFrame(
        {"row": [2, 3, 4, 5], "column": ["a"] * 4, "value": ["=x", "+x", "-x", "@x"], "reason": ["r"] * 4}
    )
    lines = errors_csv(df).decode("utf-8-sig").splitlines()[1:]
    assert [ln.split(",")[2] for ln in lines] == ["'=x", "'+x", "'-x", "'@x"]


def test_large_clean_file_row_numbers_stay_exact():
    n = 50_000
    sales = np.arange(n).astype(str).astype(object)
    sales[40_000] = "bad"
    body = "date,store,sales\n" + "".join(f"2024-01-01,S{i},{v}\n" for i, v in enumerate(sales))
    r = imp(body, max_error_rate=0.5)
    assert errors_of(r) == [(40_002, "sales", "not a number: expected a number like 1234.5")]
    assert len(r.data) == n - 1


def test_xlsx_far_away_cell_does_not_blow_up():
    # one cell at the last row and column: openpyxl would otherwise pad ~1M rows to 16,384 cells
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.append(["date", "sales"])
    ws.append(["2024-01-01", 1])
    ws["XFD1048576"] = "x"
    buf = io.BytesIO()
    wb.save(buf)
    r = imp(buf.getvalue(), "far.xlsx")
    assert r.data["sales"].tolist() == [1.0]
    assert r.stats["blank_rows"] == 1_048_574


def test_xlsx_sparse_sheet_has_no_padding_columns():
    # The reader caps rows at Limits.max_columns, and openpyxl pads every capped row with None up
    # to that cap: the columns must stop at the last filled header or data cell.
    from project.importar_datos import inspect_file

    wb = openpyxl.Workbook()
    ws = wb.active
    ws.append(["fecha", "ventas", None, "tienda"])
    ws.append(["2024-01-01", 1, None, "A"])
    ws.append(["2024-01-02", 2, None, "B", None, "late note"])
    ws["AZ3"].font = openpyxl.styles.Font(bold=True)  # a styled, empty cell far right
    buf = io.BytesIO()
    wb.save(buf)
    info = inspect_file(buf.getvalue(), "sparse.xlsx")
    assert info["columns"] == ["fecha", "ventas", "Unnamed: 3", "tienda", "Unnamed: 5", "Unnamed: 6"]
    assert info["sample"] == [
        ["2024-01-01", 1.0, None, "A", None, None],
        ["2024-01-02", 2.0, None, "B", None, "late note"],
    ]
    r = imp(buf.getvalue(), "sparse.xlsx")
    assert r.mapping == {"date": "fecha", "sales": "ventas", "store": "tienda"}
    assert r.data["sales"].tolist() == [1.0, 2.0]


def test_csv_with_a_giant_field_is_refused_cleanly():
    assert "not a readable CSV file: field larger than field limit" in refused(b'"' + b"a" * (3 << 20))


def test_messages_cut_long_column_names():
    msg = refused(",".join(["x" * 500] + [f"c{i}" for i in range(50)]) + "\n" + ",".join(["1"] * 51) + "\n")
    assert "required field 'date' not found" in msg
    assert len(msg) < 1000 and "and 31 more" in msg


def test_duplicate_detection_dense_and_sparse_keys():
    from project.datasets.validation import _has_duplicates

    assert _has_duplicates(np.array([3, 1, 3]))
    assert not _has_duplicates(np.array([3, 1, 2]))
    sparse = np.array([5, 10**15, 7, 10**15])
    assert _has_duplicates(sparse) and not _has_duplicates(sparse[:3])
    # sparse keys through the importer: 40 stores over a century of dates
    rows = [f"{1900 + i * 3}-01-01,S{i},{i}" for i in range(40)] + ["2020-01-01,S39,1"]
    r = imp("date,store,sales\n" + "\n".join(rows) + "\n", max_error_rate=1)
    assert r.stats["duplicates_in_file"] == 0 and len(r.data) == 41
    r = imp("date,store,sales\n" + "\n".join(rows + [rows[0]]) + "\n", max_error_rate=1)
    assert r.stats["duplicates_in_file"] == 1
