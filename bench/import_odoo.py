"""Benchmark: the import wizard vs Odoo's own ``base_import`` on the same sales CSV.

One run, one throw-away PostgreSQL cluster and database (``ai_train_model``
and ``base_import`` installed, no demo data):

* **wizard**: ``ai.dataset.import.wizard`` with dry run off, the whole path a
  user clicks through: upload, ``action_load`` (sniffing, auto-mapping),
  ``action_import`` (read, parse, validate, deduplicate, Parquet attachment,
  dataset record, summary, chatter) and the commit.
* **base_import**: ``base_import.import.execute_import`` loading the same rows
  into a comparable model created for the bench through the ORM: the manual
  model ``x_sales`` with fields ``x_date`` (date), ``x_store``,
  ``x_product`` (char), ``x_sales``, ``x_price`` (float), ``x_promotion``
  (boolean). By default it runs the way Odoo 17's import screen does: batches
  of 2,000 rows (``limit``/``skip``), one transaction per batch; ``--single``
  sends the file in one call instead (its cost grows with the square of the
  row count).

Both sides run as the administrator and commit. The CSV has 6 columns
(date, store, product, sales, price, promotion), unique (store, product, date)
keys. ``--base-rows`` runs base_import at smaller sizes and extrapolates to
``--rows`` with a fitted quadratic (printed as extrapolated), for when
the real run would take too long. Target: wizard >= 50x faster.

    python bench/import_odoo.py [--rows 100000] [--base-rows 10000,20000] [--single]

Exit codes: 0 measured, 1 failed, 77 no Odoo 17 found (nothing measured).
"""

from __future__ import annotations

import argparse
import glob
import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
EXIT_OK, EXIT_FAILED, EXIT_NO_ODOO = 0, 1, 77
TARGET_RATIO = 50.0

