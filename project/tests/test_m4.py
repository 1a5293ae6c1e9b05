"""Reproduce the official M4 Weekly Naive2 scores with our metric code.

M4 Weekly has frequency 1 for its benchmarks, so Naive2 (seasonally adjusted
naive) is the plain last-value forecast, and MASE is scaled by the in-sample
lag-1 error. The organisers report sMAPE 9.161 and MASE 2.777 for Naive2.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from project.utils.evaluacion import mase, owa, smape

M4_DIR = Path(__file__).resolve().parents[3] / "shared" / "data" / "m4"
HORIZON = 13


@pytest.fixture(scope="module")
def weekly():
    train_path, test_path = M4_DIR / "Weekly-train.csv", M4_DIR / "Weekly-test.csv"
    if not (train_path.is_file() and test_path.is_file()):
        pytest.skip(f"M4 Weekly data not found in {M4_DIR} (Weekly-train.csv, Weekly-test.csv)")
    return pd.read_csv(train_path, index_col=0), pd.read_csv(test_path, index_col=0)


def test_m4_weekly_naive2_official_scores(weekly):
    train, test = weekly
    assert len(train) == 359 and test.shape[1] == HORIZON
    smapes, mases = [], []
    for sid in train.index:
        history = train.loc[sid].dropna().to_numpy(float)
        actual = test.loc[sid].to_numpy(float)
        forecast = np.repeat(history[-1], HORIZON)
        smapes.append(smape(actual, forecast))
        mases.append(mase(actual, forecast, history, season_length=1))
    mean_smape, mean_mase = float(np.mean(smapes)), float(np.mean(mases))
    assert round(mean_smape, 3) == pytest.approx(9.161, abs=1e-3)
    assert round(mean_mase, 3) == pytest.approx(2.777, abs=1e-3)
    assert owa(mean_smape, mean_mase, 9.161, 2.777) == pytest.approx(1.0, abs=1e-3)
