"""Downloads over gRPC (the production transport) against the fake served over gRPC.

The same :class:`FakeGA4` serves REST and gRPC, so every gRPC download is
compared byte for byte with the REST download of the same report. Over gRPC
``download_report`` fetches the pages as raw bytes on the client's channel
(:func:`project.ga4.client.run_report_wire`); these tests check that this path
keeps the client's credentials, routing metadata, retries and error mapping.
"""

from __future__ import annotations

import json

import pytest
from google.analytics.data_v1beta import types

from project.ga4.client import RetryPolicy, make_retry, run_report_wire
from project.ga4.download import ReportRequest, download_report
from project.ga4.errors import DownloadError
from project.tests.ga4_cases import DIMS, END, FAST, METS, N_ROWS, START
from project.tests.ga4_fake import FakeGA4, make_service_account
from project.tests.ga4_grpc_fake import FakeGA4Grpc


@pytest.fixture(scope="module")
def fake(sa):
    with FakeGA4([sa]) as rest, FakeGA4Grpc(rest) as grpc_front:
        yield grpc_front


@pytest.fixture(autouse=True)
def _clean(fake):
    fake.fake.reset()
    fake.metadata.clear()


def _request(**kw) -> ReportRequest:
    args = {"property_id": "123456", "start_date": START, "end_date": END, "dimensions": DIMS,
            "metrics": METS, "page_size": 8, "chunk_days": 7}
    args.update(kw)
    return ReportRequest(**args)


def _grpc(sa, fake, out, **kw):
    return download_report(sa, kw.pop("request", None) or _request(), out,
                           client=fake.client(kw.pop("key", sa)), retry_policy=FAST, **kw)


@pytest.fixture(scope="module")
def rest_files(sa, fake, tmp_path_factory):
    """The same report downloaded over REST (Parquet and CSV), the reference."""
    fake.fake.reset()
    root = tmp_path_factory.mktemp("rest")
    for ext in ("parquet", "csv"):
        stats = download_report(sa, _request(), root / f"ref.{ext}", api_endpoint=fake.fake.url,
                                retry_policy=FAST)
        assert stats.status == "complete" and stats.rows == N_ROWS
    fake.fake.reset()
    return {ext: (root / f"ref.{ext}").read_bytes() for ext in ("parquet", "csv")}


@pytest.mark.parametrize("ext", ["parquet", "csv"])
def test_several_pages_identical_to_rest(fake, sa, tmp_path, rest_files, ext):
    out = tmp_path / f"o.{ext}"
    stats = _grpc(sa, fake, out)
    assert stats.status == "complete" and stats.rows == N_ROWS == 60
    assert stats.chunks_total == 3 and stats.pages == 9  # 21, 21, 18 rows in pages of 8
    assert stats.tokens_consumed == 90 and stats.quota_remaining["tokens_per_day"]["remaining"] > 0
    assert out.read_bytes() == rest_files[ext]
    # every page went over gRPC, with the client's routing header and JWT
    reports = [m for method, m in fake.metadata if method == "RunReport"]
    assert len(reports) == 9
    assert all(m["x-goog-request-params"] == "property=properties/123456" for m in reports)
    assert all(m["authorization"].startswith("Bearer ") for m in reports)
    assert all("gapic/" in m["x-goog-api-client"] for m in reports)
    bodies = fake.fake.run_report_requests()
    assert [b.get("offset", "0") for b in bodies[:3]] == ["0", "8", "16"]


def test_raw_page_bytes_are_the_clients_response(fake, sa):
    client = fake.client(sa)
    request = types.RunReportRequest(
        property="properties/123456", dimensions=[{"name": d} for d in DIMS],
        metrics=[{"name": m} for m in METS],
        date_ranges=[{"start_date": START, "end_date": END}], limit=5, offset=3,
    )
    wire = run_report_wire(client)(request, retry=make_retry(FAST), timeout=5.0)
    assert isinstance(wire, bytes)
    decoded = client.run_report(request, timeout=5.0)
    assert types.RunReportResponse.pb().FromString(wire) == type(decoded).pb(decoded)
    assert len(decoded.rows) == 5 and decoded.row_count == N_ROWS


