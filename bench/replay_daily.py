"""Choose the daily defaults by replaying cached candidate backtests (issue 9, fourth pass).

``--build a|sample`` runs once, for every series and outer origin of the
panel (the protocol of ``accuracy.py``: 4 origins x h = 28 from the series'
own end, at most 1,095 training days), what
:func:`project.utils.selection.fit_series` fits before it chooses, for more
candidates and more inner windows than the default: every spec of
:data:`SPECS` backtested at the inner cutoffs :data:`OFFSETS` (days before
the last one, which leaves exactly ``h`` days) and refitted on the whole
training window.  Specs ending in ``@1`` are the same model fitted without
a season whatever the season test says (so a stricter season rule can be
replayed); on a series the test finds without season they are the plain
specs.  Sparse series get the default intermittent choice once (no daily
default changes them).  ``--replay`` then scores, without fitting,
candidate sets x window layouts x pool rules x season rules by the mean
MASE of the outer test windows (``accuracy.py``'s figure for ``automatic``),
among them the random-walk rule (``walk > limit -> specs``: a series whose
variance ratio over the horizon is above ``limit`` gets ``specs`` without a
season).  ``--build FILE`` caches any panel laid out like
``validation_daily.csv``, such as the exchange rates of
``exchange_rates.py``, the choice set of random-walk rules::

    .venv/bin/python bench/replay_daily.py --build a --out /tmp/daily_a.pkl --n-jobs 1
    .venv/bin/python bench/replay_daily.py --build sample --out /tmp/daily_s.pkl --n-jobs 1
    .venv/bin/python bench/replay_daily.py --build /tmp/xr.csv --out /tmp/daily_xr.pkl --n-jobs 2
    .venv/bin/python bench/replay_daily.py --replay /tmp/daily_a.pkl --check /tmp/daily_s.pkl
"""

from __future__ import annotations

import argparse
import dataclasses
import functools
import pickle
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import accuracy as A  # noqa: E402
from replay_choices import (  # noqa: E402
    backtest_and_refit,
    inner_windows,
    load_series,
    outer_scale,
    pool_rule,
    prepared,
)

H, M = 28, 7
#: Inner cutoffs, in days before the last one (the default: 0, 7, 14).
OFFSETS = (0, 7, 14, 21, 28, 42, 56)
#: Cached candidates of smooth series: label -> (library candidate, extra parameters).
SPECS: dict[str, tuple[str, dict]] = {
    "naive": ("naive", {}),
    "snaive": ("snaive", {}),
    "ets": ("ets", {}),
    "theta": ("theta", {}),
    "gbm": ("gbm", {}),
    "ses": ("ets", {"trend": False}),
    "auto_ets": ("auto_ets", {}),
    "auto_ces": ("auto_ces", {}),
}
#: Specs also fitted without a season on series the season test calls seasonal.
UNSEASONED = ("ets", "theta", "ses", "auto_ets")
DEFAULT = ("naive", "snaive", "ets", "theta", "gbm")


