"""A second report-only panel: store transactions, bike rentals, highway traffic (issue 9).

Twelve real daily series of three public data sets, in the layout of
``validation_daily.csv`` (``series, domain, ds, y``), for ``accuracy.py
--panel``.  Like ``report_panel.py`` it is only ever scored, never chosen on:
a stand-in for the panels the team measures and the project never sees,
closer to the stores our users run.

* Corporación Favorita ``transactions.csv`` (Kaggle "Store Sales - Time
  Series Forecasting"; copy in github.com/alexbabits/store-sales-forecasting-model):
  tickets per day of the stores numbered 1, 7, 13, ... 49 (every sixth, fixed
  before any run), 2013 to August 2017, Christmas closed (no row: zero);
* UCI Bike Sharing ``day.csv`` (Capital Bikeshare, Washington, 2011-2012;
  copy in github.com/Rulai17/Bike-Sharing-Dataset): casual and registered
  rentals per day;
* UCI Metro Interstate Traffic Volume (I-94 westbound, Minneapolis; copy in
  github.com/dhyanshah/TimeSeries): vehicles per day, 24 x the mean of the
  day's hourly counts on days with at least 20 hours, from 28 April 2016 (the
  sensor's earlier years have gaps of weeks to months); the few later days
  without a count stay absent.

Usage (``SRC`` holds ``transactions.csv``, ``day.csv`` and
``Metro_Interstate_Traffic_Volume.csv``)::

    .venv/bin/python bench/retail_panel.py SRC /tmp/retail_panel.csv
    .venv/bin/python bench/accuracy.py --panel /tmp/retail_panel.csv --series-col series \\
        --date-col ds --target-col y --domain-col domain
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent))

from report_panel import long_panel, series_frame, write_panel  # noqa: E402

#: Favorita stores in the panel: every sixth store number, from the first.
STORES = tuple(range(1, 55, 6))
#: Fewest hourly counts a day of the traffic sensor needs to be kept.
MIN_HOURS = 20
#: First day of the traffic sensor's last stretch without long gaps.
TRAFFIC_FROM = "2016-04-28"


def _stores(path: Path) -> list[pd.DataFrame]:
    raw = pd.read_csv(path)
    iso = str(raw["date"].iloc[0])[4:5] == "-"  # Kaggle's file: 2013-01-01; the copy: 1/1/2013
    raw["ds"] = pd.to_datetime(raw["date"], format="ISO8601" if iso else "%m/%d/%Y")
    frames = []
    for store in STORES:
        part = raw[raw["store_nbr"] == store]
        frames.append(
            series_frame(
                f"favorita_store_{store:02d}", "store tickets per day", part["ds"], part["transactions"]
            )
        )
    return frames


def _bike_rentals(path: Path) -> list[pd.DataFrame]:
    raw = pd.read_csv(path)
    dates = raw["dteday"] if "dteday" in raw else raw["dateday"]
    return [
        series_frame(f"bike_rentals_{kind}", "bike rentals per day", dates, raw[kind])
        for kind in ("casual", "registered")
    ]


def _traffic(path: Path) -> pd.DataFrame:
    raw = pd.read_csv(path)
    raw["t"] = pd.to_datetime(raw["date_time"], format="mixed")
    hourly = raw.drop_duplicates("t")
    daily = hourly.groupby(hourly["t"].dt.normalize())["traffic_volume"].agg(["mean", "size"])
    daily = daily[(daily["size"] >= MIN_HOURS) & (daily.index >= pd.Timestamp(TRAFFIC_FROM))]
    return series_frame(
        "i94_westbound_vehicles", "highway traffic sensor", daily.index, np.round(24 * daily["mean"])
    )


def retail_panel(src: Path) -> pd.DataFrame:
    """The twelve series, long format, sorted by series and date."""
    frames = [
        *_stores(src / "transactions.csv"),
        *_bike_rentals(src / "day.csv"),
        _traffic(src / "Metro_Interstate_Traffic_Volume.csv"),
    ]
    return long_panel(frames)


if __name__ == "__main__":
    sys.exit(write_panel(retail_panel, __doc__.split("\n\n")[0], "three"))
