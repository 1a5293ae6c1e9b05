"""Exceptions of the GA4 layer.

``CredentialsError`` (in :mod:`.credentials`) and bad request parameters are
:class:`project.errors.InputError`: the caller must change its input.
:class:`GA4Error` covers what the API answered; callers map it to a failed
run (a new attempt may succeed) or, for :class:`QuotaExhaustedError`, to a
run stopped early that resumes from its checkpoint.
"""

from __future__ import annotations

from typing import Any

__all__ = ["GA4Error", "DownloadError", "QuotaExhaustedError", "KEY_REFUSED_ADVICE"]

#: What to do when Google answers 401 (UNAUTHENTICATED) to a service account key.
KEY_REFUSED_ADVICE = (
    "the key is not valid, or was deleted or disabled in Google Cloud: create a new JSON key "
    "for the service account and upload it"
)


class GA4Error(RuntimeError):
    """The GA4 API refused or failed a call; the message is meant for a person."""


class QuotaExhaustedError(GA4Error):
    """The property's token quota is spent: stop now, resume later."""


class DownloadError(GA4Error):
    """A download failed.

    ``reason`` is a stable machine-readable word: ``unauthenticated`` (401:
    the key itself was refused), ``permission_denied`` (403),
    ``invalid_argument`` (400: names or combination refused),
    ``row_count_changed``, ``short_page``, ``retries_exhausted``,
    ``bad_value`` or ``api_error``. ``stats`` holds what had been done (a
    ``RunStats``) when the failure happened during the download.
    """

    def __init__(self, message: str, *, reason: str = "api_error", stats: Any = None) -> None:
        super().__init__(message)
        self.reason = reason
        self.stats = stats
