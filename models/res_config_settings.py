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
