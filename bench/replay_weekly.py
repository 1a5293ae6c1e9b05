"""Choose the weekly configuration by replaying cached candidate backtests on M4 Weekly (issue 9).

``--build`` fits, once per M4 Weekly series of a slice (``--offset``,
``--limit``; the organisers' train/test split, h = 13, season 52), what
:func:`project.utils.selection.fit_series` fits before it chooses: every
candidate of :data:`SPECS` on the inner backtest windows (cutoffs
:data:`OFFSETS` steps before the last possible one: the default three
windows 4 weeks apart) and refitted on the whole training series; it pickles
the forecasts.  ``--replay`` then scores, without fitting, candidate sets,
pool rules, window layouts and fixed combinations by the OWA of the M4 test
window (sMAPE and MASE against Naive2 of the same series).

Used to choose on M4 series 1-100 the weekly defaults that ``accuracy.py
--m4`` reports on series 101-359 (``bench/README.md``)::

    .venv/bin/python bench/replay_weekly.py --build --offset 0 --limit 100 --out /tmp/w100.pkl
    .venv/bin/python bench/replay_weekly.py --replay /tmp/w100.pkl
    .venv/bin/python bench/replay_weekly.py --grid /tmp/w100.pkl   # margin x sizes x metric

Other inner windows, and short series drawn from long ones (the last 80
weeks, as long as series 295-359)::

    .venv/bin/python bench/replay_weekly.py --build --limit 100 --offsets 0,4,8,12,13,16,20,26 \
        --specs naive,snaive,ets,theta,auto_arima --out /tmp/w100_win.pkl
    .venv/bin/python bench/replay_weekly.py --layouts /tmp/w100_win.pkl
    .venv/bin/python bench/replay_weekly.py --build --limit 100 --truncate 80 --out /tmp/w100_t80.pkl
    .venv/bin/python bench/replay_weekly.py --replay /tmp/w100_t80.pkl

Other training windows (every fit on the last ``N`` weeks at most; the weekly
default is 260)::

    .venv/bin/python bench/replay_weekly.py --build --limit 100 --max-train 520 \
        --specs naive,snaive,ets,theta,auto_arima --out /tmp/w100_mt520.pkl
    .venv/bin/python bench/replay_weekly.py --replay /tmp/w100_mt520.pkl
"""

from __future__ import annotations

import argparse
import dataclasses
import functools
import pickle
import sys
import time
from itertools import combinations
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import accuracy as A  # noqa: E402
from replay_choices import backtest_and_refit, inner_windows, pool_rule  # noqa: E402

H, M = 13, 52
#: Inner cutoffs, in weeks before the last one (which leaves exactly ``H`` weeks).
OFFSETS = (0, 4, 8)
#: Cached candidates: label -> (library candidate, extra parameters).
SPECS: dict[str, tuple[str, dict]] = {
    "naive": ("naive", {}),
    "snaive": ("snaive", {}),
    "ets": ("ets", {}),
    "theta": ("theta", {}),
    "gbm": ("gbm", {}),
    "ets_nodamp": ("ets", {"damped": False}),
    "ses": ("ets", {"trend": False}),
    "auto_ets": ("auto_ets", {}),
    "auto_theta": ("auto_theta", {}),
    "auto_arima": ("auto_arima", {}),
    "auto_ces": ("auto_ces", {}),
}
DEFAULT = ("naive", "snaive", "ets", "theta", "gbm")


