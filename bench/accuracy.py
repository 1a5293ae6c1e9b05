"""Accuracy targets: the automatic forecast against seasonal naive and its peers, one run.

One protocol for every long-format panel (issues 2 and 9): for each series a
rolling-origin backtest with ``--origins`` (4) origins ``h`` apart, counted
back from the series' *own* last date, horizon ``h`` (28 for daily data); at
most 1,095 training observations before each cutoff; MASE scaled by the mean
absolute lag-``m`` difference of that training window (``m`` the season
length: 7 for daily data), averaged over origins, then over series.  Days
absent from the file read as zero for the peers and for the truth (the
automatic pipeline reads the raw rows through ``prepare()``, as a user's file
would be).  Methods in the same run:

* ``automatic`` -- ``prepare()`` on the raw rows up to the cutoff, then
  :func:`project.utils.selection.fit_series` with the default configuration
  for the frequency (inner backtest, selection/ensemble, refit);
* statsforecast ``AutoARIMA``, ``AutoETS``, ``AutoTheta`` (``season_length=m``)
  and the plain mean of the three (``sf_mean3``); default Prophet
  (``prophet.Prophet()``); seasonal naive;
* with ``--methods``, any candidate of the library alone (guarded).

Also printed: the mean per domain (``--domain-col``), the coverage of the 80 %
and 95 % bands per horizon bucket, and a *dates check*: the whole file is
trained once through the library (``train`` after ``prepare`` with the
default stale policy) and every series' forecast must start one step after
its own last observation, unless the stale policy says otherwise.

``--half a|b`` keeps one half of the series (alternating within each domain,
sorted by name): the selection rule is chosen on half ``a`` and M4 series
1-100, and reported on half ``b``, the sample and the rest of M4
(``bench/README.md``).

``--m4`` scores M4 Weekly instead (h = 13, the organisers' train/test split)
through the CLI's ``--freq W`` configuration: sMAPE and MASE (in-sample lag-1
scale, as M4 defines it for weekly data) against Naive2 computed in the same
run, OWA = mean of the two ratios.  Same run: statsforecast ``AutoARIMA``,
``AutoETS``, ``AutoTheta`` (``season_length=52``; ``--peer-season 1`` runs
them as M4's own ARIMA and ETS standards read weekly data, with frequency 1,
where AutoARIMA's seasonal search does not make it too slow for the long
series) and their mean ``sf_mean3``, default Prophet and seasonal naive
(lag 52), on the organisers' whole training series (``--max-train N``: the
last ``N`` observations).  Each
method's OWA is taken against Naive2 on the series it was scored on;
``--offset``/``--limit`` run a slice, ``--dump`` keeps its per-series rows
and ``--combine`` prints dumped slices and their union.

Usage::

    .venv/bin/python bench/accuracy.py [--n-jobs 2]                    # the embedded sample
    .venv/bin/python bench/accuracy.py --panel ../shared/data/validation_daily.csv \\
        --series-col series --date-col ds --target-col y --domain-col domain
    .venv/bin/python bench/accuracy.py --m4 [--offset 0 --limit 100] [--dump FILE]
    .venv/bin/python bench/accuracy.py --combine FILE [FILE ...]
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import time
import warnings
from collections.abc import Iterable
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

SAMPLE = ROOT / "project" / "data" / "wikipedia_pageviews_daily.csv"
M4_DIR = ROOT.parent / "shared" / "data" / "m4"
ORIGINS = 4
MAX_TRAIN = 1095
PEERS = ("sf_autoarima", "sf_autoets", "sf_autotheta", "prophet_default")
MEAN3 = ("sf_autoarima", "sf_autoets", "sf_autotheta")
TARGET_RATIO = 0.82
TARGET_OWA = 0.74
LEVELS = (80, 95)
FREQ_OFFSET = {"D": "D", "W": "W-SUN", "M": "MS"}


def _quiet() -> None:
    warnings.filterwarnings("ignore")
    os.environ.setdefault("NIXTLA_ID_AS_COL", "1")
    for name in ("cmdstanpy", "prophet", "prophet.plot", "project", "numba"):
        logging.getLogger(name).setLevel(logging.ERROR)


def _config(freq: str, horizon: int):
    """The configuration the CLI builds for ``--freq`` (defaults otherwise).

    Completed by :meth:`~project.training.TrainConfig.for_freq` as
    :func:`project.training.train` does: season length, backtest step and the
    frequency's own defaults (``fit_series`` alone would read a missing
    season length as 7).
    """
    from project.training import TrainConfig

    return TrainConfig(horizon=horizon, freq=freq).for_freq(freq)


# --------------------------------------------------------------------------- methods


def _peer(method: str, y: np.ndarray, ds: pd.DatetimeIndex, h: int, m: int) -> pd.DataFrame:
    """Forecast frame (``mean``, ``lo-L``, ``hi-L``) of a peer trained on ``y``."""
    if method == "snaive":
        from project.utils.pipelines import SeasonalNaiveModel

        return SeasonalNaiveModel(season_length=m).fit(y, ds).predict(h, LEVELS)
    if method == "prophet_default":
        from prophet import Prophet

        model = Prophet()
        model.fit(pd.DataFrame({"ds": ds, "y": y}))
        future = model.make_future_dataframe(
            periods=h, freq=pd.infer_freq(ds[-5:]) or "D", include_history=False
        )
        out = model.predict(future)
        # Prophet's own band is 80 %; the 95 % one is not drawn by default
        return pd.DataFrame({"mean": out["yhat"], "lo-80": out["yhat_lower"], "hi-80": out["yhat_upper"]})
    from statsforecast import models

    cls = {"sf_autoarima": models.AutoARIMA, "sf_autoets": models.AutoETS, "sf_autotheta": models.AutoTheta}[
        method
    ]
    fc = cls(season_length=m).forecast(y=np.asarray(y, float), h=h, level=list(LEVELS))
    return pd.DataFrame({k: np.asarray(v, float) for k, v in fc.items()})


def _automatic(raw: pd.DataFrame, cutoff: pd.Timestamp, config, freq: str, h: int) -> pd.DataFrame:
    """The library on the raw rows up to ``cutoff``: ``prepare()`` then ``fit_series()``.

    Returns the forecast frame aligned on the ``h`` steps after ``cutoff``.
    """
    import dataclasses

    from project.utils.datos import prepare
    from project.utils.selection import fit_series

    prepared = prepare(raw, "ds", "y", missing=config.missing, horizon=h, end=cutoff, freq=freq)
    data = prepared.data
    ds = pd.DatetimeIndex(data["ds"])
    offset = pd.tseries.frequencies.to_offset(FREQ_OFFSET[freq])
    steps_short = 0
    while ds[-1] + steps_short * offset < cutoff:
        steps_short += 1
    cfg = dataclasses.replace(config, horizon=h + steps_short) if steps_short else config
    result = fit_series("s", data["y"].to_numpy(float), ds, cfg)
    fc = result.forecast.iloc[steps_short : steps_short + h].reset_index(drop=True)
    fc.attrs.update(
        errors=result.conformal_errors,
        interval=result.interval_method,
        model=result.model,
        demand=result.demand,
    )
    return fc


def _candidate(method: str, y: np.ndarray, ds: pd.DatetimeIndex, h: int, config) -> pd.DataFrame:
    from project.utils.selection import make_candidate

    model = make_candidate(method, config).fit(y, ds)
    return model.predict(h, LEVELS)


# --------------------------------------------------------------------------- panels


class Series:
    """One series of a panel: raw rows and the zero-filled calendar of its own span."""

    def __init__(self, uid: str, domain: str, raw: pd.DataFrame, freq: str):
        self.uid, self.domain = uid, domain
        self.raw = raw.sort_values("ds").reset_index(drop=True)
        calendar = pd.date_range(self.raw["ds"].iloc[0], self.raw["ds"].iloc[-1], freq=FREQ_OFFSET[freq])
        full = pd.Series(0.0, index=calendar)
        full.loc[self.raw["ds"].to_numpy()] = self.raw["y"].to_numpy(float)
        self.ds, self.y = calendar, full.to_numpy(float)


def load_panel(
    path: Path, series_col: str, date_col: str, target_col: str, domain_col: str | None, freq: str
):
    frame = pd.read_csv(path)
    frame = frame[frame[target_col].notna()]
    frame["ds"] = pd.to_datetime(frame[date_col]).dt.normalize()
    frame["y"] = frame[target_col].astype(float)
    out = []
    for uid, part in frame.groupby(series_col, sort=True):
        domain = str(part[domain_col].iloc[0]) if domain_col else "all"
        raw = part.groupby("ds", as_index=False)["y"].sum()
        out.append(Series(str(uid), domain, raw, freq))
    return out


def half(series: list, which: str | None) -> list:
    """Alternate series within each domain (sorted by name): ``a`` even positions, ``b`` odd."""
    if not which:
        return series
    keep = []
    for domain in sorted({s.domain for s in series}):
        members = sorted((s for s in series if s.domain == domain), key=lambda s: s.uid)
        keep += members[(0 if which == "a" else 1) :: 2]
    return sorted(keep, key=lambda s: s.uid)


def _task(s: Series, origin: int, method: str, h: int, m: int, config, freq: str) -> dict:
    _quiet()
    n = len(s.y)
    cut = n - h - origin * h
    start = max(0, cut - MAX_TRAIN)
    train, test = s.y[start:cut], s.y[cut : cut + h]
    ds = s.ds[start:cut]
    started = time.perf_counter()
    if method == "automatic":
        raw = s.raw[(s.raw["ds"] >= ds[0]) & (s.raw["ds"] <= ds[-1])]
        fc = _automatic(raw, ds[-1], config, freq, h)
    elif method in (*PEERS, "snaive"):
        fc = _peer(method, train, ds, h, m)
    else:
        fc = _candidate(method, train, ds, h, config)
    seconds = time.perf_counter() - started
    mean = fc["mean"].to_numpy(float)
    scale = float(np.mean(np.abs(train[m:] - train[:-m]))) if len(train) > m else np.nan
    if not scale > 0:
        scale = float(np.mean(np.abs(np.diff(train)))) or 1.0
    row = {
        "unique_id": s.uid,
        "domain": s.domain,
        "origin": origin,
        "method": method,
        "mase": float(np.mean(np.abs(test - mean)) / scale),
        "seconds": seconds,
        "mean": mean,
        "test": test,
        "scale": scale,
        "weekday": s.ds[cut : cut + h].dayofweek.to_numpy() if freq == "D" else None,
    }
    if method == "automatic":
        row.update({k: fc.attrs.get(k) for k in ("errors", "interval", "model", "demand")})
        row.update(
            {f"{side}-{lv}": fc[f"{side}-{lv}"].to_numpy(float) for lv in LEVELS for side in ("lo", "hi")}
        )
    row.update(_inside(fc, test))
    return row


def _inside(fc: pd.DataFrame, test: np.ndarray) -> dict[str, np.ndarray]:
    """``in80``, ``in95``: whether each actual lies inside the forecast's band (levels it has)."""
    return {
        f"in{lv}": (test >= fc[f"lo-{lv}"].to_numpy(float) - 1e-9)
        & (test <= fc[f"hi-{lv}"].to_numpy(float) + 1e-9)
        for lv in LEVELS
        if f"lo-{lv}" in fc
    }


