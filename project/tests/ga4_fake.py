"""A fake Google Analytics 4 server for tests: the Data and Admin REST APIs.

The official ``google-analytics-data`` and ``google-analytics-admin`` clients
talk to it unchanged through their REST transport (``transport="rest"``,
``client_options={"api_endpoint": fake.url}``). It is plain HTTP on
127.0.0.1 with an OS-chosen port, served from a thread, so a test needs no
network and no extra package.

What it checks and serves:

* ``Authorization: Bearer <jwt>``: the clients sign self-signed JWTs with the
  service account's private key; the fake verifies the RS256 signature with
  the matching public key, the issuer and the expiry (401 otherwise).
* ``POST /v1beta/properties/{id}:runReport``: deterministic synthetic rows
  (the cartesian product of the dimension values, ``date`` over the date
  range), ``limit``/``offset`` paging (at most 250,000 rows a page),
  ``rowCount``, ``metricHeaders`` with types, ``metadata`` flags and
  ``propertyQuota`` when ``returnPropertyQuota`` is true.
* ``GET /v1beta/properties/{id}/metadata``, ``POST ...:checkCompatibility``.
* ``GET /v1beta/accountSummaries``, paged by ``pageSize``/``pageToken``.

Faults are scripted on :attr:`FakeGA4.faults` (see :class:`Faults`): a queue
of HTTP errors for the next ``runReport`` calls (429, 503, quota exhaustion),
slow answers, a daily token budget, thresholding/sampling flags, forbidden
properties and a ``rowCount`` that changes between pages.

Only the standard library is imported at module level; ``cryptography``
(already a dependency of ``google-auth``) is imported to verify signatures.
"""

from __future__ import annotations

import base64
import datetime as _dt
import json
import logging
import re
import threading
import time
import zlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

__all__ = [
    "DIMENSIONS",
    "METRICS",
    "INCOMPATIBLE",
    "FakeGA4",
    "FakeProperty",
    "Faults",
    "make_service_account",
    "synthetic_row_count",
]

logger = logging.getLogger(__name__)

MAX_PAGE = 250_000
DEFAULT_PAGE = 10_000

#: Dimensions the fake knows, with the values it generates (``date`` is
#: generated from the date range).
DIMENSIONS: dict[str, tuple[str, ...]] = {
    "date": (),
    "country": ("Argentina", "Brazil", "Spain"),
    "deviceCategory": ("desktop", "mobile", "tablet"),
    "sessionDefaultChannelGroup": ("Direct", "Organic Search", "Paid Search", "Referral"),
    "city": ("Buenos Aires", "Madrid", "S\u00e3o Paulo"),
    "itemName": ("Blue shirt", "Red hat"),
    "pagePath": ("/", "/cart", "/checkout", "/product"),
}

#: Metrics the fake knows, with their GA4 ``MetricType``.
METRICS: dict[str, str] = {
    "sessions": "TYPE_INTEGER",
    "activeUsers": "TYPE_INTEGER",
    "screenPageViews": "TYPE_INTEGER",
    "transactions": "TYPE_INTEGER",
    "itemsPurchased": "TYPE_INTEGER",
    "purchaseRevenue": "TYPE_CURRENCY",
    "bounceRate": "TYPE_FLOAT",
    "averageSessionDuration": "TYPE_SECONDS",
}

#: Pairs the fake reports as incompatible in ``checkCompatibility`` and
#: refuses in ``runReport`` (item-scoped dimension with session metrics).
INCOMPATIBLE: frozenset[tuple[str, str]] = frozenset(
    {("itemName", "sessions"), ("itemName", "bounceRate"), ("itemName", "averageSessionDuration")}
)


@dataclass
class FakeProperty:
    """A GA4 property the fake serves."""

    property_id: str
    display_name: str
    account: str = "accounts/1000"
    account_name: str = "Demo account"
    has_data: bool = True  #: False: every report is empty (no rows, no rowCount)


@dataclass
class Faults:
    """Scripted misbehaviour, read and consumed under the server's lock.

    ``errors``: HTTP statuses answered to the next ``runReport`` calls, in
    order (each consumed once); the string ``"quota"`` answers a 429
    ``RESOURCE_EXHAUSTED`` "Exhausted property tokens per day" error.
    ``delays``: seconds slept before answering the next ``runReport`` calls.
    ``tokens_per_day``: the property's daily token budget (``None``: large);
    every page served costs ``tokens_per_page``; once spent, ``runReport``
    answers the quota error. ``row_count_drift_after_pages``: after that many
    pages the report gains a row (``rowCount`` + 1). ``forbidden``: property
    ids answered with 403 on every Data API call.
    """

    errors: list[int | str] = field(default_factory=list)
    delays: list[float] = field(default_factory=list)
    tokens_per_day: int | None = None
    tokens_per_page: int = 10
    thresholded: bool = False
    sampled: bool = False
    data_loss_from_other_row: bool = False
    row_count_drift_after_pages: int | None = None
    forbidden: set[str] = field(default_factory=set)


