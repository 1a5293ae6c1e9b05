"""Benchmark: validate and store a 1,000,000-row, 6-column CSV vs pandas ``read_csv``.

One run measures both, each in a fresh subprocess so peak RSS is its own
(``ru_maxrss``), and prints the ratios (target <= 1.5x on time and memory).
The import side is the full path of the CLI: sniff, read, map, parse, check,
deduplicate, build the metadata (content SHA-256, series count, date range)
and write the Parquet dataset atomically. Library imports (pandas for the
baseline, pyarrow and the project modules for the import) happen before the
clock starts on both sides; everything else, first-call warm-up included, is
timed. Each side runs in a fresh process; peak RSS is the process's VmHWM.

    .venv/bin/python bench/import.py [--rows 1000000] [--repeat 3]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

CHILD = r"""
import json, sys, time
sys.path.insert(0, {root!r})
import numpy, pandas, pyarrow, pyarrow.csv, pyarrow.parquet  # library imports outside the timing, both sides
if sys.argv[1] != "pandas":
    import pyarrow.compute, project.importar_datos, project.datasets.validation, project.datasets.metadata
mode, path, out = sys.argv[1], sys.argv[2], sys.argv[3]
def hwm():  # this process's own peak (ru_maxrss would include the parent's, kept across exec)
    for line in open("/proc/self/status"):
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
base_rss = hwm()
t0 = time.perf_counter()
c0 = time.process_time()
if mode == "pandas":
    df = pandas.read_csv(path)
    rows = len(df)
else:
    from project.importar_datos import import_file
    r = import_file(path, max_error_rate=0.01)
    assert r.accepted, r.reason
    r.write(out, r.metadata("bench"))
    rows = r.table.num_rows
elapsed = time.perf_counter() - t0
cpu = time.process_time() - c0
print(json.dumps({{"seconds": elapsed, "cpu_seconds": cpu, "peak_rss_mb": hwm() / 1024,
                  "rss_after_imports_mb": base_rss / 1024, "rows": rows}}))
"""


def make_csv(path: Path, rows: int) -> None:
    import numpy as np
    import pandas as pd

    rng = np.random.default_rng(0)
    stores = np.array([f"store-{i:02d}" for i in range(20)])
    products = np.array([f"SKU-{i:04d}" for i in range(500)])
    series = rng.permutation(len(stores) * len(products))
    days = -(-rows // len(series))
    idx = np.arange(rows)
    sid = series[idx % len(series)]
    dates = pd.Timestamp("2020-01-01") + pd.to_timedelta(idx // len(series), unit="D")
    df = pd.DataFrame(
        {
            "date": dates.strftime("%Y-%m-%d"),
            "store": stores[sid // len(products)],
            "product": products[sid % len(products)],
            "sales": rng.gamma(2.0, 10.0, rows).round(2),
            "price": rng.uniform(0.5, 20, rows).round(2),
            "promotion": rng.integers(0, 2, rows),
        }
    )
    assert days > 0
    df.to_csv(path, index=False)


def run(mode: str, csv_path: Path, out: Path) -> dict:
    proc = subprocess.run(
        [sys.executable, "-c", CHILD.format(root=str(ROOT)), mode, str(csv_path), str(out)],
        capture_output=True,
        text=True,
        check=False,
    )
    if proc.returncode:
        raise SystemExit(f"{mode} run failed: {proc.stderr.strip()[-800:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000, help="rows of the generated CSV")
    parser.add_argument("--repeat", type=int, default=3, help="runs per side; the best time is kept")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        csv_path = Path(tmp) / "sales.csv"
        make_csv(csv_path, args.rows)
        size_mb = csv_path.stat().st_size / 2**20
        results: dict[str, list[dict]] = {"pandas": [], "import": []}
        for _ in range(args.repeat):
            for mode in ("pandas", "import"):
                results[mode].append(run(mode, csv_path, Path(tmp) / "out.parquet"))
        best = {m: min(r, key=lambda x: x["seconds"]) for m, r in results.items()}
        peak = {m: min(x["peak_rss_mb"] for x in r) for m, r in results.items()}
        base = {m: min(x["rss_after_imports_mb"] for x in r) for m, r in results.items()}
    t_ratio = best["import"]["seconds"] / best["pandas"]["seconds"]
    m_ratio = peak["import"] / peak["pandas"]
    d_ratio = (peak["import"] - base["import"]) / max(peak["pandas"] - base["pandas"], 1e-9)
    print(f"CSV: {args.rows:,} rows x 6 columns, {size_mb:.1f} MiB; best of {args.repeat}")
    print(
        f"pandas read_csv          : {best['pandas']['seconds']:.2f} s, peak RSS {peak['pandas']:.0f} MiB "
        f"(+{peak['pandas'] - base['pandas']:.0f} MiB over imports)"
    )
    print(
        f"import (validate + store): {best['import']['seconds']:.2f} s, peak RSS {peak['import']:.0f} MiB "
        f"(+{peak['import'] - base['import']:.0f} MiB over imports)"
    )
    print(
        f"CPU seconds (all threads): pandas {best['pandas']['cpu_seconds']:.2f}, "
        f"import {best['import']['cpu_seconds']:.2f}"
    )
    print(f"ratio time {t_ratio:.2f}x, peak RSS {m_ratio:.2f}x, RSS growth {d_ratio:.2f}x (target <= 1.5x)")
    return 0 if t_ratio <= 1.5 and m_ratio <= 1.5 else 1


if __name__ == "__main__":
    sys.exit(main())
