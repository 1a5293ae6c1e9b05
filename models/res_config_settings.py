from odoo import _, api, fields, models
from odoo.exceptions import AccessError

from .ai_secret import S3_SECRET_PARAM

SECRET_PARAM = S3_SECRET_PARAM


class ResConfigSettings(models.TransientModel):
    """S3 registry settings of the dataset registration.

    The secret access key is write-only: it is stored in ir.config_parameter,
    never sent back to the browser, and only AI Forecasting managers may set it
    (the field is restricted to their group).
    """

    _inherit = "res.config.settings"

    ai_s3_bucket = fields.Char(
        string="S3 Bucket", config_parameter="ai_train_model.s3_bucket", help="Bucket datasets are registered in."
    )
    ai_s3_prefix = fields.Char(
        string="S3 Prefix",
        config_parameter="ai_train_model.s3_prefix",
        default="datasets",
        help="Key prefix of the dataset zips and of the datasets.csv registry.",
    )
    ai_s3_endpoint_url = fields.Char(
        string="S3 Endpoint URL",
        config_parameter="ai_train_model.s3_endpoint_url",
        help="For S3-compatible storage (MinIO, SeaweedFS...); empty for AWS.",
    )
    ai_s3_region = fields.Char(string="S3 Region", config_parameter="ai_train_model.s3_region")
    ai_s3_access_key_id = fields.Char(
        string="S3 Access Key ID",
        config_parameter="ai_train_model.s3_access_key_id",
        groups="ai_train_model.group_ai_manager",
        help="Empty: boto3's default credentials (environment, profile, instance role).",
    )
    ai_s3_secret_access_key = fields.Char(
        string="S3 Secret Access Key",
        compute="_compute_ai_s3_secret_access_key",
        inverse="_inverse_ai_s3_secret_access_key",
        groups="ai_train_model.group_ai_manager",
        help="Write-only: type a new key to replace the stored one; it is never displayed.",
    )
    ai_s3_secret_set = fields.Boolean(
        string="Secret Key Stored", compute="_compute_ai_s3_secret_access_key", groups="ai_train_model.group_ai_manager"
    )

    ai_secret_key_configured = fields.Boolean(
        string="Secrets Encrypted",
        compute="_compute_ai_secret_key_configured",
        help="Whether the server has a secret key (ai_train_model_secret_key in odoo.conf or "
        "AI_TRAIN_MODEL_SECRET_KEY in its environment) to encrypt the GA4 service-account keys and the S3 secret in the database.",
    )

    def _compute_ai_secret_key_configured(self):
        configured = self.env["ai.secret"]._ai_key_configured()
        for settings in self:
            settings.ai_secret_key_configured = configured

    def action_ai_rotate_secrets(self):
        """Encrypt the stored secrets under the current key now. Called by
        the Settings button (AI Forecasting managers)."""
        if not self.env.user.has_group("ai_train_model.group_ai_manager"):
            raise AccessError(_("Only AI Forecasting managers can re-encrypt the secrets."))
        count = self.env["ai.secret"]._ai_rotate_secrets()
        return {
            "type": "ir.actions.client",
            "tag": "display_notification",
            "params": {
                "type": "success" if self.env["ai.secret"]._ai_key_configured() else "warning",
                "message": _("%s secret(s) re-encrypted under the current key.", count)
                if self.env["ai.secret"]._ai_key_configured()
                else _("No secret key is configured on the server: the secrets stay in plain text."),
                "sticky": False,
            },
        }

    @api.depends("company_id")
    def _compute_ai_s3_secret_access_key(self):
        # sudo: managers (the only group allowed on these fields) need not be
        # system administrators to know whether a key is stored.
        stored = bool(self.env["ir.config_parameter"].sudo().get_param(SECRET_PARAM))
        for settings in self:
            settings.ai_s3_secret_access_key = False
            settings.ai_s3_secret_set = stored

    def _inverse_ai_s3_secret_access_key(self):
        for settings in self:
            if settings.ai_s3_secret_access_key:
                # sudo: ir.config_parameter is writable by administrators only;
                # the field itself is restricted to AI managers.
                self.env["ir.config_parameter"].sudo().set_param(
                    SECRET_PARAM, self.env["ai.secret"]._ai_encrypt(settings.ai_s3_secret_access_key.strip())
                )


