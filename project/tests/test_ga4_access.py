"""Key-file validation and the access check, with the real Admin/Data clients against the fake."""

from __future__ import annotations

import json

import pytest

from project import verificar_permisos_ga as cli
from project.ga4.access import check_access
from project.ga4.credentials import CredentialsError, load_service_account
from project.tests.ga4_fake import DIMENSIONS, METRICS, FakeGA4, make_service_account


@pytest.fixture(scope="module")
def fake(sa):
    with FakeGA4([sa], summaries_page_size=1) as server:
        yield server


@pytest.fixture(autouse=True)
def _clean(fake):
    fake.reset()


def _write(tmp_path, payload, name="key.json"):
    path = tmp_path / name
    path.write_text(payload if isinstance(payload, str) else json.dumps(payload))
    return path


# --------------------------------------------------------------------------- key files


def test_valid_key_summary_hides_private_key(sa, tmp_path):
    key = load_service_account(_write(tmp_path, sa))
    assert key.client_email == sa["client_email"]
    assert "PRIVATE" not in repr(key)
    assert set(key.public_summary()) == {"client_email", "private_key_id", "project_id"}


@pytest.mark.parametrize(
    "mutate, expected",
    [
        (lambda k: "{not json", "not valid JSON (line 1"),
        (lambda k: "[1, 2]", "expected a JSON object, got list"),
        (lambda k: {**k, "type": "authorized_user"},
         "field 'type' is 'authorized_user', expected 'service_account'"),
        (lambda k: {x: v for x, v in k.items() if x != "type"}, "field 'type' is missing"),
        (lambda k: {x: v for x, v in k.items() if x != "client_email"}, "field 'client_email' is missing"),
        (lambda k: {**k, "client_email": "nobody"}, "'client_email' is not an e-mail address"),
        (lambda k: {**k, "private_key": "MIIEvQIBADANBg"}, "'private_key' is not a PEM block"),
        (lambda k: {**k, "private_key": k["private_key"][:200] + "\n-----END PRIVATE KEY-----\n"},
         "'private_key' does not parse"),
        (lambda k: {x: v for x, v in k.items() if x != "private_key"}, "'private_key' is missing"),
    ],
    ids=["not-json", "not-object", "wrong-type", "no-type", "no-email", "bad-email", "not-pem",
         "bad-key", "no-key"],
)
def test_malformed_key_files_are_named_precisely(sa, tmp_path, mutate, expected):
    path = _write(tmp_path, mutate(sa))
    with pytest.raises(CredentialsError) as info:
        load_service_account(path)
    message = str(info.value)
    assert expected in message
    assert str(path) in message
    assert "PRIVATE KEY" not in message and sa["private_key"][40:80] not in message


def test_missing_key_file(tmp_path):
    with pytest.raises(CredentialsError, match="key file not found"):
        load_service_account(tmp_path / "absent.json")


# --------------------------------------------------------------------------- access check


def test_lists_accounts_across_pages_and_probes_property(sa, fake):
    report = check_access(sa, "properties/123456", fake.url)
    assert report["ok"] is True
    assert [a["account"] for a in report["accounts"]] == ["accounts/1000", "accounts/2000"]
    assert report["property_count"] == 3
    # summaries_page_size=1: the client followed nextPageToken once per account.
    summary_calls = [q for m, p, q in fake.requests if p == "/v1beta/accountSummaries"]
    assert len(summary_calls) == 2 and summary_calls[1]["pageToken"] == ["1"]
    prop = report["property"]
    assert prop["accessible"] and prop["error"] is None
    assert {d["api_name"] for d in prop["dimensions"]} == set(DIMENSIONS)
    assert {m["api_name"]: m["type"] for m in prop["metrics"]} == METRICS
    assert sa["private_key"] not in json.dumps(report)