def build_one(s, origin: int) -> dict | None:
    """Inner backtests and refits of every spec on one series at one outer origin."""
    from threadpoolctl import threadpool_limits

    from project.forecasting.decomposition import season_detected, season_strength, variance_ratio
    from project.forecasting.demand import classify_demand
    from project.training import TrainConfig
    from project.utils import selection as S

    A._quiet()
    cfg = TrainConfig(horizon=H, freq="D").for_freq("D")
    y, ds, short, train, test = prepared(s, origin)
    h = H + short
    mt = int(cfg.max_train_days)
    if y.size < h + S.min_train_length(cfg) or np.nanstd(y) == 0:
        return None
    demand = classify_demand(y, M, window=mt)
    sparse = bool(demand.sparse)
    seasonal = True if sparse else season_detected(y[-mt:], M)
    offs = [o for o in OFFSETS if y.size - h - o >= S.min_train_length(cfg)]
    ends = [y.size - h - o for o in offs]
    cfg_h = dataclasses.replace(cfg, horizon=h)
    if sparse:
        specs = {c: (c, {}, True) for c in cfg.sparse_candidates}
    else:
        specs = {label: (name, params, seasonal) for label, (name, params) in SPECS.items()}
        if seasonal:
            specs.update({f"{label}@1": (*SPECS[label], False) for label in UNSEASONED})
    bt, final, seconds = {}, {}, {}
    with threadpool_limits(1):
        for label, (name, params, seas) in specs.items():
            c = dataclasses.replace(cfg_h, model_params={name: params})
            started = time.perf_counter()
            make = functools.partial(S.make_candidate, name, c, seas)
            bt[label], refit = backtest_and_refit(make, y, ds, ends, h, mt)
            final[label] = refit[short : short + H]
            seconds[label] = (time.perf_counter() - started) / (len(ends) + 1)
    if not sparse and not seasonal:
        for label in UNSEASONED:
            bt[f"{label}@1"], final[f"{label}@1"] = bt[label], final[label]
            seconds[f"{label}@1"] = seconds[label]
    return {
        "uid": s.uid,
        "domain": s.domain,
        "origin": origin,
        "offsets": offs,
        "sparse": sparse,
        "seasonal": seasonal,
        "season_stat": season_strength(y[-mt:], M),
        "vr": variance_ratio(y[-mt:], H),
        **inner_windows(y, ends, h, mt),
        "bt": bt,
        "final": final,
        "seconds": seconds,
        "test": test,
        "tscale": outer_scale(train),
    }


# --------------------------------------------------------------------------- replay


def choose(
    r: dict,
    cands: tuple[str, ...],
    offs: tuple[int, ...] = (0, 7, 14),
    trim: float | None = 1.25,
    margin: float = 0.1,
) -> tuple[str, ...]:
    """The members ``fit_series``'s pool rule picks from the cached backtests at the cutoffs ``offs``."""
    from project.utils.selection import selection_score

    rows = [r["offsets"].index(o) for o in offs if o in r["offsets"]] or [0]
    valid = np.isfinite(r["actual"][rows])
    act0 = np.where(valid, r["actual"][rows], 0.0)
    scales = (r["scales2"] if r["sparse"] else r["scales"])[rows]
    metric = "rmsse" if r["sparse"] else "mase"

    def score(fc: np.ndarray) -> float:
        return selection_score(np.where(valid, act0 - fc[rows], 0.0), act0, scales, metric)

    cands = [c for c in cands if c in r["bt"]]
    return pool_rule(cands, score, r["bt"], trim, margin)


def candidates_of(
    r: dict,
    cands: tuple[str, ...],
    plain: tuple[str, ...] | None,
    stat: float,
    walk: tuple[float, tuple[str, ...]] | None = None,
) -> tuple:
    """The specs a series gets under a season rule.

    ``stat``: the season test's threshold on
    :func:`~project.forecasting.decomposition.season_strength` (1.0 is the
    library's); a series below it drops ``snaive`` and uses the ``@1``
    specs; ``plain`` (if given) is the candidate set of series without a
    season.  ``walk = (limit, specs)``: a smooth series whose
    :func:`~project.forecasting.decomposition.variance_ratio` over the
    horizon is above ``limit`` gets ``specs`` without a season, whatever
    the season test says.
    """
    if r["sparse"]:
        return tuple(r["bt"])

    def unseasoned(specs: tuple[str, ...]) -> tuple[str, ...]:
        return tuple(f"{c}@1" if c in UNSEASONED else c for c in specs if c != "snaive")

    if walk is not None and r["vr"] > walk[0]:
        return unseasoned(walk[1])
    seasonal = r["season_stat"] > stat if stat != 1.0 else r["seasonal"]
    if seasonal:
        return cands
    return unseasoned(plain if plain is not None else cands) or cands


