from odoo import api, fields, models

SECRET_PARAM = "ai_train_model.s3_secret_access_key"


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
                self.env["ir.config_parameter"].sudo().set_param(SECRET_PARAM, settings.ai_s3_secret_access_key.strip())
