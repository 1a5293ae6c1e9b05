"""Google Analytics 4 input/output: credentials, clients, access checks, downloads.

Plain Python, no ``odoo`` import; the google clients, pandas and pyarrow are
imported inside the functions that need them so importing this package (and
``--help`` of the command-line tools) stays instant.

Public entry points (see each module):

* :func:`project.ga4.credentials.load_service_account` - validate a key file.
* :func:`project.ga4.access.check_access` - what a service account reaches.
* :func:`project.ga4.download.download_report` - a resumable, checked download.
"""

from .credentials import CredentialsError, ServiceAccountKey, load_service_account
from .errors import DownloadError, GA4Error, QuotaExhaustedError

__all__ = [
    "CredentialsError",
    "DownloadError",
    "GA4Error",
    "QuotaExhaustedError",
    "ServiceAccountKey",
    "load_service_account",
]