def test_unavailable_and_429_are_retried(fake, sa, tmp_path, rest_files):
    fake.fake.faults.errors = [503, 503, 429, 500]
    stats = _grpc(sa, fake, tmp_path / "o.parquet")
    assert stats.status == "complete" and stats.retries == 4
    assert (tmp_path / "o.parquet").read_bytes() == rest_files["parquet"]


def test_retries_give_up_with_the_grpc_status(fake, sa, tmp_path):
    fake.fake.faults.errors = [503] * 1000
    policy = RetryPolicy(initial=0.01, maximum=0.02, deadline=0.3, timeout=1.0)
    with pytest.raises(DownloadError) as info:
        download_report(sa, _request(), tmp_path / "o.parquet", client=fake.client(sa),
                        retry_policy=policy)
    assert info.value.reason == "retries_exhausted" and "ServiceUnavailable" in str(info.value)
    assert not (tmp_path / "o.parquet").exists()


@pytest.mark.parametrize("how", ["remaining-zero", "resource-exhausted"])
def test_quota_stop_then_resume_identically(fake, sa, tmp_path, rest_files, how):
    out = tmp_path / "o.parquet"
    # 4 pages fit: the 4th reports 0 tokens left, or the 5th answers RESOURCE_EXHAUSTED
    fake.fake.faults.tokens_per_day = 40 if how == "remaining-zero" else 45
    stats = _grpc(sa, fake, out)
    assert stats.status == "stopped" and stats.stop_reason == "quota_exhausted"
    assert stats.pages == 4 and stats.rows == 21 + 8 and not out.exists()
    assert stats.retries == 0  # token exhaustion is not retried
    checkpoint = json.loads((tmp_path / "o.parquet.checkpoint.json").read_text())
    assert (checkpoint["chunk_index"], checkpoint["offset"]) == (1, 8)

    fake.fake.reset()
    stats = _grpc(sa, fake, out)
    assert stats.status == "complete" and stats.pages == 9 and stats.rows == N_ROWS
    assert out.read_bytes() == rest_files["parquet"]
    assert len(fake.fake.run_report_requests()) == 5


def test_changed_row_count_is_an_error(fake, sa, tmp_path):
    fake.fake.faults.row_count_drift_after_pages = 4
    with pytest.raises(DownloadError) as info:
        _grpc(sa, fake, tmp_path / "o.parquet")
    assert info.value.reason == "row_count_changed"
    assert "rowCount changed from 21 to 22" in str(info.value)


def test_flags_read_from_the_page_header(fake, sa, tmp_path):
    faults = fake.fake.faults
    faults.thresholded = faults.sampled = faults.data_loss_from_other_row = True
    stats = _grpc(sa, fake, tmp_path / "o.parquet")
    assert stats.subject_to_thresholding and stats.data_loss_from_other_row
    assert stats.sampling_metadatas == [{"samples_read_count": 500000, "sampling_space_size": 2000000}]
    assert set(stats.quota_remaining) >= {"tokens_per_day", "tokens_per_hour", "concurrent_requests"}


def test_forbidden_property_and_unknown_key(fake, sa, tmp_path):
    fake.fake.faults.forbidden = {"123456"}
    with pytest.raises(DownloadError) as info:
        _grpc(sa, fake, tmp_path / "o.parquet")
    assert info.value.reason == "permission_denied" and "123456" in str(info.value)
    fake.fake.reset()
    stranger = make_service_account("stranger@demo-project.iam.gserviceaccount.com", key_size=1024)
    with pytest.raises(DownloadError) as info:
        _grpc(sa, fake, tmp_path / "o.parquet", key=stranger)
    assert info.value.reason == "unauthenticated" and "Unknown JWT issuer" in str(info.value)
    assert "Viewer" not in str(info.value) and "new JSON key" in str(info.value)
    assert sorted(p.name for p in tmp_path.iterdir()) == []
