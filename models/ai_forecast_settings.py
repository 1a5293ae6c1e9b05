"""``ai.forecast.settings``: the AI Forecasting settings page of AI Managers.

Odoo's ``res.config.settings.execute`` refuses every user who is not a
system administrator, while the settings of this addon belong to AI
Forecasting Managers. This page is a plain transient model that reads and
writes the same ``ir.config_parameter`` keys (the storage the engine reads),
through ``sudo`` and only after checking the Manager group; the Settings app
section of administrators writes the same keys with the same checks.
"""

import re
from urllib.parse import urlsplit

from odoo import Command, _, api, fields, models
from odoo.exceptions import AccessError, ValidationError

from .ai_secret import S3_SECRET_PARAM

MANAGER_GROUP = "ai_train_model.group_ai_manager"
PREFIX = "ai_train_model."

#: field name -> (parameter key without the prefix, type, default). The keys
#: are the ones the engine has always read: existing databases keep their values.
PARAMETERS = {
    "default_horizon": ("default_horizon", int, 28),
    "default_candidates": ("default_candidates", str, "naive,snaive,ets,theta,gbm"),
    "default_cv_windows": ("default_cv_windows", int, 3),
    "interval_levels": ("interval_levels", str, "80,95"),
    "prediction_retention_days": ("prediction_retention_days", int, 90),
    "run_retention_days": ("run_retention_days", int, 90),
    "drift_psi_max": ("drift_psi_max", float, 0.25),
    "drift_ks_pvalue_min": ("drift_ks_pvalue_min", float, 0.01),
    "accuracy_mase_max": ("accuracy_mase_max", float, 1.5),
    "accuracy_wmape_max": ("accuracy_wmape_max", float, 50.0),
    "anomaly_score_max": ("anomaly_score_max", float, 4.0),
    "auto_promote_margin": ("auto_promote_margin", float, 10.0),
    "auto_promote_days": ("auto_promote_days", int, 14),
    "n_jobs": ("n_jobs", int, 1),
    "dask_address": ("dask_address", str, ""),
    "job_stale_minutes": ("job_stale_minutes", float, 10.0),
    "job_retry_minutes": ("job_retry_minutes", float, 5.0),
    "ga4_retry_initial": ("ga4_retry_initial", float, 1.0),
    "ga4_retry_maximum": ("ga4_retry_maximum", float, 60.0),
    "ga4_retry_deadline": ("ga4_retry_deadline", float, 600.0),
    "ga4_call_timeout": ("ga4_call_timeout", float, 120.0),
    "ga4_quota_wait_minutes": ("ga4_quota_wait_minutes", int, 60),
    "ga4_stale_minutes": ("ga4_stale_minutes", float, 2.0),
    "ga4_retry_minutes": ("ga4_retry_minutes", float, 5.0),
    "api_rate_limit": ("api_rate_limit", int, 120),
    "api_rate_period": ("api_rate_period", int, 60),
    "s3_bucket": ("s3_bucket", str, ""),
    "s3_prefix": ("s3_prefix", str, "datasets"),
    "s3_endpoint_url": ("s3_endpoint_url", str, ""),
    "s3_region": ("s3_region", str, ""),
}
#: Write-only secrets: field -> parameter key (full).
SECRETS = {
    "s3_access_key_id": PREFIX + "s3_access_key_id",
    "s3_secret_access_key": S3_SECRET_PARAM,
}
#: (field, minimum, maximum, minimum excluded): numeric ranges.
RANGES = (
    ("default_horizon", 1, 90, False),
    ("default_cv_windows", 1, 20, False),
    ("prediction_retention_days", 1, None, False),
    ("run_retention_days", 1, None, False),
    ("drift_psi_max", 0, None, False),
    ("drift_ks_pvalue_min", 0, 1, False),
    ("accuracy_mase_max", 0, None, False),
    ("accuracy_wmape_max", 0, 1000, False),
    ("anomaly_score_max", 0, None, True),
    ("auto_promote_margin", 0, 100, False),
    ("auto_promote_days", 1, 365, False),
    ("n_jobs", 1, 1024, False),
    ("job_stale_minutes", 0, None, True),
    ("job_retry_minutes", 0, None, True),
    ("ga4_retry_initial", 0, None, True),
    ("ga4_retry_maximum", 0, None, True),
    ("ga4_retry_deadline", 0, None, True),
    ("ga4_call_timeout", 0, None, True),
    ("ga4_quota_wait_minutes", 1, None, False),
    ("ga4_stale_minutes", 0, None, True),
    ("ga4_retry_minutes", 0, None, True),
    ("api_rate_limit", 1, None, False),
    ("api_rate_period", 1, None, False),
)
_DASK_ADDRESS = re.compile(r"^([a-z][a-z0-9+]*://)?[A-Za-z0-9_.\-\[\]:]+:\d{1,5}$")
_BUCKET = re.compile(r"^[a-z0-9][a-z0-9.\-]{1,61}[a-z0-9]$")