def build_one(
    uid: str,
    y: np.ndarray,
    test: np.ndarray,
    specs: dict[str, tuple[str, dict]],
    offsets: tuple[int, ...] = OFFSETS,
    max_train: int | None = None,
) -> dict:
    """Inner backtests (cutoffs ``offsets`` weeks before the last) and refits of every spec on one series.

    ``max_train`` replaces the configuration's ``max_train_days`` (the most
    recent observations each fit sees); the M4 scale stays the whole series'.
    """
    from threadpoolctl import threadpool_limits

    from project.forecasting.demand import classify_demand
    from project.training import TrainConfig
    from project.utils import selection as S

    A._quiet()
    cfg = TrainConfig(horizon=H, freq="W").for_freq("W")
    if max_train:
        cfg = dataclasses.replace(cfg, max_train_days=int(max_train))
    ds = pd.date_range(end="2018-12-30", periods=len(y), freq="W-SUN")
    n, mt = y.size, int(cfg.max_train_days)
    offs = [o for o in offsets if n - H - o >= S.min_train_length(cfg)]
    ends = [n - H - o for o in offs]
    bt, final, seconds = {}, {}, {}
    with threadpool_limits(1):
        for label, (name, params) in specs.items():
            c = dataclasses.replace(cfg, model_params={name: params})
            started = time.perf_counter()
            make = functools.partial(S.make_candidate, name, c)
            bt[label], final[label] = backtest_and_refit(make, y, ds, ends, H, mt)
            seconds[label] = time.perf_counter() - started
    return {
        "uid": uid,
        "offsets": offs,
        **inner_windows(y, ends, H, mt, M),
        "bt": bt,
        "final": final,
        "seconds": seconds,
        "test": test,
        "m4scale": float(np.mean(np.abs(np.diff(y)))),
        "naive2": np.repeat(y[-1], H),
        "sparse": bool(classify_demand(y, M, window=mt).sparse),
    }


# --------------------------------------------------------------------------- replay


def _smape(a: np.ndarray, f: np.ndarray) -> float:
    return float(np.mean(200 * np.abs(a - f) / (np.abs(a) + np.abs(f))))


def owa(rows: list[dict], forecasts: list[np.ndarray]) -> tuple[float, float, float]:
    """OWA, sMAPE and MASE of ``forecasts`` (one per row) against the rows' Naive2."""
    s = np.mean([_smape(r["test"], f) for r, f in zip(rows, forecasts)])
    m = np.mean([np.mean(np.abs(r["test"] - f)) / r["m4scale"] for r, f in zip(rows, forecasts)])
    s2 = np.mean([_smape(r["test"], r["naive2"]) for r in rows])
    m2 = np.mean([np.mean(np.abs(r["test"] - r["naive2"])) / r["m4scale"] for r in rows])
    return 0.5 * (s / s2 + m / m2), s, m


def choose(
    r: dict,
    cands: tuple[str, ...],
    offs: tuple[int, ...] = (0, 4, 8),
    trim: float | None = 1.25,
    margin: float = 0.1,
    sizes: tuple[int, ...] = (2, 3),
    metric: str = "mase",
) -> tuple[str, ...]:
    """The members ``fit_series``'s rule picks from the cached backtests (windows at ``offs``)."""
    from project.utils.selection import selection_score

    rows = [r["offsets"].index(o) for o in offs if o in r["offsets"]]
    rows = rows or [0]  # fit_series keeps the last window when no other fits
    actual, scales = r["actual"][rows], r["scales"][rows]

    def score(fc: np.ndarray) -> float:
        return selection_score(actual - fc[rows], actual, scales, metric)

    cands = [c for c in cands if c in r["bt"]]
    return pool_rule(cands, score, r["bt"], trim, margin, sizes)


def rule_forecasts(rows: list[dict], **kw) -> list[np.ndarray]:
    return [np.mean([r["final"][c] for c in choose(r, **kw)], axis=0) for r in rows]


