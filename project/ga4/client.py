"""Official GA4 clients, transport choice and the retry policy.

gRPC is the default transport: its protobuf decoding is far faster than the
REST transport's JSON parsing (``bench/README.md``). REST is used for
``http(s)://`` endpoints (custom gateways, the test fake) or on request.

The generated clients retry nothing by default, so every call gets an explicit
:class:`google.api_core.retry.Retry`: truncated exponential backoff with full
jitter on 429, 5xx, timeouts and dropped connections. A 429 that says the
property's *tokens* are exhausted is not retried: waiting seconds cannot help,
the caller stops and resumes later (:func:`is_quota_exhausted`).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ..errors import InputError
from .credentials import ServiceAccountKey

__all__ = [
    "RetryPolicy",
    "resolve_transport",
    "data_client",
    "admin_client",
    "make_retry",
    "is_transient",
    "is_quota_exhausted",
    "describe_api_error",
    "run_report_wire",
]

logger = logging.getLogger(__name__)

TRANSPORTS = ("grpc", "rest")

RUN_REPORT_METHOD = "/google.analytics.data.v1beta.BetaAnalyticsData/RunReport"


@dataclass(frozen=True)
class RetryPolicy:
    """Backoff parameters. Sleeps are uniform in ``[0, d]`` with ``d`` growing
    from ``initial`` by ``multiplier`` up to ``maximum``; retrying stops after
    ``deadline`` seconds in total. ``timeout`` bounds each single call."""

    initial: float = 1.0
    maximum: float = 60.0
    multiplier: float = 2.0
    deadline: float = 600.0
    timeout: float = 120.0


def resolve_transport(api_endpoint: str | None, transport: str | None) -> tuple[str, dict[str, Any]]:
    """``(transport, client_options)`` for an endpoint and an optional explicit transport.

    An ``http://``/``https://`` endpoint implies REST (the gRPC transport
    cannot take a URL); asking for gRPC with such an endpoint is an error.
    """
    if transport is not None and transport not in TRANSPORTS:
        raise InputError(f"transport must be one of {', '.join(TRANSPORTS)}, got {transport!r}")
    options: dict[str, Any] = {}
    is_url = bool(api_endpoint) and api_endpoint.lower().startswith(("http://", "https://"))
    if is_url and transport == "grpc":
        raise InputError(
            f"--api-endpoint {api_endpoint} is a URL, which only the REST transport accepts; "
            "give host[:port] for gRPC or use --transport rest"
        )
    chosen = transport or ("rest" if is_url else "grpc")
    if api_endpoint:
        options["api_endpoint"] = api_endpoint.rstrip("/")
    return chosen, options


def data_client(key: ServiceAccountKey, api_endpoint: str | None = None,
                transport: str | None = None) -> Any:
    """A ``BetaAnalyticsDataClient`` authenticated with ``key``."""
    from google.analytics.data_v1beta import BetaAnalyticsDataClient

    chosen, options = resolve_transport(api_endpoint, transport)
    return BetaAnalyticsDataClient(
        credentials=key.credentials(), transport=chosen, client_options=options or None
    )


def admin_client(key: ServiceAccountKey, api_endpoint: str | None = None,
                 transport: str | None = None) -> Any:
    """An Admin API (v1beta) ``AnalyticsAdminServiceClient`` authenticated with ``key``."""
    from google.analytics.admin_v1beta import AnalyticsAdminServiceClient

    chosen, options = resolve_transport(api_endpoint, transport)
    return AnalyticsAdminServiceClient(
        credentials=key.credentials(), transport=chosen, client_options=options or None
    )


def is_quota_exhausted(exc: BaseException) -> bool:
    """True for RESOURCE_EXHAUSTED errors about property/project *tokens*.

    GA4 answers 429 both for short-lived limits (concurrent requests, server
    errors per hour) and for spent token budgets ("Exhausted property tokens
    per day"); only the latter needs to wait for the quota to refill.
    """
    from google.api_core import exceptions as gexc

    if not isinstance(exc, gexc.TooManyRequests):
        return False
    text = str(getattr(exc, "message", "") or exc).lower()
    return "token" in text and ("exhaust" in text or "quota" in text)


def is_transient(exc: BaseException) -> bool:
    """Whether ``exc`` is worth retrying: 429 (not token exhaustion), 5xx, timeouts."""
    from google.api_core import exceptions as gexc

    if isinstance(exc, gexc.TooManyRequests):
        return not is_quota_exhausted(exc)
    if isinstance(exc, (gexc.InternalServerError, gexc.BadGateway, gexc.ServiceUnavailable,
                        gexc.GatewayTimeout, gexc.DeadlineExceeded)):
        return True
    try:  # REST transport: requests' own errors are not wrapped by api_core
        import requests

        if isinstance(exc, (requests.exceptions.ConnectionError, requests.exceptions.Timeout,
                            requests.exceptions.ChunkedEncodingError)):
            return True
    except ImportError:  # pragma: no cover - requests ships with google-auth
        pass
    return False


def make_retry(policy: RetryPolicy,
               on_error: Callable[[BaseException], None] | None = None) -> Any:
    """The ``google.api_core.retry.Retry`` for ``policy``; ``on_error`` sees each retried error."""
    from google.api_core.retry import Retry

    return Retry(
        predicate=is_transient,
        initial=policy.initial,
        maximum=policy.maximum,
        multiplier=policy.multiplier,
        timeout=policy.deadline,
        on_error=on_error,
    )


def describe_api_error(exc: BaseException) -> str:
    """One line for a person: the HTTP/gRPC code and the server's message."""
    code = getattr(exc, "code", None)
    message = getattr(exc, "message", None) or str(exc)
    name = type(exc).__name__
    # REST messages start with "403 POST http://host/v1beta/...: text": keep the text.
    if isinstance(message, str) and ": " in message and message.split(" ", 1)[0].isdigit():
        message = message.split(": ", 1)[1]
    if code is not None and not isinstance(code, int):
        code = getattr(code, "name", code)
    return f"{name} ({code}): {message}" if code is not None else f"{name}: {message}"


def run_report_wire(client: Any) -> Callable[..., bytes]:
    """A ``fetch(request, *, retry, timeout) -> bytes`` for ``runReport`` pages:
    the serialized ``RunReportResponse``, for :func:`project.ga4.report.decode_page`.

    Why: over gRPC the official client decodes every page into a
    ``RunReportResponse`` with one protobuf object per row and per cell,
    several times the page's wire size (``bench/README.md``), only for the
    download to throw it away and convert the cells to Arrow. So on the gRPC
    transport the call goes through the *same* channel the client built
    (``transport.grpc_channel``, carrying its credentials), the same method
    path and request serializer, wrapped by
    ``google.api_core.gapic_v1.method.wrap_method`` exactly as the client
    wraps its own stub: the ``x-goog-api-client`` and routing
    (``x-goog-request-params: property=...``) metadata are sent, the given
    :class:`~google.api_core.retry.Retry` and timeout apply, and gRPC errors
    become ``google.api_core.exceptions`` through ``from_grpc_error`` (429
    ``ResourceExhausted``, 503 ``ServiceUnavailable``, ...), so retries and
    quota stops behave as with ``client.run_report``. Only the response
    deserializer differs: none, gRPC hands back the received bytes.

    Any other transport (REST, or a client object that is not a gRPC
    ``BetaAnalyticsDataClient``) goes through ``client.run_report`` and the
    response is serialized: REST's JSON parsing dominates there anyway.
    """
    transport = getattr(client, "transport", None)
    if getattr(transport, "kind", None) != "grpc":

        def decoded(request: Any, *, retry: Any = None, timeout: float | None = None) -> bytes:
            response = client.run_report(request, retry=retry, timeout=timeout)
            return type(response).pb(response).SerializeToString()

        return decoded

    from google.analytics.data_v1beta import types
    from google.analytics.data_v1beta.services.beta_analytics_data.transports.base import (
        DEFAULT_CLIENT_INFO,
    )
    from google.api_core import gapic_v1

    stub = transport.grpc_channel.unary_unary(
        RUN_REPORT_METHOD,
        request_serializer=types.RunReportRequest.serialize,
        response_deserializer=None,
    )
    call = gapic_v1.method.wrap_method(stub, default_timeout=60.0, client_info=DEFAULT_CLIENT_INFO)

    def raw(request: Any, *, retry: Any = None, timeout: float | None = None) -> bytes:
        routing = gapic_v1.routing_header.to_grpc_metadata((("property", request.property),))
        return call(request, retry=retry, timeout=timeout, metadata=(routing,))

    return raw
