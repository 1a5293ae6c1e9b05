import base64
import hashlib
import io
import json
import operator
import re
import tempfile
from datetime import timezone

from markupsafe import Markup

from odoo import _, api, fields, models
from odoo.exceptions import UserError

from . import ai_json_table as json_table
from ..project import dataset_manager, errors
from ..project.datasets import registry as dataset_registry
from .tools import selection_label


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

    _engine_files = {"data_file": "checksum"}
    _protected_fields = (
        "state",
        "data_file",
        "checksum",
        "row_count",
        "series_count",
        "date_from",
        "date_to",
        "schema_json",
        "original_filename",
        "summary_json",
        "metadata_json",
        "s3_key",
        "s3_sha256",
        "registered_on",
        "registered_by_id",
        "archived_on",
        "archived_by_id",
    )

    name = fields.Char(required=True, tracking=True)
    company_id = fields.Many2one("res.company", required=True, index=True, default=lambda self: self.env.company)
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
    # the same relation read the other way round
    child_ids = fields.Many2many(
        "ai.dataset", "ai_dataset_lineage_rel", "parent_id", "child_id", string="Derived Versions", readonly=True
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
    template = fields.Selection(
        selection=[("sales", "Sales"), ("ga4", "GA4")],
        help="Canonical field template of the data (imports and merges).",
    )
    original_filename = fields.Char(readonly=True, copy=False, help="Name of the uploaded file this version was imported from.")
    summary_json = fields.Text(
        string="Summary",
        readonly=True,
        copy=False,
        help="JSON: per-column statistics, date coverage per series, missing values and consistency checks.",
    )
    metadata_json = fields.Text(
        string="Metadata",
        readonly=True,
        copy=False,
        help="JSON metadata embedded in the Parquet file: lineage, import statistics, mapping.",
    )
    summary_alerts = fields.Text(compute="_compute_summary_alerts")
    schema_html = fields.Html(string="Columns", compute="_compute_json_tables", sanitize=False)
    summary_html = fields.Html(string="Summary Tables", compute="_compute_json_tables", sanitize=False)
    s3_key = fields.Char(readonly=True, copy=False)
    s3_sha256 = fields.Char(string="Registered SHA-256", readonly=True, copy=False)
    registered_on = fields.Datetime(readonly=True, copy=False)
    registered_by_id = fields.Many2one(comodel_name="res.users", readonly=True, copy=False)
    registration_ids = fields.One2many(
        comodel_name="ai.dataset.registration",
        inverse_name="dataset_id",
        string="Registrations",
        readonly=True,
    )
    registration_id = fields.Many2one(
        comodel_name="ai.dataset.registration",
        string="Last Registration",
        compute="_compute_registration_id",
        store=True,
    )
    registration_state = fields.Selection(related="registration_id.state", string="Registration State")
    registration_message = fields.Text(related="registration_id.message", string="Registration Message")
    archived_on = fields.Datetime(readonly=True, copy=False)
    archived_by_id = fields.Many2one(comodel_name="res.users", readonly=True, copy=False)
    training_job_ids = fields.One2many(
        comodel_name="ai.training.job",
        inverse_name="dataset_id",
        string="Training Jobs",
        readonly=True,
    )
    training_job_count = fields.Integer(compute="_compute_training_job_count")
    model_version_count = fields.Integer(compute="_compute_model_version_count")
    ga4_run_count = fields.Integer(string="GA4 Runs", compute="_compute_ga4_run_count")
    column_ids = fields.One2many(
        comodel_name="ai.dataset.column",
        inverse_name="dataset_id",
        string="Column List",
        readonly=True,
        help="The columns of the stored data, which training jobs pick from.",
    )
    stale_series_count = fields.Integer(
        string="Stale Series",
        compute="_compute_series_flags",
        search="_search_stale_series_count",
        help="Series of the latest model trained on this dataset whose data stopped long before the end "
        "of the file (see the model version's series flags).",
    )
    series_flags_html = fields.Html(string="Series Flags", compute="_compute_series_flags", sanitize=False)
    s3_configured = fields.Boolean(
        compute="_compute_s3_configured",
        help="Whether an S3 bucket is set in the AI Forecasting settings (needed to register datasets).",
    )

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

    def _compute_model_version_count(self):
        counts = {
            dataset.id: count
            for dataset, count in self.env["ai.model.version"]._read_group(
                [("dataset_id", "in", self.ids)], ["dataset_id"], ["__count"]
            )
        }
        for dataset in self:
            dataset.model_version_count = counts.get(dataset.id, 0)

    def _compute_ga4_run_count(self):
        counts = {
            dataset.id: count
            for dataset, count in self.env["ai.ga4.run"]._read_group(
                [("dataset_id", "in", self.ids)], ["dataset_id"], ["__count"]
            )
        }
        for dataset in self:
            dataset.ga4_run_count = counts.get(dataset.id, 0)

    def _compute_s3_configured(self):
        configured = bool((self.env["ir.config_parameter"].sudo().get_param("ai_train_model.s3_bucket") or "").strip())
        for dataset in self:
            dataset.s3_configured = configured

    def _latest_versions(self):
        """``{dataset id: its latest model version}`` (the newest training says most)."""
        versions = self.env["ai.model.version"].search(
            [("dataset_id", "in", self.ids)], order="date_trained desc, id desc"
        )
        latest = {}
        for version in versions:
            latest.setdefault(version.dataset_id.id, version)
        return latest

    def _compute_series_flags(self):
        latest = self._latest_versions()
        for dataset in self:
            version = latest.get(dataset.id)
            dataset.stale_series_count = version.stale_series_count if version else 0
            dataset.series_flags_html = version.series_flags_html if version else False

    def _search_stale_series_count(self, op_name, value):
        if op_name not in ("=", "!=", ">", ">=", "<", "<=") or not isinstance(value, int):
            raise UserError(_("Unsupported search on stale series."))
        latest = self.search([])._latest_versions()
        compare = {
            "=": operator.eq, "!=": operator.ne, ">": operator.gt, ">=": operator.ge, "<": operator.lt, "<=": operator.le
        }[op_name]
        ids = [dataset_id for dataset_id, version in latest.items() if compare(version.stale_series_count, value)]
        if compare(0, value):
            return ["|", ("id", "in", ids), ("id", "not in", list(latest))]
        return [("id", "in", ids)]

    @api.depends("schema_json", "summary_json")
    def _compute_json_tables(self):
        """Schema and summary as tables (the JSON stays for exports and the API)."""
        more = _("%s more rows")
        for dataset in self:
            schema = json_table.loads(dataset.schema_json, [])
            dataset.schema_html = json_table.records_table(
                schema, ["name", "type"], {"name": _("Column"), "type": _("Type")}, more_label=more
            )
            summary = json_table.loads(dataset.summary_json, {})
            if not isinstance(summary, dict) or not summary:
                dataset.summary_html = False
                continue
            parts = [
                json_table.mapping_table(
                    {
                        _("Rows"): summary.get("rows"),
                        _("Date column"): summary.get("date_column"),
                        _("Series columns"): ", ".join(summary.get("series_columns") or []),
                        _("Target"): summary.get("target"),
                        _("First date"): summary.get("date_min"),
                        _("Last date"): summary.get("date_max"),
                        _("Days spanned"): summary.get("days_spanned"),
                        _("Series"): summary.get("series_count"),
                        **(
                            {
                                _("Planned rows (known-future values)"): summary["planned_rows"],
                                _("Planned until"): summary.get("planned_until"),
                            }
                            if summary.get("planned_rows")
                            else {}
                        ),
                    }
                )
            ]
            for title, key in ((_("Checks"), "checks"), (_("Columns"), "columns"), (_("Series"), "series")):
                table = json_table.records_table(summary.get(key), more_label=more)
                if table:
                    parts.append(Markup("<h5>%s</h5>") % title + table)
            dataset.summary_html = Markup("").join(parts)

    @api.depends("registration_ids")
    def _compute_registration_id(self):
        last = self.env["ai.dataset.registration"]._job_latest_ids("dataset_id", self)
        for dataset in self:
            dataset.registration_id = last.get(dataset.id, False)

    @api.depends("summary_json")
    def _compute_summary_alerts(self):
        for dataset in self:
            try:
                alerts = json.loads(dataset.summary_json or "{}").get("alerts") or []
            except ValueError:
                alerts = []
            dataset.summary_alerts = "\n".join(alerts) or False

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

    def write(self, vals):
        result = super().write(vals)
        if "checksum" in vals or vals.get("state") in ("ready", "registered"):
            # A new usable version in a forecast target's lineage: queue its
            # actuals and live-accuracy refresh (the work runs in the cron).
            self.env["ai.forecast.run"]._queue_refresh_for_datasets(self)
        return result

    # ------------------------------------------------------------------ actions

    def action_set_ready(self):
        for dataset in self:
            if not dataset.checksum:
                raise UserError(_("Dataset %s has no data yet.", dataset.display_name))
        self._engine().write({"state": "ready"})
        return True

    def action_archive_dataset(self):
        """Soft delete: the data stays for audit and lineage."""
        return self.action_archive()

    def action_archive(self):
        """Soft delete (the dataset has no ``active`` field): the state becomes
        archived, the Parquet file and the lineage stay for audit, and the model
        versions trained on these datasets are flagged as needing retraining."""
        self.env["ai.dataset"].check_access_rights("unlink")
        todo = self.filtered(lambda dataset: dataset.state != "archived")
        todo._engine().write(
            {"state": "archived", "archived_on": fields.Datetime.now(), "archived_by_id": self.env.uid}
        )
        versions = self.env["ai.model.version"].search([("dataset_id", "in", todo.ids)])
        versions._engine().write({"needs_retraining": True})
        for dataset in todo:
            dataset._message_log(
                body=_(
                    "Dataset archived: its data stays for audit; %(count)s model version(s) trained on it "
                    "are flagged as needing retraining.",
                    count=len(versions.filtered(lambda version, d=dataset: version.dataset_id == d)),
                )
            )
        return True

    def action_open_merge_wizard(self):
        """Open the merge wizard on these datasets."""
        action = self.env["ir.actions.act_window"]._for_xml_id("ai_train_model.ai_dataset_merge_wizard_action")
        action["context"] = {"active_model": self._name, "active_ids": self.ids}
        return action

    def action_download_report(self):
        """Excel report (Resumen, Datos, Columnas, Series, Consistencia, Linaje),
        generated on demand by the access-checked controller."""
        self.ensure_one()
        if not self.checksum:
            raise UserError(_("Dataset %s has no data yet.", self.display_name))
        return {"type": "ir.actions.act_url", "url": f"/ai_train_model/dataset/{self.id}/report.xlsx", "target": "self"}

    def action_register_s3(self):
        """Open the registration wizard (bucket and prefix from the settings,
        dry run first). Called by the Register to S3 button (Manager group)."""
        self.ensure_one()
        self._check_can_register()
        if not self.s3_configured:
            raise UserError(
                _(
                    "No S3 bucket is configured. An AI Forecasting manager sets the bucket (and, if needed, "
                    "the endpoint, region and keys) in AI Forecasting > Configuration > Settings > Dataset Registry (S3)."
                )
            )
        action = self.env["ir.actions.act_window"]._for_xml_id("ai_train_model.ai_dataset_register_wizard_action")
        action["context"] = {"active_model": self._name, "active_id": self.id, "active_ids": self.ids}
        return action

    def action_retry_registration(self):
        """Queue a failed registration again, to the same bucket and prefix.
        Called by the Retry button (Manager group)."""
        for dataset in self:
            if dataset.registration_state != "failed":
                raise UserError(
                    _("Only failed registrations can be retried (%(dataset)s is %(state)s).",
                      dataset=dataset.display_name, state=selection_label(dataset, "registration_state") or _("not queued"))
                )
            dataset._check_can_register()
            dataset.registration_id._job_queue(reset=True)
        return True

    def action_train(self):
        """Open a new training job prefilled from this dataset: its columns
        are picked from the dataset's schema on the form."""
        self.ensure_one()
        if not self.checksum:
            raise UserError(_("Dataset %s has no data yet.", self.display_name))
        self._sync_columns()
        return {
            "type": "ir.actions.act_window",
            "name": _("Train a Model"),
            "res_model": "ai.training.job",
            "view_mode": "form",
            "views": [(False, "form")],
            "target": "current",
            "context": {"default_input_type": "dataset", "default_dataset_id": self.id},
        }

    def action_view_training_jobs(self):
        self.ensure_one()
        action = self.env["ir.actions.act_window"]._for_xml_id("ai_train_model.ai_training_job_action")
        action["domain"] = [("dataset_id", "=", self.id)]
        action["context"] = {"default_dataset_id": self.id}
        return action

    def action_view_model_versions(self):
        self.ensure_one()
        action = self.env["ir.actions.act_window"]._for_xml_id("ai_train_model.ai_model_version_action")
        action["domain"] = [("dataset_id", "=", self.id)]
        action["context"] = {}
        return action

    def action_view_ga4_runs(self):
        self.ensure_one()
        action = self.env["ir.actions.act_window"]._for_xml_id("ai_train_model.ai_ga4_run_action")
        action["domain"] = [("dataset_id", "=", self.id)]
        action["context"] = {}
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

    def _metadata_name(self):
        """The record name as a dataset name the core accepts (S3 keys, CSV cells)."""
        self.ensure_one()
        stem = re.sub(r"[^A-Za-z0-9._-]+", "_", self.name or "").strip("._-")[:100]
        return stem or f"dataset_{self.id}"

    def _parent_metadata(self):
        """Lineage entries (name, version, content digest, source) of ``self``."""
        entries = []
        for parent in self:
            meta = parent._embedded_metadata()
            entries.append(
                {
                    "name": parent._metadata_name(),
                    "version": parent.version,
                    "content_sha256": meta.get("content_sha256"),
                    "source": parent.source,
                }
            )
        return entries

    def _embedded_metadata(self):
        """The metadata dict stored inside the Parquet file ({} when absent)."""
        import pyarrow.parquet as pq

        from ..project.datasets import metadata as dataset_metadata  # imports pyarrow: only when used

        self.ensure_one()
        if not self.checksum:
            return {}
        schema = pq.read_schema(io.BytesIO(self._get_parquet_bytes()))
        raw = (schema.metadata or {}).get(dataset_metadata.METADATA_KEY)
        try:
            return json.loads(raw) if raw else {}
        except ValueError:
            return {}

    def _dataset_metadata(self, table=None):
        """The metadata of this version: the embedded one when it names this
        version, otherwise rebuilt from the record and its content."""
        import pyarrow.parquet as pq

        from ..project.datasets import metadata as dataset_metadata  # imports pyarrow: only when used

        self.ensure_one()
        meta = self._embedded_metadata()
        if meta.get("name") == self._metadata_name() and meta.get("version") == self.version:
            return meta
        if table is None:
            table = pq.read_table(io.BytesIO(self._get_parquet_bytes()))
        table = table.replace_schema_metadata(None)
        return dataset_metadata.build_metadata(
            table,
            name=self._metadata_name(),
            version=self.version,
            template=self.template or "sales",
            date_col=self.date_col if self.date_col in table.column_names else "date",
            key_cols=self._series_columns(),
            source=self.source,
            parents=self.parent_ids._parent_metadata(),
            # the record's own date: rebuilding twice gives the same file and checksum
            created_at=self.create_date.replace(tzinfo=timezone.utc).isoformat(timespec="seconds"),
        )

    def _excel_report_bytes(self):
        """The dataset's Excel report as XLSX bytes (access checked on read)."""
        self.ensure_one()
        frame = self._read_dataframe()
        meta = self._dataset_metadata()
        summary = json.loads(self.summary_json) if self.summary_json else None
        try:
            # Sheet names and headers in one language: the user's when Spanish, else English.
            language = "es" if (self.env.lang or "").startswith("es") else "en"
            return dataset_manager.excel_report(frame, meta, summary, language=language)
        except errors.InputError as exc:
            raise UserError(_("The report of %(dataset)s cannot be built: %(reason)s", dataset=self.display_name, reason=exc)) from exc

    def _compute_summary(self, frame=None, metadata=None):
        """JSON summary of the content (stored in ``summary_json``)."""
        self.ensure_one()
        frame = self._read_dataframe() if frame is None else frame
        summary = dataset_manager.summarize(frame, metadata or self._dataset_metadata())
        return json.dumps(summary, default=str, indent=1)

    def _check_can_register(self):
        """Raise unless the user may register these datasets and they are ready."""
        if not self.env.user.has_group("ai_train_model.group_ai_manager"):
            raise UserError(_("Only AI Forecasting managers can register datasets to S3."))
        for dataset in self:
            if dataset.state not in ("ready", "registered"):
                raise UserError(_("Only ready datasets can be registered (%(dataset)s is %(state)s).",
                                  dataset=dataset.display_name, state=selection_label(dataset, "state")))

    def _queue_registration(self, bucket, prefix):
        """Queue the registration of this version to ``bucket``/``prefix`` and
        wake the registration cron up; returns the ``ai.dataset.registration``.
        Called by the registration wizard; the upload never runs in the request."""
        self.ensure_one()
        self._check_can_register()
        if self.registration_state in ("queued", "running"):
            raise UserError(_("The registration of %(dataset)s is already %(state)s.",
                              dataset=self.display_name, state=selection_label(self, "registration_state")))
        bucket = (bucket or "").strip()
        if not bucket:
            raise UserError(_("Set the S3 bucket in Settings > AI Forecasting before registering datasets."))
        registration = self.env["ai.dataset.registration"]._engine().create(
            {"dataset_id": self.id, "bucket": bucket, "prefix": (prefix or "").strip()}
        )
        registration._job_queue()
        return registration

    def _register_s3(self, bucket=None, prefix=None, dry_run=False):
        """Register this version with ``project.dataset_manager.register``
        (bucket and prefix default to the settings'); returns its result dict.
        With ``dry_run`` nothing is written to the bucket. Bad settings or an
        S3 refusal raise UserError with the reason (never the secret)."""
        from ..project.datasets import metadata as dataset_metadata  # imports pyarrow: only when used

        self.ensure_one()
        Registration = self.env["ai.dataset.registration"]
        settings = Registration._s3_settings()
        bucket = (settings["bucket"] if bucket is None else bucket or "").strip()
        prefix = settings["prefix"] if prefix is None else prefix
        if not bucket:
            raise UserError(_("Set the S3 bucket in Settings > AI Forecasting before registering datasets."))
        with tempfile.TemporaryDirectory(prefix="ai_dataset_") as tmp:
            path = f"{tmp}/{self._metadata_name()}_v{self.version}.parquet"
            raw = self._get_parquet_bytes()
            embedded = self._embedded_metadata()
            if embedded.get("name") == self._metadata_name() and embedded.get("version") == self.version:
                with open(path, "wb") as handle:
                    handle.write(raw)
            else:
                import pyarrow.parquet as pq

                table = pq.read_table(io.BytesIO(raw)).replace_schema_metadata(None)
                dataset_metadata.write_dataset(table, path, self._dataset_metadata(table))
            try:
                return dataset_manager.register(
                    path,
                    bucket,
                    prefix=prefix,
                    endpoint_url=settings["endpoint_url"],
                    region=settings["region"],
                    dry_run=dry_run,
                    client=Registration._s3_client(settings),
                )
            except (errors.InputError, dataset_registry.RegistryError) as exc:
                reason = str(exc)
                if settings["secret_access_key"]:
                    reason = reason.replace(settings["secret_access_key"], "***")
                raise UserError(_("Registration of %(dataset)s failed: %(reason)s", dataset=self.display_name, reason=reason)) from None

    def _series_columns(self):
        self.ensure_one()
        return [c.strip() for c in (self.series_cols or "").split(",") if c.strip()]

    def _get_parquet_bytes(self):
        """Return the raw Parquet bytes (no base64 round trip), checked
        against the stored SHA-256 (``AiIntegrityError`` otherwise)."""
        self.ensure_one()
        return self._engine_file_bytes("data_file")

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
            target = self.target_col
            if target and target in names and table.column(target).null_count:
                # Planned rows (target empty after the history: known-future values) end no history.
                measured = pc.filter(dates, pc.is_valid(table.column(target)))
                if len(measured):
                    vals["date_to"] = pc.max(measured).as_py()
        series_cols = [c for c in self._series_columns() if c in names]
        if table.num_rows:
            if series_cols:
                vals["series_count"] = table.group_by(series_cols).aggregate([]).num_rows
            else:
                vals["series_count"] = 1
        if self.state == "draft":
            vals["state"] = "ready"
        self._engine().write(vals)
        self._sync_columns()
        return True

    def _sync_columns(self):
        """Fill :attr:`column_ids` from the stored schema (kept in step with it)."""
        from .ai_dataset_column import arrow_kind, frame_kinds

        for dataset in self:
            schema = json_table.loads(dataset.schema_json, [])
            columns = [
                (str(col.get("name")), str(col.get("type") or ""), arrow_kind(col.get("type")))
                for col in schema
                if isinstance(col, dict) and col.get("name") is not None
            ]
            # text columns whose values are dates (CSV imports keep ISO strings) are dates
            text = [name for name, _type, kind in columns if kind == "text"]
            if text and dataset.checksum:
                sample = dataset._read_dataframe(columns=text).head(200)
                dates = {name for name, _type, kind in frame_kinds(sample) if kind == "date"}
                columns = [(n, t, "date" if n in dates else k) for n, t, k in columns]
            self.env["ai.dataset.column"]._replace("dataset_id", dataset, columns)
