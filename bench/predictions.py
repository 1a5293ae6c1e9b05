"""Benchmark: stored predictions inside Odoo (bulk upsert, the predictions API, the zip download).

One run, one throw-away PostgreSQL cluster and database (``ai_train_model``
installed, no demo data; the set-up of ``bench/import_odoo.py``), then a real
Odoo HTTP server (one process, ``--workers 0``) on 127.0.0.1:

* **upsert**: the same ``--rows`` predictions (1,000 series x 100 days,
  horizons 1-28) written by ORM ``create`` on ``ai.prediction`` (engine
  context, tracking off) and by the bulk path ``ai.prediction._upsert_rows``
  (``COPY`` into a temporary table, one ``INSERT ... SELECT ... ON CONFLICT``),
  each into its own model version so neither side meets the other's rows,
  each timed with its commit; ``--rounds`` alternating rounds (ORM, bulk,
  ORM, bulk, ...: both sides meet tables of the same sizes), medians
  compared, every round printed. Then the bulk rows are upserted again: the
  number of rows whose PostgreSQL ``xmin`` changed must be 0.
  Target: bulk >= 4.5x faster than ORM ``create``.
* **API**: ``GET /ai_train_model/api/v1/predictions?target=..&limit=10000``
  with an API key of the administrator (HTTP, key check, rate limiter,
  JSON), client-side wall time, median of ``--repeat`` calls after one
  warm-up, against ``search_read`` of the same domain, fields, order and
  limit inside Odoo (cache cleared before each call; median). Also printed,
  not a target: ``search_read`` through JSON-RPC over HTTP.
  Target: API <= 2x in-process ``search_read``.
* **download**: a ``--artifact-mb`` MB incompressible artifact fetched by a
  logged-in administrator from ``/ai_train_model/model/<id>/download`` after
  a warm-up download of a small one; growth of the server's peak RSS
  (``VmHWM``, reset through ``/proc/<pid>/clear_refs``) against the file size.
  Target: growth < 2x the file size.

    python bench/predictions.py [--rows 100000] [--api-rows 10000] [--artifact-mb 50] [--repeat 5]
                                [--rounds 3] [--only-upsert]

Exit codes: 0 measured, 1 failed, 77 no Odoo 17 found (nothing measured).
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import requests
from import_odoo import EXIT_FAILED, EXIT_NO_ODOO, EXIT_OK, Postgres, find_odoo, install_database

UPSERT_TARGET, API_TARGET, MEMORY_TARGET = 4.5, 2.0, 2.0

#: Runs inside Odoo's Python, with the Odoo source tree first on sys.path.
CHILD = r"""
import base64, datetime, json, os, statistics, sys, time
args = json.loads(sys.argv[1])
sys.path.insert(0, args["odoo_root"])
import odoo
from odoo import SUPERUSER_ID, api
from odoo.tools import config

config.parse_config(args["odoo_args"])
odoo.service.server.load_server_wide_modules()
registry = odoo.modules.registry.Registry(args["db"])
from odoo.addons.ai_train_model.controllers.prediction_api_controller import COLUMNS, ORDER
from odoo.addons.ai_train_model.models.ai_prediction import PREDICTION_COLUMNS
from odoo.addons.ai_train_model.tests.common import handmade_version, make_dataset

ADMIN = 2


def out(**kw):
    print(json.dumps(kw), flush=True)


def rows_for(version, n):
    start = datetime.date(2026, 1, 1)
    days = 100
    for i in range(n):
        series, day = divmod(i, days)
        yhat = 100.0 + (series % 17) + day / 10
        yield (
            version, f"store {series:04d} | sku {series % 97:03d}", f"Store {series:04d}",
            start + datetime.timedelta(days=day), 1 + day % 28, "forecast",
            yhat, yhat - 5, yhat + 5, yhat - 9, yhat + 9,
        )