def make_service_account(
    client_email: str = "downloader@demo-project.iam.gserviceaccount.com",
    *,
    key_size: int = 2048,
    token_uri: str = "http://127.0.0.1:9/token",
) -> dict[str, Any]:
    """A throwaway service-account key dict, as Google Cloud would export it."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    key = rsa.generate_private_key(public_exponent=65537, key_size=key_size)
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode("ascii")
    key_id = f"{zlib.crc32(pem.encode()):08x}" * 5
    return {
        "type": "service_account",
        "project_id": "demo-project",
        "private_key_id": key_id,
        "private_key": pem,
        "client_email": client_email,
        "client_id": "100000000000000000001",
        "auth_uri": "http://127.0.0.1:9/auth",
        "token_uri": token_uri,
    }


def synthetic_row_count(dimensions: Sequence[str], start: str, end: str) -> int:
    """Rows the fake returns for ``dimensions`` over ``[start, end]``."""
    return _Cube(dimensions, start, end).size


# --------------------------------------------------------------------------- data


class _Cube:
    """Row ``i`` of the cartesian product of dimension values, computed lazily."""

    def __init__(self, dimensions: Sequence[str], start: str, end: str) -> None:
        d0 = _dt.date.fromisoformat(start)
        d1 = _dt.date.fromisoformat(end)
        days = max((d1 - d0).days + 1, 0)
        self.values: list[Sequence[str]] = []
        for name in dimensions:
            if name == "date":
                self.values.append(
                    [(d0 + _dt.timedelta(days=k)).strftime("%Y%m%d") for k in range(days)]
                )
            else:
                self.values.append(DIMENSIONS[name])
        self.size = 1
        for vals in self.values:
            self.size *= len(vals)
        if not dimensions:
            self.size = 1

    def row(self, index: int) -> list[str]:
        out: list[str] = []
        for vals in reversed(self.values):
            index, rem = divmod(index, len(vals))
            out.append(vals[rem])
        out.reverse()
        return out


def _metric_value(property_id: str, key: Sequence[str], metric: str) -> str:
    h = zlib.crc32(("|".join((property_id, metric, *key))).encode("utf-8"))
    kind = METRICS[metric]
    if kind == "TYPE_INTEGER":
        return str(h % 5000)
    if kind == "TYPE_CURRENCY":
        return f"{(h % 1_000_000) / 100:.2f}"
    if kind == "TYPE_FLOAT":
        return repr((h % 10_000) / 10_000)
    return repr((h % 100_000) / 37)


def _b64url_decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class _ApiError(Exception):
    def __init__(self, code: int, status: str, message: str) -> None:
        super().__init__(message)
        self.code, self.status, self.message = code, status, message


_STATUS = {
    400: "INVALID_ARGUMENT",
    401: "UNAUTHENTICATED",
    403: "PERMISSION_DENIED",
    404: "NOT_FOUND",
    429: "RESOURCE_EXHAUSTED",
    500: "INTERNAL",
    502: "UNAVAILABLE",
    503: "UNAVAILABLE",
    504: "DEADLINE_EXCEEDED",
}


# --------------------------------------------------------------------------- server


class FakeGA4:
    """The fake server. Use as a context manager or call :meth:`start`/:meth:`stop`.

    ``service_accounts``: key dicts whose public keys the fake accepts.
    ``properties``: the properties served (default: two in one account and one
    in a second account). ``summaries_page_size``: the most account summaries
    per page, so clients must follow ``nextPageToken``.
    """

    def __init__(
        self,
        service_accounts: Sequence[Mapping[str, Any]] = (),
        properties: Sequence[FakeProperty] | None = None,
        *,
        summaries_page_size: int = 1,
    ) -> None:
        self.properties: dict[str, FakeProperty] = {
            p.property_id: p
            for p in (
                properties
                if properties is not None
                else (
                    FakeProperty("123456", "Web shop", "accounts/1000", "Demo account"),
                    FakeProperty("234567", "App", "accounts/1000", "Demo account"),
                    FakeProperty("345678", "Blog", "accounts/2000", "Second account"),
                )
            )
        }
        self.summaries_page_size = summaries_page_size
        self.faults = Faults()
        self.lock = threading.Lock()
        #: ``(method, path, json body or query)`` of every request, in order.
        self.requests: list[tuple[str, str, Any]] = []
        self.pages_served = 0
        self.tokens_consumed = 0
        self._keys: dict[str, Any] = {}
        for info in service_accounts:
            self.add_service_account(info)
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # -- lifecycle -----------------------------------------------------------------

    @property
    def url(self) -> str:
        """``http://127.0.0.1:PORT``, the ``api_endpoint`` to give the clients."""
        assert self._server is not None, "server not started"
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def start(self) -> FakeGA4:
        handler = type("_BoundHandler", (_Handler,), {"fake": self})
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever, name="ga4-fake", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def __enter__(self) -> FakeGA4:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def add_service_account(self, info: Mapping[str, Any]) -> None:
        """Accept JWTs signed by ``info``'s private key (issuer ``client_email``)."""
        from cryptography.hazmat.primitives import serialization

        key = serialization.load_pem_private_key(info["private_key"].encode(), password=None)
        self._keys[info["client_email"]] = key.public_key()

    def reset(self) -> None:
        """Clear the faults, the token budget spent and the request log (a new day)."""
        with self.lock:
            self.faults = Faults()
            self.requests.clear()
            self.pages_served = 0
            self.tokens_consumed = 0

    def run_report_requests(self) -> list[dict[str, Any]]:
        """Bodies of the ``runReport`` calls received, in order."""
        with self.lock:
            return [b for m, p, b in self.requests if p.endswith(":runReport")]

    # -- auth --------------------------------------------------------------------------

    def _authenticate(self, header: str | None) -> str:
        from cryptography.exceptions import InvalidSignature
        from cryptography.hazmat.primitives import hashes
        from cryptography.hazmat.primitives.asymmetric import padding

        if not header or not header.startswith("Bearer "):
            raise _ApiError(401, "UNAUTHENTICATED", "Request is missing a bearer token.")
        token = header[len("Bearer "):].strip()
        try:
            head_b64, body_b64, sig_b64 = token.split(".")
            head = json.loads(_b64url_decode(head_b64))
            claims = json.loads(_b64url_decode(body_b64))
            signature = _b64url_decode(sig_b64)
        except (ValueError, TypeError) as exc:
            raise _ApiError(401, "UNAUTHENTICATED", f"Malformed JWT: {exc}") from None
        if head.get("alg") != "RS256":
            raise _ApiError(401, "UNAUTHENTICATED", "JWT must be signed with RS256.")
        public_key = self._keys.get(claims.get("iss", ""))
        if public_key is None:
            raise _ApiError(401, "UNAUTHENTICATED", "Unknown JWT issuer.")
        try:
            public_key.verify(
                signature,
                f"{head_b64}.{body_b64}".encode("ascii"),
                padding.PKCS1v15(),
                hashes.SHA256(),
            )
        except InvalidSignature:
            raise _ApiError(401, "UNAUTHENTICATED", "Invalid JWT signature.") from None
        if float(claims.get("exp", 0)) < time.time():
            raise _ApiError(401, "UNAUTHENTICATED", "JWT expired.")
        return str(claims["iss"])

    # -- API ---------------------------------------------------------------------------

    def _property(self, property_id: str) -> FakeProperty:
        if property_id in self.faults.forbidden or property_id not in self.properties:
            raise _ApiError(
                403,
                "PERMISSION_DENIED",
                f"User does not have sufficient permissions for this property. "
                f"To learn more about Property ID, see "
                f"https://developers.google.com/analytics/devguides/reporting/data/v1/property-id. "
                f"(properties/{property_id})",
            )
        return self.properties[property_id]

    def account_summaries(self, query: Mapping[str, list[str]]) -> dict[str, Any]:
        accounts: dict[str, list[FakeProperty]] = {}
        for prop in self.properties.values():
            accounts.setdefault(prop.account, []).append(prop)
        summaries = [
            {
                "name": f"accountSummaries/{acc.split('/')[1]}",
                "account": acc,
                "displayName": props[0].account_name,
                "propertySummaries": [
                    {
                        "property": f"properties/{p.property_id}",
                        "displayName": p.display_name,
                        "propertyType": "PROPERTY_TYPE_ORDINARY",
                        "parent": acc,
                    }
                    for p in props
                ],
            }
            for acc, props in sorted(accounts.items())
        ]
        size = int((query.get("pageSize") or ["0"])[0] or 0) or 50
        size = min(size, self.summaries_page_size)
        start = int((query.get("pageToken") or ["0"])[0] or 0)
        page = {"accountSummaries": summaries[start : start + size]}
        if start + size < len(summaries):
            page["nextPageToken"] = str(start + size)
        return page

    def metadata(self, property_id: str) -> dict[str, Any]:
        self._property(property_id)
        return {
            "name": f"properties/{property_id}/metadata",
            "dimensions": [
                {"apiName": d, "uiName": d[0].upper() + d[1:], "category": "General",
                 "description": f"The {d} dimension."}
                for d in DIMENSIONS
            ],
            "metrics": [
                {"apiName": m, "uiName": m[0].upper() + m[1:], "type": t, "category": "General",
                 "description": f"The {m} metric."}
                for m, t in METRICS.items()
            ],
        }

    def check_compatibility(self, property_id: str, body: Mapping[str, Any]) -> dict[str, Any]:
        self._property(property_id)
        dims = [d["name"] for d in body.get("dimensions", [])]
        mets = [m["name"] for m in body.get("metrics", [])]
        bad = {x for d in dims for m in mets if (d, m) in INCOMPATIBLE for x in (d, m)}
        meta = self.metadata(property_id)
        dmeta = {d["apiName"]: d for d in meta["dimensions"]}
        mmeta = {m["apiName"]: m for m in meta["metrics"]}
        return {
            "dimensionCompatibilities": [
                {"dimensionMetadata": dmeta.get(d, {"apiName": d}),
                 "compatibility": "INCOMPATIBLE" if d in bad else "COMPATIBLE"}
                for d in dims
            ],
            "metricCompatibilities": [
                {"metricMetadata": mmeta.get(m, {"apiName": m}),
                 "compatibility": "INCOMPATIBLE" if m in bad else "COMPATIBLE"}
                for m in mets
            ],
        }

    def run_report(self, property_id: str, body: Mapping[str, Any]) -> dict[str, Any]:
        with self.lock:
            faults = self.faults
            delay = faults.delays.pop(0) if faults.delays else 0.0
            error = faults.errors.pop(0) if faults.errors else None
        if delay:
            time.sleep(delay)
        if error == "quota":
            raise _ApiError(429, "RESOURCE_EXHAUSTED", "Exhausted property tokens per day.")
        if error is not None:
            code = int(error)
            raise _ApiError(code, _STATUS.get(code, "UNKNOWN"), f"Scripted fault {code}.")
        prop = self._property(property_id)
        dims = [d["name"] for d in body.get("dimensions", [])]
        mets = [m["name"] for m in body.get("metrics", [])]
        for name in dims:
            if name not in DIMENSIONS:
                raise _ApiError(400, "INVALID_ARGUMENT",
                                f"Field {name} is not a valid dimension.")
        for name in mets:
            if name not in METRICS:
                raise _ApiError(400, "INVALID_ARGUMENT", f"Field {name} is not a valid metric.")
        if any((d, m) in INCOMPATIBLE for d in dims for m in mets):
            raise _ApiError(400, "INVALID_ARGUMENT",
                            "Please remove the incompatible dimensions and metrics.")
        ranges = body.get("dateRanges") or []
        if len(ranges) != 1:
            raise _ApiError(400, "INVALID_ARGUMENT", "The fake serves exactly one dateRange.")
        limit = int(body.get("limit", 0) or 0) or DEFAULT_PAGE
        if limit > MAX_PAGE:
            raise _ApiError(400, "INVALID_ARGUMENT", f"limit must be <= {MAX_PAGE}.")
        offset = int(body.get("offset", 0) or 0)

        with self.lock:
            budget = faults.tokens_per_day
            if budget is not None and self.tokens_consumed + faults.tokens_per_page > budget:
                raise _ApiError(429, "RESOURCE_EXHAUSTED", "Exhausted property tokens per day.")
            self.tokens_consumed += faults.tokens_per_page
            self.pages_served += 1
            served = self.pages_served
            consumed = self.tokens_consumed
            drift = (
                faults.row_count_drift_after_pages is not None
                and served > faults.row_count_drift_after_pages
            )

        cube = _Cube(dims, ranges[0]["startDate"], ranges[0]["endDate"])
        if not prop.has_data:
            cube.size = 0
        total = cube.size + (1 if drift and cube.size else 0)
        rows = []
        for i in range(offset, min(offset + limit, cube.size)):
            key = cube.row(i)
            rows.append({
                "dimensionValues": [{"value": v} for v in key],
                "metricValues": [{"value": _metric_value(property_id, key, m)} for m in mets],
            })
        metadata: dict[str, Any] = {"currencyCode": "USD", "timeZone": "Etc/UTC"}
        if faults.thresholded:
            metadata["subjectToThresholding"] = True
        if faults.data_loss_from_other_row:
            metadata["dataLossFromOtherRow"] = True
        if faults.sampled:
            metadata["samplingMetadatas"] = [
                {"samplesReadCount": "500000", "samplingSpaceSize": "2000000"}
            ]
        out: dict[str, Any] = {
            "dimensionHeaders": [{"name": d} for d in dims],
            "metricHeaders": [{"name": m, "type": METRICS[m]} for m in mets],
            "metadata": metadata,
            "kind": "analyticsData#runReport",
        }
        if rows:
            out["rows"] = rows
        if total:
            out["rowCount"] = total
        if body.get("returnPropertyQuota"):
            day = faults.tokens_per_day if faults.tokens_per_day is not None else 200_000
            out["propertyQuota"] = {
                "tokensPerDay": {"consumed": faults.tokens_per_page,
                                 "remaining": max(day - consumed, 0)},
                "tokensPerHour": {"consumed": faults.tokens_per_page,
                                  "remaining": max(40_000 - consumed, 0)},
                "concurrentRequests": {"consumed": 0, "remaining": 10},
                "serverErrorsPerProjectPerHour": {"consumed": 0, "remaining": 10},
                "potentiallyThresholdedRequestsPerHour": {"consumed": 0, "remaining": 120},
                "tokensPerProjectPerHour": {"consumed": faults.tokens_per_page,
                                            "remaining": max(14_000 - consumed, 0)},
            }
        return out