def replay(rows: list[dict]) -> None:
    rows = [r for r in rows if not r["sparse"]]
    print(f"{len(rows)} series; seconds per series and spec (3 windows would be ~4/9 of this):")
    sec = pd.DataFrame([r["seconds"] for r in rows]).mean()
    print(sec.to_string(float_format=lambda v: f"{v:.2f}"))
    out = []

    def add(label: str, fcs: list[np.ndarray]) -> None:
        o, s, m = owa(rows, fcs)
        out.append({"variant": label, "owa": o, "smape": s, "mase": m})

    for spec in rows[0]["final"]:
        add(f"alone {spec}", [r["final"][spec] for r in rows])
    add("naive2", [r["naive2"] for r in rows])
    stat = ("ets", "theta", "auto_ets", "auto_theta", "auto_arima", "auto_ces", "ses", "ets_nodamp")
    stat = tuple(c for c in stat if c in rows[0]["final"])
    for k in (2, 3, 4):
        for combo in combinations(stat, k):
            add(f"mean {'+'.join(combo)}", [np.mean([r["final"][c] for c in combo], 0) for r in rows])
    for combo in (("ets", "theta", "auto_arima"), ("auto_ets", "auto_theta", "auto_arima"), stat):
        add(f"median {'+'.join(combo)}", [np.median([r["final"][c] for c in combo], 0) for r in rows])
    sets = {
        "default": DEFAULT,
        "-gbm": ("naive", "snaive", "ets", "theta"),
        "-gbm +auto_ets,arima": ("naive", "snaive", "ets", "theta", "auto_ets", "auto_arima"),
        "-gbm +auto_arima": ("naive", "snaive", "ets", "theta", "auto_arima"),
        "+auto_ets": (*DEFAULT, "auto_ets"),
        "+auto_theta": (*DEFAULT, "auto_theta"),
        "+auto_arima": (*DEFAULT, "auto_arima"),
        "+auto_ets,theta,arima": (*DEFAULT, "auto_ets", "auto_theta", "auto_arima"),
        "+all auto": (*DEFAULT, "auto_ets", "auto_theta", "auto_arima", "auto_ces"),
        "-gbm +auto3": ("naive", "snaive", "ets", "theta", "auto_ets", "auto_theta", "auto_arima"),
        "stat only": ("ets", "theta", "auto_ets", "auto_theta", "auto_arima"),
        "+auto3 +ses": (*DEFAULT, "auto_ets", "auto_theta", "auto_arima", "ses"),
    }
    layouts = {"3x4": (0, 4, 8), "2x4": (0, 4)}
    for sname, cands in sets.items():
        for lname, offs in layouts.items():
            for trim in (None, 1.1, 1.25, 1.5):
                add(
                    f"rule {sname} {lname} trim={trim}",
                    rule_forecasts(rows, cands=cands, offs=offs, trim=trim),
                )
            add(f"rule {sname} {lname} margin=0", rule_forecasts(rows, cands=cands, offs=offs, margin=0.0))
    table = pd.DataFrame(out).sort_values("owa")
    with pd.option_context("display.width", 200, "display.max_rows", 400, "display.max_colwidth", 80):
        print(table.to_string(index=False, float_format=lambda v: f"{v:.4f}"))


def grid(rows: list[dict]) -> None:
    """The weekly default set with the pool untrimmed: ensemble margin x top-k sizes x selection metric."""
    from project.training import WEEKLY_CANDIDATES

    rows = [r for r in rows if not r["sparse"]]
    out = []
    for metric in ("mase", "smape", "mae", "rmse"):
        for margin in (0.0, 0.05, 0.1, 0.15, 0.2, 0.3):
            for sizes in ((2,), (2, 3), (2, 3, 4), (2, 3, 4, 5)):
                kw = {
                    "cands": WEEKLY_CANDIDATES,
                    "trim": None,
                    "margin": margin,
                    "sizes": sizes,
                    "metric": metric,
                }
                o, s, m = owa(rows, rule_forecasts(rows, **kw))
                out.append(
                    {"metric": metric, "margin": margin, "sizes": str(sizes), "owa": o, "smape": s, "mase": m}
                )
    print(f"{len(rows)} series; weekly default set, trim none")
    print(pd.DataFrame(out).sort_values("owa").to_string(index=False, float_format=lambda v: f"{v:.4f}"))


