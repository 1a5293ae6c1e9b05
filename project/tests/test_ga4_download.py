"""Downloads with the real Data API client (REST) against the fake GA4 server."""

from __future__ import annotations

import json

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from project import descargar_datos_predictivos as cli
from project.errors import InputError
from project.ga4.client import RetryPolicy
from project.ga4.download import ReportRequest, date_chunks, download_report
from project.ga4.errors import DownloadError
from project.tests.ga4_cases import DIMS, END, FAST, METS, N_ROWS, START
from project.tests.ga4_fake import FakeGA4, FakeProperty


@pytest.fixture(scope="module")
def fake(sa):
    with FakeGA4([sa]) as server:
        yield server


@pytest.fixture(autouse=True)
def _clean(fake):
    fake.reset()


def _request(**kw) -> ReportRequest:
    args = {"property_id": "123456", "start_date": START, "end_date": END, "dimensions": DIMS,
            "metrics": METS, "page_size": 8, "chunk_days": 7}
    args.update(kw)
    return ReportRequest(**args)


def _download(sa, fake, out, **kw):
    request = kw.pop("request", None) or _request()
    return download_report(sa, request, out, api_endpoint=fake.url, retry_policy=kw.pop("policy", FAST),
                           **kw)


@pytest.fixture(scope="module")
def baseline(sa, fake, tmp_path_factory):
    """Uninterrupted downloads (Parquet and CSV) to compare interrupted ones against."""
    fake.reset()
    root = tmp_path_factory.mktemp("baseline")
    stats = {ext: _download(sa, fake, root / f"ref.{ext}") for ext in ("parquet", "csv")}
    fake.reset()
    return {ext: (root / f"ref.{ext}").read_bytes() for ext in stats}, stats


def test_several_pages_typed_columns(baseline, tmp_path):
    files, stats = baseline
    st = stats["parquet"]
    assert st.status == "complete" and st.rows == N_ROWS == 60
    # 3 chunks of 7, 7 and 6 days -> 21, 21, 18 rows -> pages of 8: 3 + 3 + 3.
    assert st.chunks_total == 3 and st.pages == 9
    assert st.tokens_consumed == 90 and st.quota_remaining["tokens_per_day"]["remaining"] > 0
    path = tmp_path / "x.parquet"
    path.write_bytes(files["parquet"])
    table = pq.read_table(path)
    assert table.schema == pa.schema([("date", pa.date32()), ("country", pa.string()),
                                      ("sessions", pa.int64()), ("purchaseRevenue", pa.float64()),
                                      ("bounceRate", pa.float64())])
    assert pq.ParquetFile(path).num_row_groups == 9  # one row group per page
    df = table.to_pandas()
    assert df["date"].iloc[0].isoformat() == START and df["date"].iloc[-1].isoformat() == END
    assert not df.duplicated(["date", "country"]).any()
    assert df.groupby("date").size().eq(3).all()
    csv = pd.read_csv(tmp_path.joinpath("x.csv").open("wb").write(files["csv"]) and tmp_path / "x.csv")
    assert list(csv.columns) == DIMS + METS and csv["date"].iloc[0] == START
    assert csv["sessions"].dtype == "int64"
    pd.testing.assert_frame_equal(csv.drop(columns="date"), df.drop(columns="date"))


def test_pages_requested_with_limit_offset_and_order(fake, sa, tmp_path):
    _download(sa, fake, tmp_path / "o.parquet")
    bodies = fake.run_report_requests()
    first_chunk = [(int(b.get("offset", 0)), int(b["limit"])) for b in bodies
                   if b["dateRanges"][0]["startDate"] == START]
    assert first_chunk == [(0, 8), (8, 8), (16, 8)]
    assert all(b["returnPropertyQuota"] for b in bodies)
    assert bodies[0]["orderBys"][0]["dimension"]["dimensionName"] == "date"


def test_429_and_503_storms_are_retried(fake, sa, tmp_path, baseline):
    fake.faults.errors = [429] * 4 + [503] * 4 + [500, 502]
    stats = _download(sa, fake, tmp_path / "o.parquet")
    assert stats.status == "complete" and stats.retries == 10
    assert (tmp_path / "o.parquet").read_bytes() == baseline[0]["parquet"]


def test_slow_response_times_out_and_is_retried(fake, sa, tmp_path, baseline):
    fake.faults.delays = [1.0]
    policy = RetryPolicy(initial=0.01, maximum=0.05, deadline=10.0, timeout=0.3)
    stats = _download(sa, fake, tmp_path / "o.csv", policy=policy)
    assert stats.status == "complete" and stats.retries == 1
    assert (tmp_path / "o.csv").read_bytes() == baseline[0]["csv"]


