from datetime import timedelta

from odoo import _, api, fields, models
from odoo.exceptions import UserError, ValidationError

#: Days of actuals the second demo dataset version brings.
DEMO_ACTUAL_DAYS = 7

_WEEKDAYS = [
    ("0", "Monday"),
    ("1", "Tuesday"),
    ("2", "Wednesday"),
    ("3", "Thursday"),
    ("4", "Friday"),
    ("5", "Saturday"),
    ("6", "Sunday"),
]


class AiForecastTarget(models.Model):
    """What a family of model versions forecasts, and when.

    A target follows a dataset lineage (the versions of one dataset name in a
    company, fed by imports, merges or a GA4 download), names the date, target
    and series columns and the horizon, and holds the registry's aliases: the
    **champion** whose forecasts users see, and at most one **challenger**
    predicting beside it in shadow mode. The nightly cron retrains and
    predicts the targets whose schedule is due.
    """

    _name = "ai.forecast.target"
    _description = "AI Forecast Target"
    _inherit = ["mail.thread", "mail.activity.mixin", "ai.protected.fields.mixin"]
    _order = "name, id"
    #: The aliases move only through promote / challenger / rollback, which
    #: verify the artifact and write the alias history.
    _protected_fields = ("champion_id", "challenger_id")
    _check_company_auto = True

    name = fields.Char(required=True, tracking=True)
    active = fields.Boolean(default=True, tracking=True)
    company_id = fields.Many2one(
        comodel_name="res.company", required=True, index=True, default=lambda self: self.env.company
    )
    source = fields.Selection(
        selection=[("dataset", "Dataset Lineage"), ("ga4", "GA4 Download")],
        required=True,
        default="dataset",
        help="Where new data comes from: new versions of a dataset (imports, merges) or a GA4 download.",
    )
    dataset_id = fields.Many2one(
        comodel_name="ai.dataset",
        check_company=True,
        index="btree_not_null",
        ondelete="restrict",
        help="Any version of the dataset to follow: the target uses the newest ready version of its lineage.",
    )
    ga4_download_id = fields.Many2one(
        comodel_name="ai.ga4.download",
        string="GA4 Download",
        check_company=True,
        index="btree_not_null",
        ondelete="restrict",
    )
    date_col = fields.Char(string="Date Column", default="date", required=True)
    target_col = fields.Char(string="Target Column", required=True)
    series_cols = fields.Char(
        string="Series Columns",
        help="Columns whose values identify a series, comma separated. Empty: one series named 'total'.",
    )
    horizon = fields.Integer(default=28, required=True, help="Days forecast after the last known day (1 to 90).")
    candidates = fields.Char(
        default="naive,snaive,ets,theta,gbm", required=True, help="Candidate models of the retraining jobs."
    )
    metric = fields.Selection(
        selection=lambda self: self.env["ai.training.job"]._METRICS, default="mase", required=True
    )
    cv_windows = fields.Integer(string="Backtest Windows", default=3, required=True)
    country_id = fields.Many2one(comodel_name="res.country", string="Holidays Country")
    schedule = fields.Selection(
        selection=[("manual", "Manual"), ("daily", "Daily"), ("weekly", "Weekly")],
        required=True,
        default="daily",
        tracking=True,
        help="When the nightly cron retrains and predicts this target.",
    )
    schedule_hour = fields.Integer(
        string="Local Hour",
        default=1,
        help="Hour of the night (0-5, company time zone) from which the run is due; it must start before "
        "06:00 so that forecasts are ready for the working day. A run not started by then (server down, "
        "long queue) waits for the next night and says so in its log.",
    )
    schedule_weekday = fields.Selection(selection=_WEEKDAYS, string="Weekday", default="0")
    last_run_date = fields.Date(
        string="Last Scheduled Run", readonly=True, copy=False, help="Local day of the last nightly run."
    )
    last_dataset_id = fields.Many2one(
        comodel_name="ai.dataset",
        string="Last Dataset Seen",
        readonly=True,
        copy=False,
        ondelete="set null",
        help="Newest dataset version whose actuals were refreshed.",
    )
    champion_id = fields.Many2one(
        comodel_name="ai.model.version",
        readonly=True,
        copy=False,
        tracking=True,
        ondelete="set null",
        domain="[('target_id', '=', id)]",
        help="The version whose forecasts are served.",
    )
    can_roll_back = fields.Boolean(
        compute="_compute_can_roll_back", help="An earlier champion is still there to give the alias back to."
    )
    challenger_id = fields.Many2one(
        comodel_name="ai.model.version",
        readonly=True,
        copy=False,
        tracking=True,
        ondelete="set null",
        domain="[('target_id', '=', id)]",
        help="A version predicting in shadow mode beside the champion.",
    )
    alias_history_ids = fields.One2many(
        comodel_name="ai.model.alias.history", inverse_name="target_id", readonly=True
    )
    alert_user_id = fields.Many2one(
        comodel_name="res.users",
        string="Responsible",
        default=lambda self: self.env.user,
        help="Analyst who gets the activities of drift, accuracy and anomaly alerts. When empty, or not an "
        "active AI Analyst of the target's company, the first active internal AI Analyst of the company "
        "gets them.",
    )
    drift_alert = fields.Boolean(readonly=True, copy=False, help="A drift threshold is crossed now.")
    drift_psi = fields.Float(string="Drift PSI", readonly=True, copy=False, digits=(16, 4))
    drift_ks_pvalue = fields.Float(string="Drift KS p-value", readonly=True, copy=False, digits=(16, 4))
    version_ids = fields.One2many(comodel_name="ai.model.version", inverse_name="target_id", string="Versions")
    version_count = fields.Integer(compute="_compute_version_count")
    auto_promote = fields.Boolean(
        string="Automatic Promotion",
        default=False,
        tracking=True,
        help="Promote the challenger when it beats the champion by the margin over the given days of actuals.",
    )
    auto_promote_margin = fields.Float(
        string="Promotion Margin (%)",
        default=lambda self: float(
            self.env["ir.config_parameter"].sudo().get_param("ai_train_model.auto_promote_margin", 10.0)
        ),
        help="How much lower (in percent) the challenger's live error must be than the champion's.",
    )
    auto_promote_days = fields.Integer(
        string="Promotion Days",
        default=lambda self: int(
            self.env["ir.config_parameter"].sudo().get_param("ai_train_model.auto_promote_days", 14)
        ),
        help="Days of actuals both versions must have been scored on.",
    )

    _sql_constraints = [
        ("horizon_range", "CHECK(horizon BETWEEN 1 AND 90)", "The horizon must be between 1 and 90 days."),
        (
            "hour_range",
            "CHECK(schedule_hour BETWEEN 0 AND 5)",
            "The nightly run starts between 00:00 and 05:00 (local time) so that forecasts are ready by 06:00.",
        ),
        ("name_company_uniq", "unique(company_id, name)", "A forecast target with this name already exists."),
        (
            "champion_challenger_distinct",
            "CHECK(champion_id IS NULL OR challenger_id IS NULL OR champion_id != challenger_id)",
            "The champion cannot also be the challenger.",
        ),
    ]

    def _compute_version_count(self):
        counts = dict(
            self.env["ai.model.version"]._read_group([("target_id", "in", self.ids)], ["target_id"], ["__count"])
        )
        for target in self:
            target.version_count = counts.get(target, 0)

    @api.constrains("source", "dataset_id", "ga4_download_id")
    def _check_source(self):
        for target in self:
            if target.source == "dataset" and not target.dataset_id:
                raise ValidationError(_("Choose the dataset target %s follows.", target.name))
            if target.source == "ga4" and not target.ga4_download_id:
                raise ValidationError(_("Choose the GA4 download target %s follows.", target.name))

    @api.constrains("auto_promote_margin", "auto_promote_days", "cv_windows")
    def _check_promotion(self):
        for target in self:
            if target.auto_promote_margin < 0:
                raise ValidationError(_("The promotion margin cannot be negative."))
            if target.auto_promote_days < 1:
                raise ValidationError(_("Automatic promotion needs at least one day of actuals."))
            if not 1 <= target.cv_windows <= 20:
                raise ValidationError(_("Backtest windows must be between 1 and 20."))

    # ------------------------------------------------------------------ registry

    def _set_alias(self, alias, version, reason):
        """Give ``alias`` (champion or challenger) to ``version`` (empty: take
        it away), closing the current history line and opening a new one.

        A new champion goes to production; the former champion goes back to
        staging (ready for a rollback); a version taking or losing the
        challenger alias is in staging. Posted on both chatters."""
        self.ensure_one()
        if version:
            version.ensure_one()
        if version and version.target_id != self:
            raise UserError(_("%(version)s does not belong to %(target)s.", version=version.display_name, target=self.name))
        self.check_access_rights("write")
        self.check_access_rule("write")
        field = f"{alias}_id"
        current = self[field]
        if current == version:
            return False
        now = fields.Datetime.now()
        # sudo: history lines are written by the registry only (no group may
        # create them by hand); the caller's right to change aliases was checked.
        History = self.env["ai.model.alias.history"].sudo()._engine()
        open_lines = History.search([("target_id", "=", self.id), ("alias", "=", alias), ("date_to", "=", False)])
        open_lines.write({"date_to": now, "end_user_id": self.env.uid, "end_reason": reason})
        values = {field: version.id}
        if alias == "champion" and self.challenger_id == version:
            values["challenger_id"] = False
            History.search(
                [("target_id", "=", self.id), ("alias", "=", "challenger"), ("date_to", "=", False)]
            ).write({"date_to": now, "end_user_id": self.env.uid, "end_reason": reason})
        self.sudo()._engine().write(values)  # sudo: access to change aliases was checked above
        if version:
            History.create(
                {
                    "company_id": self.company_id.id,
                    "target_id": self.id,
                    "version_id": version.id,
                    "version_name": version.display_name,
                    "alias": alias,
                    "date_from": now,
                    "user_id": self.env.uid,
                    "reason": reason,
                }
            )
            state_values = {"state": "production" if alias == "champion" else "staging"}
            if not version.date_live:
                state_values["date_live"] = now
            version._engine().write(state_values)
        if current and alias == "champion":
            current._engine().write({"state": "staging"})
        label = _("champion") if alias == "champion" else _("challenger")
        if version:
            message = _(
                "%(version)s is now the %(alias)s of %(target)s (before: %(previous)s). Reason: %(reason)s",
                version=version.display_name,
                alias=label,
                target=self.name,
                previous=current.display_name if current else _("none"),
                reason=reason,
            )
        else:
            message = _(
                "%(target)s has no %(alias)s any more (was %(previous)s). Reason: %(reason)s",
                target=self.name,
                alias=label,
                previous=current.display_name,
                reason=reason,
            )
        self.message_post(body=message)
        for record in (version | current):
            record.message_post(body=message)
        return True

    def _alert_user(self):
        """The Analyst who gets the activity of a new alert: the target's
        responsible user when set and an active AI Analyst (Managers are
        Analysts too) of the target's company, else the first such user of
        the company (lowest id: the earliest created, a stable choice), else
        the responsible user or the creator as a last resort (a company with
        no Analyst at all)."""
        self.ensure_one()
        group = self.env.ref("ai_train_model.group_ai_analyst")
        company = self.company_id
        responsible = self.alert_user_id.sudo()
        if (
            responsible.active
            and not responsible.share
            and group in responsible.groups_id
            and company in responsible.company_ids
        ):
            return responsible
        analyst = (
            self.env["res.users"]
            .sudo()
            .search(
                [("groups_id", "in", group.id), ("share", "=", False), ("company_ids", "in", company.id)],
                order="id",
                limit=1,
            )
        )
        return analyst or responsible or self.create_uid

    @api.depends("champion_id")
    def _compute_can_roll_back(self):
        for target in self:
            target.can_roll_back = bool(target.id and target.champion_id and target._previous_champion())

    def _previous_champion(self):
        """The version that was champion before the current one (the newest
        closed champion line of another version still present)."""
        self.ensure_one()
        lines = self.env["ai.model.alias.history"].search(
            [
                ("target_id", "=", self.id),
                ("alias", "=", "champion"),
                ("date_to", "!=", False),
                ("version_id", "!=", False),
                ("version_id", "!=", self.champion_id.id),
            ],
            order="date_to desc, id desc",
            limit=1,
        )
        return lines.version_id

    def action_rollback(self, reason=None):
        """One click: the previous champion is champion again."""
        self.ensure_one()
        previous = self._previous_champion()
        if not previous:
            raise UserError(_("%s has no previous champion to roll back to.", self.name))
        self._set_alias(
            "champion",
            previous,
            reason or _("Rollback to the previous champion by %s.", self.env.user.name),
        )
        return True

    def _alias_wizard_action(self, action, version=None):
        """The window asking why before ``action`` (promote, challenger,
        rollback) moves an alias."""
        self.ensure_one()
        self.check_access_rights("write")
        self.check_access_rule("write")
        if action == "rollback" and not self._previous_champion():
            raise UserError(_("%s has no previous champion to roll back to.", self.name))
        wizard = self.env["ai.model.alias.wizard"].create(
            {"action": action, "target_id": self.id, "version_id": version.id if version else False}
        )
        return {
            "type": "ir.actions.act_window",
            "name": dict(wizard._fields["action"]._description_selection(self.env))[action],
            "res_model": wizard._name,
            "res_id": wizard.id,
            "view_mode": "form",
            "views": [(False, "form")],
            "target": "new",
        }

    def action_open_rollback_wizard(self):
        """Roll Back from the form: ask for the reason first."""
        return self._alias_wizard_action("rollback")

    # ------------------------------------------------------------------ lineage

    def _series_list(self):
        self.ensure_one()
        return [name.strip() for name in (self.series_cols or "").split(",") if name.strip()]

    def _lineage_domain(self):
        """Dataset versions of this target's lineage: the versions sharing the
        followed dataset's name in the company (imports, merges and GA4 runs
        add versions under the same name)."""
        self.ensure_one()
        name = self.ga4_download_id.dataset_name if self.source == "ga4" else self.dataset_id.name
        if not name:
            return [("id", "=", 0)]
        return [("company_id", "=", self.company_id.id), ("name", "=", name)]

    def _latest_dataset(self):
        """Newest usable dataset version of the lineage (empty recordset if none)."""
        self.ensure_one()
        return self.env["ai.dataset"].search(
            self._lineage_domain() + [("state", "in", ("ready", "registered")), ("checksum", "!=", False)],
            order="version desc, id desc",
            limit=1,
        )

    def action_view_versions(self):
        self.ensure_one()
        action = self.env["ir.actions.act_window"]._for_xml_id("ai_train_model.ai_model_version_action")
        action.update(domain=[("target_id", "=", self.id)], context={"default_target_id": self.id})
        return action

    def action_view_predictions(self):
        self.ensure_one()
        action = self.env["ir.actions.act_window"]._for_xml_id("ai_train_model.ai_prediction_action")
        action.update(domain=[("target_id", "=", self.id)])
        return action

    def _training_job_values(self, dataset, parent_version=None):
        """Values of the training job that retrains this target on
        ``dataset``: incrementally from ``parent_version`` when given."""
        self.ensure_one()
        return {
            "company_id": self.company_id.id,
            "model_name": self.name,
            "dataset_id": dataset.id,
            "target_id": self.id,
            "parent_version_id": parent_version.id if parent_version else False,
            "date_col": self.date_col,
            "target_col": self.target_col,
            "series_cols": self.series_cols or False,
            "horizon": self.horizon,
            "candidates": self.candidates,
            "cv_windows": self.cv_windows,
            "metric": self.metric,
            "country_id": self.country_id.id,
        }

    # ------------------------------------------------------------------ demo

    def _demo_build(self, update_dataset_id):
        """Make this target a demo forecast on the embedded sample: the
        target's dataset gets the sample without its last days, a training
        job trains the champion on it, a predict run stores its forecast, the
        version ``update_dataset_id`` brings the actuals of those days and a
        refresh run scores them (errors, anomalies, live accuracy, alerts).

        Called by ``demo/ai_forecast_target_demo.xml``. Every step is the
        engine's own (training job, forecast runs), run inline in the
        caller's transaction: an install loads demo data in a savepoint,
        which a commit would break. The sample's dates move by whole weeks to
        end yesterday, so the forecast covers the coming days. A target that
        has a champion already is left as it is (loading twice adds nothing).
        """
        self.ensure_one()
        if self.champion_id:
            return False
        import pandas as pd

        from ..project.datasets import demo

        target = self.with_company(self.company_id)
        first_version = target.dataset_id
        update = self.env["ai.dataset"].browse(update_dataset_id).with_company(self.company_id)
        if update.checksum or update == first_version:
            raise UserError(_("The demo needs an empty second version of %s.", first_version.display_name))
        sample = pd.read_csv(demo.DEMO_DATA)
        first, second = demo.demo_versions(
            sample, date_col=target.date_col, today=fields.Date.context_today(target), actual_days=DEMO_ACTUAL_DAYS
        )
        if not first_version.checksum:
            first_version._store_dataframe(first, filename="wikipedia_pageviews_daily.parquet")
        job = self.env["ai.training.job"].with_company(self.company_id).create(
            target._training_job_values(first_version)
        )
        job.action_queue()
        target._demo_run(job)
        Run = self.env["ai.forecast.run"]
        day = (first_version.date_to + timedelta(days=1)).isoformat()
        target._demo_run(Run._queue(target, "predict", day))
        second = target._demo_actuals(second)
        update._store_dataframe(second, filename="wikipedia_pageviews_daily.parquet")
        # Storing the version queued its refresh already (see ai.dataset.write).
        refresh = Run._queue(target, "refresh", str(update.id), update) or Run.search(
            [("target_id", "=", target.id), ("kind", "=", "refresh"), ("run_key", "=", str(update.id))]
        )
        target._demo_run(refresh)
        return True

    def _demo_actuals(self, second):
        """The demo's actuals: the sample's days, shown with exactly one
        anomaly (``project.datasets.demo.demo_actuals``)."""
        import pandas as pd

        from ..project.datasets import demo

        rows = self.env["ai.prediction"].search_read(
            [("model_version_id", "=", self.champion_id.id), ("prediction_type", "=", "forecast")],
            ["series_key", "date", "yhat", "yhat_lower_80", "yhat_upper_80", "yhat_upper_95", "scale"],
        )
        forecast = pd.DataFrame(
            {
                "series_key": [row["series_key"] for row in rows],
                "date": [row["date"].isoformat() for row in rows],
                "yhat": [row["yhat"] for row in rows],
                "lo-80": [row["yhat_lower_80"] for row in rows],
                "hi-80": [row["yhat_upper_80"] for row in rows],
                "hi-95": [row["yhat_upper_95"] for row in rows],
                "scale": [row["scale"] for row in rows],
            }
        )
        keys = [name.strip() for name in (self.series_cols or "").split(",") if name.strip()]
        actuals, _anomaly = demo.demo_actuals(
            second, forecast, date_col=self.date_col, target_col=self.target_col, key_cols=keys
        )
        return actuals

    def _demo_run(self, jobs):
        """Run queued jobs inline; a failure stops the demo with its message."""
        failed = jobs._job_run_inline()
        if failed:
            raise UserError(
                _(
                    "The demo forecast of %(target)s stopped at %(job)s: %(message)s",
                    target=self.name,
                    job=failed[0].display_name,
                    message=failed[0].error_message,
                )
            )
