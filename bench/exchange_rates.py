"""A choice set of daily random walks: the LSTNet exchange rates as a long CSV.

``exchange_rate.txt.gz`` of github.com/laiguokun/multivariate-time-series-data
holds eight daily exchange rates (AUD, GBP, CAD, CHF, CNY, JPY, NZD, SGD;
1990-2016, 7,588 rows, no dates).  Each currency is cut into ``--epochs``
non-overlapping spells of ``--days`` rows counted back from the end, each a
series of its own, dated from 1990-01-01 one day per row.  The output is
laid out like ``validation_daily.csv`` (``series, domain, ds, y``), so
``replay_daily.py --build`` and ``accuracy.py --panel`` read it::

    .venv/bin/python bench/exchange_rates.py exchange_rate.txt.gz /tmp/xr.csv
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import pandas as pd

CURRENCIES = ("AUD", "GBP", "CAD", "CHF", "CNY", "JPY", "NZD", "SGD")


def exchange_panel(rates: pd.DataFrame, epochs: int = 5, days: int = 1400) -> pd.DataFrame:
    """One series per currency and spell, in long format."""
    ds = pd.date_range("1990-01-01", periods=len(rates), freq="D")
    frames = []
    for epoch in range(epochs):
        end = len(rates) - epoch * days
        if end < days:
            break
        for column, name in zip(rates.columns, CURRENCIES):
            frames.append(
                pd.DataFrame(
                    {
                        "series": f"xr_{name}_e{epoch}",
                        "domain": "exchange rates",
                        "ds": ds[end - days : end],
                        "y": rates[column].to_numpy()[end - days : end],
                    }
                )
            )
    return pd.concat(frames, ignore_index=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("source", type=Path, help="exchange_rate.txt(.gz)")
    parser.add_argument("output", type=Path, help="long CSV to write")
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--days", type=int, default=1400)
    args = parser.parse_args()
    rates = pd.read_csv(args.source, header=None)
    panel = exchange_panel(rates, args.epochs, args.days)
    panel.to_csv(args.output, index=False)
    print(f"{panel['series'].nunique()} series x {args.days} days -> {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
