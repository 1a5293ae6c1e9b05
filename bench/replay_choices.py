"""Choose selection and interval settings by replaying cached candidate backtests (issue 9).

For every series and origin of a panel (the protocol of ``accuracy.py``: 4
origins x h = 28, the series' own end), ``--build`` runs once what
:func:`project.utils.selection.fit_series` runs before it chooses: the
demand and season checks, the backtest of every candidate on the inner
windows, and the refit of every candidate on the whole training window, and
pickles it.  ``--replay`` then scores, without fitting anything, variants of
the pool rule (``pool_trim``, ``ensemble_margin``) by the MASE of the outer
test window, and variants of the conformal bands (pooling radius,
non-decreasing widths, scale) by their coverage per horizon bucket.

Used to choose on validation half ``a`` (and to check the sample's <= 0.82
constraint) the defaults reported on half ``b`` (``bench/README.md``)::

    .venv/bin/python bench/replay_choices.py --build a --out /tmp/cands_a.pkl
    .venv/bin/python bench/replay_choices.py --replay /tmp/cands_a.pkl
    .venv/bin/python bench/replay_choices.py --bands /tmp/cands_a.pkl --panel a
    .venv/bin/python bench/replay_choices.py --buckets /tmp/cands_a.pkl   # a choice per horizon bucket
    .venv/bin/python bench/replay_choices.py --build a --max-train 730 --out /tmp/a_730.pkl  # shorter fits

``--bands`` replays band rules that also read the series' history (scale,
the widening of bands calibrated in a calm spell, on sparse series or not)
through :func:`project.utils.selection.calibrated_bands`; caches built
before the history was stored get it rebuilt from ``--panel`` (no fit).
"""

from __future__ import annotations

import argparse
import dataclasses
import functools
import pickle
import sys
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import accuracy as A  # noqa: E402

H, M = 28, 7
BUCKETS = [("D+1", 1, 1), ("D+7", 7, 7), ("D+28", 28, 28), ("1-7", 1, 7), ("8-14", 8, 14), ("15-28", 15, 28)]


def prepared(s, origin: int) -> tuple:
    """What ``fit_series`` sees at one outer origin: the prepared ``y``, ``ds``, the days short
    of the cutoff, and the outer training and test values of ``accuracy.py``."""
    from project.training import TrainConfig
    from project.utils.datos import prepare

    cfg = TrainConfig(horizon=H, freq="D").for_freq("D")
    n = len(s.y)
    cut = n - H - origin * H
    start = max(0, cut - A.MAX_TRAIN)
    train, test, dsw = s.y[start:cut], s.y[cut : cut + H], s.ds[start:cut]
    raw = s.raw[(s.raw["ds"] >= dsw[0]) & (s.raw["ds"] <= dsw[-1])]
    prep = prepare(raw, "ds", "y", missing=cfg.missing, horizon=H, end=dsw[-1], freq="D")
    y = prep.data["y"].to_numpy(float)
    ds = pd.DatetimeIndex(prep.data["ds"])
    return y, ds, (dsw[-1] - ds[-1]).days, train, test


def backtest_and_refit(make: Callable, y: np.ndarray, ds, ends: list[int], h: int, window: int) -> tuple:
    """What ``fit_series`` fits for one candidate: a fresh model from ``make()``
    on the ``window`` observations before each inner cutoff of ``ends``
    (one row of ``h`` forecasts each), and on the last ``window`` of the
    series (its ``h`` forecasts)."""

    def forecast(stop: int) -> np.ndarray:
        start = max(0, stop - window)
        return make().fit(y[start:stop], ds[start:stop]).predict(h, level=())["mean"].to_numpy(float)

    backtests = np.full((len(ends), h), np.nan)
    for i, end in enumerate(ends):
        backtests[i] = forecast(end)
    return backtests, forecast(y.size)


def inner_windows(
    y: np.ndarray, ends: list[int], h: int, window: int, season: int = M
) -> dict[str, np.ndarray]:
    """The inner windows' actual values (``actual``; no row without ``ends``) and the MASE
    (lag ``season``) and RMSSE scales of their training spans (``scales``, ``scales2``),
    as ``fit_series`` computes them."""
    from project.utils import selection as S

    spans = [y[max(0, e - window) : e] for e in ends]
    return {
        "actual": np.stack([y[e : e + h] for e in ends]) if ends else np.empty((0, h)),
        "scales": np.array([S.window_scale(span, season) for span in spans]),
        "scales2": np.array([S.squared_scale(span) for span in spans]),
    }


