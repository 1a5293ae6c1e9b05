"""Demand classification: closed phases first, then Syntetos-Boylan ADI / CV².

Shops sell many slow products.  A series with many zero days needs models
built for intermittent demand (Croston and its successors): smoothing the
zeros and the sales together forecasts a level that is never observed and
ranks models by how well they predict zero.  But zeros have two causes, and
only one of them is intermittent demand:

1. **Closed phases.**  A business closed on Saturdays and Sundays has zeros
   on those weekdays every week; on the days it is open its demand may be
   perfectly smooth.  A phase of the season (a weekday for daily data, a
   month for monthly data) is *closed* when the series is zero in at least
   ``CLOSED_ZERO_SHARE`` of its cycles while the remaining phases are zero in
   at most ``OPEN_ZERO_SHARE`` of theirs.  Closed phases are taken out before
   the demand is classified: a weekday-only business is not intermittent.
2. **Intermittent demand** on the open phases, classified as Syntetos, Boylan
   and Croston (2005) do with two numbers: ``ADI``, the average interval
   between non-zero demands (in observations), and ``CV²``, the squared
   coefficient of variation of the non-zero demand sizes.  Cut-offs
   ``ADI = 1.32`` and ``CV² = 0.49``:

   ============  ==============  ==============
   \\              CV² < 0.49      CV² >= 0.49
   ============  ==============  ==============
   ADI < 1.32    smooth          erratic
   ADI >= 1.32   intermittent    lumpy
   ============  ==============  ==============

   *intermittent* and *lumpy* series are **sparse**: they get the
   intermittent-demand candidates (:mod:`project.forecasting.statsforecast_models`).
3. **Still closed.**  A closed phase is forecast as zero while it stays
   closed: :func:`closed_now` keeps the closed phases that are zero (or
   missing) in each of their last ``RECENT_CLOSED_CYCLES`` cycles, so a shop
   that opened on Sundays last month gets a Sunday forecast again.

The classification reads the most recent ``window`` observations (the
training window), so a product whose sales picked up is judged on its
present, not on its launch.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = [
    "ADI_CUTOFF",
    "CV2_CUTOFF",
    "CLOSED_ZERO_SHARE",
    "OPEN_ZERO_SHARE",
    "DemandProfile",
    "RECENT_CLOSED_CYCLES",
    "closed_now",
    "closed_phases",
    "classify_demand",
    "SPARSE_KINDS",
]

#: Syntetos-Boylan cut-offs.
ADI_CUTOFF = 1.32
CV2_CUTOFF = 0.49
#: A phase is closed when zero in at least this share of its cycles ...
CLOSED_ZERO_SHARE = 0.9
#: ... while the other phases are zero in at most this share of theirs.
OPEN_ZERO_SHARE = 0.5
#: A closed phase must be zero in each of its last this many cycles to be forecast as zero.
RECENT_CLOSED_CYCLES = 4
#: Kinds that get intermittent-demand models.
SPARSE_KINDS = ("intermittent", "lumpy")


@dataclass(frozen=True)
class DemandProfile:
    """How a series' demand looks (see the module docstring).

    ``kind`` is ``smooth``, ``erratic``, ``intermittent``, ``lumpy`` or
    ``zero`` (no demand on the open phases); ``closed`` lists the closed
    phases (positions modulo the season, counted from the first value).
    """

    kind: str
    adi: float
    cv2: float
    zero_share: float
    closed: tuple[int, ...] = ()

    @property
    def sparse(self) -> bool:
        """True when the series should get intermittent-demand models."""
        return self.kind in SPARSE_KINDS


def closed_phases(y: np.ndarray, season_length: int, offset: int = 0) -> tuple[int, ...]:
    """Phases (``(offset + i) % season_length``) on which the series is closed.

    Needs two full cycles and a season of at least 2; NaN values are ignored.
    """
    y = np.asarray(y, dtype=np.float64).ravel()
    m = int(season_length)
    if m < 2 or y.size < 2 * m:
        return ()
    phase = (offset + np.arange(y.size)) % m
    finite = np.isfinite(y)
    zero = (y == 0) & finite
    shares = np.array(
        [zero[phase == p].sum() / max(finite[phase == p].sum(), 1) for p in range(m)], dtype=np.float64
    )
    closed = shares >= CLOSED_ZERO_SHARE
    if not closed.any() or closed.all():
        return ()
    open_mask = ~closed[phase] & finite
    open_zero = float(zero[open_mask].sum() / max(open_mask.sum(), 1))
    if open_zero > OPEN_ZERO_SHARE:
        return ()
    return tuple(int(p) for p in np.flatnonzero(closed))


def closed_now(y: np.ndarray, season_length: int, closed: tuple[int, ...]) -> tuple[int, ...]:
    """The phases of ``closed`` (counted from ``y[0]``) that are zero or missing in each of their
    last ``RECENT_CLOSED_CYCLES`` cycles of ``y``.

    ``closed`` comes from :func:`closed_phases` over a long window, where a
    phase closed for years stays closed after it reopened; the last cycles
    say whether it still is.  Empty when ``y`` holds fewer cycles.
    """
    y = np.asarray(y, dtype=np.float64).ravel()
    m = int(season_length)
    if not closed or m < 2 or y.size < RECENT_CLOSED_CYCLES * m:
        return ()
    recent = y[-RECENT_CLOSED_CYCLES * m :]
    phase = (y.size - recent.size + np.arange(recent.size)) % m
    still = [p for p in closed if not np.any(np.isfinite(recent[phase == p]) & (recent[phase == p] != 0))]
    return tuple(int(p) for p in still)


def classify_demand(
    y: np.ndarray, season_length: int = 7, window: int | None = None, offset: int = 0
) -> DemandProfile:
    """Classify the demand of ``y`` (oldest first; NaN ignored) on its last ``window`` values.

    ``offset`` is the phase of ``y[0]`` (e.g. its weekday for daily data), so
    reported closed phases mean the same thing across series.
    """
    values = np.asarray(y, dtype=np.float64).ravel()
    if window and values.size > int(window):
        offset += values.size - int(window)
        values = values[-int(window) :]
    m = int(season_length)
    closed = closed_phases(values, m, offset)
    if closed:
        phase = (offset + np.arange(values.size)) % m
        values = values[~np.isin(phase, closed)]
    values = values[np.isfinite(values)]
    if values.size == 0:
        return DemandProfile("zero", float("inf"), float("nan"), 1.0, closed)
    nonzero = values[values != 0]
    zero_share = float(1.0 - nonzero.size / values.size)
    if nonzero.size == 0:
        return DemandProfile("zero", float("inf"), float("nan"), zero_share, closed)
    adi = float(values.size / nonzero.size)
    mean = float(np.mean(np.abs(nonzero)))
    cv2 = float((np.std(nonzero) / mean) ** 2) if mean > 0 else 0.0
    if adi < ADI_CUTOFF:
        kind = "smooth" if cv2 < CV2_CUTOFF else "erratic"
    else:
        kind = "intermittent" if cv2 < CV2_CUTOFF else "lumpy"
    return DemandProfile(kind, adi, cv2, zero_share, closed)
