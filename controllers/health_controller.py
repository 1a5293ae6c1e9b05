from odoo import fields, http
from odoo.http import request

from .api_auth import (
    api_key_env,
    bearer_key,
    json_error,
    json_response,
    not_found,
    unauthorized,
    wants_html,
)

MANAGER_GROUP = "ai_train_model.group_ai_manager"


class HealthController(http.Controller):
    @http.route("/ai_train_model/health", type="http", auth="public", methods=["GET"])
    def health(self, company_id=None, **kwargs):
        """The forecasting health of the caller's companies, as JSON, for external monitoring.

        For AI Managers only: a logged-in manager, or an API key
        (``Authorization: Bearer <key>``) whose owner is one. Anyone else gets
        404; anonymous callers 401 (API clients) or the login page (browsers).
        ``company_id`` narrows the answer to one of the caller's companies.
        """
        key = bearer_key()
        if key is not None:
            env, refused = api_key_env(key)
            if refused:
                return refused
        elif request.session.uid:
            env = request.env
        elif wants_html():
            return request.redirect_query("/web/login", {"redirect": request.httprequest.full_path})
        else:
            return unauthorized()
        if not env.user.has_group(MANAGER_GROUP):
            return not_found()
        companies = env.companies
        if company_id not in (None, ""):
            try:
                wanted = int(company_id)
            except ValueError:
                return json_error(400, "bad_parameter", "company_id must be an integer", parameter="company_id")
            companies = companies.filtered(lambda company: company.id == wanted)
            if not companies:
                return not_found()
        health = env["ai.health"]
        return json_response(
            {
                "generated_at": fields.Datetime.now().strftime("%Y-%m-%dT%H:%M:%SZ"),
                "companies": [health._summary(company) for company in companies],
            }
        )