with registry.cursor() as cr:
    env = api.Environment(cr, SUPERUSER_ID, {"tracking_disable": True})
    dataset = make_dataset(env)
    target = env["ai.forecast.target"].create(
        {"name": "Bench", "dataset_id": dataset.id, "target_col": "pageviews", "series_cols": "page"}
    )
    job = env["ai.training.job"].create({"dataset_id": dataset.id, "candidates": "naive"})
    rounds = args["rounds"]
    orm_versions = [handmade_version(env, job) for _ in range(rounds)]
    bulk_versions = [handmade_version(env, job) for _ in range(rounds)]
    big_version = handmade_version(env, job)
    versions = env["ai.model.version"].browse([v.id for v in orm_versions + bulk_versions + [big_version]])
    versions.write({"target_id": target.id})
    bulk_version = bulk_versions[-1]
    target._engine().write({"champion_id": bulk_version.id})  # the served version, as the registry sets it
    cr.commit()

    Prediction = env["ai.prediction"]
    n = args["rows"]
    from odoo.addons.ai_train_model.models.ai_bulk_mixin import _copy_csv

    def orm_round(version):
        # ORM create: the same values as dicts, built before the clock starts.
        vals = [dict(zip(PREDICTION_COLUMNS, row)) for row in rows_for(version.id, n)]
        t0 = time.perf_counter()
        for start in range(0, n, 10_000):  # batches keep the record cache bounded
            Prediction._engine().create(vals[start : start + 10_000])
            env.flush_all()
            env.invalidate_all()
        cr.commit()
        seconds = time.perf_counter() - t0
        env.invalidate_all()
        return seconds

    def bulk_round(version):
        rows = list(rows_for(version.id, n))
        # For reading the figure: the Python share of the bulk path (the COPY's CSV, column by column).
        t0 = time.perf_counter()
        columns = list(zip(*rows))
        kinds = [Prediction._fields[name].type for name in PREDICTION_COLUMNS]
        _copy_csv(PREDICTION_COLUMNS, columns, kinds)
        csv = time.perf_counter() - t0
        del columns
        t0 = time.perf_counter()
        written = Prediction._upsert_rows(rows)
        cr.commit()
        return time.perf_counter() - t0, csv, written, rows

    # Rounds alternate (ORM, bulk, ORM, bulk, ...): each side meets a table of the same sizes.
    orm_times, bulk_times, csv_times = [], [], []
    for orm_version, version in zip(orm_versions, bulk_versions):
        orm_times.append(orm_round(orm_version))
        seconds, csv, written, rows = bulk_round(version)
        bulk_times.append(seconds)
        csv_times.append(csv)

    snapshot = "SELECT id, xmin::text FROM ai_prediction WHERE model_version_id = %s"
    cr.execute(snapshot, [bulk_version.id])
    before = dict(cr.fetchall())
    t0 = time.perf_counter()
    rewritten = Prediction._upsert_rows(rows)
    cr.commit()
    again_seconds = time.perf_counter() - t0
    cr.execute(snapshot, [bulk_version.id])
    after = dict(cr.fetchall())
    changed = sum(1 for key, xmin in after.items() if before.get(key) != xmin)
    out(side="upsert", rows=n, orm=orm_times, bulk=bulk_times, csv=statistics.median(csv_times),
        written=written, again=again_seconds, rewritten=rewritten, changed=changed, stored=len(after))
    if args["only_upsert"]:
        sys.exit(0)

    # search_read of the rows the API serves, as the administrator (an AI manager).
    admin_env = api.Environment(cr, ADMIN, {})
    domain = [("target_id", "=", target.id), ("model_version_id", "=", bulk_version.id),
              ("prediction_type", "=", "forecast")]
    fields_ = [c for c in COLUMNS if c != "id"]
    timings = []
    for _ in range(args["repeat"] + 1):
        admin_env.invalidate_all()
        t0 = time.perf_counter()
        records = admin_env["ai.prediction"].search_read(domain, fields_, order=ORDER, limit=args["api_rows"])
        timings.append(time.perf_counter() - t0)
    ids = [r["id"] for r in records]

    key = env["res.users.apikeys"].with_user(ADMIN)._generate(None, "bench")
    # A real signed artifact (the route verifies it) carrying an incompressible payload of the size asked.
    import hashlib, tempfile
    import pandas as pd
    from odoo.addons.ai_train_model.project import model_artifact
    with tempfile.TemporaryDirectory() as tmp:
        path = model_artifact.build_artifact(
            os.path.join(tmp, "model.zip"), model={"kind": "bench"}, metadata={"horizon": 1},
            forecast=pd.DataFrame({"unique_id": ["a"], "ds": ["2026-01-01"], "horizon": [1], "yhat": [1.0]}),
            metrics=pd.DataFrame(
                {"unique_id": ["a"], "model": ["naive"], "bucket": ["D+1"], "metric": ["mase"], "value": [1]}
            ),
            signing_key=big_version._get_signing_key(),
            report_png=os.urandom(args["artifact_mb"] * 1024 * 1024),
            model_card="bench artifact",
        )
        raw = path.read_bytes()
    big_version._engine().write({"artifact_file": base64.b64encode(raw), "artifact_size": len(raw),
                                 "artifact_sha256": hashlib.sha256(raw).hexdigest()})
    del raw
    cr.commit()
    out(side="setup", target=target.id, key=key, small_version=bulk_version.id, big_version=big_version.id,
        search_read=statistics.median(timings[1:]), rows=len(ids), first_id=ids[0], last_id=ids[-1],
        domain=domain, fields=fields_, order=ORDER)
