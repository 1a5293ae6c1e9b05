"""Artifacts independent of our module paths: a zip trained under one import name loads under another.

The package is imported as ``project`` by the command line and the tests, and
as ``odoo.addons.ai_train_model.project`` inside Odoo.  These tests train a
zip with a copy of the package imported as ``odoo_addons_x.project`` (in a
subprocess, where no ``project`` module exists) and load it here, in
``python -m project...`` and on a Dask worker process.
"""

from __future__ import annotations

import io
import json
import os
import pathlib
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import joblib
import numpy as np
import pandas as pd
import pytest

from project import model_artifact as ma
from project.errors import ArtifactError
from project.forecasting.features import FeatureConfig
from project.forecasting.guard import GuardedModel
from project.forecasting.models import make_model
from project.model_state import from_state, to_state

KEY = b"portability-key"
REPO = Path(__file__).resolve().parents[2]
H = 7
CANDIDATES = ("snaive", "ets", "theta", "gbm")


def _sales(n: int = 150) -> pd.DataFrame:
    rng = np.random.default_rng(3)
    ds = pd.date_range("2024-01-01", periods=n, freq="D")
    weekly = np.array([1.0, 1.1, 1.2, 1.1, 1.0, 0.6, 0.5])[ds.dayofweek]
    frames = []
    for store, level in (("A", 100.0), ("B", 40.0)):
        y = level * weekly * rng.lognormal(0, 0.1, n) + 0.1 * np.arange(n)
        frames.append(pd.DataFrame({"date": ds.strftime("%Y-%m-%d"), "store": store, "sales": y.round(2)}))
    return pd.concat(frames, ignore_index=True)


def _predictions(model_object: dict) -> dict:
    """Every refitted member's forecast, per series (plain lists, comparable across processes)."""
    return {
        uid: {name: fitted.predict(H, (80,)).round(9).to_dict("list") for name, fitted in r.fitted.items()}
        for uid, r in sorted(model_object["series"].items())
    }


def _forecast_on_worker(zip_bytes: bytes, key: bytes) -> dict:
    """Runs on a Dask worker process: verify, load and forecast."""
    from project.model_artifact import load_artifact

    return _predictions(load_artifact(zip_bytes, key).model)