def _mean3(frame: pd.DataFrame) -> pd.DataFrame:
    """The plain mean of statsforecast's AutoARIMA, AutoETS and AutoTheta from the same run."""
    parts = frame[frame["method"].isin(MEAN3)]
    rows = []
    for _, group in parts.groupby(["unique_id", "origin"]):
        if len(group) < len(MEAN3):
            continue
        first = group.iloc[0]
        mean = np.mean(np.stack(group["mean"].to_list()), axis=0)
        mase = float(np.mean(np.abs(first["test"] - mean)) / first["scale"])
        row = {k: first[k] for k in ("unique_id", "domain", "origin", "test", "scale")}
        rows.append(
            {**row, "method": "sf_mean3", "mase": mase, "mean": mean, "seconds": group["seconds"].sum()}
        )
    return pd.DataFrame(rows)


def _buckets(h: int) -> list[tuple[str, int, int]]:
    if h >= 28:
        return [
            ("D+1", 1, 1),
            ("D+7", 7, 7),
            (f"D+{h}", h, h),
            ("1-7", 1, 7),
            ("8-14", 8, 14),
            ("15-28", 15, h),
            (f"1-{h}", 1, h),
        ]
    third = max(h // 3, 1)
    return [(f"1-{third}", 1, third), (f"{third + 1}-{h}", third + 1, h), (f"1-{h}", 1, h)]


def report(frame: pd.DataFrame, h: int, title: str, wall: float) -> pd.DataFrame:
    per_series = frame.groupby(["method", "unique_id"])["mase"].mean()
    table = per_series.groupby("method").mean().rename("mean_mase").to_frame()
    table["seconds_per_fit"] = frame.groupby("method")["seconds"].mean()
    base = table.loc["snaive", "mean_mase"]
    table["x_snaive"] = table["mean_mase"] / base
    table = table.sort_values("mean_mase")
    print(f"{title}; wall {wall:.0f}s")
    print(table.to_string(float_format=lambda v: f"{v:.3f}"))
    if "automatic" in table.index:
        auto = table.loc["automatic", "mean_mase"]
        peers = table.drop(index="automatic")
        print(
            f"\nautomatic / seasonal naive = {auto / base:.3f}; best peer {peers['mean_mase'].idxmin()} "
            f"{peers['mean_mase'].min():.3f} ({peers['mean_mase'].min() / base:.3f} x snaive): "
            f"automatic {'AHEAD' if auto < peers['mean_mase'].min() else 'BEHIND'}"
        )
    domains = (
        frame.groupby(["method", "domain", "unique_id"])["mase"].mean().groupby(["method", "domain"]).mean()
    )
    by_domain = domains.unstack("domain")
    if by_domain.shape[1] > 1:
        by_domain = by_domain.loc[table.index]
        print("\nmean MASE per domain:")
        print(by_domain.to_string(float_format=lambda v: f"{v:.3f}"))
    if _print_coverage(frame, table.index, h):
        _weekday_coverage(frame[frame["method"] == "automatic"])
    return table


def _print_coverage(frame: pd.DataFrame, methods: Iterable[str], h: int) -> bool:
    """Print the share of actuals inside each method's bands per horizon bucket; False when none has bands."""
    cover_rows = []
    for method in methods:
        part = frame[frame["method"] == method]
        for lv in LEVELS:
            col = f"in{lv}"
            if col not in part or part[col].isna().all():
                continue
            hits = np.stack([v for v in part[col] if isinstance(v, np.ndarray)])
            row = {"method": method, "level": lv}
            for name, a, b in _buckets(h):
                row[name] = float(hits[:, a - 1 : b].mean())
            cover_rows.append(row)
    if cover_rows:
        print("\ninterval coverage per horizon bucket (share of actuals inside the band):")
        print(pd.DataFrame(cover_rows).to_string(index=False, float_format=lambda v: f"{v:.3f}"))
    return bool(cover_rows)


def _weekday_coverage(part: pd.DataFrame) -> None:
    """Coverage of the automatic bands per weekday of the target day (daily panels): a band of the
    right width on average can still be too wide on quiet weekends and too narrow on busy Mondays."""
    from project.preparation import WEEKDAY_NAMES

    if part.empty or "weekday" not in part or part["weekday"].isna().any():
        return
    days = np.concatenate(part["weekday"].to_list())
    rows = []
    for lv in LEVELS:
        if f"in{lv}" not in part or part[f"in{lv}"].isna().any():
            continue
        hits = np.concatenate(part[f"in{lv}"].to_list())
        rows.append({"level": lv, **{name: hits[days == d].mean() for d, name in enumerate(WEEKDAY_NAMES)}})
    if rows:
        print("\ncoverage of the automatic bands per weekday of the target day:")
        print(pd.DataFrame(rows).to_string(index=False, float_format=lambda v: f"{v:.3f}"))


def dates_check(series: list, freq: str, h: int, stale: str) -> None:
    """Train the whole file once and check each forecast starts right after its own end."""
    import dataclasses

    from project.training import train
    from project.utils.datos import prepare

    frame = pd.concat([s.raw.assign(unique_id=s.uid) for s in series], ignore_index=True)
    config = dataclasses.replace(_config(freq, h), n_jobs=2, stale=stale)
    prepared = prepare(frame, "ds", "y", ["unique_id"], horizon=h, freq=freq, stale=stale)
    result = train(prepared, config)
    offset = pd.tseries.frequencies.to_offset(FREQ_OFFSET[freq])
    report_ = prepared.report.set_index("unique_id")
    wrong = []
    for r in result.results:
        own_end = pd.Timestamp(report_.loc[r.unique_id, "last_observed"])
        first = pd.Timestamp(r.forecast["ds"].iloc[0])
        expected = own_end + offset
        if report_.loc[r.unique_id, "policy"].endswith("zero") or not report_.loc[r.unique_id, "stale"]:
            expected = pd.Timestamp(report_.loc[r.unique_id, "last_date"]) + offset
        if first != expected:
            wrong.append(f"{r.unique_id}: starts {first.date()}, expected {expected.date()}")
    stale_ids = report_.index[report_["stale"]].tolist()
    models = pd.Series({r.unique_id: r.model for r in result.results})
    print(
        f"\ndates check (whole file, --stale {stale}): {len(result.results)} series trained, "
        f"{len(stale_ids)} flagged stale, {len(wrong)} forecast(s) not starting after their own end"
    )
    for line in wrong:
        print("  " + line)
    print("chosen models: " + ", ".join(f"{k}={v}" for k, v in models.items()))


def run_panel(args: argparse.Namespace) -> int:
    from joblib import Parallel, delayed

    freq = args.freq
    m = {"D": 7, "W": 52, "M": 12}[freq]
    h = args.horizon or {"D": 28, "W": 13, "M": 12}[freq]
    if args.panel:
        series = load_panel(
            Path(args.panel), args.series_col, args.date_col, args.target_col, args.domain_col, freq
        )
        name = Path(args.panel).name
    else:
        series = load_panel(SAMPLE, "page", "date", "pageviews", None, "D")
        name = "embedded sample"
    series = half(series, args.half)
    if args.limit:
        series = series[: args.limit]
    config = _config(freq, h)
    methods = args.methods.split(",") if args.methods else ["automatic", *PEERS]
    methods = list(dict.fromkeys([*methods, "snaive"]))
    tasks = [
        (s, o, meth)
        for meth in methods
        for s in series
        for o in range(args.origins)
        if len(s.y) - h - o * h >= 2 * m + 2
    ]
    started = time.perf_counter()
    rows = Parallel(n_jobs=args.n_jobs)(
        delayed(_task)(s, o, meth, h, m, config, freq) for s, o, meth in tasks
    )
    frame = pd.DataFrame(rows)
    if set(MEAN3) <= set(methods):
        frame = pd.concat([frame, _mean3(frame)], ignore_index=True)
    title = (
        f"{name}{f' half {args.half}' if args.half else ''}: {len(series)} series, "
        f"{args.origins} origins x h={h} (step {h}), <= {MAX_TRAIN} training obs, MASE scale lag {m}; "
        f"candidates {','.join(config.candidates)}; n_jobs={args.n_jobs}"
    )
    report(frame, h, title, time.perf_counter() - started)
    if args.dump:
        frame.to_pickle(args.dump)
    if args.dates_check:
        dates_check(series, freq, h, args.stale)
    return 0


# --------------------------------------------------------------------------- M4 weekly


def _m4_series(offset: int, limit: int | None) -> list[tuple[str, np.ndarray, np.ndarray]]:
    train = pd.read_csv(M4_DIR / "Weekly-train.csv")
    test = pd.read_csv(M4_DIR / "Weekly-test.csv")
    out = []
    for (_, tr), (_, te) in zip(train.iterrows(), test.iterrows()):
        out.append(
            (str(tr.iloc[0]), tr.iloc[1:].dropna().to_numpy(float), te.iloc[1:].dropna().to_numpy(float))
        )
    out = out[offset:]
    return out[:limit] if limit else out


def _m4_task(
    uid: str,
    y: np.ndarray,
    test: np.ndarray,
    method: str,
    config,
    max_train: int | None,
    peer_season: int = 52,
) -> dict:
    """One method on one M4 Weekly series: forecast, sMAPE, MASE (in-sample lag-1 scale), seconds.

    ``max_train`` keeps only the last observations for the *peers* (``None``:
    the organisers' whole training series); the scale is always that of the
    whole training series, as M4 defines it.  ``peer_season`` is the
    statsforecast peers' ``season_length`` (seasonal naive keeps lag 52).
    """
    from project.utils.evaluacion import smape

    _quiet()
    h = len(test)
    ds = pd.date_range(end="2018-12-30", periods=len(y), freq="W-SUN")
    started = time.perf_counter()
    bands = {}
    if method == "automatic":
        raw = pd.DataFrame({"ds": ds, "y": y})
        pred = _automatic(raw, ds[-1], config, "W", h)
        fc = pred["mean"].to_numpy(float)
        bands = _inside(pred, test)
    elif method == "naive2":
        fc = np.repeat(y[-1], h)  # Naive2 = naive on the seasonally adjusted series; m = 1 for weekly
    else:
        keep = slice(-max_train, None) if max_train and method != "snaive" else slice(None)
        if method in (*PEERS, "snaive"):
            m = 52 if method == "snaive" else peer_season
            fc = _peer(method, y[keep], ds[keep], h, m)["mean"].to_numpy(float)
        else:
            fc = _candidate(method, y[keep], ds[keep], h, config)["mean"].to_numpy(float)
    seconds = time.perf_counter() - started
    scale = float(np.mean(np.abs(np.diff(y))))
    return {
        "unique_id": uid,
        "method": method,
        "smape": smape(test, fc),
        "mase": float(np.mean(np.abs(test - fc)) / scale),
        "seconds": seconds,
        "mean": fc,
        "test": test,
        "scale": scale,
        **bands,
    }


def _m4_mean3(frame: pd.DataFrame) -> pd.DataFrame:
    """``sf_mean3``: the plain mean of the three statsforecast peers' forecasts of the same run."""
    from project.utils.evaluacion import smape

    rows = []
    for uid, group in frame[frame["method"].isin(MEAN3)].groupby("unique_id", sort=False):
        if len(group) < len(MEAN3):
            continue
        first = group.iloc[0]
        mean = np.mean(np.stack(group["mean"].to_list()), axis=0)
        rows.append(
            {
                "unique_id": uid,
                "method": "sf_mean3",
                "smape": smape(first["test"], mean),
                "mase": float(np.mean(np.abs(first["test"] - mean)) / first["scale"]),
                "seconds": float(group["seconds"].sum()),
                "mean": mean,
                "test": first["test"],
                "scale": first["scale"],
            }
        )
    return pd.DataFrame(rows)


def m4_table(frame: pd.DataFrame) -> pd.DataFrame:
    """sMAPE, MASE and OWA per method, each against Naive2 on the *same* series.

    A method scored on fewer series than Naive2 (a slice where it was not run)
    is compared with Naive2 on its own series only; ``series`` says how many.
    """
    naive2 = frame[frame["method"] == "naive2"].set_index("unique_id")
    rows = []
    for method, part in frame.groupby("method"):
        uids = part["unique_id"]
        s2, m2 = naive2.loc[uids, "smape"].mean(), naive2.loc[uids, "mase"].mean()
        smape_, mase = part["smape"].mean(), part["mase"].mean()
        rows.append(
            {
                "method": method,
                "series": len(part),
                "smape": smape_,
                "mase": mase,
                "naive2_smape": s2,
                "naive2_mase": m2,
                "owa": 0.5 * (smape_ / s2 + mase / m2),
                "seconds": part["seconds"].mean(),
            }
        )
    return pd.DataFrame(rows).set_index("method").sort_values("owa")


def _print_m4(frame: pd.DataFrame, title: str) -> None:
    table = m4_table(frame)
    print(title)
    print(table.to_string(float_format=lambda v: f"{v:.3f}"))
    if "automatic" in table.index:
        owa = table.loc["automatic", "owa"]
        peers = table.drop(index=["automatic", "naive2"], errors="ignore")
        peers = peers[peers["series"] == table.loc["automatic", "series"]]
        best = (
            f"; best peer on the same series {peers['owa'].idxmin()} {peers['owa'].min():.3f}"
            if len(peers)
            else ""
        )
        print(
            f"\nOWA automatic = {owa:.3f} (target <= {TARGET_OWA}): "
            f"{'MET' if owa <= TARGET_OWA else 'NOT MET'}{best}"
        )
    _print_coverage(frame, ["automatic"], len(frame["test"].iloc[0]))


def run_m4(args: argparse.Namespace) -> int:
    from joblib import Parallel, delayed

    config = _config("W", 13)
    methods = args.methods.split(",") if args.methods else ["automatic", *PEERS, "snaive"]
    methods = list(dict.fromkeys([*methods, "naive2"]))
    series = _m4_series(args.offset, args.limit)
    started = time.perf_counter()
    rows = Parallel(n_jobs=args.n_jobs)(
        delayed(_m4_task)(uid, y, te, meth, config, args.max_train, args.peer_season)
        for meth in methods
        for uid, y, te in series
    )
    frame = pd.DataFrame(rows)
    if set(MEAN3) <= set(methods):
        frame = pd.concat([frame, _m4_mean3(frame)], ignore_index=True)
    wall = time.perf_counter() - started
    frame.attrs.update(
        offset=args.offset,
        count=len(series),
        wall=wall,
        max_train=args.max_train,
        peer_season=args.peer_season,
    )
    if args.dump:
        frame.to_pickle(args.dump)
    peers_train = f"last {args.max_train} obs" if args.max_train else "whole training series"
    _print_m4(
        frame,
        f"M4 Weekly series {args.offset + 1}-{args.offset + len(series)} ({len(series)}), h=13, freq W "
        f"(season 52), candidates {','.join(config.candidates)}; peers on the {peers_train}, "
        f"statsforecast season_length {args.peer_season}; "
        f"wall {wall:.0f}s, n_jobs={args.n_jobs}; Naive2 official over all 359: sMAPE 9.161, MASE 2.777",
    )
    return 0


def combine_m4(paths: list[str]) -> int:
    """Print each ``--m4 --dump`` slice and their union (first dump wins on a repeated series/method)."""
    frames = []
    for path in paths:
        frame = pd.read_pickle(path)
        a = frame.attrs
        first = a.get("offset", 0) + 1
        _print_m4(
            frame,
            f"\n== {path}: M4 Weekly series {first}-{first + a.get('count', 0) - 1}, "
            f"wall {a.get('wall', float('nan')):.0f}s, peers max_train {a.get('max_train')}, "
            f"season_length {a.get('peer_season', 52)}",
        )
        frames.append(frame)
    union = pd.concat(frames, ignore_index=True).drop_duplicates(["unique_id", "method"])
    _print_m4(union, f"\n== combined: {union['unique_id'].nunique()} series")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n-jobs", type=int, default=2, metavar="N", help="parallel workers (default 2)")
    parser.add_argument(
        "--panel", metavar="FILE", help="long-format CSV to score (default: the embedded sample)"
    )
    parser.add_argument("--series-col", default="series", metavar="C")
    parser.add_argument("--date-col", default="ds", metavar="C")
    parser.add_argument("--target-col", default="y", metavar="C")
    parser.add_argument("--domain-col", default=None, metavar="C", help="column naming each series' domain")
    parser.add_argument("--freq", default="D", choices=("D", "W", "M"), help="panel frequency (default D)")
    parser.add_argument(
        "--horizon", type=int, default=None, metavar="H", help="default 28 (D), 13 (W), 12 (M)"
    )
    parser.add_argument("--origins", type=int, default=ORIGINS, metavar="N")
    parser.add_argument("--half", choices=("a", "b"), default=None, help="keep one half of the series")
    parser.add_argument("--dates-check", action="store_true", help="also train the whole file once")
    parser.add_argument("--stale", default="own-end", help="stale policy of the dates check")
    parser.add_argument("--dump", metavar="FILE", default=None, help="pickle every forecast row (replays)")
    parser.add_argument("--m4", action="store_true", help="score OWA on M4 Weekly instead")
    parser.add_argument("--offset", type=int, default=0, metavar="N", help="M4: skip the first N series")
    parser.add_argument("--limit", type=int, default=None, metavar="N", help="only the first N series")
    parser.add_argument(
        "--max-train",
        type=int,
        default=None,
        metavar="N",
        help="M4: peers see only the last N observations (default: the whole training series)",
    )
    parser.add_argument(
        "--peer-season",
        type=int,
        default=52,
        metavar="M",
        help="M4: season_length of the statsforecast peers (default 52; 1 as M4 reads weekly data)",
    )
    parser.add_argument(
        "--combine", metavar="DUMP", nargs="+", default=None, help="M4: print --dump files and their union"
    )
    parser.add_argument(
        "--methods",
        default=None,
        metavar="M,M",
        help="methods (default: automatic and the peers; library candidates by name)",
    )
    args = parser.parse_args(argv)
    _quiet()
    if args.combine:
        return combine_m4(args.combine)
    if args.m4:
        return run_m4(args)
    return run_panel(args)


if __name__ == "__main__":
    sys.exit(main())
