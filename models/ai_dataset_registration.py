"""``ai.dataset.registration``: one registration of a dataset version to S3, a background job."""

import logging

from odoo import _, api, fields, models
from odoo.exceptions import UserError

from .ai_core import selection_label

_logger = logging.getLogger(__name__)


class AiDatasetRegistration(models.Model):
    """Upload a dataset version to an S3 bucket and add it to the bucket's
    registry CSV (``project.dataset_manager.register``).

    A job of ``ai.job.mixin``: queued by the registration wizard (Manager
    group), run by the cron ``ir_cron_ai_dataset_register``. Registering is
    idempotent: the same version registered twice adds nothing the second
    time. A failure is stored and shown on the dataset; the manager retries it
    (a wrong bucket or key does not mend itself); a registration whose worker
    died is requeued. At most one unfinished registration per dataset.
    """

    _name = "ai.dataset.registration"
    _description = "AI Dataset Registration to S3"
    _inherit = ["ai.job.mixin"]
    _order = "id desc"

    _protected_create = True
    _protected_fields = ("dataset_id", "bucket", "prefix", "s3_key", "sha256", "outcome")
    _job_cron_xmlid = "ai_train_model.ir_cron_ai_dataset_register"
    #: ``ai_train_model.registration_stale_minutes`` / ``registration_retry_minutes``.
    _job_param_prefix = "registration"
    _job_stale_minutes = 5

    name = fields.Char(compute="_compute_name", store=True)
    dataset_id = fields.Many2one(
        comodel_name="ai.dataset",
        required=True,
        readonly=True,
        index=True,
        ondelete="cascade",
    )
    company_id = fields.Many2one(related="dataset_id.company_id", store=True, index=True)
    state = fields.Selection(
        selection=[
            ("queued", "Queued"),
            ("running", "Running"),
            ("done", "Done"),
            ("failed", "Failed"),
        ],
        default="queued",
    )
    bucket = fields.Char(string="S3 Bucket", required=True, readonly=True)
    prefix = fields.Char(string="S3 Prefix", readonly=True, help="Key prefix in the bucket (registry: <prefix>/datasets.csv).")
    s3_key = fields.Char(string="Object Key", readonly=True)
    sha256 = fields.Char(string="SHA-256", readonly=True)
    outcome = fields.Selection(
        selection=[("registered", "Registered"), ("already-registered", "Already Registered")],
        readonly=True,
    )
    message = fields.Text(compute="_compute_message", help="Where the registration stands, or why it failed.")

    def init(self):
        # One unfinished registration per dataset at most, whatever the race.
        self.env.cr.execute(
            """
            CREATE UNIQUE INDEX IF NOT EXISTS ai_dataset_registration_one_unfinished_idx
                ON ai_dataset_registration (dataset_id)
             WHERE state IN ('queued', 'running')
            """
        )

    @api.depends("dataset_id.display_name", "bucket", "prefix")
    def _compute_name(self):
        for registration in self:
            target = "/".join(part for part in (registration.bucket, registration.prefix) if part)
            registration.name = f"{registration.dataset_id.display_name or ''} → s3://{target}"

    @api.depends("state", "error_message", "log")
    def _compute_message(self):
        for registration in self:
            if registration.state == "failed":
                registration.message = registration.error_message
            elif registration.state == "done":
                # the last log line, without its time stamp
                last = (registration.log or "").strip().splitlines()[-1:] or [""]
                registration.message = last[0].split("  ", 1)[-1]
            elif registration.state == "running":
                registration.message = _("Uploading...")
            else:
                registration.message = _("Waiting for the registration worker.")

    # ------------------------------------------------------------------ job

    def _job_run(self):
        """Upload the dataset and record the outcome on it."""
        self.ensure_one()
        dataset = self.dataset_id
        if dataset.state not in ("ready", "registered"):
            raise UserError(
                _("%(dataset)s is %(state)s: only ready datasets can be registered.",
                  dataset=dataset.display_name, state=selection_label(dataset, "state"))
            )
        result = dataset._register_s3(self.bucket, self.prefix or "")
        s3_key = f"s3://{result['bucket']}/{result['key']}"
        if result["action"] == "registered":
            message = _("Registered to %(key)s (SHA-256 %(sha)s).", key=s3_key, sha=result["sha256"])
        else:
            message = _("Already registered at %(key)s with the same SHA-256 %(sha)s: nothing changed.",
                        key=s3_key, sha=result["sha256"])
        self._engine().write({"s3_key": s3_key, "sha256": result["sha256"], "outcome": result["action"]})
        dataset._engine().write(
            {
                "state": "registered",
                "s3_key": s3_key,
                "s3_sha256": result["sha256"],
                "registered_on": fields.Datetime.now(),
                "registered_by_id": self.create_uid.id,
            }
        )
        dataset.message_post(body=message)
        _logger.info("dataset %s registered to %s (%s)", dataset.id, s3_key, result["action"])
        self._job_done(message)

    def _job_is_retryable(self, exc):
        # A wrong bucket, key or permission stays wrong: the manager retries.
        return False

    def _job_internal_error_message(self):
        return _("Registration of %(dataset)s failed: unexpected error (see the server log).",
                 dataset=self.dataset_id.display_name)

    def _job_on_failed(self):
        self.dataset_id.message_post(body=self.error_message)
        _logger.warning("registration of dataset %s failed: %s", self.dataset_id.id, self.error_message)

    # ------------------------------------------------------------------ S3

    @api.model
    def _s3_settings(self):
        """S3 settings from ir.config_parameter. sudo: the parameters are
        readable by administrators only; the secret never leaves this method's
        caller (the registration) and is never logged."""
        params = self.env["ir.config_parameter"].sudo()
        prefix = params.get_param("ai_train_model.s3_prefix")
        return {
            "bucket": (params.get_param("ai_train_model.s3_bucket") or "").strip(),
            "prefix": "datasets" if prefix is False or prefix is None else prefix.strip(),
            "endpoint_url": (params.get_param("ai_train_model.s3_endpoint_url") or "").strip() or None,
            "region": (params.get_param("ai_train_model.s3_region") or "").strip() or None,
            "access_key_id": (params.get_param("ai_train_model.s3_access_key_id") or "").strip() or None,
            "secret_access_key": params.get_param("ai_train_model.s3_secret_access_key") or None,
        }

    @api.model
    def _s3_client(self, settings):
        """A boto3 S3 client built from the keys of the settings, or None when
        no keys are set (the core then uses boto3's standard credential chain)."""
        if not settings.get("access_key_id") or not settings.get("secret_access_key"):
            return None
        import boto3
        from botocore.config import Config

        session = boto3.session.Session(
            aws_access_key_id=settings["access_key_id"],
            aws_secret_access_key=settings["secret_access_key"],
            region_name=settings["region"],
        )
        return session.client(
            "s3",
            endpoint_url=settings["endpoint_url"],
            config=Config(retries={"max_attempts": 5, "mode": "standard"}, connect_timeout=10, read_timeout=60),
        )
