"""dataset_manager: summary, Excel report, merge and their CLI."""

from __future__ import annotations

import datetime as dt
import io
import json

import openpyxl
import pandas as pd
import pyarrow as pa
import pytest

from project.dataset_manager import excel_report, main, merge, summarize
from project.datasets.metadata import build_metadata, content_sha256, read_dataset, write_dataset
from project.errors import InputError


def frame(rows):
    df = pd.DataFrame(rows, columns=["date", "store", "sales"])
    df["date"] = pd.to_datetime(df["date"])
    return df


def save(tmp_path, name, df, version=1, parents=()):
    table = pa.Table.from_pandas(df, preserve_index=False)
    meta = build_metadata(table, name=name, version=version, key_cols=["store"], parents=parents)
    path = tmp_path / f"{name}_v{version}.parquet"
    write_dataset(table, path, meta)
    return path, meta


@pytest.fixture()
def gappy():
    days = pd.date_range("2024-01-01", periods=60)
    a = [(d, "A", float(i % 7)) for i, d in enumerate(days) if d.day not in (10, 11, 12)]
    b = [(d, "B", 5.0) for d in days[:10]]
    return frame(a + b + [(days[0], "=cmd()", -1.0)])


def test_summary_coverage_gaps_and_alerts(gappy):
    s = summarize(gappy, {"name": "x", "series_columns": ["store"]}, today=dt.date(2024, 6, 30))
    assert s["rows"] == len(gappy) and s["series_count"] == 3
    series = {r["series"]: r for r in s["series"]}
    assert (
        series["A"]["days_missing"] == 6 and series["A"]["gaps"] == 2 and series["A"]["longest_gap_days"] == 3
    )
    assert series["B"]["days_missing"] == 0
    checks = {c["check"]: c for c in s["checks"]}
    assert checks["negative sales"]["status"] == "error" and checks["negative sales"]["count"] == 1
    assert checks["series with missing days"]["count"] == 1
    assert checks["series ending 28+ days before the others"]["count"] == 2
    assert checks["constant series"]["count"] == 2
    assert any(a.startswith("ERROR: negative sales") for a in s["alerts"])
    json.dumps(s, default=str)  # serialisable for the Odoo record


def test_summary_names_series_by_their_joined_keys():
    # several key columns, a missing key value, rows out of order: one name per combination
    df = pd.DataFrame(
        {
            "date": pd.to_datetime(["2024-01-02", "2024-01-01", "2024-01-01", "2024-01-02", "2024-01-01"]),
            "store": ["B", "A", None, "A", "B"],
            "product": ["x", "y", "x", "y", "x"],
            "sales": [1.0, 2.0, 3.0, 4.0, 5.0],
        }
    )
    s = summarize(df, {"name": "x", "series_columns": ["store", "product"]}, today=dt.date(2024, 6, 30))
    rows = {r["series"]: r["rows"] for r in s["series"]}
    assert rows == {"A | y": 2, "B | x": 2, " | x": 1}
    assert s["series_count"] == 3


def test_summary_counts_planned_rows_apart():
    """Rows after a store's last sales, sales empty (a promotion calendar), are no missing sales."""
    days = pd.date_range("2024-06-01", periods=30)
    df = frame([(d, "A", 5.0 + d.day % 3) for d in days[:25]] + [(d, "A", None) for d in days[25:]])
    df.loc[12, "sales"] = None  # a real gap inside the history
    df["promo"] = [0.0] * 25 + [1.0] * 5
    s = summarize(df, {"name": "x", "series_columns": ["store"]}, today=dt.date(2024, 6, 27))
    assert (s["planned_rows"], s["planned_until"]) == (5, "2024-06-30")
    assert s["date_max"] == "2024-06-25" and s["rows"] == 30
    checks = {c["check"]: c for c in s["checks"]}
    assert checks["missing sales"]["count"] == 1  # the gap, not the planned days
    assert checks["dates in the future"]["status"] == "ok"
    assert summarize(df.iloc[:25], {"name": "x"}, today=dt.date(2024, 6, 27))["planned_rows"] == 0