def outer_scale(train: np.ndarray) -> float:
    """The MASE scale of an outer test window: the mean absolute lag-``M`` change of its
    training values (lag 1 where that is zero or undefined, then 1.0)."""
    scale = float(np.mean(np.abs(train[M:] - train[:-M]))) if len(train) > M else np.nan
    return scale if scale > 0 else float(np.mean(np.abs(np.diff(train)))) or 1.0


def build_one(s, origin: int, window: int = A.MAX_TRAIN) -> dict | None:
    """Candidate backtests and refits of one series at one outer origin.

    ``window`` is the library's ``max_train_days``: each fit sees at most the
    last ``window`` days before its cutoff (the outer protocol keeps
    ``accuracy.py``'s 1,095 training days).
    """
    from threadpoolctl import threadpool_limits

    from project.forecasting.decomposition import season_detected
    from project.forecasting.demand import classify_demand
    from project.training import TrainConfig
    from project.utils import selection as S

    A._quiet()
    cfg = dataclasses.replace(TrainConfig(horizon=H, freq="D").for_freq("D"), max_train_days=window)
    y, ds, short, train, test = prepared(s, origin)
    h = H + short
    demand = classify_demand(y, M, window=cfg.max_train_days)
    cands, metric, seasonal = cfg.candidates, "mase", True
    if demand.sparse:
        cands, metric = cfg.sparse_candidates, "rmsse"
    else:
        seasonal = season_detected(y[-cfg.max_train_days :], M)
        if not seasonal:
            cands = tuple(c for c in cands if c != "snaive")
    if y.size < h + S.min_train_length(cfg) or np.nanstd(y) == 0:
        return None
    ends = [e for e in [y.size - h - k * 7 for k in range(3)][::-1] if e >= S.min_train_length(cfg)]
    cfg_h = dataclasses.replace(cfg, horizon=h)
    bt, final = {}, {}
    with threadpool_limits(1):
        for c in cands:
            make = functools.partial(S.make_candidate, c, cfg_h, seasonal)
            bt[c], refit = backtest_and_refit(make, y, ds, ends, h, window)
            final[c] = refit[short : short + H]
    return {
        "uid": s.uid,
        "domain": s.domain,
        "origin": origin,
        "cands": cands,
        "metric": metric,
        **inner_windows(y, ends, h, window),
        "bt": bt,
        "final": final,
        "test": test,
        "tscale": outer_scale(train),
        "y": y[-window:],
        "sparse": bool(demand.sparse),
    }


def choose(r: dict, trim: float | None, margin: float = 0.1) -> tuple[str, ...]:
    """The members the pool rule of ``fit_series`` picks from the stored backtests."""
    from project.utils.selection import selection_score

    cands = list(r["cands"])
    valid = np.isfinite(r["actual"])
    act0 = np.where(valid, r["actual"], 0.0)
    scales = r["scales2"] if r["metric"] == "rmsse" else r["scales"]

    def score(fc):
        return selection_score(np.where(valid, act0 - fc, 0.0), act0, scales, r["metric"])

    return pool_rule(cands, score, r["bt"], trim, margin)


def pool_rule(
    cands: list[str],
    score: Callable[[np.ndarray], float],
    backtests: dict[str, np.ndarray],
    trim: float | None,
    margin: float = 0.1,
    sizes: tuple[int, ...] = (2, 3),
) -> tuple[str, ...]:
    """The members ``fit_series`` picks among ``cands`` from their cached ``backtests``,
    each forecast scored by ``score``: the library's own rule,
    :func:`project.utils.selection.pool_choice`."""
    from project.utils.selection import pool_choice

    chosen, _ = pool_choice(
        {c: score(backtests[c]) for c in cands},
        lambda members: score(np.mean([backtests[c] for c in members], axis=0)),
        cands,
        trim=trim,
        margin=margin,
        sizes=sizes,
    )
    return chosen