#: Runs inside Odoo's Python, with the Odoo source tree first on sys.path.
CHILD = r"""
import base64, json, sys, time
args = json.loads(sys.argv[1])
sys.path.insert(0, args["odoo_root"])
import odoo
from odoo import SUPERUSER_ID, api
from odoo.tools import config

config.parse_config(args["odoo_args"])
odoo.service.server.load_server_wide_modules()
registry = odoo.modules.registry.Registry(args["db"])
FIELDS = ["x_date", "x_store", "x_product", "x_sales", "x_price", "x_promotion"]
COLUMNS = ["date", "store", "product", "sales", "price", "promotion"]


def out(**kw):
    print(json.dumps(kw), flush=True)


def setup():
    with registry.cursor() as cr:
        env = api.Environment(cr, SUPERUSER_ID, {})
        if env["ir.model"].search([("model", "=", "x_sales")]):
            return
        model = env["ir.model"].create({
            "name": "Sales (bench)", "model": "x_sales", "state": "manual",
            "field_id": [
                (0, 0, {"name": name, "ttype": ttype, "field_description": label, "state": "manual"})
                for name, ttype, label in (
                    ("x_date", "date", "Date"),
                    ("x_store", "char", "Store"),
                    ("x_product", "char", "Product"),
                    ("x_sales", "float", "Sales"),
                    ("x_price", "float", "Price"),
                    ("x_promotion", "boolean", "Promotion"),
                )
            ],
        })
        env["ir.model.access"].create({
            "name": "x_sales all", "model_id": model.id, "group_id": env.ref("base.group_user").id,
            "perm_read": True, "perm_write": True, "perm_create": True, "perm_unlink": True,
        })


def run_wizard(data, rows):
    with registry.cursor() as cr:
        env = api.Environment(cr, 2, {})  # the administrator (AI manager)
        t0 = time.perf_counter()
        wizard = env["ai.dataset.import.wizard"].create(
            {"file": base64.b64encode(data), "filename": "sales.csv", "name": f"Bench sales {rows}"}
        )
        wizard.action_load()
        wizard.action_import()
        cr.commit()
        seconds = time.perf_counter() - t0
        dataset = wizard.dataset_id
        assert wizard.accepted and dataset.row_count == rows, (wizard.rejection_reason, dataset.row_count)
        return seconds


def run_base_import(data, rows, single):
    options = {
        "quoting": '"', "separator": ",", "encoding": "utf-8", "has_headers": True,
        "date_format": "%Y-%m-%d", "datetime_format": "", "float_thousand_separator": ",",
        "float_decimal_separator": ".", "advanced": False, "keep_matches": False,
        "name_create_enabled_fields": {}, "import_set_empty_fields": [], "import_skip_records": [],
        "fallback_values": {}, "skip": 0, "limit": 0 if single else 2000,
    }
    with registry.cursor() as cr:
        env = api.Environment(cr, 2, {})
        cr.execute("DELETE FROM x_sales")
        importer = env["base_import.import"].create(
            {"res_model": "x_sales", "file": data, "file_name": "sales.csv", "file_type": "text/csv"}
        )
        cr.commit()
        importer_id = importer.id
    t0 = time.perf_counter()
    imported, batches = 0, 0
    while True:
        # one transaction per call, as each call of the import screen is its own request
        with registry.cursor() as cr:
            env = api.Environment(cr, 2, {"tracking_disable": True})
            result = env["base_import.import"].browse(importer_id).execute_import(
                FIELDS, COLUMNS, dict(options), dryrun=False
            )
            errors = [m for m in result["messages"] if m.get("type") == "error"]
            assert not errors, errors[:3]
            cr.commit()
        imported += len(result["ids"] or [])
        batches += 1
        if single or not result.get("nextrow"):
            break
        options["skip"] = result["nextrow"]
    seconds = time.perf_counter() - t0
    with registry.cursor() as cr:
        cr.execute("SELECT count(*) FROM x_sales")
        stored = cr.fetchone()[0]
    assert imported == rows == stored, (imported, rows, stored)
    return seconds, batches


setup()
# Library imports outside the timing, both sides (a running server has them loaded after its first
# import): the addon's lazily imported core and its libraries; base_import's own modules are loaded
# with the registry.
from odoo.addons.ai_train_model.models.ai_core import core  # noqa: E402

import pandas, pyarrow, pyarrow.parquet  # noqa: E401,E402,F401

for name in ("importar_datos", "dataset_manager", "datasets.validation", "datasets.metadata"):
    core(name)
for path, rows, side in args["runs"]:
    data = open(path, "rb").read()
    if side == "wizard" and args["profile"]:
        import cProfile, pstats  # noqa: E401

        profile = cProfile.Profile()
        seconds = profile.runcall(run_wizard, data, rows)
        pstats.Stats(profile, stream=sys.stderr).sort_stats("cumulative").print_stats(45)
        out(side="wizard", rows=rows, seconds=seconds)
    elif side == "wizard":
        out(side="wizard", rows=rows, seconds=run_wizard(data, rows))
    else:
        seconds, batches = run_base_import(data, rows, args["single"])
        out(side="base_import", rows=rows, seconds=seconds, batches=batches)
"""


