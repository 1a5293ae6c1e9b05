"""Tests for project.model_artifact: build, verify, tamper detection, safe loading, CLI."""

from __future__ import annotations

import hashlib
import io
import json
import os
import pathlib
import subprocess
import sys
import zipfile
from pathlib import Path

import joblib
import pandas as pd
import pytest

from project import model_artifact as ma
from project.errors import ArtifactError
from project.model_card import render_model_card

KEY = b"test-signing-key-0123456789"
REPO = Path(__file__).resolve().parents[2]


class TinyModel:
    """A picklable stand-in for a fitted forecaster."""

    def __init__(self, level: float) -> None:
        self.level_ = level


class Exploit:
    """Unpickling this writes a file: the proof that a pickle was opened."""

    def __init__(self, target: Path) -> None:
        self.target = target

    def __reduce__(self):
        return (pathlib.Path.write_text, (self.target, "pwned"))


def _metadata() -> dict:
    return {
        "created_at": "2024-12-31T10:00:00+00:00",
        "horizon": 28,
        "interval_levels": [80, 95],
        "chosen_models": {"store A": "ets", "store B": "snaive"},
        "data": {
            "sha256": "ab" * 32,
            "rows": 100,
            "series": 2,
            "first_date": "2024-01-01",
            "last_date": "2024-12-30",
        },
        "code_version": "17.0.1.0.0",
    }


def _forecast() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "store": ["A", "A"],
            "ds": pd.to_datetime(["2024-12-31", "2025-01-01"]),
            "horizon": [1, 2],
            "yhat": [5.0, 6.0],
            "yhat_lower": [4.0, 4.5],
            "yhat_upper": [6.0, 7.5],
            "model": ["ets", "ets"],
        }
    )


def _metrics() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "unique_id": ["A", "A"],
            "model": ["ets", "snaive"],
            "bucket": ["1-28", "1-28"],
            "metric": ["mase", "mase"],
            "value": [0.8, 1.0],
            "chosen": [True, False],
        }
    )


def _build(path: Path, model=None, key: bytes = KEY) -> Path:
    return ma.build_artifact(
        path,
        model=model if model is not None else TinyModel(3.0),
        metadata=_metadata(),
        forecast=_forecast(),
        metrics=_metrics(),
        signing_key=key,
        report_png=b"\x89PNG\r\n\x1a\nfake",
    )


def _rewrite(src: Path, dst: Path, *, replace: dict | None = None, drop: tuple = (), add: dict | None = None):
    """Copy a zip member by member with changes, keeping the original SIGNATURE (no key)."""
    replace, add = replace or {}, add or {}
    with zipfile.ZipFile(src) as zin, zipfile.ZipFile(dst, "w") as zout:
        for info in zin.infolist():
            if info.filename in drop:
                continue
            zout.writestr(info.filename, replace.get(info.filename, zin.read(info.filename)))
        for name, data in add.items():
            zout.writestr(name, data)
    return dst


@pytest.fixture()
def artifact(tmp_path) -> Path:
    return _build(tmp_path / "model.zip")


# --------------------------------------------------------------------------- round trip


def test_round_trip(artifact):
    loaded = ma.load_artifact(artifact, KEY)
    assert isinstance(loaded.model, TinyModel) and loaded.model.level_ == 3.0
    assert loaded.metadata["horizon"] == 28 and loaded.metadata["format_version"] == ma.FORMAT_VERSION
    pd.testing.assert_frame_equal(loaded.forecast, _forecast())
    pd.testing.assert_frame_equal(loaded.metrics, _metrics())
    assert loaded.report_png.startswith(b"\x89PNG")
    assert "# Model card" in loaded.model_card and "| ets | 1 |" in loaded.model_card


def test_members_and_signature_layout(artifact):
    with zipfile.ZipFile(artifact) as archive:
        names = archive.namelist()
        signature = json.loads(archive.read("SIGNATURE"))
        digests = {n: hashlib.sha256(archive.read(n)).hexdigest() for n in names if n != "SIGNATURE"}
    assert sorted(names) == sorted([*ma.MEMBERS, "SIGNATURE"])
    assert signature["algorithm"] == "HMAC-SHA256"
    assert signature["members"] == digests
    assert KEY.decode() not in artifact.read_bytes().decode("latin-1")  # the key is never stored


