"""The direct multi-horizon gradient-boosting candidate (``gbm``).

One ``HistGradientBoostingRegressor`` learns ``y[o + h] - level(o)`` (log
space) from features known at the origin ``o`` (see
:func:`.features.direct_design`) plus the target date's calendar.  Compared
with a recursive model there is no error accumulation and no need to forecast
the features; compared with one model per horizon it is ``h`` times cheaper
and shares statistical strength across horizons.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from .base import BaseForecaster, back_transform, use_log
from .decomposition import LONG_SEASON
from .features import FeatureConfig, direct_design
from .threads import one_thread

__all__ = ["GBMForecaster"]

_LEVEL_PREFIXES = ("lag", "rmean", "slag", "smean")


class GBMForecaster(BaseForecaster):
    """Direct multi-horizon ``HistGradientBoostingRegressor`` (horizon as a feature).

    Training rows: every origin ``o`` and horizon ``k = 1..max_horizon``;
    target ``z[o + k] - rmean7(o)`` with ``z = log1p(y)`` (auto); features
    from :func:`.features.direct_design` with the level
    columns (lags, rolling and same-weekday means) also expressed relative to
    ``rmean7(o)``.  The model is scale-free, so spikes and level shifts do not
    dominate the loss.  Rows older than ``max_train`` target days are dropped.
    Horizons beyond ``max_horizon`` reuse its features (the tree saturates).
    Exogenous columns go through ``FeatureConfig.known_exog`` /
    ``observed_exog``: pass ``X`` to ``fit`` (history rows) and to ``predict``
    (the ``h`` future rows; observed-only columns may be NaN there).
    Bands come from in-sample residual quantiles per horizon
    (``native_intervals = False``).
    """

    name = "gbm"
    native_intervals = False

    def __init__(
        self,
        season_length: int = 7,
        max_horizon: int = 28,
        country: str | None = None,
        log: bool | str = "auto",
        max_iter: int = 100,
        learning_rate: float = 0.08,
        max_leaf_nodes: int = 7,
        min_samples_leaf: int = 100,
        loss: str = "absolute_error",
        max_train: int | None = 730,
        max_rows: int | None = 4000,
        yearly_order: int | None = None,
        known_exog: Sequence[str] = (),
        observed_exog: Sequence[str] = (),
        select_features: bool = False,
        random_state: int = 0,
    ):
        self.season_length = season_length
        self.max_horizon = max_horizon
        self.country = country
        self.log = log
        self.max_iter = max_iter
        self.learning_rate = learning_rate
        self.max_leaf_nodes = max_leaf_nodes
        self.min_samples_leaf = min_samples_leaf
        self.loss = loss
        self.max_train = max_train
        self.max_rows = max_rows
        self.yearly_order = yearly_order
        self.known_exog = known_exog
        self.observed_exog = observed_exog
        self.select_features = select_features
        self.random_state = random_state

    def _feature_season(self) -> int:
        # same-phase lags of a long (yearly) season need years of history per row
        m = int(self.season_length)
        return m if m < LONG_SEASON else 1

    def min_length(self) -> int:
        return 4 * self._feature_season() + 8

    def _config(self) -> FeatureConfig:
        return FeatureConfig(
            season_length=self._feature_season(),
            yearly_order=self.yearly_order_,
            country=self.country,
            known_exog=tuple(self.known_exog),
            observed_exog=tuple(self.observed_exog),
        )

    def _design(self, z, ds, horizons, exog, future):
        design = direct_design(z, ds, horizons, self._config(), exog=exog, future=future)
        base = design["rmean7"].to_numpy()
        for name in design.columns:
            if name.startswith(_LEVEL_PREFIXES):
                design[name] = design[name].to_numpy() - base
        drops = ["dayofmonth", "weekofyear"]
        if not self.yearly_order_:
            drops += ["dayofyear", "month"]
        for drop in drops:
            if drop in design.columns:
                del design[drop]
        return design, base

    def _fit(self, y, ds, X):
        from sklearn.ensemble import HistGradientBoostingRegressor

        from .features import select_features as _select

        self.log_ = use_log(self.log, y)
        z = np.log1p(y) if self.log_ else y.copy()
        n = len(z)
        H = int(self.max_horizon)
        if self.yearly_order is None:
            # a yearly shape learnt from less than two years is one year's noise
            self.yearly_order_ = 4 if n >= 2 * 365 else 0
        else:
            self.yearly_order_ = int(self.yearly_order)
        exog = None
        if X is not None and (self.known_exog or self.observed_exog):
            exog = X.reset_index(drop=True)
        design, base = self._design(z, ds, range(1, H + 1), exog, 0)
        rows = design["target_row"].to_numpy()
        target = z[rows] - base
        keep = np.isfinite(target)
        if self.max_train:
            keep &= rows >= n - int(self.max_train)
        if self.max_rows and keep.sum() > int(self.max_rows):
            # a random subset of (origin, horizon) pairs: neighbouring origins
            # are nearly duplicate rows, so this costs little accuracy
            rng = np.random.default_rng(self.random_state)
            chosen = rng.choice(np.flatnonzero(keep), int(self.max_rows), replace=False)
            keep = np.zeros_like(keep)
            keep[np.sort(chosen)] = True
        features = [c for c in design.columns if c != "target_row"]
        Xtr = design.loc[keep, features]
        ytr = target[keep]
        if len(ytr) < 50:
            raise ValueError(f"gbm has only {len(ytr)} training rows; need at least 50")
        if self.select_features:
            with one_thread("openmp"):
                features = _select(Xtr, ytr, keep=("horizon", "rmean7", "dayofweek"))
            Xtr = Xtr[features]
        self.features_ = features
        self.model_ = HistGradientBoostingRegressor(
            loss=self.loss,
            max_iter=int(self.max_iter),
            learning_rate=float(self.learning_rate),
            max_leaf_nodes=int(self.max_leaf_nodes),
            min_samples_leaf=int(self.min_samples_leaf),
            early_stopping=False,
            random_state=self.random_state,
        )
        horizon = Xtr["horizon"].to_numpy()
        recent = rows[keep] >= n - 182
        with one_thread("openmp"):
            self.model_.fit(Xtr.to_numpy(np.float64), ytr)
            # residual quantiles per horizon from the most recent rows
            fitted = self.model_.predict(Xtr.loc[recent].to_numpy(np.float64))
        resid = np.abs(ytr[recent] - fitted)
        self.resid_by_h_ = [resid[horizon[recent] == k] for k in range(1, H + 1)]
        # keep only what predict needs: the recent tail and dates
        tail = min(n, max(8 * self._feature_season(), 56) + 2 * H + 8)
        self.tail_z_ = z[-tail:].copy()
        self.tail_ds_ = pd.DatetimeIndex(ds[-tail:])
        self.tail_exog_ = None if exog is None else exog.iloc[-tail:].reset_index(drop=True)

    def _predict(self, h, levels, X):
        exog = None
        if self.tail_exog_ is not None:
            if X is None or len(X) < h:
                raise ValueError(
                    f"gbm was fitted with exogenous columns; predict needs X with {h} future rows"
                )
            exog = pd.concat(
                [self.tail_exog_, X.iloc[:h].reset_index(drop=True)[self.tail_exog_.columns]],
                ignore_index=True,
            )
        n = len(self.tail_z_)
        design, base = self._design(self.tail_z_, self.tail_ds_, range(1, h + 1), exog, h)
        rows = design["target_row"].to_numpy()
        horizon = design["horizon"].to_numpy()
        pick = rows == (n - 1 + horizon)
        Xp = design.loc[pick, self.features_].copy()
        order = np.argsort(horizon[pick])
        Xp = Xp.iloc[order]
        H = int(self.max_horizon)
        Xp["horizon"] = np.minimum(Xp["horizon"].to_numpy(), H)
        base_p = base[pick][order]
        with one_thread("openmp"):
            mean_z = base_p + self.model_.predict(Xp.to_numpy(np.float64))
        bounds = {}
        for v in levels:
            q = np.array(
                [
                    np.quantile(r, v / 100.0) if len(r) else 0.0
                    for r in (self.resid_by_h_[min(k, H) - 1] for k in range(1, h + 1))
                ]
            )
            bounds[v] = (back_transform(mean_z - q, self.log_), back_transform(mean_z + q, self.log_))
        return back_transform(mean_z, self.log_), bounds