def score_rule(
    rows: list[dict], cands, offs=(0, 7, 14), trim=1.25, margin=0.1, plain=None, stat=1.0, walk=None
):
    """Mean MASE (per series over origins, then over series) and mean fit seconds per series-origin."""
    per, cost = [], []
    for r in rows:
        cs = candidates_of(r, cands, plain, stat, walk)
        members = choose(r, cs, offs, trim, margin)
        fc = np.mean([r["final"][c] for c in members], axis=0)
        per.append((r["uid"], r["domain"], float(np.mean(np.abs(r["test"] - fc)) / r["tscale"])))
        cost.append(sum(r["seconds"].get(c, 0.0) for c in cs) * (len(offs) + 1))
    frame = pd.DataFrame(per, columns=["uid", "domain", "mase"])
    series = frame.groupby(["uid", "domain"])["mase"].mean()
    return float(series.mean()), series, float(np.mean(cost))


def variants() -> dict[str, dict]:
    """The rules replayed (label -> keyword arguments of :func:`score_rule`)."""
    d = DEFAULT
    out: dict[str, dict] = {"default (naive,snaive,ets,theta,gbm; 0/7/14; trim 1.25)": {"cands": d}}
    for trim in (None, 1.1, 1.15, 1.2, 1.5):
        out[f"default, trim {trim}"] = {"cands": d, "trim": trim}
    out["default, margin 0 (lowest score wins)"] = {"cands": d, "margin": 0.0}
    for offs in ((0, 7, 14, 21, 28), (0, 14, 28), (0, 28, 56), (0, 7, 14, 21, 28, 42, 56)):
        out[f"default, windows {'/'.join(map(str, offs))}"] = {"cands": d, "offs": offs}
    for extra in (("auto_ets",), ("ses",), ("auto_ces",), ("auto_ets", "ses")):
        for trim in (1.25, None):
            out[f"+{'+'.join(extra)}, trim {trim}"] = {"cands": (*d, *extra), "trim": trim}
    out["+auto_ets, windows 0/7/14/21/28"] = {"cands": (*d, "auto_ets"), "offs": (0, 7, 14, 21, 28)}
    out["+auto_ets, windows 0/14/28"] = {"cands": (*d, "auto_ets"), "offs": (0, 14, 28)}
    out["-gbm +auto_ets"] = {"cands": ("naive", "snaive", "ets", "theta", "auto_ets")}
    # level-tracking models where the changes show no season
    for label, plain in {
        "naive,ets,theta,auto_ets": ("naive", "ets", "theta", "auto_ets"),
        "naive,ses,auto_ets": ("naive", "ses", "auto_ets"),
        "naive,ets,theta,gbm,auto_ets": ("naive", "ets", "theta", "gbm", "auto_ets"),
        "naive,ets,theta,ses": ("naive", "ets", "theta", "ses"),
        "naive,ets,theta (no gbm)": ("naive", "ets", "theta"),
        "naive,auto_ets": ("naive", "auto_ets"),
    }.items():
        out[f"no season -> {label}"] = {"cands": d, "plain": plain}
        out[f"no season -> {label}, windows 0/14/28"] = {"cands": d, "plain": plain, "offs": (0, 14, 28)}
    out["+ses, no season -> naive,ses,auto_ets"] = {
        "cands": (*d, "ses"),
        "plain": ("naive", "ses", "auto_ets"),
    }
    out["margin 0, no season -> naive,ses,auto_ets"] = {
        "cands": d,
        "margin": 0.0,
        "plain": ("naive", "ses", "auto_ets"),
    }
    for trim in (1.1, 1.15, 1.2):
        for label, plain in {
            "naive,ses,auto_ets": ("naive", "ses", "auto_ets"),
            "naive,ets,theta,auto_ets": ("naive", "ets", "theta", "auto_ets"),
        }.items():
            out[f"trim {trim}, no season -> {label}"] = {"cands": d, "trim": trim, "plain": plain}
    for stat in (1.5, 2.0, 3.0):
        out[f"season test x{stat} (stricter)"] = {"cands": d, "stat": stat}
        out[f"season test x{stat}, no season -> naive,ets,theta,auto_ets"] = {
            "cands": d,
            "stat": stat,
            "plain": ("naive", "ets", "theta", "auto_ets"),
        }
    for spec in ("naive", "snaive", "ets", "theta", "gbm", "ses", "auto_ets", "auto_ces"):
        out[f"{spec} alone"] = {"cands": (spec,)}
    # random-walk levels (variance ratio over the horizon): level trackers, no season
    for limit in (0.3, 0.5, 0.7):
        for label, specs in WALK_SETS.items():
            out[f"walk > {limit} -> {label}"] = {"cands": d, "walk": (limit, specs)}
    return out


