import datetime
from urllib.parse import urlencode

from odoo import http
from odoo.exceptions import AccessError, MissingError
from odoo.http import request
from odoo.tools import SQL

from .api_auth import api_key_env, bearer_key, json_error, json_response, not_found

MAX_LIMIT = 10_000
DEFAULT_LIMIT = 1_000
MAX_HORIZON = 90
TYPES = ("forecast", "shadow")
PARAMETERS = ("target", "series", "date_from", "date_to", "horizon", "type", "page", "limit")
#: Columns served per prediction, in this order; ``id`` first.
COLUMNS = (
    "id",
    "series_key",
    "series_label",
    "date",
    "horizon",
    "yhat",
    "yhat_lower_80",
    "yhat_upper_80",
    "yhat_lower_95",
    "yhat_upper_95",
    "actual",
    "error",
    "is_anomaly",
    "anomaly_score",
)
ORDER = "date, series_key, horizon, id"


class BadParameter(ValueError):
    """A query parameter that cannot be used; ``parameter`` names it."""

    def __init__(self, parameter, message):
        super().__init__(message)
        self.parameter = parameter


def _integer(args, name, default, low, high):
    raw = args.get(name)
    if raw is None or raw == "":
        if default is None:
            raise BadParameter(name, f"{name} is required")
        return default
    try:
        value = int(raw)
    except ValueError:
        raise BadParameter(name, f"{name} must be an integer, got {raw!r}") from None
    if not low <= value <= high:
        raise BadParameter(name, f"{name} must be between {low} and {high}, got {value}")
    return value


def _date(args, name):
    raw = args.get(name)
    if not raw:
        return None
    try:
        return datetime.date.fromisoformat(raw)
    except ValueError:
        raise BadParameter(name, f"{name} must be a date YYYY-MM-DD, got {raw!r}") from None


def parse_parameters(args):
    """Validate the query string (a werkzeug ``MultiDict``) into a dict.

    Unknown parameters are refused rather than ignored, so that a typo
    (``date_form``) answers 400 instead of silently returning everything.
    ``series`` and ``horizon`` may repeat; ``horizon`` also takes a comma list.
    """
    unknown = sorted(set(args) - set(PARAMETERS))
    if unknown:
        raise BadParameter(unknown[0], f"unknown parameter {unknown[0]!r}; known: {', '.join(PARAMETERS)}")
    for name in PARAMETERS:
        if name not in ("series", "horizon") and len(args.getlist(name)) > 1:
            raise BadParameter(name, f"{name} is given more than once")
    params = {
        "target": _integer(args, "target", None, 1, 2**31 - 1),
        "page": _integer(args, "page", 1, 1, 2**31 - 1),
        "limit": _integer(args, "limit", DEFAULT_LIMIT, 1, MAX_LIMIT),
        "date_from": _date(args, "date_from"),
        "date_to": _date(args, "date_to"),
        "type": args.get("type") or "forecast",
        "series": [s for s in args.getlist("series") if s != ""],
        "horizon": [],
    }
    if params["type"] not in TYPES:
        raise BadParameter("type", f"type must be one of {', '.join(TYPES)}, got {params['type']!r}")
    if params["date_from"] and params["date_to"] and params["date_from"] > params["date_to"]:
        raise BadParameter("date_to", "date_to must not be before date_from")
    for raw in args.getlist("horizon"):
        for part in raw.split(","):
            params["horizon"].append(_integer({"horizon": part.strip()}, "horizon", None, 1, MAX_HORIZON))
    if (params["page"] - 1) * params["limit"] > 2**31 - 1:
        raise BadParameter("page", "page is too large")
    return params


def _domain(params, target, version):
    domain = [
        ("target_id", "=", target.id),
        ("model_version_id", "=", version.id),
        ("prediction_type", "=", params["type"]),
    ]
    if params["series"]:
        domain.append(("series_key", "in", params["series"]))
    if params["date_from"]:
        domain.append(("date", ">=", params["date_from"]))
    if params["date_to"]:
        domain.append(("date", "<=", params["date_to"]))
    if params["horizon"]:
        domain.append(("horizon", "in", sorted(set(params["horizon"]))))
    return domain


def _fetch(predictions, domain, offset, limit):
    """Rows of one page as dicts, read with one SQL query built by the ORM.

    ``_search`` applies the access rights and record rules of the user, so
    the query returns exactly what ``search_read`` would, without building a
    recordset, prefetching and converting ten thousand records field by field.
    """
    predictions.check_field_access_rights("read", list(COLUMNS))
    query = predictions._search(domain, offset=offset, limit=limit, order=ORDER)
    table = predictions._table
    predictions.env.cr.execute(query.select(*(SQL.identifier(table, column) for column in COLUMNS)))
    date_at = COLUMNS.index("date")
    anomaly_at = COLUMNS.index("is_anomaly")
    rows = []
    for row in predictions.env.cr.fetchall():
        row = list(row)
        row[date_at] = row[date_at].isoformat()
        row[anomaly_at] = bool(row[anomaly_at])
        rows.append(dict(zip(COLUMNS, row)))
    return rows


class PredictionApiController(http.Controller):
    @http.route(
        "/ai_train_model/api/v1/predictions",
        type="http",
        auth="public",
        methods=["GET"],
        csrf=False,
        save_session=False,
    )
    def predictions(self, **kwargs):
        """Stored predictions of one forecast target, as JSON, for API-key holders.

        Authenticated by an Odoo API key (``Authorization: Bearer <key>``);
        runs as the key's owner, so access rights and record rules decide what
        comes back. ``type=forecast`` (default) serves the target's champion,
        ``type=shadow`` its challenger. Paged by ``page``/``limit`` (at most
        10,000 rows); ``next`` is the URL of the following page, or null.
        Rate-limited per key (429 with ``Retry-After``).
        """
        key = bearer_key()
        env, refused = api_key_env(key)
        if refused:
            return refused
        try:
            params = parse_parameters(request.httprequest.args)
        except BadParameter as exc:
            return json_error(400, "bad_parameter", str(exc), parameter=exc.parameter)
        try:
            target = env["ai.forecast.target"].browse(params["target"]).exists()
            if not target:
                return not_found("Unknown forecast target.")
            target.check_access_rights("read")
            target.check_access_rule("read")
            version = target.champion_id if params["type"] == "forecast" else target.challenger_id
            predictions = env["ai.prediction"]
            offset = (params["page"] - 1) * params["limit"]
            rows = (
                _fetch(predictions, _domain(params, target, version), offset, params["limit"] + 1)
                if version
                else []
            )
        except (AccessError, MissingError):
            return not_found("Unknown forecast target.")
        more = len(rows) > params["limit"]
        rows = rows[: params["limit"]]
        next_url = None
        if more:
            query = [(k, v) for k, v in request.httprequest.args.items(multi=True) if k != "page"]
            next_url = f"{request.httprequest.base_url}?{urlencode([*query, ('page', params['page'] + 1)])}"
        return json_response(
            {
                "target": {"id": target.id, "name": target.name},
                "model_version": {"id": version.id, "name": version.display_name} if version else None,
                "type": params["type"],
                "page": params["page"],
                "limit": params["limit"],
                "count": len(rows),
                "next": next_url,
                "data": rows,
            }
        )