def replay(rows: list[dict]) -> None:
    from project.forecasting.intervals import conformal_bands
    from project.utils.selection import pooled_errors

    def mase(trim, margin=0.1):
        per = pd.DataFrame(
            {
                "uid": r["uid"],
                "mase": float(
                    np.mean(np.abs(r["test"] - np.mean([r["final"][c] for c in choose(r, trim, margin)], 0)))
                    / r["tscale"]
                ),
            }
            for r in rows
        )
        return per.groupby("uid")["mase"].mean().mean()

    print("pool rule (mean MASE of the outer test windows):")
    for trim in (None, 1.1, 1.25, 1.5, 2.0):
        print(f"  pool_trim={trim}: {mase(trim):.4f}")
    for margin in (0.0, 0.05, 0.2):
        print(f"  ensemble_margin={margin}: {mase(None, margin):.4f}")
    trim = 1.25
    table = {}
    for nondecreasing in (False, True):
        for scale in (0.8, 0.9, 1.0, 1.1):
            for radius in (3, 7):
                hits = {80: [], 95: []}
                for r in rows:
                    members = choose(r, trim)
                    fc = np.mean([r["final"][c] for c in members], axis=0)
                    bt = np.mean([r["bt"][c] for c in members], axis=0)
                    err = np.where(np.isfinite(r["actual"]), r["actual"] - bt, np.nan)
                    bands = conformal_bands(
                        fc, pooled_errors(err, radius), (80, 95), 0.0, nondecreasing, scale
                    )
                    for lv in hits:
                        lo, hi = bands[f"lo-{lv}"].to_numpy(), bands[f"hi-{lv}"].to_numpy()
                        hits[lv].append((r["test"] >= lo - 1e-9) & (r["test"] <= hi + 1e-9))
                row = {}
                for lv in hits:
                    stack = np.stack(hits[lv])
                    row.update({f"{lv}:{n}": stack[:, a - 1 : b].mean() for n, a, b in BUCKETS})
                row["off"] = sum(
                    abs(row[f"{lv}:{b}"] - lv / 100) for lv in hits for b in ("1-7", "8-14", "15-28")
                )
                table[(nondecreasing, scale, radius)] = row
    frame = pd.DataFrame(table).T.sort_values("off")
    frame.index.names = ["nondecreasing", "scale", "radius"]
    print(
        f"\ncoverage of conformal bands (pool_trim={trim}); 'off' = sum of |coverage - nominal| over buckets:"
    )
    print(frame.to_string(float_format=lambda v: f"{v:.3f}"))


