"""A report-only panel of public daily series unlike the sample (issue 9).

Eleven real daily series from two public repositories, in the layout of
``validation_daily.csv`` (``series, domain, ds, y``), for ``accuracy.py
--panel``.  Nothing was ever chosen on it: it is scored once per change, as a
stand-in for panels the project never sees.

* github.com/jbrownlee/Datasets: ``daily-max-temperatures.csv`` and
  ``daily-min-temperatures.csv`` (Melbourne, 1981-1990),
  ``daily-total-female-births.csv`` (California, 1959), ``pollution.csv``
  (Beijing US embassy, hourly 2010-2014: PM2.5, dew point, temperature,
  pressure and cumulated wind speed, averaged per day; hours without a
  reading are left out of the mean);
* github.com/facebook/prophet ``examples/``: ``example_pedestrians_covid.csv``
  (Melbourne pedestrian counts, 2017-2021, through the lockdowns),
  ``example_wp_log_peyton_manning.csv`` and ``example_wp_log_R.csv``
  (Wikipedia page views, stored as logarithms: turned back into views).

Usage (``SRC`` holds the seven files)::

    .venv/bin/python bench/report_panel.py SRC /tmp/report_panel.csv
    .venv/bin/python bench/accuracy.py --panel /tmp/report_panel.csv --series-col series \\
        --date-col ds --target-col y --domain-col domain
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd

SENSORS = {"pm2.5": "pm25", "DEWP": "dew_point", "TEMP": "temperature", "PRES": "pressure", "Iws": "wind"}


def series_frame(series: str, domain: str, ds, y) -> pd.DataFrame:
    dates = pd.DatetimeIndex(pd.to_datetime(ds)).normalize()
    return pd.DataFrame({"series": series, "domain": domain, "ds": dates, "y": np.asarray(y, float)})


def report_panel(src: Path) -> pd.DataFrame:
    """The eleven series, long format, sorted by series and date."""
    frames = []
    for name in ("max", "min"):
        raw = pd.read_csv(src / f"daily-{name}-temperatures.csv")
        frames.append(series_frame(f"melbourne_{name}_temp", "weather station", raw["Date"], raw.iloc[:, 1]))
    raw = pd.read_csv(src / "daily-total-female-births.csv")
    frames.append(series_frame("births_california_1959", "births per day", raw["Date"], raw["Births"]))
    raw = pd.read_csv(src / "pollution.csv")
    raw["ds"] = pd.to_datetime(raw[["year", "month", "day"]])
    daily = raw.groupby("ds")[list(SENSORS)].mean()
    for column, label in SENSORS.items():
        values = daily[column].dropna()
        frames.append(
            series_frame(f"beijing_{label}", "air-quality station", values.index, values.to_numpy())
        )
    raw = pd.read_csv(src / "example_pedestrians_covid.csv")
    frames.append(series_frame("melbourne_pedestrians", "pedestrian counts", raw["ds"], raw["y"]))
    for name in ("peyton_manning", "R"):
        raw = pd.read_csv(src / f"example_wp_log_{name}.csv")
        views = np.round(np.exp(raw["y"].to_numpy(float)))
        frames.append(series_frame(f"wikipedia_{name}", "web traffic", raw["ds"], views))
    return long_panel(frames)


def long_panel(frames: list[pd.DataFrame]) -> pd.DataFrame:
    """``frames`` of :func:`series_frame` as one panel, sorted by series and date, one row per day."""
    panel = pd.concat(frames, ignore_index=True)
    return panel.sort_values(["series", "ds"]).drop_duplicates(["series", "ds"]).reset_index(drop=True)


def write_panel(build: Callable[[Path], pd.DataFrame], description: str, sources: str) -> int:
    """Command line of a panel script: ``SRC OUTPUT``; writes the CSV and prints each series' span."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("src", type=Path, help=f"folder holding the {sources} source files")
    parser.add_argument("output", type=Path, help="long CSV to write")
    args = parser.parse_args()
    panel = build(args.src)
    panel.to_csv(args.output, index=False)
    spans = panel.groupby("series")["ds"].agg(["min", "max", "count"])
    print(spans.to_string())
    return 0


if __name__ == "__main__":
    sys.exit(write_panel(report_panel, __doc__.split("\n\n")[0], "seven"))
