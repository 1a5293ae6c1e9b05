"""What a service account reaches in GA4: accounts, properties, and one property's schema.

The report is a plain JSON-ready dict so the Odoo credential record can store
it as is and the command-line tool can print it.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from typing import Any

from .client import RetryPolicy, admin_client, data_client, describe_api_error, make_retry
from .credentials import CredentialsError, ServiceAccountKey, load_service_account
from .errors import KEY_REFUSED_ADVICE

__all__ = ["check_access", "normalize_property_id"]

logger = logging.getLogger(__name__)

#: A short retry budget: an access check is interactive.
CHECK_RETRY = RetryPolicy(initial=0.5, maximum=4.0, multiplier=2.0, deadline=20.0, timeout=30.0)


def normalize_property_id(value: str | int) -> str:
    """``"123"``, ``123`` or ``"properties/123"`` -> ``"123"``; raises ``InputError``."""
    from ..errors import InputError

    text = str(value).strip()
    if text.startswith("properties/"):
        text = text[len("properties/"):]
    if not text.isdigit():
        raise InputError(f"property id must be digits such as 123456789 (or properties/123456789), "
                         f"got {value!r}")
    return text


def check_access(
    credentials_info: ServiceAccountKey | Mapping[str, Any] | str | bytes,
    property_id: str | int | None = None,
    api_endpoint: str | None = None,
    *,
    transport: str | None = None,
    retry_policy: RetryPolicy = CHECK_RETRY,
) -> dict[str, Any]:
    """Check what the key reaches and return a JSON-ready report.

    ``credentials_info`` is a validated key, the key dict, its JSON bytes or a
    path. Raises :class:`CredentialsError` for an unusable key (never reaches
    the network then) and ``InputError`` for a malformed property id.

    Report: ``ok`` (bool: the property is reachable, or without a property at
    least one property is listed), ``checked_at`` (epoch seconds), ``key``
    (client email, key id, project: never the private key), ``transport``,
    ``accounts`` (``[{account, display_name, properties: [{property_id,
    display_name, property_type}]}]``), ``property_count``, ``property``
    (with ``property_id``: ``{property_id, accessible, dimensions: [{api_name,
    ui_name, category, custom}], metrics: [{api_name, ui_name, type, category,
    custom}], error}``), ``errors`` (one line per failed call) and
    ``message`` (one line for a person).
    """
    key = (credentials_info if isinstance(credentials_info, ServiceAccountKey)
           else load_service_account(credentials_info))
    pid = normalize_property_id(property_id) if property_id not in (None, "") else None
    from .client import resolve_transport

    chosen, _ = resolve_transport(api_endpoint, transport)
    retry = make_retry(retry_policy)
    report: dict[str, Any] = {
        "ok": False,
        "checked_at": time.time(),
        "key": key.public_summary(),
        "transport": chosen,
        "api_endpoint": api_endpoint,
        "accounts": [],
        "property_count": 0,
        "property": None,
        "errors": [],
        "message": "",
    }
    listing_ok = _list_properties(key, api_endpoint, transport, retry, retry_policy, report)
    if pid is not None:
        report["property"] = _probe_property(key, pid, api_endpoint, transport, retry,
                                             retry_policy, report)
        accessible = report["property"]["accessible"]
        report["ok"] = accessible
        if accessible:
            report["message"] = (
                f"{key.client_email} can read property {pid} "
                f"({len(report['property']['dimensions'])} dimensions, "
                f"{len(report['property']['metrics'])} metrics)"
            )
        elif report["property"].get("unauthenticated"):
            report["message"] = (
                f"{key.client_email} cannot read property {pid}: Google refused the key "
                f"({report['property']['error']}); {KEY_REFUSED_ADVICE}."
            )
        else:
            report["message"] = (
                f"{key.client_email} cannot read property {pid}: {report['property']['error']}. "
                "Add the service account's e-mail as a Viewer of the property in GA4 Admin > "
                "Property access management."
            )
    else:
        report["ok"] = report["property_count"] > 0
        if report["ok"]:
            report["message"] = (f"{key.client_email} reaches {report['property_count']} "
                                 f"properties in {len(report['accounts'])} accounts")
        elif listing_ok:
            report["message"] = (f"{key.client_email} reaches no GA4 property: add it as a Viewer "
                                 "of a property in GA4 Admin > Property access management")
        elif report.get("unauthenticated"):
            report["message"] = (
                f"Google refused the key of {key.client_email} ({report['errors'][-1]}); {KEY_REFUSED_ADVICE}"
            )
        else:
            report["message"] = f"cannot list the properties of {key.client_email}: {report['errors'][-1]}"
    return report


def _is_unauthenticated(exc: BaseException) -> bool:
    """Google answered 401 / UNAUTHENTICATED: the key itself was refused."""
    from google.api_core import exceptions as gexc

    return isinstance(exc, (gexc.Unauthorized, gexc.Unauthenticated))


def _list_properties(key: ServiceAccountKey, api_endpoint: str | None, transport: str | None,
                     retry: Any, policy: RetryPolicy, report: dict[str, Any]) -> bool:
    try:
        client = admin_client(key, api_endpoint, transport)
        pager = client.list_account_summaries(request={"page_size": 200}, retry=retry,
                                              timeout=policy.timeout)
        for summary in pager:  # the pager follows nextPageToken with the same retry
            report["accounts"].append({
                "account": summary.account,
                "display_name": summary.display_name,
                "properties": [
                    {
                        "property_id": prop.property.split("/", 1)[-1],
                        "display_name": prop.display_name,
                        "property_type": getattr(prop.property_type, "name", str(prop.property_type)),
                    }
                    for prop in summary.property_summaries
                ],
            })
    except CredentialsError:
        raise
    except Exception as exc:  # API errors, and requests' own (connection refused, timeouts)
        report["errors"].append(f"accountSummaries: {describe_api_error(exc)}")
        report["unauthenticated"] = _is_unauthenticated(exc)
        logger.info("GA4 accountSummaries failed for %s: %s", key.client_email, exc)
        return False
    report["property_count"] = sum(len(a["properties"]) for a in report["accounts"])
    return True


def _probe_property(key: ServiceAccountKey, pid: str, api_endpoint: str | None,
                    transport: str | None, retry: Any, policy: RetryPolicy,
                    report: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {"property_id": pid, "accessible": False, "dimensions": [],
                           "metrics": [], "error": None}
    try:
        client = data_client(key, api_endpoint, transport)
        meta = client.get_metadata(name=f"properties/{pid}/metadata", retry=retry,
                                   timeout=policy.timeout)
    except CredentialsError:
        raise
    except Exception as exc:
        out["error"] = describe_api_error(exc)
        out["unauthenticated"] = _is_unauthenticated(exc)
        report["errors"].append(f"metadata properties/{pid}: {out['error']}")
        return out
    out["accessible"] = True
    out["dimensions"] = [
        {"api_name": d.api_name, "ui_name": d.ui_name, "category": d.category,
         "custom": bool(d.custom_definition)}
        for d in meta.dimensions
    ]
    out["metrics"] = [
        {"api_name": m.api_name, "ui_name": m.ui_name,
         "type": getattr(m.type_, "name", str(m.type_)), "category": m.category,
         "custom": bool(m.custom_definition)}
        for m in meta.metrics
    ]
    return out