def test_report_has_the_six_tabs_and_never_formulas(gappy):
    data = excel_report(gappy, {"name": "x", "version": 2, "parents": [{"name": "p", "version": 1}]})
    wb = openpyxl.load_workbook(io.BytesIO(data))
    assert wb.sheetnames == ["Resumen", "Datos", "Columnas", "Series", "Consistencia", "Linaje"]
    cells = [c for ws in wb for row in ws.iter_rows() for c in row]
    hostile = [c for c in cells if c.value == "=cmd()"]
    assert hostile and all(c.data_type == "s" for c in hostile)
    assert not any(c.data_type == "f" for c in cells)
    lineage = list(wb["Linaje"].iter_rows(values_only=True))
    assert lineage[0][:3] == ("rol", "nombre", "versión")  # headers in the sheets' language
    assert lineage[2][:3] == ("padre", "p", 1)
    checks = list(wb["Consistencia"].iter_rows(values_only=True))
    assert checks[0] == ("verificación", "estado", "cantidad", "detalle")


def test_report_in_english(gappy):
    metadata = {"name": "x", "version": 2, "parents": [{"name": "p", "version": 1}]}
    data = excel_report(gappy, metadata, language="en")
    wb = openpyxl.load_workbook(io.BytesIO(data))
    assert wb.sheetnames == ["Summary", "Data", "Columns", "Series", "Checks", "Lineage"]
    assert list(wb["Lineage"].iter_rows(values_only=True))[2][:3] == ("parent", "p", 1)
    assert next(wb["Summary"].iter_rows(values_only=True)) == ("metric", "value")


def test_merge_keep_last_first_fail_and_lineage(tmp_path):
    a = frame([("2024-01-01", "A", 1.0), ("2024-01-02", "A", 2.0)])
    b = frame([("2024-01-02", "A", 20.0), ("2024-01-03", "A", 3.0), ("2024-01-01", "A", 1.0)])
    ma = {"name": "a", "version": 1, "series_columns": ["store"], "template": "sales"}
    mb = {"name": "b", "version": 4, "series_columns": ["store"], "template": "sales"}
    data, conflicts, meta = merge([(a, ma), (b, mb)], on_conflict="keep-last", name="ab")
    assert data["sales"].tolist() == [1.0, 20.0, 3.0]
    assert conflicts[["parent", "sales", "kept"]].values.tolist() == [
        ["a v1", 2.0, False],
        ["b v4", 20.0, True],
    ]
    assert [p["name"] for p in meta["parents"]] == ["a", "b"] and meta["source"] == "merge"
    assert meta["merge"]["conflicting_keys"] == 1
    data, _, _ = merge([(a, ma), (b, mb)], on_conflict="keep-first", name="ab")
    assert data["sales"].tolist() == [1.0, 2.0, 3.0]
    with pytest.raises(InputError, match="1 conflicting key"):
        merge([(a, ma), (b, mb)], on_conflict="fail", name="ab")


def test_merge_planned_rows_give_way_to_recorded_days():
    """A promotion calendar (sales empty) merged with the sales that came since."""
    plan = frame([("2024-01-01", "A", 1.0), ("2024-01-02", "A", None), ("2024-01-03", "A", None)])
    plan["promo"] = [0.0, 1.0, 1.0]
    sales = frame([("2024-01-01", "A", 1.0), ("2024-01-02", "A", 7.0), ("2024-01-03", "A", None)])
    sales["promo"] = [0.0, 1.0, 0.0]  # the 3rd's plan was revised
    ma = {"name": "a", "version": 1, "series_columns": ["store"], "template": "sales"}
    mb = {"name": "a", "version": 2, "series_columns": ["store"], "template": "sales"}
    data, conflicts, _meta = merge([(plan, ma), (sales, mb)], on_conflict="keep-first")
    assert data["sales"].tolist()[:2] == [1.0, 7.0] and pd.isna(data["sales"].iloc[2])
    assert data["promo"].tolist() == [0.0, 1.0, 1.0]  # plan against plan: the policy decides
    assert conflicts["date"].dt.strftime("%Y-%m-%d").unique().tolist() == ["2024-01-03"]
    with pytest.raises(InputError, match="2024-01-03"):  # only the two plans conflict
        merge([(plan, ma), (sales, mb)], on_conflict="fail")


