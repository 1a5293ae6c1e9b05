"""API-key authentication and JSON answers shared by the JSON routes.

Odoo 17 has no bearer authentication for HTTP routes, so the JSON routes are
declared ``auth="public"`` (a database is needed, no session required) and
authenticate themselves: an ``Authorization: Bearer <key>`` header is checked
against Odoo's own API keys (``res.users.apikeys``, scope ``rpc``, the keys a
user creates in their preferences), and the request then runs as the key's
owner, with that user's access rights, record rules and companies.
"""

from odoo import api
from odoo.http import request


def json_response(payload, status=200, headers=None):
    """A JSON answer that no proxy or browser caches."""
    headers = [("Cache-Control", "no-store"), ("X-Content-Type-Options", "nosniff"), *(headers or [])]
    return request.make_json_response(payload, headers=headers, status=status)


def json_error(status, code, message, parameter=None, headers=None):
    """``{"error": {"code", "message"[, "parameter"]}}`` with ``status``."""
    error = {"code": code, "message": message}
    if parameter:
        error["parameter"] = parameter
    return json_response({"error": error}, status=status, headers=headers)


def unauthorized(message="A valid API key is required: Authorization: Bearer <key>."):
    return json_error(401, "unauthorized", message, headers=[("WWW-Authenticate", 'Bearer realm="ai_train_model"')])


def not_found(message="Not found."):
    return json_error(404, "not_found", message)


def rate_limited(env, key):
    """A 429 answer with ``Retry-After`` when ``key`` is over its request
    budget (the request is counted otherwise); None when it may go on."""
    retry_after = env["ai.api.rate.limit"].sudo()._hit(key)
    if not retry_after:
        return None
    return json_error(
        429,
        "rate_limited",
        f"Too many requests for this API key; retry in {retry_after} s.",
        headers=[("Retry-After", str(retry_after))],
    )


def api_key_env(key):
    """``(env, None)`` running as the owner of ``key`` when it is valid and
    within its request budget; otherwise the refusal to answer with: 401
    (``env`` None) or 429 with ``Retry-After``."""
    env = key_user_env(key)
    if env is None:
        return None, unauthorized()
    return env, rate_limited(env, key)


def bearer_key():
    """The key of an ``Authorization: Bearer`` header; ``""`` for another or
    an empty scheme (a wrong credential), None without the header."""
    header = request.httprequest.headers.get("Authorization")
    if header is None:
        return None
    scheme, _sep, key = header.strip().partition(" ")
    return key.strip() if scheme.lower() == "bearer" else ""


def key_user_env(key):
    """An environment for the owner of API key ``key``, or None when the key
    is unknown, revoked or its owner archived.

    The context is rebuilt rather than inherited from the request: a browser
    session's ``allowed_company_ids`` or language must not leak into an API
    call, and record rules then see all of the owner's companies.
    """
    if not key:
        return None
    uid = request.env["res.users.apikeys"]._check_credentials(scope="rpc", key=key)
    if not uid:
        return None
    user = request.env["res.users"].sudo().browse(uid)
    return api.Environment(request.env.cr, uid, {"lang": user.lang, "tz": user.tz})


def wants_html():
    """Whether an anonymous caller is a browser (login page) rather than a
    program (401 JSON): browsers ask for ``text/html`` when they navigate,
    monitors and ``curl`` do not."""
    return "text/html" in request.httprequest.headers.get("Accept", "")