def test_retries_give_up_at_the_deadline_and_leave_no_output(fake, sa, tmp_path):
    fake.faults.errors = [503] * 1000
    policy = RetryPolicy(initial=0.01, maximum=0.02, deadline=0.3, timeout=1.0)
    with pytest.raises(DownloadError) as info:
        _download(sa, fake, tmp_path / "o.parquet", policy=policy)
    assert info.value.reason == "retries_exhausted" and "ServiceUnavailable" in str(info.value)
    assert not (tmp_path / "o.parquet").exists()


@pytest.mark.parametrize("ext", ["parquet", "csv"])
@pytest.mark.parametrize("how", ["remaining-zero", "429-exhausted"])
def test_quota_exhaustion_stops_then_resumes_identically(fake, sa, tmp_path, baseline, ext, how):
    out = tmp_path / f"o.{ext}"
    # 4 pages fit in the budget: either the 4th page reports 0 tokens left (the client stops
    # before asking again) or the budget ends mid-page-5 and the server answers 429.
    fake.faults.tokens_per_day = 40 if how == "remaining-zero" else 45
    stats = _download(sa, fake, out)
    assert stats.status == "stopped" and stats.stop_reason == "quota_exhausted"
    assert stats.pages == 4 and stats.rows == 21 + 8  # chunk 1 (3 pages), 1 page of chunk 2
    assert not out.exists()
    checkpoint = json.loads((tmp_path / f"o.{ext}.checkpoint.json").read_text())
    assert (checkpoint["chunk_index"], checkpoint["offset"]) == (1, 8)

    fake.reset()  # a new day: the quota is refilled
    stats = _download(sa, fake, out)
    assert stats.status == "complete" and stats.attempts == 2
    assert stats.pages == 9 and stats.rows == N_ROWS  # totals across both attempts
    assert out.read_bytes() == baseline[0][ext]
    assert not (tmp_path / f"o.{ext}.checkpoint.json").exists()
    # The resumed run asked only for what was missing: chunk 2 from offset 8 onwards.
    first = fake.run_report_requests()[0]
    assert first["dateRanges"][0]["startDate"] == "2024-01-08" and first["offset"] == "8"
    assert len(fake.run_report_requests()) == 5


def test_thresholding_sampling_and_other_row_flags_recorded(fake, sa, tmp_path):
    fake.faults.thresholded = True
    fake.faults.sampled = True
    fake.faults.data_loss_from_other_row = True
    stats = _download(sa, fake, tmp_path / "o.parquet")
    assert stats.subject_to_thresholding and stats.data_loss_from_other_row
    assert stats.sampling_metadatas == [{"samples_read_count": 500000, "sampling_space_size": 2000000}]
    fake.reset()
    clean = _download(sa, fake, tmp_path / "p.parquet")
    assert not clean.subject_to_thresholding and not clean.sampling_metadatas


def test_forbidden_property(fake, sa, tmp_path):
    fake.faults.forbidden = {"123456"}
    with pytest.raises(DownloadError) as info:
        _download(sa, fake, tmp_path / "o.parquet")
    assert info.value.reason == "permission_denied" and "123456" in str(info.value)
    assert sorted(p.name for p in tmp_path.iterdir()) == []  # no output, partial or checkpoint


def test_on_page_callback_can_stop_and_the_rerun_resumes(fake, sa, tmp_path, baseline):
    seen = []

    def on_page(stats):
        seen.append((stats.pages, stats.rows))
        return stats.pages < 2

    out = tmp_path / "o.csv"
    stats = _download(sa, fake, out, on_page=on_page)
    assert stats.status == "stopped" and stats.stop_reason == "cancelled"
    assert seen == [(1, 8), (2, 16)] and not out.exists()
    stats = _download(sa, fake, out, on_page=lambda s: None)
    assert stats.status == "complete" and out.read_bytes() == baseline[0]["csv"]


def test_changed_row_count_fails_then_rerun_downloads_the_chunk_afresh(fake, sa, tmp_path, baseline):
    fake.faults.row_count_drift_after_pages = 4  # the 5th page reports rowCount + 1
    out = tmp_path / "o.parquet"
    with pytest.raises(DownloadError) as info:
        _download(sa, fake, out)
    assert info.value.reason == "row_count_changed"
    assert "rowCount changed from 21 to 22" in str(info.value)
    assert info.value.stats.status == "failed" and not out.exists()
    fake.reset()
    stats = _download(sa, fake, out)
    assert stats.status == "complete" and out.read_bytes() == baseline[0]["parquet"]
    assert fake.run_report_requests()[0]["dateRanges"][0]["startDate"] == "2024-01-08"
    assert "offset" not in fake.run_report_requests()[0]  # the chunk starts again at 0