def test_load_from_bytes(artifact):
    assert ma.load_artifact(artifact.read_bytes(), KEY.decode()).model.level_ == 3.0


def test_build_is_deterministic(tmp_path):
    first, second = _build(tmp_path / "a.zip"), _build(tmp_path / "b.zip")
    assert first.read_bytes() == second.read_bytes()


def test_build_is_atomic_on_failure(tmp_path):
    target = tmp_path / "model.zip"
    target.write_bytes(b"previous artifact")

    class Unpicklable:
        def __reduce__(self):
            raise RuntimeError("cannot pickle")

    with pytest.raises(RuntimeError):
        _build(target, model=Unpicklable())
    assert target.read_bytes() == b"previous artifact"  # untouched
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model.zip"]  # no temp file left


def test_metadata_must_be_json(tmp_path):
    with pytest.raises(TypeError, match="not JSON serialisable"):
        ma.build_artifact(
            tmp_path / "m.zip",
            model=1,
            metadata={"bad": object()},
            forecast=_forecast(),
            metrics=_metrics(),
            signing_key=KEY,
        )
    assert not (tmp_path / "m.zip").exists()


# --------------------------------------------------------------------------- tamper detection


@pytest.fixture(params=["verify_artifact", "check_artifact"])
def verify(request):
    """Both readers refuse the same tampering: the one that returns the
    members and the one that only hashes them (the download route's)."""
    return getattr(ma, request.param)


def test_check_artifact_accepts_a_signed_zip_from_path_and_bytes(artifact):
    assert ma.check_artifact(artifact, KEY) is None
    assert ma.check_artifact(Path(artifact).read_bytes(), KEY) is None


def test_modified_member(verify, artifact, tmp_path):
    bad = _rewrite(artifact, tmp_path / "bad.zip", replace={"forecast.csv": b"ds,yhat\n2025-01-01,1e9\n"})
    with pytest.raises(ArtifactError, match="'forecast.csv' was modified after signing"):
        verify(bad, KEY)


def test_added_member(verify, artifact, tmp_path):
    bad = _rewrite(artifact, tmp_path / "bad.zip", add={"extra.py": b"print('hi')"})
    with pytest.raises(ArtifactError, match="'extra.py' were added after signing"):
        verify(bad, KEY)


def test_removed_member(verify, artifact, tmp_path):
    bad = _rewrite(artifact, tmp_path / "bad.zip", drop=("metrics.csv",))
    with pytest.raises(ArtifactError, match="'metrics.csv' are missing"):
        verify(bad, KEY)


def test_unsigned(verify, artifact, tmp_path):
    bad = _rewrite(artifact, tmp_path / "bad.zip", drop=("SIGNATURE",))
    with pytest.raises(ArtifactError, match="unsigned"):
        verify(bad, KEY)


def test_wrong_key_is_foreign(verify, artifact):
    with pytest.raises(ArtifactError, match="signed with a different key"):
        verify(artifact, b"another-deployment-key")


def test_re_signed_manifest_without_key(artifact, tmp_path):
    # An attacker edits a member and updates the digest list but cannot recompute the HMAC.
    with zipfile.ZipFile(artifact) as archive:
        signature = json.loads(archive.read("SIGNATURE"))
    evil = b"ds,yhat\n"
    signature["members"]["forecast.csv"] = hashlib.sha256(evil).hexdigest()
    bad = _rewrite(
        artifact,
        tmp_path / "bad.zip",
        replace={"forecast.csv": evil, "SIGNATURE": json.dumps(signature).encode()},
    )
    with pytest.raises(ArtifactError, match="SIGNATURE was altered"):
        ma.verify_artifact(bad, KEY)