def test_forbidden_property_is_reported_not_raised(sa, fake):
    fake.faults.forbidden = {"123456"}
    report = check_access(sa, "123456", fake.url)
    assert report["ok"] is False
    assert report["property"]["accessible"] is False
    assert "PermissionDenied" in report["property"]["error"] or "Forbidden" in report["property"]["error"]
    assert "cannot read property 123456" in report["message"]
    assert report["property_count"] == 3  # listing still worked


def test_unknown_signer_is_rejected_by_the_fake(fake):
    stranger = make_service_account("stranger@demo-project.iam.gserviceaccount.com")
    report = check_access(stranger, None, fake.url)
    assert report["ok"] is False
    assert "Unauthorized" in report["errors"][0] or "401" in report["errors"][0]
    # A refused key is not a missing Viewer grant; no request internals for the user.
    assert "new JSON key" in report["message"] and "Viewer" not in report["message"]
    assert "?" not in report["message"] and ".." not in report["message"]
    with_property = check_access(stranger, "123456", fake.url)
    assert "refused the key" in with_property["message"] and "Viewer" not in with_property["message"]
    assert ".." not in with_property["message"]


def test_describe_api_error_drops_query_strings():
    from project.ga4.client import describe_api_error

    exc = ConnectionError(
        "HTTPConnectionPool(host='127.0.0.1', port=9): Max retries exceeded with url: "
        "/v1beta/properties/1:runReport?%24alt=json%3Benum-encoding%3Dint&key=SECRET (Caused by refused)."
    )
    text = describe_api_error(exc)
    assert "SECRET" not in text and "?" not in text and "%24alt" not in text
    assert "url: /v1beta/properties/1:runReport" in text and not text.endswith(".")


def test_bad_property_id_is_input_error(sa, fake):
    from project.errors import InputError

    with pytest.raises(InputError, match="property id must be digits"):
        check_access(sa, "UA-1234", fake.url)


# --------------------------------------------------------------------------- CLI


def test_cli_exit_codes(sa, fake, tmp_path, capsys):
    key = _write(tmp_path, sa)
    assert cli.main(["--credentials", str(key), "--api-endpoint", fake.url]) == cli.EXIT_OK
    out = json.loads(capsys.readouterr().out)
    assert out["ok"] and out["property_count"] == 3

    assert cli.main(["--credentials", str(key), "--property", "123456",
                     "--api-endpoint", fake.url]) == cli.EXIT_OK
    captured = capsys.readouterr()
    assert json.loads(captured.out)["property"]["accessible"] is True
    assert sa["private_key"][30:90] not in captured.out + captured.err

    fake.faults.forbidden = {"234567"}
    assert cli.main(["--credentials", str(key), "--property", "234567",
                     "--api-endpoint", fake.url]) == cli.EXIT_NO_ACCESS
    captured = capsys.readouterr()
    assert json.loads(captured.out)["ok"] is False
    assert captured.err.startswith("error: ") and "Traceback" not in captured.err

    bad = _write(tmp_path, {**sa, "type": "user"}, "bad.json")
    assert cli.main(["--credentials", str(bad), "--api-endpoint", fake.url]) == cli.EXIT_BAD_INPUT
    captured = capsys.readouterr()
    assert "field 'type'" in captured.err and json.loads(captured.out)["error"] == "credentials"

    assert cli.main(["--credentials", str(key), "--property", "abc",
                     "--api-endpoint", fake.url]) == cli.EXIT_BAD_INPUT
    assert cli.main(["--property", "1"]) == cli.EXIT_BAD_INPUT  # --credentials missing
    capsys.readouterr()


def test_cli_no_properties_exits_1(fake, tmp_path, capsys):
    lonely = make_service_account("lonely@demo-project.iam.gserviceaccount.com")
    with FakeGA4([lonely], properties=[]) as empty:
        key = _write(tmp_path, lonely)
        assert cli.main(["--credentials", str(key), "--api-endpoint", empty.url]) == cli.EXIT_NO_ACCESS
    captured = capsys.readouterr()
    assert json.loads(captured.out)["property_count"] == 0
    assert "reaches no GA4 property" in captured.err
