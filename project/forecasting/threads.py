"""Thread-pool control around the small numeric kernels of the models.

statsmodels fits are much slower when OpenBLAS spreads its tiny matrix
products over threads, and a small ``HistGradientBoostingRegressor`` suffers
the same from OpenMP, so ``ets``/``sarimax`` (BLAS) and ``gbm`` (OpenMP) run
single-threaded (``threadpoolctl``, microseconds per call); the orchestrator
parallelises over series instead.
"""

from __future__ import annotations

import contextlib
from functools import lru_cache

__all__ = ["one_thread"]


@lru_cache(maxsize=4)
def _thread_controller(user_api: str):
    from threadpoolctl import ThreadpoolController

    return ThreadpoolController().select(user_api=user_api)


def one_thread(user_api: str = "blas") -> contextlib.AbstractContextManager:
    """Limit BLAS (or OpenMP) to one thread around small numeric kernels.

    With OpenBLAS on all cores an ETS or SARIMAX fit is several times slower
    (thread start-up dominates 10x10 products); OpenMP does the same to a
    small ``HistGradientBoostingRegressor``.  The orchestrator parallelises
    over series instead.  The controller is built once per API (library
    discovery is slow, entering the limit cheap); call
    this after the library using the thread pool is imported so it is known.
    """
    try:
        return _thread_controller(user_api).limit(limits=1)
    except Exception:  # noqa: BLE001 - threadpoolctl missing or unusable: run as is
        return contextlib.nullcontext()
