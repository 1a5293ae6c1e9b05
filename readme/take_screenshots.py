"""Regenerate the README screenshots from a running demo database.

Start the demo server first (``ODOO_BIN=... make odoo-demo``), then::

    pip install playwright          # any venv; it drives the system's chromium
    python readme/take_screenshots.py [--url http://127.0.0.1:8069] [--chromium /usr/bin/chromium]

It logs in as ``admin`` / ``admin`` and writes PNGs to ``readme/screenshots/``.
Not part of the test suite: it only looks, it asserts nothing.
"""

from __future__ import annotations

import argparse
import json
import urllib.request
from pathlib import Path

from playwright.sync_api import sync_playwright

HERE = Path(__file__).resolve().parent / "screenshots"
DB = "ai_train_model_demo"


def rpc(base: str, model: str, method: str, args: list, kwargs: dict | None = None, cookie: str = "") -> object:
    """One JSON-RPC call as the logged-in user (to find the demo's record ids)."""
    payload = {"jsonrpc": "2.0", "method": "call", "params": {"model": model, "method": method, "args": args,
                                                             "kwargs": kwargs or {}}}
    request = urllib.request.Request(f"{base}/web/dataset/call_kw", data=json.dumps(payload).encode(),
                                     headers={"Content-Type": "application/json", "Cookie": cookie})
    with urllib.request.urlopen(request, timeout=60) as response:
        body = json.loads(response.read())
    if "error" in body:
        raise RuntimeError(body["error"]["data"]["message"])
    return body["result"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--url", default="http://127.0.0.1:8069")
    parser.add_argument("--chromium", default="/usr/bin/chromium")
    args = parser.parse_args()
    base = args.url.rstrip("/")
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=args.chromium)
        page = browser.new_page(viewport={"width": 1440, "height": 900})
        page.goto(f"{base}/web/login?db={DB}")
        page.fill("input[name=login]", "admin")
        page.fill("input[name=password]", "admin")
        page.click("button[type=submit]")
        page.wait_for_url("**/web**")
        cookie = "; ".join(f"{c['name']}={c['value']}" for c in page.context.cookies())

        def first(model: str, domain: list) -> int:
            ids = rpc(base, model, "search", [domain], {"limit": 1, "order": "id desc"}, cookie)
            if not ids:
                raise SystemExit(f"no {model} in the demo database: is it the demo database?")
            return ids[0]

        def shot(name: str, fragment: str, wait: str = ".o_action_manager .o_view_controller", scroll: str = "") -> None:
            page.goto(f"{base}/web#{fragment}")
            page.wait_for_selector(wait, timeout=60_000)
            page.wait_for_timeout(1500)
            if scroll:
                page.locator(scroll).first.scroll_into_view_if_needed()
                page.wait_for_timeout(500)
            page.screenshot(path=str(HERE / f"{name}.png"))
            print("wrote", HERE / f"{name}.png")

        champion = first("ai.model.version", [("state", "=", "production")])
        target = first("ai.forecast.target", [])
        dataset = first("ai.dataset", [])
        job = first("ai.training.job", [])
        shot("dashboard", "action=ai_train_model.ai_forecast_dashboard_action", wait=".o_ai_forecast_dashboard")
        shot("model_version_chart", f"model=ai.model.version&id={champion}&view_type=form",
             wait=".o_ai_forecast_chart canvas", scroll=".o_ai_forecast_chart")
        shot("model_version_form", f"model=ai.model.version&id={champion}&view_type=form")
        shot("forecast_target_form", f"model=ai.forecast.target&id={target}&view_type=form")
        shot("predictions_pivot", "action=ai_train_model.ai_prediction_action&view_type=pivot")
        shot("model_metrics_list", "action=ai_train_model.ai_model_metric_action&view_type=list")
        shot("dataset_form", f"model=ai.dataset&id={dataset}&view_type=form")
        shot("training_job_form", f"model=ai.training.job&id={job}&view_type=form")
        shot("settings", "action=ai_train_model.ai_forecast_settings_action", wait=".o_form_view")
        browser.close()


if __name__ == "__main__":
    main()
