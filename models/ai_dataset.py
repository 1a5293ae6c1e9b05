import base64
import hashlib
import io
import json
import logging

from odoo import _, api, fields, models
from odoo.exceptions import UserError, ValidationError

_logger = logging.getLogger(__name__)


class AiDataset(models.Model):
    """A versioned table of daily observations stored as a Parquet attachment.

    The record carries what can be known without reading the data (rows,
    series, date range, schema, checksum); :meth:`_store_dataframe` and
    :meth:`_store_parquet` keep both in step and are the only way to set the
    content. Later features (GA4 downloads, imports, merges, registration)
    create new versions with ``parent_ids`` naming where they come from.
    """

    _name = "ai.dataset"
    _description = "AI Dataset"
    _inherit = ["mail.thread", "mail.activity.mixin", "ai.protected.fields.mixin"]
    _order = "name, version desc, id desc"

    _protected_fields = (
        "data_file",
        "checksum",
        "row_count",
        "series_count",
        "date_from",
        "date_to",
        "schema_json",
    )

    name = fields.Char(required=True, tracking=True)
    company_id = fields.Many2one(
        comodel_name="res.company",
        required=True,
        index=True,
        default=lambda self: self.env.company,
    )
    source = fields.Selection(
        selection=[("ga4", "Google Analytics 4"), ("upload", "Upload"), ("merge", "Merge")],
        required=True,
        default="upload",
        tracking=True,
    )
    version = fields.Integer(
        required=True,
        default=1,
        readonly=True,
        copy=False,
        help="Version number within the datasets of the same name and company.",
    )
    parent_ids = fields.Many2many(
        comodel_name="ai.dataset",
        relation="ai_dataset_lineage_rel",
        column1="child_id",
        column2="parent_id",
        string="Parent Versions",
        help="The dataset versions this one was derived from (lineage).",
    )
    child_ids = fields.Many2many(
        comodel_name="ai.dataset",
        relation="ai_dataset_lineage_rel",
        column1="parent_id",
        column2="child_id",
        string="Derived Versions",
        readonly=True,
    )
    data_file = fields.Binary(string="Parquet File", attachment=True, readonly=True, copy=False)
    data_filename = fields.Char(string="File Name", readonly=True, copy=False)
    checksum = fields.Char(
        string="SHA-256",
        readonly=True,
        copy=False,
        index=True,
        help="SHA-256 of the Parquet file; model versions record it as their data fingerprint.",
    )
    row_count = fields.Integer(string="Rows", readonly=True, copy=False)
    series_count = fields.Integer(string="Series", readonly=True, copy=False)
    date_from = fields.Date(string="First Date", readonly=True, copy=False)
    date_to = fields.Date(string="Last Date", readonly=True, copy=False)
    schema_json = fields.Text(
        string="Schema",
        readonly=True,
        copy=False,
        help="JSON list of the columns and their Arrow types.",
    )
    state = fields.Selection(
        selection=[
            ("draft", "Draft"),
            ("ready", "Ready"),
            ("registered", "Registered"),
            ("archived", "Archived"),
        ],
        required=True,
        default="draft",
        readonly=True,
        copy=False,
        tracking=True,
        index=True,
    )
    date_col = fields.Char(string="Date Column", default="date", help="Default date column for training jobs.")
    target_col = fields.Char(string="Target Column", help="Default target column for training jobs.")
    series_cols = fields.Char(
        string="Series Columns",
        help="Default series key columns for training jobs, comma separated (none: one series).",
    )
    description = fields.Text()
    training_job_ids = fields.One2many(
        comodel_name="ai.training.job",
        inverse_name="dataset_id",
        string="Training Jobs",
        readonly=True,
    )
    training_job_count = fields.Integer(compute="_compute_training_job_count")

    _sql_constraints = [
        (
            "name_version_uniq",
            "unique(company_id, name, version)",
            "A dataset with this name and version already exists in this company.",
        ),
        ("version_positive", "CHECK(version > 0)", "The dataset version must be positive."),
    ]

    @api.depends("training_job_ids")
    def _compute_training_job_count(self):
        counts = {
            dataset.id: count
            for dataset, count in self.env["ai.training.job"]._read_group(
                [("dataset_id", "in", self.ids)], ["dataset_id"], ["__count"]
            )
        }
        for dataset in self:
            dataset.training_job_count = counts.get(dataset.id, 0)

    @api.depends("name", "version")
    def _compute_display_name(self):
        for dataset in self:
            dataset.display_name = f"{dataset.name or ''} v{dataset.version}"

    @api.model_create_multi
    def create(self, vals_list):
        taken = {}
        for vals in vals_list:
            if "version" not in vals and vals.get("name"):
                key = (vals["name"], vals.get("company_id") or self.env.company.id)
                if key not in taken:
                    taken[key] = self._next_version(*key) - 1
                taken[key] += 1
                vals["version"] = taken[key]
        return super().create(vals_list)

    # ------------------------------------------------------------------ actions

    def action_set_ready(self):
        for dataset in self:
            if not dataset.checksum:
                raise UserError(_("Dataset %s has no data yet.", dataset.display_name))
        self.write({"state": "ready"})
        return True

    def action_archive_dataset(self):
        """Soft delete: the data stays for audit and lineage."""
        self.write({"state": "archived"})
        return True

    def action_view_training_jobs(self):
        self.ensure_one()
        action = self.env["ir.actions.act_window"]._for_xml_id("ai_train_model.ai_training_job_action")
        action["domain"] = [("dataset_id", "=", self.id)]
        action["context"] = {"default_dataset_id": self.id}
        return action

    # ------------------------------------------------------------------ content

    @api.model
    def _next_version(self, name, company_id):
        self.flush_model(["name", "company_id", "version"])
        self.env.cr.execute(
            "SELECT COALESCE(MAX(version), 0) + 1 FROM ai_dataset WHERE name = %s AND company_id = %s",
            (name, company_id),
        )
        return self.env.cr.fetchone()[0]

    def _series_columns(self):
        self.ensure_one()
        return [c.strip() for c in (self.series_cols or "").split(",") if c.strip()]

    def _get_parquet_bytes(self):
        """Return the raw Parquet bytes (no base64 round trip)."""
        self.ensure_one()
        # sudo: the field attachment is only reachable through this record,
        # whose read access the caller already has (we are reading `self`).
        self.check_access_rights("read")
        self.check_access_rule("read")
        attachment = (
            self.env["ir.attachment"]
            .sudo()
            .search(
                [("res_model", "=", self._name), ("res_id", "=", self.id), ("res_field", "=", "data_file")],
                limit=1,
            )
        )
        if not attachment:
            raise UserError(_("Dataset %s has no data file.", self.display_name))
        return attachment.raw

    def _read_dataframe(self, columns=None):
        """Return the dataset as a pandas DataFrame (optionally only ``columns``)."""
        import pyarrow.parquet as pq

        table = pq.read_table(io.BytesIO(self._get_parquet_bytes()), columns=columns)
        return table.to_pandas()

    def _store_dataframe(self, frame, filename=None):
        """Store ``frame`` as this dataset's content (Parquet, zstd)."""
        import pyarrow as pa
        import pyarrow.parquet as pq

        self.ensure_one()
        table = pa.Table.from_pandas(frame, preserve_index=False)
        buffer = io.BytesIO()
        pq.write_table(table, buffer, compression="zstd")
        return self._store_parquet(buffer.getvalue(), filename=filename)

    def _store_parquet(self, raw, filename=None):
        """Store Parquet bytes as this dataset's content and describe them."""
        import pyarrow as pa
        import pyarrow.compute as pc
        import pyarrow.parquet as pq

        self.ensure_one()
        try:
            table = pq.read_table(io.BytesIO(raw))
        except (pa.ArrowException, OSError) as exc:
            raise UserError(_("The dataset file is not a readable Parquet file: %s", exc)) from exc
        vals = {
            "data_file": base64.b64encode(raw),
            "data_filename": filename or f"{self.name}-v{self.version}.parquet",
            "checksum": hashlib.sha256(raw).hexdigest(),
            "row_count": table.num_rows,
            "schema_json": json.dumps(
                [{"name": f.name, "type": str(f.type)} for f in table.schema], indent=1
            ),
            "series_count": 0,
            "date_from": False,
            "date_to": False,
        }
        names = set(table.column_names)
        if self.date_col and self.date_col in names and table.num_rows:
            dates = table.column(self.date_col)
            if not pa.types.is_timestamp(dates.type) and not pa.types.is_date(dates.type):
                dates = pc.strptime(pc.cast(dates, pa.string()), format="%Y-%m-%d", unit="s", error_is_null=True)
            bounds = pc.min_max(dates).as_py()
            vals["date_from"] = bounds["min"]
            vals["date_to"] = bounds["max"]
        series_cols = [c for c in self._series_columns() if c in names]
        if table.num_rows:
            if series_cols:
                vals["series_count"] = table.group_by(series_cols).aggregate([]).num_rows
            else:
                vals["series_count"] = 1
        if self.state == "draft":
            vals["state"] = "ready"
        self._engine().write(vals)
        return True

