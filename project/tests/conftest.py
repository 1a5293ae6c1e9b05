"""Shared fixtures for the ``project`` test-suite."""

from pathlib import Path

import pandas as pd
import pytest

DATA_DIR = Path(__file__).resolve().parents[1] / "data"
SHARED_DIR = Path(__file__).resolve().parents[3] / "shared" / "data"


@pytest.fixture(scope="session")
def wiki_df() -> pd.DataFrame:
    """The embedded Wikipedia pageviews sample, long format ``page,date,pageviews``."""
    return pd.read_csv(DATA_DIR / "wikipedia_pageviews_daily.csv")


@pytest.fixture(scope="session")
def sa() -> dict:
    """A throwaway service account (a fresh RSA key) known to the GA4 fakes."""
    from project.tests.ga4_fake import make_service_account

    return make_service_account()