@pytest.fixture(scope="module")
def foreign_zip(tmp_path_factory) -> tuple[Path, dict]:
    """A zip trained by a copy of the package imported as ``odoo_addons_x.project``."""
    root = tmp_path_factory.mktemp("foreign")
    pkg = root / "odoo_addons_x"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    shutil.copytree(
        REPO / "project", pkg / "project", ignore=shutil.ignore_patterns("tests", "data", "__pycache__")
    )
    source = root / "sales.csv"
    _sales().to_csv(source, index=False)
    output = root / "model.zip"
    script = textwrap.dedent(
        f"""
        import json, sys
        from pathlib import Path
        import pandas as pd
        from odoo_addons_x.project.training import TrainConfig, train_to_artifact
        config = TrainConfig(horizon={H}, candidates={CANDIDATES!r}, cv_windows=1)
        summary = train_to_artifact(pd.read_csv({str(source)!r}), Path({str(output)!r}), date_col="date",
                                    target_col="sales", series_cols=["store"], config=config,
                                    signing_key={KEY!r})
        model = {{"series": summary.result.by_id()}}
        H = {H}
        {textwrap.indent(_predictions_source(), "        ").strip()}
        assert "project" not in sys.modules, "the copy must not import a top-level project"
        print(json.dumps(_predictions(model)))
        """
    )
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    done = subprocess.run(
        [sys.executable, "-c", script], cwd=root, env=env, capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return output, json.loads(done.stdout.strip().splitlines()[-1])


def _predictions_source() -> str:
    import inspect

    return inspect.getsource(_predictions)


def test_zip_trained_under_another_package_name_loads_here(foreign_zip):
    path, expected = foreign_zip
    loaded = ma.load_artifact(path, KEY)
    assert loaded.metadata["format_version"] == ma.FORMAT_VERSION == 2
    fitted = next(iter(loaded.model["series"]["A"].fitted.values()))
    assert isinstance(fitted, GuardedModel)  # rebuilt as *this* package's class
    assert type(loaded.model["config"]).__module__ == "project.training"
    assert _predictions(loaded.model) == expected


def test_zip_trained_under_another_package_name_updates_with_python_m(foreign_zip, tmp_path):
    path, _ = foreign_zip
    new = _sales(160).groupby("store").tail(10)
    new.to_csv(tmp_path / "new.csv", index=False)
    out = tmp_path / "updated.zip"
    env = {**os.environ, ma.SIGNING_KEY_ENV: KEY.decode(), "PYTHONPATH": str(REPO)}
    done = subprocess.run(
        [sys.executable, "-m", "project.utils.incremental", "--artifact", str(path), "--input",
         str(tmp_path / "new.csv"), "--date-col", "date", "--target-col", "sales", "--series-cols", "store",
         "--output", str(out), "-q"],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    assert ma.load_artifact(out, KEY).metadata["parent_artifact_sha256"] == ma.file_sha256(path)


def test_zip_loads_on_a_dask_worker_process(foreign_zip):
    distributed = pytest.importorskip("distributed")
    path, expected = foreign_zip
    with (
        distributed.LocalCluster(
            n_workers=1, threads_per_worker=1, processes=True, dashboard_address=None
        ) as cluster,
        distributed.Client(cluster) as client,
    ):
        worker_pid = client.run(os.getpid)
        result = client.submit(_forecast_on_worker, path.read_bytes(), KEY).result(timeout=120)
    assert os.getpid() not in worker_pid.values()
    assert result == expected


def test_format_1_zip_is_refused_before_unpickling(tmp_path):
    class Exploit:
        def __init__(self, target: Path) -> None:
            self.target = target

        def __reduce__(self):
            return (pathlib.Path.write_text, (self.target, "pwned"))

    target = tmp_path / "pwned"
    old = ma.build_artifact(
        tmp_path / "v1.zip",
        model=Exploit(target),
        metadata={"format_version": 1, "horizon": 7},
        forecast=pd.DataFrame({"ds": [], "yhat": []}),
        metrics=pd.DataFrame(),
        signing_key=KEY,
        model_card="v1",
    )
    ma.verify_artifact(old, KEY)  # the signature is still checked as before
    with pytest.raises(ArtifactError, match="format version 1.*retrain the model"):
        ma.load_artifact(old, KEY)
    assert not target.exists()


@pytest.mark.parametrize("name", ["naive", "snaive", "ets", "sarimax", "theta", "gbm"])
def test_state_round_trip_forecasts_identically(name):
    rng = np.random.default_rng(0)
    ds = pd.date_range("2023-01-02", periods=150, freq="D")
    y = 100 * np.array([1.0, 1.1, 1.2, 1.1, 1.0, 0.6, 0.5])[ds.dayofweek] * rng.lognormal(0, 0.08, 150)
    guarded = GuardedModel(make_model(name, season_length=7, max_horizon=H), season_length=7).fit(y, ds)
    buffer = io.BytesIO()
    joblib.dump(to_state(guarded), buffer)
    rebuilt = from_state(joblib.load(io.BytesIO(buffer.getvalue())))
    assert type(rebuilt.active_) is type(guarded.active_)
    assert (rebuilt.active_ is rebuilt.model) == (guarded.active_ is guarded.model)
    pd.testing.assert_frame_equal(rebuilt.predict(H), guarded.predict(H))


@pytest.mark.parametrize("name", ["ets", "theta"])
def test_state_round_trip_of_a_yearly_adjusted_model(name):
    from project.forecasting.yearly import YearlyAdjusted

    rng = np.random.default_rng(1)
    ds = pd.date_range("2021-01-01", periods=800, freq="D")
    t = np.arange(800)
    y = 200 + 40 * np.sin(2 * np.pi * t / 365.25) + rng.normal(0, 4, 800)
    guarded = GuardedModel(YearlyAdjusted(make_model(name, season_length=7)), season_length=7).fit(y, ds)
    assert guarded.fallback_reason_ is None
    buffer = io.BytesIO()
    joblib.dump(to_state(guarded), buffer)
    rebuilt = from_state(joblib.load(io.BytesIO(buffer.getvalue())))
    assert type(rebuilt.model) is YearlyAdjusted and rebuilt.model.name == name
    np.testing.assert_array_equal(rebuilt.model.coef_, guarded.model.coef_)
    pd.testing.assert_frame_equal(rebuilt.predict(H), guarded.predict(H))


def test_state_refuses_an_object_of_ours_without_a_state():
    with pytest.raises(TypeError, match="FeatureConfig has no plain-data state"):
        to_state({"features": FeatureConfig()})