class AiForecastSettings(models.TransientModel):
    """One page with every setting of the addon, for AI Managers."""

    _name = "ai.forecast.settings"
    _description = "AI Forecasting Settings"

    # Training defaults
    default_horizon = fields.Integer(string="Default Horizon (days)", help="Days a new training job forecasts (1 to 90).")
    default_candidates = fields.Char(
        help="Candidate models of a new training job, comma separated (naive, snaive, ets, theta, gbm, sarimax, "
        "prophet...). Each series gets the one with the best backtest score."
    )
    default_cv_windows = fields.Integer(
        string="Default Backtest Windows", help="Rolling-origin backtest windows of a new training job (1 to 20)."
    )
    interval_levels = fields.Char(
        string="Interval Levels (%)",
        help="Prediction interval levels a training job computes, comma separated (e.g. 50,80,95,99). 80 and 95 "
        "are always among them: stored predictions, alerts and the chart use those two bands; the others go "
        "into the model's forecast.csv.",
    )
    # Monitoring
    prediction_retention_days = fields.Integer(
        string="Keep Predictions (days)", help="Predictions dated more than this many days ago are deleted."
    )
    run_retention_days = fields.Integer(
        string="Keep Run Logs (days)",
        help="Finished forecast and GA4 runs and closed alerts older than this are deleted, and the logs of "
        "older training jobs and GA4 runs emptied; the newest run of each target or download and its newest "
        "successful one always stay.",
    )
    drift_psi_max = fields.Float(string="Drift: PSI Above", help="0 disables the PSI test.")
    drift_ks_pvalue_min = fields.Float(string="Drift: KS p-value Below", digits=(16, 4), help="0 disables the KS test.")
    accuracy_mase_max = fields.Float(string="Accuracy: Live MASE Above", help="0 disables it.")
    accuracy_wmape_max = fields.Float(string="Accuracy: Live wMAPE Above (%)", help="0 disables it.")
    anomaly_score_max = fields.Float(
        string="Anomaly Score Above", help="An actual this many typical errors away from its forecast is an anomaly."
    )
    auto_promote_margin = fields.Float(string="Default Promotion Margin (%)")
    auto_promote_days = fields.Integer(string="Default Promotion Days")
    # Compute
    n_jobs = fields.Integer(string="Parallel Workers", help="Processes that train series in parallel (joblib).")
    dask_address = fields.Char(
        string="Dask Scheduler Address",
        help="e.g. tcp://10.0.0.5:8786: per-series work goes to this Dask cluster instead of local processes. "
        "Empty: local.",
    )
    job_stale_minutes = fields.Float(
        string="Training: Stalled After (min)",
        help="A running training job without a sign of life for this long is requeued (worker gone) or "
        "reported to an Analyst (worker stuck).",
    )
    job_retry_minutes = fields.Float(
        string="Training: First Retry After (min)", help="Doubled at each further attempt."
    )
    # GA4
    ga4_retry_initial = fields.Float(string="GA4: First Retry Delay (s)")
    ga4_retry_maximum = fields.Float(string="GA4: Longest Retry Delay (s)")
    ga4_retry_deadline = fields.Float(string="GA4: Give Up a Call After (s)")
    ga4_call_timeout = fields.Float(string="GA4: Call Timeout (s)")
    ga4_quota_wait_minutes = fields.Integer(string="GA4: Resume After Quota Stop (min)")
    ga4_stale_minutes = fields.Float(string="GA4: Stalled After (min)")
    ga4_retry_minutes = fields.Float(string="GA4: First Run Retry After (min)")
    # API
    api_rate_limit = fields.Integer(string="API: Requests per Period", help="Per API key.")
    api_rate_period = fields.Integer(string="API: Period (s)")
    # S3 registry
    s3_bucket = fields.Char(help="Bucket datasets are registered in.")
    s3_prefix = fields.Char(help="Key prefix of the dataset zips and of the datasets.csv registry.")
    s3_endpoint_url = fields.Char(help="For S3-compatible storage; empty for AWS.")
    s3_region = fields.Char()
    s3_access_key_id = fields.Char(
        groups=MANAGER_GROUP,
        help="Write-only: type a new one to replace the stored one. Empty: boto3's default credentials.",
    )
    s3_access_key_id_set = fields.Boolean(string="Access Key ID Stored", readonly=True, groups=MANAGER_GROUP)
    s3_secret_access_key = fields.Char(
        groups=MANAGER_GROUP,
        help="Write-only: type a new key to replace the stored one; it is never displayed.",
    )
    s3_secret_set = fields.Boolean(string="Secret Key Stored", readonly=True, groups=MANAGER_GROUP)
    cron_line_ids = fields.One2many(
        comodel_name="ai.forecast.settings.cron",
        inverse_name="settings_id",
        string="Scheduled Actions",
        help="The addon's scheduled actions: switch them on or off and set how often they run.",
    )
    s3_forget_keys = fields.Boolean(
        string="Forget the Stored Keys", groups=MANAGER_GROUP, help="Back to boto3's default credentials."
    )

    # ------------------------------------------------------------------ access

    @api.model
    def _check_manager(self):
        if not self.env.su and not self.env.user.has_group(MANAGER_GROUP):
            raise AccessError(_("Only AI Forecasting managers can see or change the AI Forecasting settings."))

    # ------------------------------------------------------------------ read

    @api.model
    def _get_value(self, name):
        """The typed value of setting ``name`` (a key of ``PARAMETERS``),
        its default when unset or unreadable. For the engine: no group check."""
        key, kind, default = PARAMETERS[name]
        # sudo: system parameters are readable by administrators only.
        raw = self.env["ir.config_parameter"].sudo().get_param(PREFIX + key)
        if raw in (None, False, ""):
            return default
        try:
            return kind(raw)
        except (TypeError, ValueError):
            return default

    @api.model
    def default_get(self, fields_list):
        self._check_manager()
        values = super().default_get(fields_list)
        for name in PARAMETERS:
            if name in fields_list:
                values[name] = self._get_value(name)
        # sudo: managers need not be administrators to know a key is stored.
        params = self.env["ir.config_parameter"].sudo()
        if "s3_access_key_id_set" in fields_list:
            values["s3_access_key_id_set"] = bool(params.get_param(SECRETS["s3_access_key_id"]))
        if "s3_secret_set" in fields_list:
            values["s3_secret_set"] = bool(params.get_param(SECRETS["s3_secret_access_key"]))
        if "cron_line_ids" in fields_list:
            values["cron_line_ids"] = [
                Command.create(
                    {
                        "cron_ref": cron.id,
                        "name": cron.name,
                        "enabled": cron.active,
                        "interval_number": cron.interval_number,
                        "interval_type": cron.interval_type,
                        "nextcall": cron.nextcall,
                    }
                )
                for cron in self._ai_crons()
            ]
        return values

    @api.model
    def _parse_levels(self, text):
        """The interval levels in ``text`` ("80,95,99"), sorted, 80 and 95
        required (the bands predictions store); refused with a message that
        says what is expected."""
        try:
            levels = sorted({int(part) for part in (text or "").split(",") if part.strip()})
        except ValueError:
            levels = []
        if not levels or any(not 0 < level < 100 for level in levels) or not {80, 95} <= set(levels):
            raise ValidationError(
                _(
                    "Interval Levels: whole percentages between 1 and 99, comma separated, including 80 and 95 "
                    "(got %s).",
                    text,
                )
            )
        return tuple(levels)

    @api.model
    def _get_levels(self):
        """The configured interval levels for the engine; the default when the
        stored value is unusable."""
        try:
            return self._parse_levels(self._get_value("interval_levels"))
        except ValidationError:
            return (80, 95)

    @api.model
    def _ai_crons(self):
        """The scheduled actions this addon defines (sudo: managers need not
        be administrators; they only ever reach these ones)."""
        crons = self.env["ir.model.data"].sudo().search([("module", "=", "ai_train_model"), ("model", "=", "ir.cron")])
        return self.env["ir.cron"].sudo().with_context(active_test=False).browse(crons.mapped("res_id")).exists().sorted("id")

    @api.model_create_multi
    def create(self, vals_list):
        self._check_manager()
        return super().create(vals_list)

    def read(self, fields=None, load="_classic_read"):
        # The secrets are write-only: whatever was typed is never sent back.
        result = super().read(fields, load=load)
        for row in result:
            for name in SECRETS:
                if name in row:
                    row[name] = False
        return result

    # ------------------------------------------------------------------ validation

    @api.model
    def _ai_check_values(self, values):
        """Refuse values the engine cannot use, with a message naming the
        setting and what it expects. ``values``: ``{field: value}``."""
        labels = {name: self._fields[name].get_description(self.env)["string"] for name in values if name in self._fields}
        for name, low, high, strict in RANGES:
            if name not in values or values[name] is None:
                continue
            value = values[name]
            too_low = value <= low if strict else value < low
            too_high = high is not None and value > high
            if too_low or too_high:
                if high is None:
                    expected = _("above %s", low) if strict else _("at least %s", low)
                else:
                    expected = _("between %(low)s and %(high)s", low=low, high=high)
                raise ValidationError(
                    _("%(setting)s must be %(expected)s (got %(value)s).", setting=labels[name], expected=expected, value=value)
                )
        if values.get("default_candidates") is not None:
            names = [n.strip().lower() for n in (values["default_candidates"] or "").split(",") if n.strip()]
            known = self.env["ai.training.job"]._model_names()
            unknown = [n for n in names if n not in known]
            if not names or unknown:
                raise ValidationError(
                    _(
                        "Default Candidates: unknown or missing model(s) %(unknown)s. Known models: %(known)s.",
                        unknown=", ".join(unknown) or "-",
                        known=", ".join(sorted(known)),
                    )
                )
        if values.get("interval_levels") is not None:
            self._parse_levels(values["interval_levels"])
        if values.get("ga4_retry_initial") and values.get("ga4_retry_maximum"):
            if values["ga4_retry_maximum"] < values["ga4_retry_initial"]:
                raise ValidationError(_("GA4: the longest retry delay cannot be shorter than the first one."))
        address = (values.get("dask_address") or "").strip()
        if address and not _DASK_ADDRESS.match(address):
            raise ValidationError(
                _("Dask Scheduler Address: expected host:port or tcp://host:port (got %s).", address)
            )
        endpoint = (values.get("s3_endpoint_url") or "").strip()
        if endpoint:
            parts = urlsplit(endpoint)
            if parts.scheme not in ("http", "https") or not parts.netloc:
                raise ValidationError(
                    _("S3 Endpoint URL: expected an http(s) URL such as https://s3.example.com (got %s).", endpoint)
                )
        bucket = (values.get("s3_bucket") or "").strip()
        if bucket and not _BUCKET.match(bucket):
            raise ValidationError(
                _("S3 Bucket: 3 to 63 lowercase letters, digits, dots or hyphens (got %s).", bucket)
            )

    # ------------------------------------------------------------------ save

    def _ai_save_crons(self):
        """Write the schedule of the addon's crons (only those: a line
        naming another cron is refused), nothing else of them."""
        crons = {cron.id: cron for cron in self._ai_crons()}
        for line in self.cron_line_ids:
            cron = crons.get(line.cron_ref)
            if not cron:
                raise AccessError(_("Only the AI Forecasting scheduled actions can be changed here."))
            if line.interval_number < 1:
                raise ValidationError(
                    _("%s: the interval must be at least 1.", cron.name)
                )
            values = {
                "active": line.enabled,
                "interval_number": line.interval_number,
                "interval_type": line.interval_type,
            }
            changed = {key: value for key, value in values.items() if cron[key] != value}
            if changed:
                cron.write(changed)

    def execute(self):
        """Save: validate, then write the system parameters (Save button)."""
        self.ensure_one()
        self._check_manager()
        values = {name: self[name] for name in PARAMETERS}
        for name, (_key, kind, _default) in PARAMETERS.items():
            if kind is str:
                values[name] = (values[name] or "").strip()
        self._ai_check_values(values)
        # sudo: ir.config_parameter is writable by administrators only; the
        # Manager group was checked above.
        params = self.env["ir.config_parameter"].sudo()
        for name, (key, _kind, _default) in PARAMETERS.items():
            params.set_param(PREFIX + key, values[name] if values[name] not in (None, "") else False)
        secrets = self.sudo()  # the secret fields are Manager-only; checked above
        if secrets.s3_forget_keys:
            for key in SECRETS.values():
                params.set_param(key, False)
        if (secrets.s3_access_key_id or "").strip():
            params.set_param(SECRETS["s3_access_key_id"], secrets.s3_access_key_id.strip())
        if (secrets.s3_secret_access_key or "").strip():
            params.set_param(
                SECRETS["s3_secret_access_key"], self.env["ai.secret"]._ai_encrypt(secrets.s3_secret_access_key.strip())
            )
        self._ai_save_crons()
        # Typed secrets leave the transient record at once.
        super(AiForecastSettings, secrets).write(
            {"s3_access_key_id": False, "s3_secret_access_key": False, "s3_forget_keys": False}
        )
        return {
            "type": "ir.actions.client",
            "tag": "display_notification",
            "params": {
                "type": "success",
                "message": _("AI Forecasting settings saved."),
                "sticky": False,
                "next": {"type": "ir.actions.client", "tag": "soft_reload"},
            },
        }


class AiForecastSettingsCron(models.TransientModel):
    """One scheduled action of the addon on the settings page."""

    _name = "ai.forecast.settings.cron"
    _description = "AI Forecasting Scheduled Action"

    settings_id = fields.Many2one(comodel_name="ai.forecast.settings", required=True, ondelete="cascade")
    cron_ref = fields.Integer(string="Scheduled Action ID", required=True)
    name = fields.Char(readonly=True)
    # Not "active": inactive lines would drop out of the one2many.
    enabled = fields.Boolean()
    interval_number = fields.Integer(string="Every")
    interval_type = fields.Selection(
        selection=[("minutes", "Minutes"), ("hours", "Hours"), ("days", "Days"), ("weeks", "Weeks"), ("months", "Months")],
        string="Unit",
    )
    nextcall = fields.Datetime(string="Next Run", readonly=True)