def test_unknown_and_incompatible_fields_rejected_before_downloading(fake, sa, tmp_path):
    with pytest.raises(InputError, match=r"unknown metric 'sesions'.*did you mean sessions"):
        _download(sa, fake, tmp_path / "o.csv", request=_request(metrics=["sesions"]))
    with pytest.raises(InputError, match="cannot be requested together.*itemName"):
        _download(sa, fake, tmp_path / "o.csv",
                  request=_request(dimensions=["date", "itemName"], metrics=["sessions"]))
    assert fake.run_report_requests() == []


def test_request_validation():
    with pytest.raises(InputError, match="end date 2024-01-01 is before"):
        _request(start_date="2024-02-01", end_date="2024-01-01")
    with pytest.raises(InputError, match="page size must be between 1 and 250000"):
        _request(page_size=250_001)
    with pytest.raises(InputError, match="metric listed twice: sessions"):
        _request(metrics=["sessions", "sessions"])
    with pytest.raises(InputError, match="start date must be YYYY-MM-DD"):
        _request(start_date="01/02/2024")
    assert date_chunks("2024-01-01", "2024-01-10", 4) == [
        ("2024-01-01", "2024-01-04"), ("2024-01-05", "2024-01-08"), ("2024-01-09", "2024-01-10")]


@pytest.mark.parametrize("ext", ["parquet", "csv"])
def test_empty_report_writes_typed_empty_file(sa, tmp_path, ext):
    with FakeGA4([sa], properties=[FakeProperty("777", "No data yet", has_data=False)]) as empty:
        stats = download_report(sa, _request(property_id="777"), tmp_path / f"e.{ext}",
                                api_endpoint=empty.url, retry_policy=FAST)
    assert stats.status == "complete" and stats.rows == 0 and stats.pages == 3
    if ext == "parquet":
        table = pq.read_table(tmp_path / "e.parquet")
        assert table.num_rows == 0
        assert table.schema.field("date").type == pa.date32()
        assert table.schema.field("sessions").type == pa.int64()
    else:
        header = '"date","country","sessions","purchaseRevenue","bounceRate"'
        assert (tmp_path / "e.csv").read_text().strip() == header


# --------------------------------------------------------------------------- CLI


def _argv(key, fake, out, *extra):
    return ["--credentials", str(key), "--property", "123456", "--start-date", START,
            "--end-date", END, "--dimensions", ",".join(DIMS), "--metrics", ",".join(METS),
            "--output", str(out), "--api-endpoint", fake.url, "--page-size", "8", "--chunk-days", "7",
            "--retry-initial", "0.01", "--retry-maximum", "0.05", "--retry-deadline", "0.5",
            "--timeout", "5", *extra]


def test_cli_exit_codes_and_resume(fake, sa, tmp_path, baseline, capsys):
    key = tmp_path / "key.json"
    key.write_text(json.dumps(sa))
    out = tmp_path / "cli.parquet"
    ckpt = tmp_path / "state.json"

    fake.faults.tokens_per_day = 30
    assert cli.main(_argv(key, fake, out, "--checkpoint", str(ckpt))) == cli.EXIT_STOPPED
    captured = capsys.readouterr()
    assert json.loads(captured.out)["stop_reason"] == "quota_exhausted" and ckpt.exists()
    assert not out.exists()

    # Same checkpoint, different request: refused with exit 2, checkpoint kept.
    argv = _argv(key, fake, out, "--checkpoint", str(ckpt))
    argv[argv.index("--end-date") + 1] = "2024-01-21"
    assert cli.main(argv) == cli.EXIT_BAD_INPUT
    assert "belongs to another download (differs in end_date)" in capsys.readouterr().err

    fake.reset()
    assert cli.main(_argv(key, fake, out, "--checkpoint", str(ckpt))) == cli.EXIT_OK
    report = json.loads(capsys.readouterr().out)
    assert report["status"] == "complete" and report["rows"] == N_ROWS
    assert out.read_bytes() == baseline[0]["parquet"] and not ckpt.exists()

    fake.faults.errors = [503] * 1000
    assert cli.main(_argv(key, fake, tmp_path / "f.csv")) == cli.EXIT_FAILED
    assert "gave up after retrying" in capsys.readouterr().err
    assert not (tmp_path / "f.csv").exists()

    fake.reset()
    fake.faults.forbidden = {"123456"}
    assert cli.main(_argv(key, fake, tmp_path / "g.csv")) == cli.EXIT_BAD_INPUT
    assert "permission denied" in capsys.readouterr().err

    assert cli.main(_argv(key, fake, tmp_path / "h.txt")) == cli.EXIT_BAD_INPUT
    assert "must end in .csv or .parquet" in capsys.readouterr().err
    bad_key = tmp_path / "bad.json"
    bad_key.write_text("{oops")
    assert cli.main(_argv(bad_key, fake, tmp_path / "i.csv")) == cli.EXIT_BAD_INPUT
    err = capsys.readouterr().err
    assert "not valid JSON" in err and "Traceback" not in err
    assert cli.main(["--property", "123456"]) == cli.EXIT_BAD_INPUT
