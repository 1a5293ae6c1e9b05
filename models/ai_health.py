from datetime import timedelta

from odoo import _, api, fields, models

#: Records whose open activities are the forecasting alerts (drift, accuracy, anomaly runs).
ALERT_MODELS = ("ai.model.version", "ai.forecast.target")
#: Alerts listed by name in the summary; the count covers them all.
ALERT_LIST_LIMIT = 20


class AiHealth(models.TransientModel):
    """The forecasting pipeline's health for one company, at a glance.

    Answers what an administrator or an external monitor asks first: did the
    data arrive (last successful GA4 run), are models retrained (last
    successful training), are forecasts written and scored (last prediction
    write, last actuals refresh), did anything fail in the last 24 hours, and
    which alerts are open. :meth:`_summary` builds the JSON served at
    ``/ai_train_model/health``; the transient record shows the same figures
    in a form. Everything is read as the requesting user, so record rules
    keep each company's figures to its own people.
    """

    _name = "ai.health"
    _description = "AI Forecasting Health"

    company_id = fields.Many2one(
        comodel_name="res.company", required=True, readonly=True, default=lambda self: self.env.company
    )
    status = fields.Selection(
        selection=[("ok", "OK"), ("warning", "Warning"), ("error", "Error")], compute="_compute_summary"
    )
    last_ga4_success = fields.Datetime(string="Last Successful GA4 Run", compute="_compute_summary")
    last_training_success = fields.Datetime(string="Last Successful Training", compute="_compute_summary")
    last_prediction_write = fields.Datetime(
        string="Last Prediction Written",
        compute="_compute_summary",
        help="When the last nightly forecast run that wrote predictions finished.",
    )
    last_actuals_refresh = fields.Datetime(compute="_compute_summary")
    failed_training_24h = fields.Integer(string="Failed Trainings (24 h)", compute="_compute_summary")
    failed_ga4_24h = fields.Integer(string="Failed GA4 Runs (24 h)", compute="_compute_summary")
    failed_forecast_24h = fields.Integer(
        string="Failed Forecast Runs (24 h)",
        compute="_compute_summary",
        help="Nightly predictions, actuals refreshes and drift checks that failed.",
    )
    open_alert_count = fields.Integer(string="Open Alerts", compute="_compute_summary")
    open_alerts = fields.Text(string="Open Alert Details", compute="_compute_summary")

    @api.depends("company_id")
    def _compute_summary(self):
        for record in self:
            figures = self._figures(record.company_id)
            record.status = figures["status"]
            record.last_ga4_success = figures["ga4_last"]
            record.last_training_success = figures["training_last"]
            record.last_prediction_write = figures["prediction_last"]
            record.last_actuals_refresh = figures["actuals_last"]
            record.failed_training_24h = figures["training_failed"]
            record.failed_ga4_24h = figures["ga4_failed"]
            record.failed_forecast_24h = figures["forecast_failed"]
            record.open_alert_count = figures["alerts"]["open"]
            record.open_alerts = "\n".join(
                f"{item['deadline'] or ''} {item['record']}: {item['summary']}".strip()
                for item in figures["alerts"]["items"]
            )

    @api.model
    def action_open(self):
        """Open a fresh health record for the current company (menu entry)."""
        record = self.create({"company_id": self.env.company.id})
        return {
            "type": "ir.actions.act_window",
            "name": _("Forecasting Health"),
            "res_model": self._name,
            "res_id": record.id,
            "view_mode": "form",
            "target": "current",
        }

    def action_refresh(self):
        self.invalidate_recordset()
        return True

    # ------------------------------------------------------------------ summary

    @api.model
    def _summary(self, company):
        """The health figures of ``company`` as a JSON-ready dict (UTC ISO times).

        ``status`` is ``error`` when a training job, GA4 run or forecast run
        (prediction, actuals refresh, monitoring) failed in the last 24 hours, ``warning`` when alerts are open, ``ok`` otherwise.
        """
        figures = self._figures(company)
        return {
            "company": {"id": company.id, "name": company.name},
            "generated_at": _iso(fields.Datetime.now()),
            "status": figures["status"],
            "ga4": {"last_success": _iso(figures["ga4_last"]), "failed_24h": figures["ga4_failed"]},
            "training": {"last_success": _iso(figures["training_last"]), "failed_24h": figures["training_failed"]},
            "predictions": {
                "last_write": _iso(figures["prediction_last"]),
                "last_actuals_refresh": _iso(figures["actuals_last"]),
                "failed_24h": figures["forecast_failed"],
            },
            "alerts": figures["alerts"],
        }

    @api.model
    def _figures(self, company):
        """The figures behind :meth:`_summary`, datetimes as naive UTC values."""
        since = fields.Datetime.now() - timedelta(hours=24)
        in_company = [("company_id", "=", company.id)]
        ga4_runs, jobs, runs = self.env["ai.ga4.run"], self.env["ai.training.job"], self.env["ai.forecast.run"]
        ga4_last = self._last_success(ga4_runs, in_company)
        ga4_failed = self._failures(ga4_runs, in_company, since)
        job_last = self._last_success(jobs, in_company)
        job_failed = self._failures(jobs, in_company, since)
        # Predictions carry no audit columns: the runs that write them do.
        prediction_last = self._last_success(runs, in_company + [("kind", "=", "predict")])
        actuals_last = self._last_success(runs, in_company + [("kind", "=", "refresh")])
        forecast_failed = self._failures(runs, in_company, since)
        alerts = self._open_alerts(company)
        failed = ga4_failed or job_failed or forecast_failed
        status = "error" if failed else ("warning" if alerts["open"] else "ok")
        return {
            "status": status,
            "ga4_last": ga4_last,
            "ga4_failed": ga4_failed,
            "training_last": job_last,
            "training_failed": job_failed,
            "prediction_last": prediction_last,
            "actuals_last": actuals_last,
            "forecast_failed": forecast_failed,
            "alerts": alerts,
        }

    @api.model
    def _last_success(self, model, domain):
        """When the last job of ``model`` (a job mixin) matching ``domain`` finished well."""
        return self._max(model, "date_finished", domain + [("state", "=", "done")])

    @api.model
    def _failures(self, model, domain, since):
        """How many jobs of ``model`` matching ``domain`` failed since ``since``."""
        return model.search_count(domain + [("state", "=", "failed"), ("date_finished", ">=", since)])

    @api.model
    def _max(self, model, field_name, domain):
        [(value,)] = model._read_group(domain, [], [f"{field_name}:max"])
        return value or None

    @api.model
    def _open_alerts(self, company):
        """Open activities on the company's model versions and forecast targets:
        the alert mechanism raises one per crossed threshold or anomaly run."""
        ids_by_model = {}
        for model_name in ALERT_MODELS:
            if model_name in self.env:
                ids_by_model[model_name] = self.env[model_name].search([("company_id", "=", company.id)]).ids
        domain = ["|"] * (len(ids_by_model) - 1)
        for model_name, ids in ids_by_model.items():
            domain += ["&", ("res_model", "=", model_name), ("res_id", "in", ids)]
        if not domain:
            return {"open": 0, "items": []}
        # sudo: activities assigned to other users stay readable here; the
        # records they hang on were searched as the requesting user above.
        activities = self.env["mail.activity"].sudo().search(domain, order="date_deadline, id")
        items = [
            {
                "model": activity.res_model,
                "res_id": activity.res_id,
                "record": activity.res_name,
                "summary": activity.summary or activity.activity_type_id.name or "",
                "deadline": fields.Date.to_string(activity.date_deadline) if activity.date_deadline else None,
                "assigned_to": activity.user_id.name or None,
            }
            for activity in activities[:ALERT_LIST_LIMIT]
        ]
        return {"open": len(activities), "items": items}


def _iso(value):
    """A naive UTC datetime as ISO 8601 with an explicit ``Z``, or None."""
    return value.strftime("%Y-%m-%dT%H:%M:%SZ") if value else None
