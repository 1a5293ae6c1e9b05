from odoo import _, api, fields, models


class AiForecastAlert(models.Model):
    """A forecasting alert while its condition holds: drift of a target's
    data, poor live accuracy of its champion, or a run of anomalous days on
    one series.

    Unique per (target, kind, key): raising an alert that is already open
    only refreshes its figures, so a condition that stays crossed across cron
    ticks (or an anomaly run that grows day after day) posts once and gets one
    activity for the Analysts. When the condition clears the alert closes; if
    it comes back later, it is raised again."""

    _name = "ai.forecast.alert"
    _description = "AI Forecast Alert"
    _inherit = ["ai.protected.fields.mixin"]
    _order = "state, date_last desc, id desc"

    _protected_create = True
    _protected_fields = (
        "company_id",
        "target_id",
        "version_id",
        "kind",
        "key",
        "state",
        "message",
        "date_first",
        "date_last",
        "date_closed",
        "activity_id",
    )

    name = fields.Char(compute="_compute_name")
    company_id = fields.Many2one(comodel_name="res.company", required=True, readonly=True, index=True)
    target_id = fields.Many2one(comodel_name="ai.forecast.target", required=True, readonly=True, ondelete="cascade")
    version_id = fields.Many2one(comodel_name="ai.model.version", readonly=True, ondelete="set null")
    kind = fields.Selection(
        selection=[("drift", "Drift"), ("accuracy", "Accuracy"), ("anomaly", "Anomalies")],
        required=True,
        readonly=True,
    )
    key = fields.Char(required=True, readonly=True, help="What the alert is about (a series and run start).")
    state = fields.Selection(
        selection=[("open", "Open"), ("closed", "Closed")], required=True, default="open", readonly=True, index=True
    )
    message = fields.Text(readonly=True)
    date_first = fields.Datetime(string="Raised On", readonly=True)
    date_last = fields.Datetime(string="Last Seen", readonly=True)
    date_closed = fields.Datetime(string="Closed On", readonly=True)
    activity_id = fields.Many2one(comodel_name="mail.activity", readonly=True, ondelete="set null")

    _sql_constraints = [
        ("alert_uniq", "unique(target_id, kind, key)", "An alert is unique per target, kind and key."),
    ]

    @api.depends("kind", "key", "target_id")
    def _compute_name(self):
        labels = dict(self._fields["kind"]._description_selection(self.env))
        for alert in self:
            alert.name = f"{alert.target_id.name or ''}: {labels.get(alert.kind, '')} ({alert.key})"

    @api.model
    def _raise(self, target, kind, key, message, version=None):
        """Open (or keep open) the alert; on opening, post ``message`` on the
        version's chatter (the target's without a version) and schedule one
        activity for the target's Analyst (see ``ai.forecast.target._alert_user``).
        Returns True when newly raised."""
        version = version or self.env["ai.model.version"]
        now = fields.Datetime.now()
        alert = self.sudo().search([("target_id", "=", target.id), ("kind", "=", kind), ("key", "=", key)])
        if alert and alert.state == "open":
            alert._engine().write({"date_last": now, "message": message})
            return False
        record = version or target
        record.sudo().message_post(body=message)
        user = target._alert_user()
        labels = dict(self._fields["kind"]._description_selection(self.env))
        activity = record.sudo().activity_schedule(
            "mail.mail_activity_data_todo",
            summary=_("%(kind)s alert: %(target)s", kind=labels[kind], target=target.name),
            note=message,
            user_id=user.id,
        )
        values = {
            "state": "open",
            "message": message,
            "date_first": now,
            "date_last": now,
            "date_closed": False,
            "activity_id": activity.id,
            "version_id": version.id,
        }
        if alert:
            alert._engine().write(values)
        else:
            self.sudo()._engine().create(
                {"company_id": target.company_id.id, "target_id": target.id, "kind": kind, "key": key, **values}
            )
        return True

    @api.model
    def _clear(self, target, kind, keys=None):
        """Close the open alerts of ``kind`` (those with ``keys`` only, when
        given): their condition no longer holds."""
        domain = [("target_id", "=", target.id), ("kind", "=", kind), ("state", "=", "open")]
        if keys is not None:
            domain.append(("key", "in", list(keys)))
        alerts = self.sudo().search(domain)
        alerts._engine().write({"state": "closed", "date_closed": fields.Datetime.now()})
        return alerts
