"""Reading of tabular input files (CSV or Parquet) for training; preparation is re-exported.

:func:`read_table` reads what users upload (CSV exports with a local
delimiter and encoding, Parquet files).  Preparation of the daily long-format
series lives in :mod:`project.preparation` (``prepare``, the missing-day
policy, calendar and outliers) and date parsing in
:mod:`project.datasets.parsing`; both are re-exported here, the seed's entry.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from ..datasets.parsing import parse_dates
from ..datasets.reader import read_frame
from ..preparation import MISSING_POLICIES, PreparedData, prepare, series_key

__all__ = [
    "MISSING_POLICIES",
    "PreparedData",
    "read_table",
    "parse_dates",
    "prepare",
    "series_key",
]


def read_table(path: str | Path) -> pd.DataFrame:
    """Read a CSV or Parquet file into a DataFrame (training input).

    A thin name over :func:`project.datasets.reader.read_frame`, the reading
    path of imports with its size and resource limits: Parquet is recognised
    by its magic bytes, CSV text may be UTF-8 (with or without BOM), UTF-16
    or Windows-1252/Latin-1 and the delimiter is sniffed among
    ``, ; TAB |``.  Raises :class:`InputError` for a missing, empty, oversized
    or unreadable file.
    """
    return read_frame(path)