def layouts(rows: list[dict]) -> None:
    """The weekly default set and pool rule with other inner windows (a cache built with ``--offsets``)."""
    from project.training import WEEKLY_CANDIDATES

    rows = [r for r in rows if not r["sparse"]]
    built = tuple(sorted(set().union(*(r["offsets"] for r in rows))))
    options = [
        (0, 4, 8),
        (0, 4),
        (0, 4, 8, 12),
        (0, 4, 8, 12, 16),
        (0, 4, 8, 12, 16, 20),
        (0, 8, 16),
        (0, 13, 26),
        (0, 6, 13, 19, 26),
    ]
    out = []
    for offs in options:
        if not set(offs) <= set(built):
            continue
        o, s, m = owa(rows, rule_forecasts(rows, cands=WEEKLY_CANDIDATES, offs=offs, trim=None))
        out.append({"windows": "/".join(map(str, offs)), "owa": o, "smape": s, "mase": m})
    print(f"{len(rows)} series; weekly default set, trim none; cutoffs cached: {built}")
    print(pd.DataFrame(out).to_string(index=False, float_format=lambda v: f"{v:.4f}"))


def _load(paths: list[str]) -> list[dict]:
    rows: dict[str, dict] = {}
    for path in paths:
        with open(path, "rb") as fh:
            for r in pickle.load(fh):
                if r["uid"] in rows:  # a second cache adds specs to the same series
                    for key in ("bt", "final", "seconds"):
                        rows[r["uid"]][key].update(r[key])
                else:
                    rows[r["uid"]] = r
    return list(rows.values())


def main() -> int:
    from joblib import Parallel, delayed

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--build", action="store_true", help="fit and cache a slice of M4 Weekly")
    parser.add_argument("--offset", type=int, default=0)
    parser.add_argument("--limit", type=int, default=100)
    parser.add_argument("--specs", default=None, help="comma-separated labels of SPECS (default all)")
    parser.add_argument("--out", default="/tmp/weekly_cache.pkl")
    parser.add_argument("--replay", metavar="FILE", nargs="*", help="replay caches (merged)")
    parser.add_argument(
        "--grid", metavar="FILE", nargs="*", help="margin x sizes x metric on caches (merged)"
    )
    parser.add_argument(
        "--offsets",
        default=",".join(map(str, OFFSETS)),
        help="--build: inner cutoffs, weeks before the last one (default %(default)s)",
    )
    parser.add_argument("--layouts", metavar="FILE", nargs="*", help="replay other inner windows")
    parser.add_argument(
        "--truncate",
        type=int,
        default=None,
        metavar="N",
        help="--build: keep only the last N training weeks (short series drawn from long ones)",
    )
    parser.add_argument(
        "--max-train",
        type=int,
        default=None,
        metavar="N",
        help="--build: fit on the last N weeks at most (default: the weekly max_train_days)",
    )
    parser.add_argument("--n-jobs", type=int, default=2)
    args = parser.parse_args()
    A._quiet()
    if args.build:
        specs = {k: SPECS[k] for k in args.specs.split(",")} if args.specs else SPECS
        series = A._m4_series(args.offset, args.limit)
        if args.truncate:
            series = [(u, y[-args.truncate :], t) for u, y, t in series]
        started = time.perf_counter()
        offsets = tuple(int(v) for v in args.offsets.split(","))
        rows = Parallel(n_jobs=args.n_jobs)(
            delayed(build_one)(u, y, t, specs, offsets, args.max_train) for u, y, t in series
        )
        with open(args.out, "wb") as fh:
            pickle.dump(rows, fh)
        print(f"{len(rows)} series cached in {args.out} ({time.perf_counter() - started:.0f}s)")
    if args.replay:
        replay(_load(args.replay))
    if args.grid:
        grid(_load(args.grid))
    if args.layouts:
        layouts(_load(args.layouts))
    return 0


if __name__ == "__main__":
    sys.exit(main())