"""


def rss_kib(pid: int, field: str) -> int:
    with open(f"/proc/{pid}/status") as handle:
        for line in handle:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise RuntimeError(f"{field} not in /proc/{pid}/status")


def reset_peak(pid: int) -> int:
    """Reset the process's peak RSS (``VmHWM``) to its current RSS; return that RSS in KiB."""
    with open(f"/proc/{pid}/clear_refs", "w") as handle:
        handle.write("5")
    return rss_kib(pid, "VmRSS")


def start_server(python: str, odoo_root: Path, odoo_args: list[str], db: str, port: int) -> subprocess.Popen:
    server = subprocess.Popen(
        [
            python,
            "odoo-bin",
            *odoo_args,
            "-d",
            db,
            "--db-filter",
            f"^{db}$",
            "--workers=0",
            "--max-cron-threads=0",
            "--http-interface=127.0.0.1",
            f"--http-port={port}",
        ],
        cwd=odoo_root,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise RuntimeError(f"Odoo server exited: {server.stderr.read()[-3000:]}")
        try:
            if requests.get(f"http://127.0.0.1:{port}/web/login", timeout=5).status_code == 200:
                return server
        except requests.RequestException:
            pass
        time.sleep(1)
    server.kill()
    raise RuntimeError("Odoo server did not answer within 180 s")


def measure_http(base: str, setup: dict, args: argparse.Namespace, pid: int) -> dict:
    results: dict = {}
    url = f"{base}/ai_train_model/api/v1/predictions"
    params = {"target": setup["target"], "limit": args.api_rows}
    headers = {"Authorization": f"Bearer {setup['key']}"}
    timings = []
    # The download's memory measure taken around the first (cold) API call: it shows the
    # method does see the allocations of a request.
    rss_before = reset_peak(pid)
    for _ in range(args.repeat + 1):
        t0 = time.perf_counter()
        response = requests.get(url, params=params, headers=headers, timeout=120)  # body read in full
        timings.append(time.perf_counter() - t0)
        results.setdefault("api_growth_bytes", (rss_kib(pid, "VmHWM") - rss_before) * 1024)
        body = response.json()
        if response.status_code != 200:
            raise RuntimeError(f"API answered {response.status_code}: {response.text[:500]}")
    data = body["data"]
    if (len(data), data[0]["id"], data[-1]["id"]) != (setup["rows"], setup["first_id"], setup["last_id"]):
        raise RuntimeError("the API did not return the rows search_read returned")
    results["api"] = statistics.median(timings[1:])
    results["api_bytes"] = len(response.content)

    session = requests.Session()
    login = session.post(
        f"{base}/web/session/authenticate",
        json={"jsonrpc": "2.0", "params": {"db": args.db, "login": "admin", "password": "admin"}},
        timeout=60,
    )
    if login.json().get("error"):
        raise RuntimeError(f"login failed: {login.text[:500]}")
    rpc = {
        "jsonrpc": "2.0",
        "method": "call",
        "params": {
            "model": "ai.prediction",
            "method": "search_read",
            "args": [setup["domain"], setup["fields"]],
            "kwargs": {"order": setup["order"], "limit": args.api_rows},
        },
    }
    timings = []
    for _ in range(args.repeat + 1):
        t0 = time.perf_counter()
        reply = session.post(f"{base}/web/dataset/call_kw/ai.prediction/search_read", json=rpc, timeout=120)
        timings.append(time.perf_counter() - t0)
        answer = reply.json()
        if "error" in answer or len(answer["result"]) != setup["rows"]:
            raise RuntimeError(f"JSON-RPC search_read failed: {str(answer)[:500]}")
    results["rpc"] = statistics.median(timings[1:])

    def download(version_id: int) -> int:
        size = 0
        with session.get(f"{base}/ai_train_model/model/{version_id}/download", stream=True, timeout=300) as r:
            if r.status_code != 200:
                raise RuntimeError(f"download answered {r.status_code}")
            for chunk in r.iter_content(1 << 16):
                size += len(chunk)
        return size

    download(setup["small_version"])  # warm-up: route, ir.binary, streaming code loaded
    rss_before = reset_peak(pid)
    results["download_bytes"] = download(setup["big_version"])
    results["growth_bytes"] = (rss_kib(pid, "VmHWM") - rss_before) * 1024
    return results


def verdict(ok: bool) -> str:
    return "met" if ok else "NOT met"


def print_upsert(upsert: dict) -> None:
    n = upsert["rows"]
    orm, bulk = statistics.median(upsert["orm"]), statistics.median(upsert["bulk"])
    ratio = orm / bulk
    rounds = len(upsert["orm"])

    def each(times: list[float]) -> str:
        return ", ".join(f"{t:.2f}" for t in times)

    print(f"\nupsert {n:,} predictions ({rounds} alternating rounds; medians)")
    print(f"  ORM create      {orm:8.2f} s  ({n / orm:,.0f} rows/s; rounds: {each(upsert['orm'])} s)")
    print(
        f"  bulk upsert     {bulk:8.2f} s  ({n / bulk:,.0f} rows/s; {upsert['written']:,} written; "
        f"rounds: {each(upsert['bulk'])} s)"
    )
    print(
        f"    of which formatting the rows for COPY in Python: about {upsert['csv']:.2f} s "
        "(the rest: PostgreSQL)"
    )
    per_round = ", ".join(f"{o / b:.1f}x" for o, b in zip(upsert["orm"], upsert["bulk"]))
    print(
        f"  ratio ORM / bulk: {ratio:.1f}x  (target >= {UPSERT_TARGET}x: {verdict(ratio >= UPSERT_TARGET)}; "
        f"per round: {per_round})"
    )
    print(
        f"  same rows again {upsert['again']:8.2f} s: {upsert['rewritten']:,} reported written, "
        f"{upsert['changed']:,} of {upsert['stored']:,} rows changed "
        f"(target 0: {verdict(upsert['changed'] == 0)})"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--rows", type=int, default=100_000, metavar="N", help="predictions upserted (100000)"
    )
    parser.add_argument(
        "--api-rows", type=int, default=10_000, metavar="N", help="rows of the API page (10000)"
    )
    parser.add_argument("--artifact-mb", type=int, default=50, metavar="MB", help="artifact size in MiB (50)")
    parser.add_argument("--repeat", type=int, default=5, metavar="N", help="timed API/search_read calls (5)")
    parser.add_argument(
        "--rounds", type=int, default=3, metavar="N", help="alternating ORM/bulk rounds (3); medians compared"
    )
    parser.add_argument("--odoo-bin", metavar="PATH", help="odoo-bin of an Odoo 17 (default: searched)")
    parser.add_argument("--keep", action="store_true", help="keep the work folder (database files, logs)")
    parser.add_argument(
        "--only-upsert", action="store_true", help="measure the upsert only (no HTTP server, API or download)"
    )
    args = parser.parse_args(argv)
    args.db = "bench_predictions"

    found = find_odoo(args.odoo_bin)
    if not found:
        print("no Odoo 17 found: nothing measured", file=sys.stderr)
        return EXIT_NO_ODOO
    odoo_root, python = found
    work = Path(tempfile.mkdtemp(prefix="bench_predictions_"))
    pg = Postgres(work)
    server = None
    try:
        odoo_args = install_database(work, pg, odoo_root, python, args.db, "ai_train_model")
        if odoo_args is None:
            return EXIT_FAILED
        child = {
            "odoo_root": str(odoo_root),
            "odoo_args": [*odoo_args, "-d", args.db],
            "db": args.db,
            "rows": args.rows,
            "api_rows": args.api_rows,
            "artifact_mb": args.artifact_mb,
            "repeat": args.repeat,
            "rounds": max(args.rounds, 1),
            "only_upsert": args.only_upsert,
        }
        proc = subprocess.run(
            [python, "-c", CHILD, json.dumps(child)], cwd=odoo_root, capture_output=True, text=True
        )
        if proc.returncode:
            print(proc.stdout[-3000:], proc.stderr[-5000:], file=sys.stderr)
            return EXIT_FAILED
        results = {
            r["side"]: r for r in (json.loads(x) for x in proc.stdout.splitlines() if x.startswith("{"))
        }
        upsert = results["upsert"]
        print_upsert(upsert)
        if args.only_upsert:
            return EXIT_OK
        setup = results["setup"]
        port = pg.port + 2
        server = start_server(python, odoo_root, odoo_args, args.db, port)
        http = measure_http(f"http://127.0.0.1:{port}", setup, args, server.pid)
    except RuntimeError as exc:
        print(exc, file=sys.stderr)
        return EXIT_FAILED
    finally:
        if server is not None:
            server.terminate()
            try:
                server.wait(timeout=30)
            except subprocess.TimeoutExpired:
                server.kill()
        pg.stop()
        if args.keep:
            print(f"work folder kept: {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)

    api_ratio = http["api"] / setup["search_read"]
    print(f"\nAPI page of {setup['rows']:,} predictions (median of {args.repeat})")
    print(f"  search_read in Odoo        {setup['search_read'] * 1000:8.1f} ms")
    print(f"  API over HTTP (key, JSON)  {http['api'] * 1000:8.1f} ms  ({http['api_bytes'] / 1e6:.1f} MB)")
    print(
        f"  ratio API / search_read: {api_ratio:.2f}x  "
        f"(target <= {API_TARGET}x: {verdict(api_ratio <= API_TARGET)})"
    )
    print(
        f"  for reference, search_read over JSON-RPC: {http['rpc'] * 1000:.1f} ms "
        f"(API / JSON-RPC {http['api'] / http['rpc']:.2f}x)"
    )
    growth = http["growth_bytes"] / http["download_bytes"]
    print(f"\ndownload of a {http['download_bytes'] / 2**20:.0f} MiB artifact through the zip route")
    print(
        f"  server peak RSS growth {http['growth_bytes'] / 2**10:,.0f} KiB = {growth:.3f}x the file "
        f"(target < {MEMORY_TARGET}x: {verdict(growth < MEMORY_TARGET)})"
    )
    print(
        f"  for reference, the same measure around the first (cold) API page: "
        f"{http['api_growth_bytes'] / 2**20:.1f} MiB"
    )
    return EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
