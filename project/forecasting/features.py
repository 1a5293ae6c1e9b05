"""Features for daily forecasting models, built without look-ahead leakage.

Two families of columns are produced, and the difference between them is the
whole point of this module:

* **Known-in-future** columns depend only on the *target* date: calendar
  fields, Fourier terms, public holidays and exogenous variables the user
  declares as known ahead (a promotion calendar, opening hours).  They can be
  computed for any future date.
* **Observed** columns depend on the history of the target (lags, rolling
  means) or on exogenous variables that are only observed as time passes
  (weather measured on the day, GA4 sessions of another property).  For a
  forecast made at origin ``o`` for the date ``o + h`` they may only read
  values up to ``o``.  :func:`lag_features` therefore takes the horizon and
  shifts every column by at least ``h`` rows: the same function builds the
  training rows and the prediction rows, so what the model learns is exactly
  what it will see at forecast time.

The frames are indexed like their input (one row per target date).  Missing
history is left as ``NaN``: ``HistGradientBoostingRegressor`` handles it
natively, other consumers can drop the rows.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import lru_cache

import numpy as np
import pandas as pd

from .base import dates_after, day_index, step_of

__all__ = [
    "FeatureConfig",
    "calendar_features",
    "fourier_terms",
    "fourier_features",
    "holiday_features",
    "known_features",
    "lag_features",
    "exog_features",
    "direct_design",
    "select_features",
]

logger = logging.getLogger(__name__)

WEEKLY_PERIOD = 7.0
YEARLY_PERIOD = 365.25


@dataclass(frozen=True)
class FeatureConfig:
    """Which features a model builds.

    ``lags`` are counted from the forecast origin (``1`` is the last observed
    value); ``windows`` are rolling-mean lengths ending at the origin.
    ``known_exog`` and ``observed_exog`` name exogenous columns of the frame
    passed to the model; observed-only columns are read at the origin, i.e.
    lagged by at least the horizon.
    """

    lags: tuple[int, ...] = (1, 2, 3, 7, 14, 28)
    windows: tuple[int, ...] = (7, 14, 28)
    season_length: int = 7
    weekly_order: int = 3
    yearly_order: int = 4
    country: str | None = None
    subdivision: str | None = None
    calendar: bool = True
    known_exog: tuple[str, ...] = field(default_factory=tuple)
    observed_exog: tuple[str, ...] = field(default_factory=tuple)


def calendar_features(ds: pd.DatetimeIndex | pd.Series | Sequence) -> pd.DataFrame:
    """Day of week, month, day of year, ISO week, month start/end and weekend flags.

    Integer-coded (not one-hot): tree models split on them directly and the
    frame stays narrow.
    """
    index = day_index(ds)
    return pd.DataFrame(
        {
            "dayofweek": index.dayofweek.astype(np.int8),
            "month": index.month.astype(np.int8),
            "dayofyear": index.dayofyear.astype(np.int16),
            "weekofyear": index.isocalendar().week.to_numpy().astype(np.int8),
            "dayofmonth": index.day.astype(np.int8),
            "is_month_start": index.is_month_start.astype(np.int8),
            "is_month_end": index.is_month_end.astype(np.int8),
            "is_weekend": (index.dayofweek >= 5).astype(np.int8),
        },
        index=index,
    )


def fourier_terms(
    ds: pd.DatetimeIndex | pd.Series | Sequence,
    period: float,
    order: int,
    prefix: str | None = None,
) -> pd.DataFrame:
    """``sin``/``cos`` pairs of ``order`` harmonics of ``period`` days.

    The phase is anchored on the Unix epoch, not on the first date, so the
    terms of a future date do not depend on where the training data starts.
    """
    index = day_index(ds)
    prefix = prefix or f"p{period:g}"
    t = (index.asi8 // 86_400_000_000_000).astype(np.float64)
    columns: dict[str, np.ndarray] = {}
    for k in range(1, int(order) + 1):
        angle = 2.0 * np.pi * k * t / float(period)
        columns[f"{prefix}_sin{k}"] = np.sin(angle)
        columns[f"{prefix}_cos{k}"] = np.cos(angle)
    return pd.DataFrame(columns, index=index)


def fourier_features(
    ds: pd.DatetimeIndex | pd.Series | Sequence,
    weekly_order: int = 3,
    yearly_order: int = 4,
) -> pd.DataFrame:
    """Weekly (period 7) and yearly (period 365.25) Fourier terms side by side."""
    parts = []
    if weekly_order > 0:
        parts.append(fourier_terms(ds, WEEKLY_PERIOD, weekly_order, prefix="week"))
    if yearly_order > 0:
        parts.append(fourier_terms(ds, YEARLY_PERIOD, yearly_order, prefix="year"))
    if not parts:
        return pd.DataFrame(index=day_index(ds))
    return pd.concat(parts, axis=1)


@lru_cache(maxsize=64)
def _holiday_dates(country: str, subdivision: str | None, years: tuple[int, ...]) -> frozenset:
    import holidays  # lazy: only needed when a country is configured

    calendar = holidays.country_holidays(country, subdiv=subdivision, years=years)
    return frozenset(pd.Timestamp(day) for day in calendar)


def holiday_features(
    ds: pd.DatetimeIndex | pd.Series | Sequence,
    country: str | None,
    subdivision: str | None = None,
) -> pd.DataFrame:
    """Public-holiday flags from the ``holidays`` package.

    Columns ``is_holiday``, ``holiday_eve`` (the day before) and
    ``holiday_after`` (the day after): retail and web traffic move on the days
    around a holiday too.  ``country=None`` returns an empty frame, so callers
    can concatenate unconditionally.  An unknown country code raises
    ``ValueError`` naming it.
    """
    index = day_index(ds)
    if not country:
        return pd.DataFrame(index=index)
    if len(index) == 0:
        return pd.DataFrame(
            {"is_holiday": [], "holiday_eve": [], "holiday_after": []}, index=index, dtype=np.int8
        )
    years = tuple(range(int(index.year.min()) - 1, int(index.year.max()) + 2))
    try:
        dates = _holiday_dates(country.upper(), subdivision, years)
    except NotImplementedError as exc:  # the holidays package's "unknown country"
        raise ValueError(
            f"Unknown holiday country code {country!r}: expected an ISO 3166-1 alpha-2 code "
            "supported by the 'holidays' package, e.g. 'US', 'ES', 'DE'."
        ) from exc
    holiday_index = pd.DatetimeIndex(sorted(dates))
    day = pd.Timedelta(days=1)
    return pd.DataFrame(
        {
            "is_holiday": index.isin(holiday_index).astype(np.int8),
            "holiday_eve": (index + day).isin(holiday_index).astype(np.int8),
            "holiday_after": (index - day).isin(holiday_index).astype(np.int8),
        },
        index=index,
    )


def known_features(
    ds: pd.DatetimeIndex | pd.Series | Sequence,
    config: FeatureConfig = FeatureConfig(),
) -> pd.DataFrame:
    """All target-date features of ``config``: calendar, Fourier and holidays."""
    index = day_index(ds)
    parts = [pd.DataFrame(index=index)]
    if config.calendar:
        parts.append(calendar_features(index))
    parts.append(fourier_features(index, config.weekly_order, config.yearly_order))
    parts.append(holiday_features(index, config.country, config.subdivision))
    return pd.concat(parts, axis=1)


def _shift(values: np.ndarray, periods: int) -> np.ndarray:
    out = np.full(len(values), np.nan)
    if periods < len(values):
        out[periods:] = values[: len(values) - periods]
    return out


def _rolling(values: np.ndarray, window: int) -> tuple[np.ndarray, np.ndarray]:
    """Trailing mean and std over ``window`` rows, ignoring NaN (min one value)."""
    finite = np.isfinite(values)
    v = np.where(finite, values, 0.0)
    zero = np.zeros(1)
    c1 = np.concatenate([zero, np.cumsum(v)])
    c2 = np.concatenate([zero, np.cumsum(v * v)])
    cn = np.concatenate([zero, np.cumsum(finite)])
    hi = np.arange(1, len(values) + 1)
    lo = np.maximum(hi - window, 0)
    n = cn[hi] - cn[lo]
    s1 = c1[hi] - c1[lo]
    s2 = c2[hi] - c2[lo]
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = np.where(n > 0, s1 / np.maximum(n, 1), np.nan)
        var = (s2 - n * mean * mean) / np.maximum(n - 1, 1)
        std = np.where(n > 1, np.sqrt(np.maximum(var, 0.0)), np.nan)
    return mean, std


def _lag_block(
    values: np.ndarray,
    horizon: int,
    lags: Sequence[int],
    windows: Sequence[int],
    season_length: int,
    prefix: str = "",
    rolled: Mapping[int, tuple[np.ndarray, np.ndarray]] | None = None,
) -> dict[str, np.ndarray]:
    """History columns for one horizon.

    The rolling statistics at the origin are those of the unshifted series,
    shifted by ``horizon``; ``rolled`` (window -> :func:`_rolling` of
    ``values``) lets a caller that builds many horizons compute them once.
    """
    if rolled is None:
        rolled = {int(window): _rolling(values, int(window)) for window in windows}
    columns: dict[str, np.ndarray] = {}
    for lag in lags:
        columns[f"{prefix}lag{lag}"] = _shift(values, horizon + int(lag) - 1)
    for i, window in enumerate(windows):
        mean, std = (_shift(part, horizon) for part in rolled[int(window)])
        columns[f"{prefix}rmean{window}"] = mean
        if i == 0:
            columns[f"{prefix}rstd{window}"] = std
    if season_length and season_length > 1:
        m = season_length * int(np.ceil(horizon / season_length))
        same = np.vstack([_shift(values, m + season_length * j) for j in range(4)])
        columns[f"{prefix}slag"] = same[0]
        count = np.isfinite(same).sum(axis=0)
        with np.errstate(invalid="ignore", divide="ignore"):
            columns[f"{prefix}smean4"] = np.where(
                count > 0, np.nansum(same, axis=0) / np.maximum(count, 1), np.nan
            )
    return columns


def lag_features(
    y: pd.Series | np.ndarray,
    horizon: int = 1,
    lags: Sequence[int] = (1, 7, 14, 28),
    windows: Sequence[int] = (7, 14, 28),
    season_length: int = 7,
    prefix: str = "",
) -> pd.DataFrame:
    """History features of ``y`` usable to forecast each row ``horizon`` steps ahead.

    Row ``t`` only reads ``y[: t - horizon + 1]`` (values up to the origin
    ``t - horizon``):

    * ``lag{L}``: ``y[t - horizon - L + 1]``, the ``L``-th most recent value
      at the origin (``lag1`` is the origin itself);
    * ``rmean{w}``: mean of the last ``w`` values at the origin (NaN ignored);
    * ``rstd{w0}``: standard deviation over the first window, a volatility scale;
    * ``slag``: the most recent value on the same phase of the season as the
      target (``y[t - season_length * ceil(horizon / season_length)]``), and
      ``smean4``, the mean of the last four such values.

    Append ``horizon`` ``NaN`` rows after the history to get the prediction
    rows: they only read observed values by construction.
    """
    if horizon < 1:
        raise ValueError(f"horizon must be >= 1, got {horizon}")
    index = y.index if isinstance(y, pd.Series) else pd.RangeIndex(len(y))
    values = np.asarray(y, dtype=np.float64)
    columns = _lag_block(values, int(horizon), lags, windows, season_length, prefix)
    return pd.DataFrame(columns, index=index)


def exog_features(
    exog: pd.DataFrame | None,
    horizon: int,
    known: Sequence[str] = (),
    observed: Sequence[str] = (),
) -> pd.DataFrame:
    """Exogenous columns aligned on target rows, without leakage.

    Known-in-future columns are taken as they are on the target date;
    observed-only columns are shifted by ``horizon`` rows (their value at the
    origin).  A declared column missing from ``exog`` raises ``ValueError``
    naming it.
    """
    if exog is None or (not known and not observed):
        return pd.DataFrame(index=None if exog is None else exog.index)
    missing = [name for name in (*known, *observed) if name not in exog.columns]
    if missing:
        raise ValueError(
            f"Exogenous column(s) {missing} declared but not present; available: {list(exog.columns)}"
        )
    out = {f"x_{name}": exog[name].astype(np.float64) for name in known}
    for name in observed:
        out[f"xo_{name}"] = exog[name].astype(np.float64).shift(horizon)
    return pd.DataFrame(out, index=exog.index)


def direct_design(
    y: np.ndarray,
    ds: pd.DatetimeIndex,
    horizons: Sequence[int],
    config: FeatureConfig = FeatureConfig(),
    exog: pd.DataFrame | None = None,
    future: int = 0,
) -> pd.DataFrame:
    """Stacked design matrix for a direct multi-horizon model (horizon as a feature).

    One block of rows per horizon ``h``: row ``t`` holds the features known at
    the origin ``t - h`` plus the target date's known features, a ``horizon``
    column and ``target_row`` (the position of the target date, ``0 ..
    len(y) + future - 1``).  ``future`` extra rows (dates after ``ds[-1]``,
    one step of the series apart, ``y`` unknown) are appended so prediction
    rows come out of the same code as training rows.  ``exog`` must then
    cover those future dates too (its rows aligned on the extended calendar).
    """
    y = np.asarray(y, dtype=np.float64)
    index = day_index(ds)
    if len(index) != len(y):
        raise ValueError(f"y has {len(y)} values but ds has {len(index)} dates")
    if future:
        extra = dates_after(index[-1], step_of(index), future)  # the series' own step
        index = index.append(extra)
        y = np.concatenate([y, np.full(future, np.nan)])
    known = known_features(index, config)
    known_cols = {name: known[name].to_numpy() for name in known.columns}
    if exog is not None:
        exog = exog.reset_index(drop=True)
        if len(exog) != len(index):
            raise ValueError(
                f"exogenous frame has {len(exog)} rows, expected {len(index)} "
                f"({len(index) - future} history + {future} future dates)"
            )
    n = len(index)
    horizons = [int(h) for h in horizons]
    columns: dict[str, list[np.ndarray]] = {}
    rolled = {int(w): _rolling(y, int(w)) for w in config.windows}
    for h in horizons:
        block: dict[str, np.ndarray] = {
            "target_row": np.arange(n, dtype=np.int64),
            "horizon": np.full(n, h, dtype=np.int16),
        }
        block.update(_lag_block(y, h, config.lags, config.windows, config.season_length, rolled=rolled))
        block.update(known_cols)
        if exog is not None:
            x = exog_features(exog, h, config.known_exog, config.observed_exog)
            block.update({name: x[name].to_numpy() for name in x.columns})
        for name, values in block.items():
            columns.setdefault(name, []).append(values)
    return pd.DataFrame({name: np.concatenate(parts) for name, parts in columns.items()})


def select_features(
    X: pd.DataFrame,
    y: np.ndarray,
    max_features: int | None = None,
    min_importance: float = 0.0,
    keep: Sequence[str] = (),
    max_rows: int = 4000,
    random_state: int = 0,
) -> list[str]:
    """Columns of ``X`` whose permutation importance is above ``min_importance``.

    Fits a small ``HistGradientBoostingRegressor`` on the first 80 % of the
    (time-ordered, subsampled to ``max_rows``) rows and measures the
    permutation importance (one repeat) on the last 20 %: a held-out score,
    so a feature that only helps the model memorise the training rows is not
    kept.  ``keep`` columns are always returned; the order follows ``X``.
    At least one column is always returned.
    """
    from sklearn.ensemble import HistGradientBoostingRegressor
    from sklearn.inspection import permutation_importance

    y = np.asarray(y, dtype=np.float64)
    mask = np.isfinite(y)
    Xf, yf = X.loc[mask].reset_index(drop=True), y[mask]
    if len(yf) > max_rows:
        rows = np.linspace(0, len(yf) - 1, max_rows).astype(int)
        Xf, yf = Xf.iloc[rows].reset_index(drop=True), yf[rows]
    if len(yf) < 20 or X.shape[1] == 0:
        return list(X.columns)
    from threadpoolctl import threadpool_limits

    split = int(len(yf) * 0.8)
    model = HistGradientBoostingRegressor(
        max_iter=60, learning_rate=0.1, max_leaf_nodes=15, random_state=random_state
    )
    # a few thousand rows: OpenMP thread start-up costs more than it saves
    with threadpool_limits(limits=1, user_api="openmp"):
        model.fit(Xf.iloc[:split], yf[:split])
        result = permutation_importance(
            model, Xf.iloc[split:], yf[split:], n_repeats=1, random_state=random_state
        )
    importance = pd.Series(result.importances_mean, index=X.columns)
    chosen = importance[importance > min_importance].sort_values(ascending=False)
    if max_features is not None:
        chosen = chosen.iloc[: int(max_features)]
    if chosen.empty:
        chosen = importance.sort_values(ascending=False).iloc[:1]
    selected = set(chosen.index) | set(keep)
    logger.debug("select_features kept %d of %d columns", len(selected), X.shape[1])
    return [name for name in X.columns if name in selected]