#: Candidate sets replayed for series whose level wanders like a random walk.
WALK_SETS: dict[str, tuple[str, ...]] = {
    "naive": ("naive",),
    "naive,ets,theta": ("naive", "ets", "theta"),
    "naive,ets,theta,auto_ets": ("naive", "ets", "theta", "auto_ets"),
    "naive,ses,auto_ets": ("naive", "ses", "auto_ets"),
    "naive,ses": ("naive", "ses"),
    "naive,ets,theta,gbm": ("naive", "ets", "theta", "gbm"),
}


def replay(rows: list[dict], check: list[dict] | None, snaive_check: float | None) -> None:
    print(
        f"{len(rows)} series x origins; {sum(not r['sparse'] for r in rows)} smooth, "
        f"{sum(not r['sparse'] and not r['seasonal'] for r in rows)} without a season; "
        f"spec fit seconds (mean per fit over smooth rows): "
        + ", ".join(
            f"{k} {np.mean([r['seconds'][k] for r in rows if k in r['seconds'] and not r['sparse']]):.3f}"
            for k in [*SPECS, *[f"{u}@1" for u in UNSEASONED]]
        )
    )
    table = []
    for label, kw in variants().items():
        mean, series, cost = score_rule(rows, **kw)
        row = {"rule": label, "mean MASE": mean, "fit s/series-origin": cost}
        for domain, part in series.groupby(level="domain"):
            row[domain.split(" ")[0]] = float(part.mean())
        if check is not None:
            row["check mean MASE"] = score_rule(check, **kw)[0]
            if snaive_check:
                row["check x snaive"] = row["check mean MASE"] / snaive_check
        table.append(row)
    frame = pd.DataFrame(table).set_index("rule")
    with pd.option_context("display.width", 250, "display.max_colwidth", 70):
        print(frame.to_string(float_format=lambda v: f"{v:.3f}"))


def main() -> int:
    from joblib import Parallel, delayed

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--build",
        metavar="a|sample|FILE",
        help="panel to build the cache of: half a, the sample, or a CSV laid out as validation_daily.csv",
    )
    parser.add_argument("--out", default="/tmp/daily_a.pkl")
    parser.add_argument("--replay", metavar="FILE", help="replay a cache (the choice set)")
    parser.add_argument("--check", metavar="FILE", help="a second cache scored beside it (a constraint)")
    parser.add_argument("--check-snaive", type=float, default=None, help="seasonal naive's MASE there")
    parser.add_argument("--n-jobs", type=int, default=1)
    args = parser.parse_args()
    A._quiet()
    if args.build:
        series = load_series(args.build)
        tasks = [(s, o) for s in series for o in range(A.ORIGINS) if len(s.y) - H - o * H >= 16]
        started = time.perf_counter()
        rows = Parallel(n_jobs=args.n_jobs)(delayed(build_one)(s, o) for s, o in tasks)
        with open(args.out, "wb") as fh:
            pickle.dump([r for r in rows if r], fh)
        print(f"{len(tasks)} series x origins cached in {args.out} ({time.perf_counter() - started:.0f} s)")
    if args.replay:
        with open(args.replay, "rb") as fh:
            rows = pickle.load(fh)
        check = None
        if args.check:
            with open(args.check, "rb") as fh:
                check = pickle.load(fh)
        replay(rows, check, args.check_snaive)
    return 0


if __name__ == "__main__":
    sys.exit(main())