class ResConfigSettingsForecasts(models.TransientModel):
    """Forecast monitoring settings: retention, drift and accuracy alert
    thresholds, anomaly score, and the defaults of automatic promotion."""

    _inherit = "res.config.settings"

    ai_prediction_retention_days = fields.Integer(
        string="Keep Predictions (days)",
        config_parameter="ai_train_model.prediction_retention_days",
        default=90,
        help="Predictions dated more than this many days ago are deleted by the cleanup cron.",
    )
    ai_run_retention_days = fields.Integer(
        string="Keep Run Logs (days)",
        config_parameter="ai_train_model.run_retention_days",
        default=90,
        help="Finished forecast and GA4 runs and closed alerts older than this are deleted by the cleanup "
        "cron, and the logs of older training jobs and GA4 runs emptied; the newest run of each target "
        "or download and its newest successful one always stay.",
    )
    ai_drift_psi_max = fields.Float(
        string="Drift: PSI Above",
        config_parameter="ai_train_model.drift_psi_max",
        default=0.25,
        help="Population Stability Index of the last 28 days against the training window that raises a drift alert.",
    )
    ai_drift_ks_pvalue_min = fields.Float(
        string="Drift: KS p-value Below",
        config_parameter="ai_train_model.drift_ks_pvalue_min",
        default=0.01,
        digits=(16, 4),
        help="Kolmogorov-Smirnov p-value under which the recent distribution counts as drifted.",
    )
    ai_accuracy_mase_max = fields.Float(
        string="Accuracy: Live MASE Above",
        config_parameter="ai_train_model.accuracy_mase_max",
        default=1.5,
        help="Live MASE (days 1-28, all series) of the champion that raises an accuracy alert; 0 disables it.",
    )
    ai_accuracy_wmape_max = fields.Float(
        string="Accuracy: Live wMAPE Above (%)",
        config_parameter="ai_train_model.accuracy_wmape_max",
        default=50.0,
        help="Live wMAPE in percent (days 1-28, all series) of the champion that raises an accuracy alert; "
        "0 disables it.",
    )
    ai_anomaly_score_max = fields.Float(
        string="Anomaly Score Above",
        config_parameter="ai_train_model.anomaly_score_max",
        default=4.0,
        help="An actual this many typical errors (MASE scale) away from its forecast is an anomaly, even "
        "inside the 95% band.",
    )
    ai_auto_promote_margin = fields.Float(
        string="Default Promotion Margin (%)",
        config_parameter="ai_train_model.auto_promote_margin",
        default=10.0,
        help="Default for new targets: how much lower the challenger's live error must be.",
    )
    ai_auto_promote_days = fields.Integer(
        string="Default Promotion Days",
        config_parameter="ai_train_model.auto_promote_days",
        default=14,
        help="Default for new targets: days of actuals both versions must have been scored on.",
    )

    def set_values(self):
        """Validate like the AI Managers' settings page (same keys, same
        rules), then store."""
        self.env["ai.forecast.settings"]._ai_check_values(
            {target: self[source] for source, target in _SHARED_SETTINGS.items()}
        )
        return super().set_values()


#: Fields of this page -> the same setting on ``ai.forecast.settings``.
_SHARED_SETTINGS = {
    "ai_s3_bucket": "s3_bucket",
    "ai_s3_endpoint_url": "s3_endpoint_url",
    "ai_prediction_retention_days": "prediction_retention_days",
    "ai_run_retention_days": "run_retention_days",
    "ai_drift_psi_max": "drift_psi_max",
    "ai_drift_ks_pvalue_min": "drift_ks_pvalue_min",
    "ai_accuracy_mase_max": "accuracy_mase_max",
    "ai_accuracy_wmape_max": "accuracy_wmape_max",
    "ai_anomaly_score_max": "anomaly_score_max",
    "ai_auto_promote_margin": "auto_promote_margin",
    "ai_auto_promote_days": "auto_promote_days",
}