def replay_bands(rows: list[dict], series: list | None = None, trim: float = 1.25) -> None:
    """Coverage per bucket of band rules that also read the series' history (:func:`calibrated_bands`).

    Rows cached without the prepared history get it rebuilt from ``series``
    (no fit).  'under' is the summed shortfall below nominal over buckets
    1-7 / 8-14 / 15-28 at 80 % and 95 %, 'off' the summed distance, 'max off'
    the largest and 'outside' the number of those six buckets more than 3
    points from nominal (the issue-9 target).  Rules that do not name
    ``conformal_growth`` rescale the pooled errors (the default).
    """
    from project.forecasting.intervals import dispersion_ratio
    from project.training import TrainConfig
    from project.utils.selection import calibrated_bands

    base = TrainConfig(horizon=H, freq="D").for_freq("D")
    by_uid = {s.uid: s for s in series or []}
    variants = {  # "all": the history widening for sparse series too
        "x0.9 (second pass)": {"conformal_scale": 0.9, "conformal_history": 0, "conformal_growth": False},
        "x1.0": {"conformal_scale": 1.0, "conformal_history": 0},
        "x1.1": {"conformal_scale": 1.1, "conformal_history": 0},
        "x1.0 widened 1095, all": {"conformal_scale": 1.0, "conformal_history": 1095, "all": True},
        "x1.0 widened 365": {"conformal_scale": 1.0, "conformal_history": 365},
        "x1.0 widened 1095, lag 7 only (third pass)": {
            "conformal_scale": 1.0,
            "conformal_history": 0,
            "conformal_growth": False,
            "lag7": True,
        },
        "x1.0 widened 1095 per horizon": {
            "conformal_scale": 1.0,
            "conformal_history": 1095,
            "conformal_growth": False,
        },
        "x1.0 widened 1095 per horizon, growth (default)": {
            "conformal_scale": 1.0,
            "conformal_history": 1095,
        },
        "x0.9 widened 1095": {"conformal_scale": 0.9, "conformal_history": 1095},
        "x1.0 two-sided ratio 1095": {"conformal_scale": 1.0, "conformal_history": -1095},
    }
    hits = {k: {80: [], 95: []} for k in variants}
    ratios, domains = [], []  # ratio: of the series' history to the backtest span (sparse ones too)
    for r in rows:
        domains.append(r.get("domain") or getattr(by_uid.get(r["uid"]), "domain", "all"))
        y = r.get("y")
        if y is None:
            y = prepared(by_uid[r["uid"]], r["origin"])[0][-A.MAX_TRAIN :]
        members = choose(r, trim)
        h = r["actual"].shape[1]
        short = h - H
        fc = np.concatenate([np.zeros(short), np.mean([r["final"][c] for c in members], axis=0)])
        bt = np.mean([r["bt"][c] for c in members], axis=0)
        err = np.where(np.isfinite(r["actual"]), r["actual"] - bt, np.nan)
        ratio = dispersion_ratio(y, h + 14, M, 1095)
        ratios.append(ratio)
        sparse = bool(r.get("sparse", r["metric"] == "rmsse"))
        for label, kw in variants.items():
            kw = dict(kw)
            widen_all = kw.pop("all", False)
            lag7 = kw.pop("lag7", False)
            kw["conformal_history"] = max(kw["conformal_history"], 0)
            cfg = dataclasses.replace(base, horizon=h, **kw)
            if variants[label]["conformal_history"] < 0 and not sparse:  # the ratio narrows too
                factor = ratio if np.isfinite(ratio) else 1.0
                cfg = dataclasses.replace(cfg, conformal_scale=kw["conformal_scale"] * min(factor, 3.0))
            if lag7 and not sparse:  # one factor for every horizon, from lag-7 changes
                factor = min(max(ratio, 1.0), 3.0) if not np.isnan(ratio) else 1.0
                cfg = dataclasses.replace(cfg, conformal_scale=kw["conformal_scale"] * factor)
            history = None if sparse and not widen_all else y  # as fit_series does
            bands = calibrated_bands(fc, err, (80, 95), bool(np.nanmin(y) >= 0), cfg, history)
            for lv in (80, 95):
                lo = bands[f"lo-{lv}"].to_numpy()[short:]
                hi = bands[f"hi-{lv}"].to_numpy()[short:]
                hits[label][lv].append((r["test"] >= lo - 1e-9) & (r["test"] <= hi + 1e-9))
    ratios = np.asarray(ratios)
    print(
        "dispersion ratio (history 1095 / backtest span) over series x origins: "
        f"quantiles 10/25/50/75/90 % {np.round(np.nanquantile(ratios, [0.1, 0.25, 0.5, 0.75, 0.9]), 2)}, "
        f"share > 1: {np.mean(ratios > 1):.2f}, inf: {int(np.sum(np.isinf(ratios)))}"
    )
    table = {}
    buckets = [*BUCKETS, ("1-28", 1, H)]
    for label in variants:
        row = {}
        for lv in (80, 95):
            stack = np.stack(hits[label][lv])
            row.update({f"{lv}:{n}": stack[:, a - 1 : b].mean() for n, a, b in buckets})
        main_buckets = [(lv, b) for lv in (80, 95) for b in ("1-7", "8-14", "15-28")]
        row["under"] = sum(max(0.0, lv / 100 - row[f"{lv}:{b}"]) for lv, b in main_buckets)
        row["off"] = sum(abs(row[f"{lv}:{b}"] - lv / 100) for lv, b in main_buckets)
        row["max off"] = max(abs(row[f"{lv}:{b}"] - lv / 100) for lv, b in main_buckets)
        row["outside"] = sum(abs(row[f"{lv}:{b}"] - lv / 100) > 0.03 + 1e-9 for lv, b in main_buckets)
        # robustness across the panel's domains: shortfall below nominal within each domain
        short = []
        for domain in sorted(set(domains)):
            keep = np.array([d == domain for d in domains])
            short.append(
                sum(
                    max(0.0, lv / 100 - np.stack(hits[label][lv])[keep][:, a - 1 : b].mean())
                    for lv in (80, 95)
                    for _, a, b in buckets[3:6]
                )
            )
        row["under/domain mean"], row["under/domain max"] = float(np.mean(short)), float(np.max(short))
        table[label] = row
    print(f"\ncoverage of band rules (pool_trim={trim}), {len(rows)} series x origins:")
    print(pd.DataFrame(table).T.to_string(float_format=lambda v: f"{v:.3f}"))


