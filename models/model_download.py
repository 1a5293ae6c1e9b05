"""``ai.ga4.download``: scheduled GA4 downloads (their runs are ``ai.ga4.run``)."""

import json
import re
from datetime import timedelta

from dateutil.relativedelta import relativedelta

from odoo import _, api, fields, models
from odoo.exceptions import AccessError, UserError, ValidationError

from ..project import errors
from ..project.ga4 import access as ga4_access
from .tools import form_action

#: GA4 API names: ``sessions``, ``customEvent:plan``, ``itemsViewed`` ...
_API_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_]*(:[A-Za-z0-9_]+)?$")
_UNFINISHED = ("queued", "running", "retrying", "stopped")


class AiGa4Download(models.Model):
    """A scheduled, incremental GA4 report feeding a chain of dataset versions.

    Every execution is an ``ai.ga4.run``. The cron ``ir_cron_ai_ga4_download_run``
    (:meth:`_cron_run_downloads`) queues a run for each download whose
    ``next_run`` is due and runs the queued, retry-due and quota-resumable
    runs through ``ai.job.mixin`` (at most one unfinished run per download,
    so one worker per download). A run downloads
    the days since the chain's last date minus the lookback (GA4 revises the
    last ~72 hours) up to yesterday and merges them into a new version of the
    chain's dataset (``project.ga4.merge.merge_window``).
    """

    _name = "ai.ga4.download"
    _description = "GA4 Scheduled Download"
    _inherit = ["mail.thread", "mail.activity.mixin", "ai.protected.fields.mixin"]
    _order = "name, id"
    _check_company_auto = True

    _protected_fields = ("dataset_id", "last_success", "state")

    name = fields.Char(required=True, tracking=True)
    active = fields.Boolean(default=True, tracking=True)
    company_id = fields.Many2one("res.company", required=True, index=True, default=lambda self: self.env.company)
    credential_id = fields.Many2one(
        comodel_name="ai.ga4.credential",
        required=True,
        index=True,
        check_company=True,
        ondelete="restrict",
        tracking=True,
        domain="[('has_key', '=', True)]",
    )
    property_id = fields.Char(
        string="Property ID",
        compute="_compute_property_id",
        store=True,
        precompute=True,
        readonly=False,
        required=True,
        tracking=True,
        help="The GA4 property to read (digits, e.g. 123456789).",
    )
    dimensions = fields.Char(
        required=True,
        default="date",
        tracking=True,
        help="GA4 dimension API names, comma separated; 'date' is required (incremental downloads are by day). "
        "The other dimensions become the dataset's series columns.",
    )
    metrics = fields.Char(
        required=True,
        default="sessions",
        tracking=True,
        help="GA4 metric API names, comma separated; the first one is the dataset's default target.",
    )
    start_mode = fields.Selection(
        selection=[("date", "From a Start Date"), ("rolling", "Rolling Window")],
        string="History",
        required=True,
        default="rolling",
        help="From a start date: the first run downloads from that date and the dataset keeps growing. "
        "Rolling window: the first run downloads the last N days and the dataset keeps only the last N days.",
    )
    start_date = fields.Date(tracking=True)
    window_days = fields.Integer(string="Window (days)", default=365, help="Days kept by a rolling window.")
    lookback_days = fields.Integer(
        default=3,
        required=True,
        tracking=True,
        help="Days already stored that every run downloads again (GA4 revises the last ~72 hours). "
        "Their new values replace the stored ones; older days stay.",
    )
    page_size = fields.Integer(default=100000, required=True, help="Rows per page (1 to 250,000).")
    chunk_days = fields.Integer(default=30, required=True, help="Days per report request (1 to 366).")
    interval_number = fields.Integer(string="Every", default=1, required=True, tracking=True)
    interval_type = fields.Selection(
        selection=[("hours", "Hours"), ("days", "Days"), ("weeks", "Weeks")],
        string="Interval Unit",
        default="days",
        required=True,
        tracking=True,
    )
    next_run = fields.Datetime(
        default=fields.Datetime.now,
        required=True,
        index=True,
        help="When the cron queues the next scheduled run.",
    )
    last_success = fields.Datetime(readonly=True, copy=False)
    dataset_name = fields.Char(
        compute="_compute_dataset_name",
        store=True,
        precompute=True,
        readonly=False,
        required=True,
        help="Name of the dataset chain: every successful run adds a version of this dataset.",
    )
    dataset_id = fields.Many2one(
        comodel_name="ai.dataset",
        string="Latest Dataset Version",
        readonly=True,
        copy=False,
        index="btree_not_null",
        ondelete="set null",
    )
    dataset_rows = fields.Integer(related="dataset_id.row_count", string="Dataset Rows")
    last_data_date = fields.Date(related="dataset_id.date_to", string="Data Until")
    run_ids = fields.One2many(comodel_name="ai.ga4.run", inverse_name="download_id", string="Runs", readonly=True)
    run_count = fields.Integer(compute="_compute_run_count")
    last_run_id = fields.Many2one(
        comodel_name="ai.ga4.run", compute="_compute_last_run_id", store=True
    )
    last_run_date = fields.Datetime(related="last_run_id.create_date", string="Last Run On")
    last_run_rows = fields.Integer(related="last_run_id.rows", string="Last Run Rows")
    state = fields.Selection(
        selection=[
            ("new", "Never Run"),
            ("queued", "Queued"),
            ("running", "Running"),
            ("retrying", "Retrying"),
            ("stopped", "Stopped (quota)"),
            ("done", "Done"),
            ("failed", "Failed"),
        ],
        compute="_compute_state",
        store=True,
        index=True,
        help="State of the last run.",
    )

    _sql_constraints = [
        ("lookback_range", "CHECK(lookback_days BETWEEN 0 AND 30)", "Lookback days must be between 0 and 30."),
        ("page_size_range", "CHECK(page_size BETWEEN 1 AND 250000)", "The page size must be between 1 and 250,000."),
        ("chunk_days_range", "CHECK(chunk_days BETWEEN 1 AND 366)", "Days per request must be between 1 and 366."),
        ("interval_positive", "CHECK(interval_number > 0)", "The schedule interval must be positive."),
        ("window_positive", "CHECK(window_days > 0)", "The rolling window must be at least one day."),
    ]

    # ------------------------------------------------------------------ computes

    @api.depends("credential_id")
    def _compute_property_id(self):
        for download in self:
            if not download.property_id and download.credential_id:
                properties = download.credential_id._property_list()
                download.property_id = properties[0] if properties else False
            else:
                download.property_id = download.property_id

    @api.depends("name")
    def _compute_dataset_name(self):
        for download in self:
            download.dataset_name = download.dataset_name or download.name

    @api.depends("run_ids")
    def _compute_last_run_id(self):
        last = self.env["ai.ga4.run"]._job_latest_ids("download_id", self)
        for download in self:
            download.last_run_id = last.get(download.id, False)

    @api.depends("last_run_id.state")
    def _compute_state(self):
        for download in self:
            download.state = download.last_run_id.state or "new"

    def _compute_run_count(self):
        counts = {
            download.id: count
            for download, count in self.env["ai.ga4.run"]._read_group(
                [("download_id", "in", self.ids)], ["download_id"], ["__count"]
            )
        }
        for download in self:
            download.run_count = counts.get(download.id, 0)

    # ------------------------------------------------------------------ constraints

    @api.constrains("dimensions", "metrics")
    def _check_fields(self):
        for download in self:
            dimensions = download._dimension_list()
            metrics = download._metric_list()
            for label, names, most in ((_("Dimensions"), dimensions, 9), (_("Metrics"), metrics, 10)):
                bad = [name for name in names if not _API_NAME.match(name)]
                if bad:
                    raise ValidationError(
                        _(
                            "%(label)s: %(bad)s is not a GA4 API name (letters, digits and '_', "
                            "e.g. sessions or customEvent:plan).",
                            label=label,
                            bad=", ".join(repr(b) for b in bad),
                        )
                    )
                twice = sorted({name for index, name in enumerate(names) if name in names[:index]})
                if twice:
                    raise ValidationError(_("%(label)s: %(names)s listed twice.", label=label, names=", ".join(twice)))
                if len(names) > most:
                    raise ValidationError(
                        _("%(label)s: GA4 accepts at most %(most)s per report.", label=label, most=most)
                    )
            if not metrics:
                raise ValidationError(_("Give at least one metric."))
            if "date" not in dimensions:
                raise ValidationError(
                    _("The dimensions must include 'date': downloads are incremental by day.")
                )
            both = sorted(set(dimensions) & set(metrics))
            if both:
                raise ValidationError(_("%s listed both as dimension and metric.", ", ".join(both)))

    @api.constrains("property_id")
    def _check_property_id(self):
        for download in self:
            try:
                ga4_access.normalize_property_id(download.property_id or "")
            except errors.InputError as exc:
                raise ValidationError(_("Property ID: %s", exc)) from None

    @api.constrains("property_id", "credential_id")
    def _check_property_in_credential(self):
        for download in self:
            download._check_property_allowed()

    def _check_property_allowed(self):
        """Refuse a property the credential does not list: a key reaching
        more properties than it was registered for must not be used on them."""
        self.ensure_one()
        credential = self.credential_id.sudo()
        if not credential:
            return
        try:
            prop = ga4_access.normalize_property_id(self.property_id or "")
        except errors.InputError:
            return  # _check_property_id says what is wrong
        allowed = credential._property_list()
        if prop not in allowed:
            raise ValidationError(
                _(
                    "Property %(property)s is not in the property list of credential %(credential)s "
                    "(%(allowed)s): add it there first (a manager can) or choose one of those.",
                    property=prop,
                    credential=credential.name,
                    allowed=", ".join(allowed) or _("none listed"),
                )
            )

    @api.constrains("start_mode", "start_date")
    def _check_start(self):
        today = fields.Date.context_today(self)
        for download in self:
            if download.start_mode == "date":
                if not download.start_date:
                    raise ValidationError(_("Give the start date of %s.", download.name))
                if download.start_date >= today:
                    raise ValidationError(_("The start date must be in the past (GA4 serves complete days)."))

    # ------------------------------------------------------------------ CRUD

    def write(self, vals):
        if "property_id" in vals and vals["property_id"]:
            vals = dict(vals, property_id=str(vals["property_id"]).strip())
        return super().write(vals)

    def unlink(self):
        if self.env["ai.ga4.run"].search_count([("download_id", "in", self.ids), ("state", "=", "running")], limit=1):
            raise UserError(_("A download with a running run cannot be deleted."))
        return super().unlink()

    # ------------------------------------------------------------------ actions

    def action_run_now(self):
        """Queue a run (or make a retrying/stopped one due now) and wake the
        cron up. Called by the Run Now button (Analyst)."""
        if not self.env.su and not self.env.user.has_group("ai_train_model.group_ai_analyst"):
            raise AccessError(_("Only AI Forecasting analysts can start a GA4 download."))
        self.check_access_rights("write")
        self.check_access_rule("write")
        Run = self.env["ai.ga4.run"]
        for download in self:
            if not download.active:
                raise UserError(_("Download %s is archived.", download.name))
            pending = Run.search([("download_id", "=", download.id), ("state", "in", _UNFINISHED)], limit=1)
            if pending.state == "running":
                raise UserError(_("Download %s is running already.", download.name))
            if pending:
                pending._engine().write({"date_not_before": fields.Datetime.now()})
            else:
                # sudo-free: analysts may create runs; _engine() passes the
                # engine-only creation guard.
                download._create_run("manual")
        Run._job_trigger_cron()
        return True

    def action_view_runs(self):
        self.ensure_one()
        action = self.env["ir.actions.act_window"]._for_xml_id("ai_train_model.ai_ga4_run_action")
        action["domain"] = [("download_id", "=", self.id)]
        action["context"] = {"create": False}
        return action

    def action_view_dataset(self):
        self.ensure_one()
        return form_action(self.dataset_id, "ai_train_model.ai_dataset_action")

    # ------------------------------------------------------------------ cron

    @api.model
    def _cron_run_downloads(self, limit=None):
        """Queue due downloads and run runnable runs. Called from the cron
        ``ir_cron_ai_ga4_download_run``; idempotent, returns True."""
        self._queue_due_downloads()
        return self.env["ai.ga4.run"]._job_cron_run(limit=limit)

    @api.model
    def _queue_due_downloads(self):
        now = fields.Datetime.now()
        downloads = self.search([("next_run", "<=", now)])
        pending = {
            download.id
            for download, in self.env["ai.ga4.run"]._read_group(
                [("download_id", "in", downloads.ids), ("state", "in", _UNFINISHED)], ["download_id"]
            )
        }
        for download in downloads:
            if download.id not in pending:
                download._create_run("schedule")
            download.next_run = download._following_run(now)
        return downloads

    # ------------------------------------------------------------------ engine helpers

    def _create_run(self, trigger):
        self.ensure_one()
        return self.env["ai.ga4.run"]._engine().create(
            {"download_id": self.id, "trigger": trigger, "date_queued": fields.Datetime.now()}
        )

    def _following_run(self, now):
        """The first scheduled time after ``now`` on this download's grid."""
        self.ensure_one()
        step = relativedelta(**{self.interval_type: self.interval_number})
        when = self.next_run or now
        for _guard in range(10000):
            if when > now:
                return when
            when = when + step
        return now + step

    def _dimension_list(self):
        self.ensure_one()
        return [name.strip() for name in (self.dimensions or "").split(",") if name.strip()]

    def _metric_list(self):
        self.ensure_one()
        return [name.strip() for name in (self.metrics or "").split(",") if name.strip()]

    def _chain_head(self):
        """The chain's latest version when it can take this definition's
        columns, else an empty recordset (a new chain starts)."""
        self.ensure_one()
        head = self.dataset_id
        if not head or not head.checksum:
            return self.env["ai.dataset"]
        columns = set(self._dimension_list()) | set(self._metric_list())
        stored = {column["name"] for column in json.loads(head.schema_json or "[]")}
        if stored != columns:
            return self.env["ai.dataset"]
        return head

    def _next_window(self):
        """``(start, end)`` dates of the next run, or ``None`` when there is
        nothing new: from the chain's last date minus the lookback (or the
        configured history for a first run) to yesterday."""
        self.ensure_one()
        end = fields.Date.context_today(self) - timedelta(days=1)
        head = self._chain_head()
        if head and head.date_to:
            start = head.date_to - timedelta(days=self.lookback_days - 1) if self.lookback_days else (
                head.date_to + timedelta(days=1)
            )
        elif self.start_mode == "date":
            start = self.start_date
        else:
            start = end - timedelta(days=self.window_days - 1)
        if not start or start > end:
            return None
        return start, end

    def _new_dataset_version(self, frame, previous):
        """Store ``frame`` as the chain's next dataset version."""
        self.ensure_one()
        series = [d for d in self._dimension_list() if d != "date"]
        dataset = self.env["ai.dataset"].create(
            {
                "name": self.dataset_name,
                "company_id": self.company_id.id,
                "source": "ga4",
                "date_col": "date",
                "target_col": self._metric_list()[0],
                "series_cols": ",".join(series),
                "parent_ids": [(6, 0, previous.ids)],
                "description": _(
                    "GA4 property %(property)s, dimensions %(dimensions)s, metrics %(metrics)s (download %(name)s).",
                    property=self.property_id,
                    dimensions=self.dimensions,
                    metrics=self.metrics,
                    name=self.name,
                ),
            }
        )
        dataset._store_dataframe(frame, filename=f"{self.dataset_name}-v{dataset.version}.parquet")
        return dataset
