"""Page conversion: the flattening fast path, its per-row fallback, typing and bad values."""

from __future__ import annotations

import datetime as dt
import platform

import pyarrow as pa
import pytest
from google.analytics.data_v1beta import types

from project.ga4 import report
from project.ga4.report import (
    MemoryReleaser,
    decode_page,
    output_schema,
    page_table,
    page_to_table,
    wire_to_table,
)

SCHEMA = output_schema(["date", "city"], {"sessions": "TYPE_INTEGER", "purchaseRevenue": "TYPE_CURRENCY"})


def _page(rows):
    return types.RunReportResponse(
        dimension_headers=[{"name": "date"}, {"name": "city"}],
        metric_headers=[{"name": "sessions", "type_": "TYPE_INTEGER"},
                        {"name": "purchaseRevenue", "type_": "TYPE_CURRENCY"}],
        rows=[{"dimension_values": [{"value": d} for d in dims],
               "metric_values": [{"value": m} for m in mets]} for dims, mets in rows],
        row_count=len(rows),
    )


def test_columns_typed_in_row_order():
    page = _page([(("20240102", "S\u00e3o Paulo"), ("12", "3.50")),
                  (("20240101", "Madrid"), ("9007199254740993", "1e-3"))])
    table = page_to_table(page, SCHEMA)
    assert table.schema == SCHEMA
    assert table.column("date").to_pylist() == [dt.date(2024, 1, 2), dt.date(2024, 1, 1)]
    assert table.column("city").to_pylist() == ["S\u00e3o Paulo", "Madrid"]
    assert table.column("sessions").to_pylist() == [12, 9007199254740993]  # no float round trip
    assert table.column("purchaseRevenue").to_pylist() == [3.5, 0.001]


def test_unset_cell_falls_back_to_row_walk():
    page = _page([(("20240101", "Madrid"), ("1", "2.0")), (("20240101", "Lima"), ("3", "4.0"))])
    pb = type(page).pb(page)
    pb.rows[0].dimension_values[1].ClearField("value")  # oneof unset: absent from the wire
    table = page_to_table(page, SCHEMA)
    assert table.column("city").to_pylist() == ["", "Lima"]
    assert table.column("sessions").to_pylist() == [1, 3]


def test_empty_page_keeps_schema():
    table = page_to_table(_page([]), SCHEMA)
    assert table.num_rows == 0 and table.schema == SCHEMA


@pytest.mark.parametrize("dims, mets, column, value", [
    (("20240101", "Madrid"), ("12.5", "1.0"), "sessions", "12.5"),
    (("2024-01-01", "Madrid"), ("1", "1.0"), "date", "2024-01-01"),
    (("20240101", "Madrid"), ("1", "n/a"), "purchaseRevenue", "n/a"),
])
def test_bad_values_are_named(dims, mets, column, value):
    page = _page([(("20240101", "Lima"), ("1", "1.0")), (dims, mets)])
    with pytest.raises(ValueError) as info:
        page_to_table(page, SCHEMA)
    assert f"column {column!r}: value {value!r}" in str(info.value)


def test_output_schema_types():
    schema = output_schema(["date", "dateHour"], {"a": "TYPE_INTEGER", "b": "TYPE_SECONDS"})
    assert [f.type for f in schema] == [pa.date32(), pa.string(), pa.int64(), pa.float64()]


def test_wire_image_converts_like_the_message():
    page = _page([(("20240102", "Lima"), ("7", "1.25")), (("20240103", "Quito"), ("8", "2.5"))])
    pb = type(page).pb(page)
    table = wire_to_table(pb.SerializeToString(), len(pb.rows), len(pb.dimension_headers), SCHEMA)
    assert table.equals(page_to_table(page, SCHEMA))
    assert table.column("city").to_pylist() == ["Lima", "Quito"]
    assert table.column("sessions").to_pylist() == [7, 8]


def test_decode_page_reads_the_header_without_the_rows():
    page = _page([(("20240102", "Lima"), ("7", "1.25")), (("20240103", "Quito"), ("8", "2.5"))])
    pb = type(page).pb(page)
    pb.row_count = 40
    pb.metadata.subject_to_thresholding = True
    pb.property_quota.tokens_per_day.remaining = 99
    decoded = decode_page(pb.SerializeToString())
    head = decoded.head
    assert decoded.rows == 2 and head.row_count == 40
    assert [h.name for h in head.dimension_headers] == ["date", "city"]
    assert [types.MetricType(h.type_).name for h in head.metric_headers] == ["TYPE_INTEGER",
                                                                              "TYPE_CURRENCY"]
    assert head.metadata.subject_to_thresholding and head.HasField("property_quota")
    assert head.property_quota.tokens_per_day.remaining == 99
    assert head.ByteSize() < 200  # the cells are not kept in the header
    assert decoded.metric_cells.to_pylist() == ["7", "1.25", "8", "2.5"]
    assert page_table(decoded, SCHEMA).equals(page_to_table(page, SCHEMA))


def test_decode_page_rejects_garbage_and_wrong_shapes():
    with pytest.raises(ValueError, match="not a valid RunReportResponse"):
        decode_page(b"\x0a\xff\xff")
    wire = types.RunReportResponse.pb(_page([(("20240101", "Lima"), ("1", "2.0"))])).SerializeToString()
    with pytest.raises(ValueError, match="holds 1 rows of 2 dimensions, expected 2 rows"):
        wire_to_table(wire, 2, 2, SCHEMA)


def test_memory_releaser_trims_once_then_only_past_the_budget():
    release = MemoryReleaser()
    release(budget=1 << 20)
    floor = release.floor
    if floor is not None:  # glibc on Linux: the first call trims and sets the floor
        assert floor > 0
        release(budget=1 << 40)  # far below the budget: the floor stays
        assert release.floor == floor


@pytest.mark.skipif(platform.libc_ver()[0] != "glibc", reason="mallopt is glibc's")
def test_releaser_fixes_the_glibc_trim_threshold():
    """Pages received by gRPC threads must not stay resident in their arenas."""
    report._fix_trim_threshold.cache_clear()
    report.MemoryReleaser()
    assert report._fix_trim_threshold.cache_info().currsize == 1
    assert report._fix_trim_threshold(report.TRIM_THRESHOLD) is True