def replay_buckets(rows: list[dict], trim: float = 1.25) -> None:
    """Mean MASE when each bucket of the horizon chooses its own members from its own backtest
    errors, and with the members' median instead of their mean."""
    from project.utils.selection import selection_score

    def members(r: dict, sl: slice) -> tuple[str, ...]:
        actual = r["actual"][:, sl]
        valid = np.isfinite(actual)
        act0 = np.where(valid, actual, 0.0)
        scales = r["scales2"] if r["metric"] == "rmsse" else r["scales"]

        def score(fc: np.ndarray) -> float:
            return selection_score(np.where(valid, act0 - fc[:, sl], 0.0), act0, scales, r["metric"])

        return pool_rule(list(r["cands"]), score, r["bt"], trim)

    def forecast(r: dict, buckets: list[tuple[int, int]]) -> np.ndarray:
        short = r["actual"].shape[1] - H
        out = np.empty(H)
        for a, b in buckets:
            chosen = members(r, slice(short + a - 1, short + b))
            out[a - 1 : b] = np.mean([r["final"][c][a - 1 : b] for c in chosen], axis=0)
        return out

    layouts = {
        "one choice (default)": [(1, H)],
        "1-7 / 8-28": [(1, 7), (8, H)],
        "1-7 / 8-14 / 15-28": [(1, 7), (8, 14), (15, H)],
        "1-14 / 15-28": [(1, 14), (15, H)],
        "weekly buckets": [(1, 7), (8, 14), (15, 21), (22, H)],
    }

    def median(r: dict, buckets: list) -> np.ndarray:  # one choice, the members' median
        chosen = members(r, slice(0, r["actual"].shape[1]))
        return np.median([r["final"][c] for c in chosen], axis=0)

    forecasts = {label: (forecast, buckets) for label, buckets in layouts.items()}
    forecasts["one choice, median of the members"] = (median, [(1, H)])
    for label, (make, buckets) in forecasts.items():
        per = pd.DataFrame(
            {"uid": r["uid"], "mase": float(np.mean(np.abs(r["test"] - make(r, buckets))) / r["tscale"])}
            for r in rows
        )
        print(f"  {label}: mean MASE {per.groupby('uid')['mase'].mean().mean():.4f}")


def load_series(which: str) -> list:
    """``sample``, half ``a`` or ``b`` of ``validation_daily.csv``, or every series of
    another CSV laid out like it (``series, domain, ds, y``)."""
    if which == "sample":
        return A.load_panel(A.SAMPLE, "page", "date", "pageviews", None, "D")
    if which in ("a", "b"):
        panel = ROOT_DATA / "validation_daily.csv"
        return A.half(A.load_panel(panel, "series", "ds", "y", "domain", "D"), which)
    return A.load_panel(Path(which), "series", "ds", "y", "domain", "D")


def main() -> int:
    from joblib import Parallel, delayed

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--build", choices=("a", "b", "sample"), help="panel to build the cache of")
    parser.add_argument("--out", default="/tmp/cands.pkl")
    parser.add_argument("--replay", metavar="FILE", help="replay a cache")
    parser.add_argument(
        "--bands",
        metavar="FILE",
        help="replay band rules that read the history on a cache (--panel rebuilds it for old caches)",
    )
    parser.add_argument("--panel", choices=("a", "b", "sample"), help="panel the --bands cache was built on")
    parser.add_argument("--buckets", metavar="FILE", help="replay a choice per horizon bucket on a cache")
    parser.add_argument(
        "--max-train",
        type=int,
        default=A.MAX_TRAIN,
        metavar="N",
        help="--build: each fit sees at most the last N days (default %(default)s)",
    )
    parser.add_argument("--n-jobs", type=int, default=2)
    args = parser.parse_args()
    A._quiet()
    if args.build:
        series = load_series(args.build)
        tasks = [(s, o) for s in series for o in range(A.ORIGINS) if len(s.y) - H - o * H >= 16]
        rows = Parallel(n_jobs=args.n_jobs)(delayed(build_one)(s, o, args.max_train) for s, o in tasks)
        with open(args.out, "wb") as fh:
            pickle.dump([r for r in rows if r], fh)
        print(f"{len(tasks)} series x origins cached in {args.out}")
    if args.replay:
        with open(args.replay, "rb") as fh:
            replay(pickle.load(fh))
    if args.buckets:
        with open(args.buckets, "rb") as fh:
            replay_buckets(pickle.load(fh))
    if args.bands:
        with open(args.bands, "rb") as fh:
            replay_bands(pickle.load(fh), load_series(args.panel) if args.panel else None)
    return 0


ROOT_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"

if __name__ == "__main__":
    sys.exit(main())