def make_csv(path: Path, rows: int) -> None:
    """``rows`` sales rows, unique (store, product, date), dates in the past."""
    import datetime as dt

    rng = random.Random(0)
    stores, products = 10, 10
    per_series = -(-rows // (stores * products))
    start = dt.date(2020, 1, 1)
    dates = [(start + dt.timedelta(days=d)).isoformat() for d in range(per_series)]
    written = 0
    with open(path, "w", encoding="utf-8", newline="") as handle:
        handle.write("date,store,product,sales,price,promotion\n")
        for store in range(stores):
            for product in range(products):
                for day in dates:
                    if written == rows:
                        return
                    sales = rng.randint(0, 500)
                    handle.write(
                        f"{day},Store {store},SKU-{product:04d},{sales}.{rng.randint(0, 99):02d},"
                        f"{rng.randint(100, 9999) / 100:.2f},{rng.randint(0, 1)}\n"
                    )
                    written += 1


def find_odoo(odoo_bin: str | None) -> tuple[Path, str] | None:
    """The Odoo 17 source root and the Python that runs it, or None."""
    candidates = [odoo_bin] if odoo_bin else []
    candidates += [shutil.which("odoo-bin") or ""]
    candidates += sorted(glob.glob("/opt/odoo*/odoo-bin")) + sorted(glob.glob("/opt/odoo*/odoo/odoo-bin"))
    for candidate in filter(None, candidates):
        if not os.path.isfile(candidate):
            continue
        root = Path(candidate).resolve().parent
        for python in (os.environ.get("ODOO_PYTHON"), root / "venv/bin/python", root / ".venv/bin/python"):
            if python and os.path.exists(python):
                break
        else:
            python = "python3"
        probe = subprocess.run(
            [str(python), "-c", "import odoo.release as r; print(r.version_info[0])"],
            cwd=root,
            capture_output=True,
            text=True,
        )
        if probe.stdout.strip() == "17":
            return root, str(python)
    return None


class Postgres:
    """A throw-away cluster on 127.0.0.1 (as .ci/odoo_tests.sh starts one)."""

    def __init__(self, work: Path):
        bins = sorted(glob.glob("/usr/lib/postgresql/*/bin"), key=lambda p: int(Path(p).parent.name))
        if not bins:
            raise RuntimeError("PostgreSQL server binaries not found (apt-get install postgresql)")
        self.bin = Path(bins[-1])
        self.work = work
        self.data = work / "pgdata"
        self.port = random.randint(20000, 40000)
        self.as_pg = []
        if os.geteuid() == 0:
            shutil.chown(work, "postgres")
            self.as_pg = ["runuser", "-u", "postgres", "--"]

    def start(self) -> None:
        os.chmod(self.work, 0o755)
        subprocess.run(
            [
                *self.as_pg,
                str(self.bin / "initdb"),
                "-D",
                str(self.data),
                "-U",
                "odoo",
                "--auth=trust",
                "-E",
                "UTF8",
            ],
            check=True,
            stdout=subprocess.DEVNULL,
        )
        subprocess.run(
            [
                *self.as_pg,
                str(self.bin / "pg_ctl"),
                "-D",
                str(self.data),
                "-l",
                str(self.work / "pg.log"),
                "-w",
                "-o",
                f"-h 127.0.0.1 -p {self.port} -k {self.work}",
                "start",
            ],
            check=True,
            stdout=subprocess.DEVNULL,
        )

    def stop(self) -> None:
        subprocess.run(
            [*self.as_pg, str(self.bin / "pg_ctl"), "-D", str(self.data), "-m", "immediate", "stop"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )


def install_database(
    work: Path, pg: Postgres, odoo_root: Path, python: str, db: str, modules: str
) -> list[str] | None:
    """Start ``pg``, install ``modules`` in a fresh database ``db`` without demo
    data; return the Odoo command-line options that reach it, or None (install
    log printed) when the install failed. Addons are linked under ``work``."""
    pg.start()
    addons = work / "addons"
    addons.mkdir()
    (addons / "ai_train_model").symlink_to(ROOT)
    odoo_args = [
        f"--addons-path={odoo_root / 'addons'},{addons}",
        "--db_host=127.0.0.1",
        f"--db_port={pg.port}",
        "--db_user=odoo",
        f"--data-dir={work / 'filestore'}",
        "--without-demo=all",
        "--log-level=warn",
    ]
    print(f"Odoo 17 at {odoo_root}; installing {modules} in a throw-away database")
    install = subprocess.run(
        [
            python,
            "odoo-bin",
            *odoo_args,
            "-d",
            db,
            "-i",
            modules,
            "--stop-after-init",
            "--http-port",
            str(pg.port + 1),
            "--http-interface=127.0.0.1",
        ],
        cwd=odoo_root,
        capture_output=True,
        text=True,
    )
    if install.returncode:
        print(install.stdout[-3000:], install.stderr[-3000:], file=sys.stderr)
        return None
    return odoo_args


def extrapolate(points: list[tuple[int, float]], n: int) -> float:
    """Seconds at ``n`` rows from the measured ``(rows, seconds)`` points.

    Three points or more: least-squares ``c + a*n + b*n**2``. Two points:
    ``a*n + b*n**2`` through both. A negative quadratic term (fixed costs
    dominate small sizes) falls back to linear scaling of the largest point,
    which under-estimates a quadratic cost: the ratio printed is then a floor.
    """
    import numpy as np

    xs = np.array([x for x, _ in points], dtype=float)
    ys = np.array([y for _, y in points], dtype=float)
    columns = [xs, xs**2] if len(points) < 3 else [np.ones_like(xs), xs, xs**2]
    coef = np.linalg.lstsq(np.column_stack(columns), ys, rcond=None)[0]
    if coef[-1] < 0 or len(points) < 2:
        return float(ys[-1] * n / xs[-1])
    terms = [n, n**2] if len(points) < 3 else [1.0, n, n**2]
    return float(np.dot(coef, terms))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--rows", type=int, default=100_000, metavar="N", help="rows of the CSV (default 100000)"
    )
    parser.add_argument(
        "--base-rows",
        default="",
        metavar="N,N",
        help="run base_import at these sizes and extrapolate to --rows (default: run it at --rows for real)",
    )
    parser.add_argument(
        "--single", action="store_true", help="base_import in one call instead of 2,000-row batches"
    )
    parser.add_argument("--odoo-bin", metavar="PATH", help="odoo-bin of an Odoo 17 (default: searched)")
    parser.add_argument(
        "--profile", action="store_true", help="print a cProfile of the wizard side on stderr"
    )
    parser.add_argument("--keep", action="store_true", help="keep the work folder (database files, logs)")
    args = parser.parse_args(argv)

    found = find_odoo(args.odoo_bin)
    if not found:
        print("no Odoo 17 found: nothing measured", file=sys.stderr)
        return EXIT_NO_ODOO
    odoo_root, python = found
    base_sizes = [int(x) for x in args.base_rows.split(",") if x.strip()] or [args.rows]

    work = Path(tempfile.mkdtemp(prefix="bench_import_odoo_"))
    pg = Postgres(work)
    try:
        db = "bench_import"
        odoo_args = install_database(work, pg, odoo_root, python, db, "ai_train_model,base_import")
        if odoo_args is None:
            return EXIT_FAILED

        runs = []
        for size in sorted(set(base_sizes) | {args.rows}):
            path = work / f"sales_{size}.csv"
            make_csv(path, size)
            if size in base_sizes:
                runs.append((str(path), size, "base_import"))
        runs.append((str(work / f"sales_{args.rows}.csv"), args.rows, "wizard"))
        child = {
            "odoo_root": str(odoo_root),
            "odoo_args": odoo_args,
            "db": db,
            "runs": runs,
            "single": args.single,
            "profile": args.profile,
        }
        proc = subprocess.run(
            [python, "-c", CHILD, json.dumps(child)], cwd=odoo_root, capture_output=True, text=True
        )
        results = [json.loads(line) for line in proc.stdout.splitlines() if line.startswith("{")]
        if args.profile:
            print(proc.stderr, file=sys.stderr)
        if proc.returncode:
            print(proc.stdout[-3000:], proc.stderr[-5000:], file=sys.stderr)
            return EXIT_FAILED
    finally:
        pg.stop()
        if args.keep:
            print(f"work folder kept: {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)

    mode = "one call" if args.single else "2,000-row batches, one transaction each (the import screen's way)"
    print(f"\nCSV: {args.rows:,} rows x 6 columns (date, store, product, sales, price, promotion)")
    wizard = next(r for r in results if r["side"] == "wizard")
    base = [r for r in results if r["side"] == "base_import"]
    for r in base:
        print(f"base_import ({mode}) {r['rows']:>9,} rows: {r['seconds']:8.2f} s  ({r['batches']} call(s))")
    measured = {r["rows"]: r["seconds"] for r in base}
    if args.rows in measured:
        base_seconds, label = measured[args.rows], "measured"
    else:
        base_seconds = extrapolate(sorted(measured.items()), args.rows)
        label = f"EXTRAPOLATED from {', '.join(f'{n:,}' for n in sorted(measured))} rows (quadratic fit)"
    print(f"base_import {args.rows:>9,} rows: {base_seconds:8.2f} s  [{label}]")
    print(
        f"wizard      {args.rows:>9,} rows: {wizard['seconds']:8.2f} s"
        "  [measured: upload, load, import, commit]"
    )
    ratio = base_seconds / wizard["seconds"]
    print(
        f"ratio base_import / wizard: {ratio:.1f}x"
        f"  (target >= {TARGET_RATIO:.0f}x: {'met' if ratio >= TARGET_RATIO else 'NOT met'})"
    )
    return EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