def test_content_digest_ignores_chunking_and_metadata():
    df = frame([("2024-01-01", "A", 1.0), ("2024-01-02", None, 2.0)])
    t1 = pa.Table.from_pandas(df, preserve_index=False)
    t2 = pa.concat_tables([t1.slice(0, 1), t1.slice(1, 1)])
    assert content_sha256(t1) == content_sha256(t2)
    changed = frame([("2024-01-01", "A", 1.0), ("2024-01-02", None, 2.5)])
    assert content_sha256(pa.Table.from_pandas(changed, preserve_index=False)) != content_sha256(t1)


def test_cli_summary_report_merge(tmp_path, capsys):
    pa_, _ = save(tmp_path, "ventas", frame([("2024-01-01", "A", 1.0), ("2024-01-02", "A", 2.0)]))
    pb, _ = save(tmp_path, "extra", frame([("2024-01-02", "A", 5.0), ("2024-01-03", "A", 3.0)]))
    assert main(["summary", str(pa_), "--json"]) == 0
    s = json.loads(capsys.readouterr().out)
    assert s["name"] == "ventas" and s["series_count"] == 1
    assert main(["summary", str(pa_)]) == 0
    assert "ventas v1: 2 rows, 1 series" in capsys.readouterr().out
    report = tmp_path / "r.xlsx"
    assert main(["report", str(pa_), "--output", str(report)]) == 0
    assert openpyxl.load_workbook(report).sheetnames[0] == "Resumen"
    out = tmp_path / "merged.parquet"
    assert main(["merge", str(pa_), str(pb), "--output", str(out), "--name", "ventas"]) == 0
    table, meta = read_dataset(out)
    assert meta["version"] == 2 and table.num_rows == 3
    assert (tmp_path / "merged.conflicts.csv").exists()
    assert (
        main(["merge", str(pa_), str(pb), "--output", str(tmp_path / "f.parquet"), "--on-conflict", "fail"])
        == 2
    )
    err = capsys.readouterr().err
    assert err.startswith("error: 1 conflicting key(s) with --on-conflict fail") and "Traceback" not in err
    assert not (tmp_path / "f.parquet").exists()


def test_cli_bad_dataset_is_exit_2(tmp_path, capsys):
    bad = tmp_path / "bad.parquet"
    bad.write_text("not parquet")
    assert main(["summary", str(bad)]) == 2
    assert "is not a readable Parquet dataset" in capsys.readouterr().err
    assert main(["summary", str(tmp_path / "missing.parquet")]) == 2


def test_rebuilt_metadata_with_its_creation_time_is_reproducible(tmp_path):
    """Rebuilding an existing version's file must give the same checksum (S3 registry)."""
    import pyarrow as pa

    from project.datasets.metadata import build_metadata, file_sha256, write_dataset

    table = pa.table({"date": pa.array(["2026-01-01", "2026-01-02"]).cast(pa.date32()), "sales": [1.0, 2.0]})
    digests = set()
    for attempt in range(2):
        meta = build_metadata(table, name="shop", created_at="2026-01-03T10:00:00+00:00")
        path = tmp_path / f"v{attempt}.parquet"
        write_dataset(table, path, meta)
        digests.add(file_sha256(path))
    assert len(digests) == 1
    assert meta["created_at"] == "2026-01-03T10:00:00+00:00"
