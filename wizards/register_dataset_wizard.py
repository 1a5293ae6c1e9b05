import json

from odoo import _, api, fields, models
from odoo.exceptions import UserError

from .import_csv_wizard import _html_table


class AiDatasetRegisterWizard(models.TransientModel):
    """Register a dataset version to S3: zip, upload, registry row.

    A dry run asks ``project.dataset_manager.register(dry_run=True)`` what it
    would do (key, size, SHA-256, the registry row) and writes nothing; it is
    cheap, so it runs in the request. The real registration is queued as an
    ``ai.dataset.registration`` and run by the ``ir_cron_ai_dataset_register`` cron.
    """

    _name = "ai.dataset.register.wizard"
    _description = "AI Dataset Registration to S3"

    dataset_id = fields.Many2one(comodel_name="ai.dataset", required=True, ondelete="cascade")
    bucket = fields.Char(string="S3 Bucket", help="Bucket to register the dataset in (default: the settings').")
    prefix = fields.Char(
        string="S3 Prefix",
        help="Key prefix in the bucket; the registry is <prefix>/datasets.csv (default: the settings').",
    )
    dry_run = fields.Boolean(
        default=True,
        help="Show what the registration would upload and add to the registry, without writing anything.",
    )
    preview_action = fields.Selection(
        selection=[("would-register", "Would register"), ("already-registered", "Already registered")],
        string="Dry Run Outcome",
        readonly=True,
    )
    preview_key = fields.Char(string="Object Key", readonly=True)
    preview_size = fields.Integer(string="Size (bytes)", readonly=True, help="Size of the Parquet file zipped and uploaded.")
    preview_sha256 = fields.Char(string="SHA-256", readonly=True)
    preview_registry = fields.Char(string="Registry", readonly=True, help="Key of the registry CSV in the bucket.")
    preview_row = fields.Text(string="Registry Row", readonly=True, help="JSON of the row the registry would get.")
    preview_html = fields.Html(string="Registry Row Preview", sanitize=False, readonly=True)

    @api.model
    def default_get(self, fields_list):
        values = super().default_get(fields_list)
        context = self.env.context
        if context.get("active_model") == "ai.dataset" and context.get("active_id") and not values.get("dataset_id"):
            values["dataset_id"] = context["active_id"]
        settings = self.env["ai.dataset.registration"]._s3_settings()
        if "bucket" in fields_list and not values.get("bucket"):
            values["bucket"] = settings["bucket"]
        if "prefix" in fields_list and values.get("prefix") is None:
            values["prefix"] = settings["prefix"]
        return values

    def action_confirm(self):
        """Dry run: fill the preview and keep the wizard open. Otherwise queue
        the registration for the cron and close. Called by the footer buttons."""
        self.ensure_one()
        dataset = self.dataset_id
        dataset._check_can_register()
        bucket = (self.bucket or "").strip()
        if not bucket:
            raise UserError(_("Choose the S3 bucket to register %s in.", dataset.display_name))
        if self.dry_run:
            result = dataset._register_s3(bucket, self.prefix or "", dry_run=True)
            self._show_preview(result)
            return self._reopen()
        dataset._queue_registration(bucket, self.prefix or "")
        return {
            "type": "ir.actions.client",
            "tag": "display_notification",
            "params": {
                "title": _("Registration queued"),
                "message": _(
                    "%(dataset)s will be uploaded to s3://%(bucket)s in the background; its Registry tab shows "
                    "the progress.",
                    dataset=dataset.display_name,
                    bucket=bucket,
                ),
                "type": "info",
                "sticky": False,
                "next": {"type": "ir.actions.act_window_close"},
            },
        }

    # ------------------------------------------------------------------ helpers

    def _show_preview(self, result):
        row = result["row"]
        self.write(
            {
                "preview_action": result["action"],
                "preview_key": f"s3://{result['bucket']}/{result['key']}",
                "preview_size": int(row.get("size_bytes") or 0),
                "preview_sha256": result["sha256"],
                "preview_registry": f"s3://{result['bucket']}/{result['registry']}",
                "preview_row": json.dumps(row, default=str, indent=1),
                "preview_html": _html_table([_("Column"), _("Value")], [[key, str(value)] for key, value in row.items()]),
            }
        )

    def _reopen(self):
        return {
            "type": "ir.actions.act_window",
            "res_model": self._name,
            "res_id": self.id,
            "view_mode": "form",
            "views": [(False, "form")],
            "target": "new",
            "name": _("Register to S3"),
        }