_ROUTES = (
    ("POST", re.compile(r"^/v1beta/properties/(\d+):runReport$"), "run_report"),
    ("POST", re.compile(r"^/v1beta/properties/(\d+):checkCompatibility$"), "check_compatibility"),
    ("GET", re.compile(r"^/v1beta/properties/(\d+)/metadata$"), "metadata"),
    ("GET", re.compile(r"^/v1beta/accountSummaries$"), "account_summaries"),
)


class _Handler(BaseHTTPRequestHandler):
    fake: FakeGA4
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - stdlib name
        logger.debug("ga4-fake: " + format, *args)

    def do_GET(self) -> None:  # noqa: N802 - stdlib name
        self._dispatch("GET")

    def do_POST(self) -> None:  # noqa: N802 - stdlib name
        self._dispatch("POST")

    def _dispatch(self, method: str) -> None:
        parts = urlsplit(self.path)
        length = int(self.headers.get("content-length") or 0)
        raw = self.rfile.read(length) if length else b""
        fake = self.fake
        try:
            body = json.loads(raw) if raw else {}
        except ValueError:
            return self._send(400, _error(400, "INVALID_ARGUMENT", "Body is not JSON."))
        query = parse_qs(parts.query)
        with fake.lock:
            fake.requests.append((method, parts.path, body if method == "POST" else query))
        try:
            fake._authenticate(self.headers.get("authorization"))
            for verb, pattern, name in _ROUTES:
                match = pattern.match(parts.path)
                if verb == method and match:
                    handler = getattr(fake, name)
                    if name == "account_summaries":
                        result = handler(query)
                    elif name == "metadata":
                        result = handler(match.group(1))
                    else:
                        result = handler(match.group(1), body)
                    return self._send(200, result)
            raise _ApiError(404, "NOT_FOUND", f"No route for {method} {parts.path}.")
        except _ApiError as exc:
            return self._send(exc.code, _error(exc.code, exc.status, exc.message))
        except Exception as exc:  # a bug in the fake must surface, not hang the client
            logger.exception("ga4-fake internal error")
            return self._send(500, _error(500, "INTERNAL", f"fake failure: {exc!r}"))

    def _send(self, code: int, payload: Mapping[str, Any]) -> None:
        data = json.dumps(payload).encode("utf-8")
        try:
            self.send_response(code)
            self.send_header("Content-Type", "application/json; charset=UTF-8")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)
        except (BrokenPipeError, ConnectionResetError):  # client gave up (timeout test)
            pass


def _error(code: int, status: str, message: str) -> dict[str, Any]:
    return {"error": {"code": code, "status": status, "message": message}}