def test_not_a_zip(tmp_path):
    path = tmp_path / "model.zip"
    path.write_bytes(b"definitely not a zip")
    with pytest.raises(ArtifactError, match="not a zip archive"):
        ma.verify_artifact(path, KEY)


def test_malformed_signature(artifact, tmp_path):
    bad = _rewrite(artifact, tmp_path / "bad.zip", replace={"SIGNATURE": b"{not json"})
    with pytest.raises(ArtifactError, match="SIGNATURE member is malformed"):
        ma.verify_artifact(bad, KEY)


@pytest.mark.parametrize("name", ["../evil.txt", "/etc/passwd", "sub/dir.txt", "..\\evil.txt"])
def test_path_traversal_names(artifact, tmp_path, name):
    bad = _rewrite(artifact, tmp_path / "bad.zip", add={name: b"x"})
    with pytest.raises(ArtifactError, match="unsafe member name"):
        ma.verify_artifact(bad, KEY)


def test_zip_bomb_member(artifact, tmp_path):
    bad = tmp_path / "bomb.zip"
    _rewrite(artifact, bad)
    with zipfile.ZipFile(bad, "a", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("bomb.bin", b"\0" * (8 << 20))  # 8 MiB of zeros compress ~1000:1
    with pytest.raises(ArtifactError, match="possible zip bomb"):
        ma.verify_artifact(bad, KEY)


def test_duplicate_member_names(artifact, tmp_path):
    bad = tmp_path / "dup.zip"
    _rewrite(artifact, bad)
    with pytest.warns(UserWarning), zipfile.ZipFile(bad, "a") as archive:
        archive.writestr("forecast.csv", b"ds,yhat\n")
    with pytest.raises(ArtifactError, match="appear more than once"):
        ma.verify_artifact(bad, KEY)


# --------------------------------------------------------------------------- never unpickle before verifying


def test_exploit_payload_really_runs_when_unpickled(tmp_path):
    """Positive control: the payload used below does write its file when unpickled."""
    target = tmp_path / "control"
    buffer = io.BytesIO()
    joblib.dump(Exploit(target), buffer)
    joblib.load(io.BytesIO(buffer.getvalue()))
    assert target.read_text() == "pwned"


def test_load_refuses_swapped_pickle_before_unpickling(artifact, tmp_path):
    target = tmp_path / "pwned"
    buffer = io.BytesIO()
    joblib.dump(Exploit(target), buffer)
    bad = _rewrite(artifact, tmp_path / "bad.zip", replace={"model.joblib": buffer.getvalue()})
    with pytest.raises(ArtifactError, match="'model.joblib' was modified"):
        ma.load_artifact(bad, KEY)
    assert not target.exists()


def test_load_refuses_foreign_signed_pickle(tmp_path):
    target = tmp_path / "pwned"
    foreign = _build(tmp_path / "foreign.zip", model=Exploit(target), key=b"attacker-key")
    assert not target.exists()  # building only pickles
    with pytest.raises(ArtifactError, match="different key"):
        ma.load_artifact(foreign, KEY)
    assert not target.exists()


# --------------------------------------------------------------------------- keys, metadata helpers


def test_resolve_signing_key(monkeypatch):
    monkeypatch.delenv(ma.SIGNING_KEY_ENV, raising=False)
    with pytest.raises(ArtifactError, match="AI_TRAIN_MODEL_SIGNING_KEY"):
        ma.resolve_signing_key(None)
    monkeypatch.setenv(ma.SIGNING_KEY_ENV, "from-env")
    assert ma.resolve_signing_key(None) == b"from-env"
    assert ma.resolve_signing_key("from-cli") == b"from-cli"


def test_empty_key_is_refused(artifact):
    with pytest.raises(ArtifactError, match="empty"):
        ma.verify_artifact(artifact, b"")


def test_metadata_helpers(tmp_path):
    versions = ma.library_versions()
    assert {"python", "numpy", "pandas"} <= set(versions)
    assert ma.code_version().startswith("17.0.")
    path = tmp_path / "input.csv"
    path.write_bytes(b"date,sales\n2024-01-01,1\n")
    assert ma.file_sha256(path) == hashlib.sha256(path.read_bytes()).hexdigest()


def test_artifact_metadata_defaults_and_overrides():
    meta = ma.artifact_metadata(horizon=28, data={"rows": 3})
    assert meta["format_version"] == ma.FORMAT_VERSION and meta["horizon"] == 28
    assert meta["created_at"].endswith("+00:00") and "numpy" in meta["library_versions"]
    assert ma.artifact_metadata(code_version="x")["code_version"] == "x"
    json.dumps(meta)


def test_model_card_from_metadata():
    card = render_model_card(_metadata(), _metrics())
    assert "Horizon: 28" in card and "80%, 95%" in card
    assert "`" + "ab" * 32 + "`" in card
    assert "| 1-28 | 0.800 |" in card  # chosen model's metrics only


# --------------------------------------------------------------------------- CLI


def test_cli_verify_ok(artifact, capsys, monkeypatch):
    monkeypatch.delenv(ma.SIGNING_KEY_ENV, raising=False)
    assert ma.main(["verify", str(artifact), "--signing-key", KEY.decode()]) == ma.EXIT_OK
    out, err = capsys.readouterr()
    assert "intact" in out and KEY.decode() not in out + err


def test_cli_verify_tampered_and_foreign(artifact, tmp_path, capsys, monkeypatch):
    monkeypatch.setenv(ma.SIGNING_KEY_ENV, KEY.decode())
    bad = _rewrite(artifact, tmp_path / "bad.zip", replace={"metrics.csv": b"x\n"})
    assert ma.main(["verify", str(bad)]) == ma.EXIT_INVALID
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "'metrics.csv' was modified" in err
    assert ma.main(["verify", str(artifact), "--signing-key", "s3cr3t-Other-Key"]) == ma.EXIT_INVALID
    captured = capsys.readouterr()
    assert "different key" in captured.err
    assert "s3cr3t-Other-Key" not in captured.out + captured.err  # the key is never printed


def test_cli_key_file(artifact, tmp_path, monkeypatch):
    monkeypatch.delenv(ma.SIGNING_KEY_ENV, raising=False)
    key_file = tmp_path / "key"
    key_file.write_bytes(KEY + b"\n")
    assert ma.main(["verify", str(artifact), "--signing-key-file", str(key_file)]) == ma.EXIT_OK


def test_cli_bad_arguments(artifact, tmp_path, capsys, monkeypatch):
    monkeypatch.delenv(ma.SIGNING_KEY_ENV, raising=False)
    assert ma.main([]) == ma.EXIT_USAGE
    assert ma.main(["explode", str(artifact)]) == ma.EXIT_USAGE
    assert ma.main(["verify", str(artifact)]) == ma.EXIT_USAGE  # no key anywhere
    assert "AI_TRAIN_MODEL_SIGNING_KEY" in capsys.readouterr().err
    assert ma.main(["verify", str(tmp_path / "missing.zip"), "--signing-key", "k"]) == ma.EXIT_USAGE
    assert ma.main(["--help"]) == ma.EXIT_OK


def test_cli_show(artifact, capsys):
    assert ma.main(["show", str(artifact), "--signing-key", KEY.decode()]) == ma.EXIT_OK
    assert json.loads(capsys.readouterr().out)["chosen_models"]["store A"] == "ets"


def test_cli_subprocess(artifact, tmp_path):
    env = {**os.environ, ma.SIGNING_KEY_ENV: KEY.decode(), "PYTHONPATH": str(REPO)}
    ok = subprocess.run(
        [sys.executable, "-m", "project.model_artifact", "verify", str(artifact)],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert ok.returncode == 0, ok.stderr
    unsigned = _rewrite(artifact, tmp_path / "unsigned.zip", drop=("SIGNATURE",))
    bad = subprocess.run(
        [sys.executable, "-m", "project.model_artifact", "verify", str(unsigned)],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert bad.returncode == 1
    assert bad.stderr.strip() == "INVALID: the artifact is unsigned: it has no SIGNATURE member"
    assert "Traceback" not in bad.stderr
