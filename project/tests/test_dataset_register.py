"""Registration against a real S3-compatible server (moto in server mode) on 127.0.0.1."""

from __future__ import annotations

import csv
import hashlib
import io
import zipfile

import boto3
import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

from project.dataset_manager import main
from project.datasets.metadata import build_metadata, file_sha256, write_dataset
from project.datasets.registry import register

SECRET = "s3cr3t-value-never-printed"


@pytest.fixture(scope="module")
def s3_endpoint():
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()


@pytest.fixture()
def s3(s3_endpoint, monkeypatch, request):
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIATESTKEY")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", SECRET)
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    client = boto3.client("s3", endpoint_url=s3_endpoint, region_name="us-east-1")
    bucket = f"bkt-{request.node.name.replace('_', '-')[:40].lower()}"
    client.create_bucket(Bucket=bucket)
    return client, bucket, s3_endpoint


def dataset(tmp_path, rows=30, version=1, name="ventas"):
    df = pd.DataFrame(
        {
            "date": pd.date_range("2024-01-01", periods=rows),
            "store": "A",
            "sales": np.arange(rows, dtype=float),
        }
    )
    table = pa.Table.from_pandas(df, preserve_index=False)
    path = tmp_path / f"{name}_v{version}.parquet"
    write_dataset(table, path, build_metadata(table, name=name, version=version, key_cols=["store"]))
    return path


def registry_rows(client, bucket, prefix="datasets"):
    body = client.get_object(Bucket=bucket, Key=f"{prefix}/datasets.csv")["Body"].read().decode()
    return list(csv.DictReader(io.StringIO(body)))


def test_register_uploads_zip_and_appends_registry_once(s3, tmp_path, capsys):
    client, bucket, endpoint = s3
    path = dataset(tmp_path)
    assert main(["register", str(path), "--bucket", bucket, "--endpoint-url", endpoint]) == 0
    out = capsys.readouterr().out
    assert "registered ventas v1" in out and SECRET not in out
    key = "datasets/ventas/v1/ventas_v1.zip"
    blob = client.get_object(Bucket=bucket, Key=key)["Body"].read()
    with zipfile.ZipFile(io.BytesIO(blob)) as zf:
        assert sorted(zf.namelist()) == ["SHA256SUMS", "dataset.parquet", "metadata.json"]
        sums = dict(line.split("  ")[::-1] for line in zf.read("SHA256SUMS").decode().splitlines())
        assert sums["dataset.parquet"] == hashlib.sha256(zf.read("dataset.parquet")).hexdigest()
        assert sums["metadata.json"] == hashlib.sha256(zf.read("metadata.json")).hexdigest()
    rows = registry_rows(client, bucket)
    assert len(rows) == 1
    assert rows[0]["name"] == "ventas" and rows[0]["version"] == "1" and rows[0]["key"] == key
    assert rows[0]["sha256"] == file_sha256(path) and rows[0]["rows"] == "30"
    assert rows[0]["date_min"] == "2024-01-01" and rows[0]["date_max"] == "2024-01-30"

    assert main(["register", str(path), "--bucket", bucket, "--endpoint-url", endpoint]) == 0
    assert "already registered" in capsys.readouterr().out
    assert len(registry_rows(client, bucket)) == 1

    v2 = dataset(tmp_path, rows=40, version=2)
    assert main(["register", str(v2), "--bucket", bucket, "--endpoint-url", endpoint]) == 0
    assert [r["version"] for r in registry_rows(client, bucket)] == ["1", "2"]


def test_same_version_with_other_content_fails(s3, tmp_path, capsys):
    client, bucket, endpoint = s3
    assert main(["register", str(dataset(tmp_path)), "--bucket", bucket, "--endpoint-url", endpoint]) == 0
    other = tmp_path / "other"
    other.mkdir()
    assert (
        main(["register", str(dataset(other, rows=5)), "--bucket", bucket, "--endpoint-url", endpoint]) == 1
    )
    assert "already registered with another checksum" in capsys.readouterr().err
    assert len(registry_rows(client, bucket)) == 1


def test_dry_run_writes_nothing(s3, tmp_path, capsys):
    client, bucket, endpoint = s3
    path = dataset(tmp_path)
    assert (
        main(
            [
                "register",
                str(path),
                "--bucket",
                bucket,
                "--endpoint-url",
                endpoint,
                "--prefix",
                "p/q",
                "--dry-run",
            ]
        )
        == 0
    )
    out = capsys.readouterr().out
    assert "dry run: would upload ventas v1" in out and "s3://" + bucket + "/p/q/datasets.csv" in out
    assert client.list_objects_v2(Bucket=bucket).get("KeyCount", 0) == 0


def test_large_dataset_goes_up_in_parts(s3, tmp_path):
    client, bucket, endpoint = s3
    rng = np.random.default_rng(1)
    df = pd.DataFrame(
        {
            "date": pd.Timestamp("2024-01-01"),
            "store": np.arange(900_000).astype(str),
            "sales": rng.random(900_000),
        }
    )
    table = pa.Table.from_pandas(df, preserve_index=False)
    path = tmp_path / "big.parquet"
    write_dataset(table, path, build_metadata(table, name="big", key_cols=["store"]))
    assert path.stat().st_size > 5 << 20
    result = register(path, bucket, endpoint_url=endpoint, chunk_bytes=5 << 20)
    assert result["action"] == "registered"
    head = client.head_object(Bucket=bucket, Key=result["key"])
    assert head["ETag"].strip('"').endswith(f"-{-(-result['zip_bytes'] // (5 << 20))}")  # multipart ETag
    assert head["Metadata"]["sha256"] == result["sha256"]


def test_missing_bucket_fails_with_reason_not_secret(s3, tmp_path, capsys):
    _client, _bucket, endpoint = s3
    path = dataset(tmp_path)
    assert main(["register", str(path), "--bucket", "no-such-bucket", "--endpoint-url", endpoint]) == 1
    err = capsys.readouterr().err
    assert err.startswith("failed: S3 refused: NoSuchBucket") and SECRET not in err and "Traceback" not in err


def test_unreachable_endpoint_and_bad_arguments(s3, tmp_path, capsys):
    path = dataset(tmp_path)
    assert main(["register", str(path), "--bucket", "bkt", "--endpoint-url", "http://127.0.0.1:9"]) == 1
    assert "failed: S3 unreachable" in capsys.readouterr().err
    assert main(["register", str(tmp_path / "nope.parquet"), "--bucket", "bkt"]) == 2
    assert main(["register", str(path), "--bucket", "Bad Bucket!"]) == 2
    assert "not a valid S3 bucket name" in capsys.readouterr().err


def test_register_with_a_given_client(s3, tmp_path):
    client, bucket, endpoint = s3
    own = boto3.client(
        "s3",
        endpoint_url=endpoint,
        region_name="us-east-1",
        aws_access_key_id="AKIAOTHER",
        aws_secret_access_key="other-secret",
    )
    from project.dataset_manager import register as dm_register

    result = dm_register(dataset(tmp_path), bucket, client=own)
    assert result["action"] == "registered" and len(registry_rows(client, bucket)) == 1
