"""``ai.dataset.import.wizard`` and its lines: import a CSV or Excel file as a dataset."""

import base64
import io
import json
import logging
import os
import tempfile

from markupsafe import Markup

from odoo import _, api, fields, models
from odoo.exceptions import UserError, ValidationError

from ..models.tools import form_action
from ..project import errors, importar_datos
from ..project.datasets import templates as dataset_templates

_logger = logging.getLogger(__name__)

#: Rows shown in the previews and errors listed in the summary.
PREVIEW_ROWS = 10
LISTED_ERRORS = 20


def _html_table(header, rows, css="table table-sm table-bordered o_ai_import_table"):
    """An HTML table whose every cell is escaped (file contents are untrusted)."""
    head = Markup("").join(Markup("<th>%s</th>") % h for h in header)
    body = Markup("").join(
        Markup("<tr>%s</tr>") % Markup("").join(Markup("<td>%s</td>") % ("" if v is None else v) for v in row)
        for row in rows
    )
    return Markup('<table class="%s"><thead><tr>%s</tr></thead><tbody>%s</tbody></table>') % (css, head, body)


class AiDatasetImportColumn(models.TransientModel):
    """A column of the uploaded file, offered to the mapping lines."""

    _name = "ai.dataset.import.column"
    _description = "AI Dataset Import: File Column"
    _inherit = ["ai.protected.fields.mixin"]
    _order = "sequence, id"

    wizard_id = fields.Many2one(comodel_name="ai.dataset.import.wizard", required=True, ondelete="cascade")
    name = fields.Char(required=True)
    sequence = fields.Integer()


class AiDatasetImportSheet(models.TransientModel):
    """A sheet of the uploaded workbook."""

    _name = "ai.dataset.import.sheet"
    _description = "AI Dataset Import: Workbook Sheet"
    _inherit = ["ai.protected.fields.mixin"]
    _order = "sequence, id"

    wizard_id = fields.Many2one(comodel_name="ai.dataset.import.wizard", required=True, ondelete="cascade")
    name = fields.Char(required=True)
    sequence = fields.Integer()


class AiDatasetImportMapping(models.TransientModel):
    """One canonical field of the template and the file column mapped to it."""

    _name = "ai.dataset.import.mapping"
    _description = "AI Dataset Import: Field Mapping"
    _inherit = ["ai.protected.fields.mixin"]
    _order = "sequence, id"
    _rec_name = "field_name"

    wizard_id = fields.Many2one(comodel_name="ai.dataset.import.wizard", required=True, ondelete="cascade")
    sequence = fields.Integer()
    field_name = fields.Char(string="Field", required=True, readonly=True)
    field_type = fields.Char(string="Type", readonly=True)
    required = fields.Boolean(readonly=True)
    column_id = fields.Many2one(
        comodel_name="ai.dataset.import.column",
        string="File Column",
        domain="[('wizard_id', '=', wizard_id)]",
        help="Column of the file holding this field. Empty: not imported.",
    )
    match = fields.Selection(
        selection=[("auto", "Automatic"), ("manual", "Manual")],
        compute="_compute_match",
        store=True,
        readonly=False,
    )

    @api.depends("column_id")
    def _compute_match(self):
        for line in self:
            line.match = "manual" if line.column_id else False


class AiDatasetImportWizard(models.TransientModel):
    """Import a CSV/XLSX upload as a new dataset version.

    Steps: upload (the file is inspected: columns, sheets, automatic mapping),
    mapping (editable lines, live preview), validation (a dry run of the whole
    import inside a savepoint, rolled back, as ``base_import`` does) and import
    (the same run, kept). A rejected file creates nothing; its reasons and the
    errors CSV stay on the wizard. The reading and checking is done by
    ``project.importar_datos``.
    """

    _name = "ai.dataset.import.wizard"
    _description = "AI Dataset Import"
    _inherit = ["ai.protected.fields.mixin"]

    step = fields.Selection(
        selection=[("upload", "Upload"), ("mapping", "Mapping"), ("validated", "Validated"), ("done", "Done")],
        default="upload",
        required=True,
    )
    file = fields.Binary(attachment=False, help="A CSV (any delimiter, UTF-8 or Latin-1) or XLSX file.")
    filename = fields.Char()
    template = fields.Selection(
        selection=[("sales", "Sales"), ("ga4", "GA4")],
        default="sales",
        required=True,
        help="Canonical fields the file is mapped to. Sales: date and sales required; store, product, "
        "price, promotion optional.",
    )
    sheet_id = fields.Many2one(
        comodel_name="ai.dataset.import.sheet",
        domain="[('wizard_id', '=', id)]",
        help="Workbook sheet to import (default: the first non-empty one).",
    )
    sheet_ids = fields.One2many(comodel_name="ai.dataset.import.sheet", inverse_name="wizard_id", string="Sheets")
    column_ids = fields.One2many(comodel_name="ai.dataset.import.column", inverse_name="wizard_id", string="File Columns")
    mapping_ids = fields.One2many(comodel_name="ai.dataset.import.mapping", inverse_name="wizard_id")
    is_xlsx = fields.Boolean(string="Is XLSX", compute="_compute_is_xlsx")
    sample_json = fields.Text(string="Sample JSON", help="The first raw rows of the file (JSON), for the preview.")
    file_info = fields.Char(string="Detected", readonly=True, help="Format, encoding, delimiter and header row found.")
    preview_html = fields.Html(compute="_compute_preview_html", sanitize=False, string="Preview")
    name = fields.Char(string="Dataset Name", help="Name of the dataset; the import adds a version to it.")
    base_dataset_id = fields.Many2one(
        comodel_name="ai.dataset",
        domain="[('state', 'in', ('ready', 'registered'))]",
        help="Rows are checked for duplicates against this version and merged with it; "
        "the new version names it as its parent.",
    )
    duplicates = fields.Selection(
        selection=[("skip", "Skip (keep the existing row)"), ("overwrite", "Overwrite (keep the new row)"), ("fail", "Fail")],
        default="skip",
        required=True,
        help="What to do with rows whose keys and date repeat, in the file or in the base dataset.",
    )
    max_error_rate = fields.Float(
        string="Error Threshold",
        default=0.01,
        required=True,
        help="Largest share of rejected rows for which the file is still imported (the bad rows are left out).",
    )
    retrain_now = fields.Boolean(help="Queue a training job on the new dataset version once imported.")
    target_line_id = fields.Many2one(
        comodel_name="ai.dataset.import.mapping",
        string="Target",
        domain="[('wizard_id', '=', id), ('field_type', '=', 'number'), ('column_id', '!=', False)]",
        help="The number to forecast: training jobs on this dataset use it as their target.",
    )
    # results of the last validation / import
    accepted = fields.Boolean(readonly=True)
    rejection_reason = fields.Text(readonly=True)
    rows_read = fields.Integer(readonly=True)
    rows_valid = fields.Integer(string="Rows Accepted", readonly=True)
    rows_rejected = fields.Integer(readonly=True)
    error_rate = fields.Float(readonly=True)
    output_rows = fields.Integer(string="Rows in the New Version", readonly=True)
    errors_html = fields.Html(string="First Errors", sanitize=False, readonly=True)
    result_preview_html = fields.Html(string="Parsed Preview", sanitize=False, readonly=True)
    errors_file = fields.Binary(string="Errors CSV", attachment=False, readonly=True)
    errors_filename = fields.Char(readonly=True)
    dataset_id = fields.Many2one(comodel_name="ai.dataset", string="Created Dataset", readonly=True)
    training_job_id = fields.Many2one(comodel_name="ai.training.job", readonly=True)

    @api.constrains("max_error_rate")
    def _check_max_error_rate(self):
        for wizard in self:
            if not 0 <= wizard.max_error_rate <= 1:
                raise ValidationError(_("The error threshold must be between 0% and 100%."))

    @api.depends("filename")
    def _compute_is_xlsx(self):
        for wizard in self:
            wizard.is_xlsx = (wizard.filename or "").lower().endswith((".xlsx", ".xlsm"))

    @api.depends("sample_json", "mapping_ids.column_id")
    def _compute_preview_html(self):
        for wizard in self:
            if not wizard.sample_json:
                wizard.preview_html = False
                continue
            sample = json.loads(wizard.sample_json)
            columns = sample["columns"]
            mapped = [(line.field_name, line.column_id.name) for line in wizard.mapping_ids if line.column_id]
            index = {name: position for position, name in enumerate(columns)}
            header = [f"{field} ← {column}" for field, column in mapped]
            rows = [
                [row[index[column]] if index.get(column, len(row)) < len(row) else None for _field, column in mapped]
                for row in sample["rows"][:PREVIEW_ROWS]
            ]
            wizard.preview_html = _html_table(header, rows) if mapped else False

    @api.onchange("base_dataset_id")
    def _onchange_base_dataset_id(self):
        if self.base_dataset_id and not self.name:
            self.name = self.base_dataset_id.name

    # ------------------------------------------------------------------ actions

    def action_download_template(self):
        """Download the template of the chosen kind (CSV)."""
        self.ensure_one()
        return {
            "type": "ir.actions.act_url",
            "url": f"/ai_train_model/import/template/{self.template}.{self.env.context.get('template_format', 'csv')}",
            "target": "self",
        }

    def action_load(self):
        """Read the file's columns and sheets and propose the mapping. Called by Next."""
        self.ensure_one()
        if not self.file:
            raise UserError(_("Choose a CSV or XLSX file to import."))
        info = self._inspect()
        chosen = dataset_templates.choose_template(info["columns"], self.template)
        if chosen != self.template:
            # The file fits another template (a GA4 export under the default
            # sales template): switch rather than ask for a manual mapping.
            self.template = chosen
            info = self._inspect()
        self.column_ids.unlink()
        self.mapping_ids.unlink()
        columns = self.env["ai.dataset.import.column"].create(
            [{"wizard_id": self.id, "name": name, "sequence": i} for i, name in enumerate(info["columns"])]
        )
        by_name = {column.name: column for column in columns}
        if info.get("sheets") and not self.sheet_ids:
            sheets = self.env["ai.dataset.import.sheet"].create(
                [{"wizard_id": self.id, "name": name, "sequence": i} for i, name in enumerate(info["sheets"])]
            )
            self.sheet_id = sheets.filtered(lambda sheet: sheet.name == info.get("sheet"))[:1]
        self.env["ai.dataset.import.mapping"].create(
            [
                {
                    "wizard_id": self.id,
                    "sequence": i,
                    "field_name": line["field"],
                    "field_type": line["type"],
                    "required": line["required"],
                    "column_id": by_name[line["column"]].id if line.get("column") in by_name else False,
                    "match": "auto" if line.get("column") in by_name else False,
                }
                for i, line in enumerate(info["proposal"])
            ]
        )
        self.target_line_id = self._default_target_line()
        described = [info.get("format", "").upper()]
        if info.get("encoding"):
            described.append(_("encoding %s", info["encoding"]))
        if info.get("delimiter"):
            described.append(_("delimiter %r", info["delimiter"]))
        if info.get("sheet"):
            described.append(_("sheet %s", info["sheet"]))
        described.append(_("header on row %s", info.get("header_row", 1)))
        described.append(_("template %s", dict(self._fields["template"]._description_selection(self.env))[self.template]))
        self.write(
            {
                "step": "mapping",
                "name": self.name or self.base_dataset_id.name or os.path.splitext(info["filename"])[0],
                "file_info": ", ".join(described),
                "sample_json": json.dumps(
                    {"columns": info["columns"], "rows": [[_plain(v) for v in row] for row in info["sample"]]}
                ),
            }
        )
        return self._reopen()

    def action_validate(self):
        """Dry run: the whole import in a savepoint, rolled back; the summary stays."""
        self.ensure_one()
        self._execute(dry_run=True)
        return self._reopen()

    def action_import(self):
        """Import for real: a new dataset version, or nothing when rejected."""
        self.ensure_one()
        self._execute(dry_run=False)
        return self._reopen()

    def action_back(self):
        self.ensure_one()
        self.step = "upload"
        return self._reopen()

    def action_open_dataset(self):
        self.ensure_one()
        return form_action(self.dataset_id, "ai_train_model.ai_dataset_action")

    # ------------------------------------------------------------------ helpers

    def _default_target_line(self):
        """The mapped number field to forecast: the template's first (sales,
        sessions, then the other GA4 metrics in the template's order)."""
        numbers = self.mapping_ids.filtered(lambda line: line.field_type == "number" and line.column_id)
        preferred = ("sales", "sessions", "pageviews", "revenue")
        for name in preferred:
            line = numbers.filtered(lambda line, name=name: line.field_name == name)
            if line:
                return line[:1]
        return numbers.filtered(lambda line: line.field_name != "price")[:1]

    def _check_mapping(self):
        """Say in the user's language what the mapping lacks, before the engine runs."""
        if not self.mapping_ids:
            return
        missing = dataset_templates.missing_fields(self._mapping(), dataset_templates.get_template(self.template))
        if missing:
            first = missing[0]
            if len(first) == 1:
                raise UserError(
                    _(
                        "Choose the file column holding the required field \"%(field)s\" in the Column Mapping tab.",
                        field=first[0],
                    )
                )
            raise UserError(
                _(
                    "Map at least one of these fields to a file column in the Column Mapping tab: %(fields)s.",
                    fields=", ".join(first),
                )
            )
        if not self.target_line_id or not self.target_line_id.column_id:
            raise UserError(_("Choose the Target: the mapped number field to forecast."))

    def _reopen(self):
        return dict(form_action(self, target="new", name=_("Import Data")), context=dict(self.env.context))

    def _file_bytes(self):
        return base64.b64decode(self.file or b"")

    def _inspect(self):
        try:
            return importar_datos.inspect_file(
                self._file_bytes(), self.filename or "upload.csv", template=self.template, sheet=self.sheet_id.name or None
            )
        except errors.InputError as exc:
            raise UserError(_("The file cannot be imported: %s", exc)) from None

    def _mapping(self):
        """``{field: column}`` of the lines; an emptied line un-maps its field."""
        return {line.field_name: line.column_id.name or "" for line in self.mapping_ids}

    def _run_engine(self):
        """Read, map and validate the file. Returns ``(result, reason)``: a
        result (accepted or not) or None and the reason the file cannot be
        imported at all."""
        import pyarrow.parquet as pq

        base = None
        if self.base_dataset_id:
            base = pq.read_table(io.BytesIO(self.base_dataset_id._get_parquet_bytes())).replace_schema_metadata(None)
        try:
            result = importar_datos.import_file(
                self._file_bytes(),
                self.filename or "upload.csv",
                template=self.template,
                mapping=self._mapping() if self.mapping_ids else None,
                duplicates=self.duplicates,
                max_error_rate=self.max_error_rate,
                base=base,
                sheet=self.sheet_id.name or None,
            )
        except errors.InputError as exc:
            return None, str(exc)
        return result, None if result.accepted else result.reason

    def _execute(self, dry_run):
        """Run the import inside a savepoint (base_import's pattern): rolled back
        for a dry run or a rejected file, released otherwise."""
        if not self.file:
            raise UserError(_("Choose a CSV or XLSX file to import."))
        if not (self.name or "").strip():
            raise UserError(_("Give the dataset a name."))
        self.env["ai.dataset"].check_access_rights("create")
        self._check_mapping()
        result, reason = self._run_engine()
        dataset = job = self.env["ai.dataset"]
        if result is not None and result.accepted:
            savepoint = self.env.cr.savepoint()
            try:
                dataset, job = self._store(result)
            except UserError as exc:
                savepoint.close(rollback=True)
                dataset = job = self.env["ai.dataset"]
                reason = exc.args[0]
            except Exception:
                savepoint.close(rollback=True)
                raise
            else:
                savepoint.close(rollback=dry_run)
                if dry_run:
                    dataset = job = self.env["ai.dataset"]
        self._write_summary(result, reason, dataset, job, dry_run)

    def _store(self, result):
        """Create the dataset version from an accepted result (and its training job)."""
        Dataset = self.env["ai.dataset"]
        series = [c for c in result.key_columns if c in result.table.column_names]
        target = self.target_line_id.field_name if self.target_line_id.column_id else False
        if target not in result.table.column_names:
            target = next((c for c in ("sales", "sessions", "revenue") if c in result.table.column_names), False)
        dataset = Dataset.create(
            {
                "name": self.name.strip(),
                "source": "upload",
                "template": result.template,
                "parent_ids": [(6, 0, self.base_dataset_id.ids)],
                "date_col": "date",
                "target_col": target,
                "series_cols": ",".join(series),
            }
        )
        metadata = result.metadata(
            name=dataset._metadata_name(),
            version=dataset.version,
            parents=self.base_dataset_id._parent_metadata(),
            extra={"uploaded_by": self.env.user.login, "odoo_dataset_id": dataset.id},
        )
        with tempfile.TemporaryDirectory(prefix="ai_import_") as tmp:
            path = result.write(os.path.join(tmp, "dataset.parquet"), metadata)
            with open(path, "rb") as handle:
                raw = handle.read()
        stem = os.path.splitext(os.path.basename(result.filename or "upload"))[0]
        dataset._store_parquet(raw, filename=f"{dataset._metadata_name()}-v{dataset.version}.parquet")
        dataset._engine().write(
            {
                "original_filename": result.filename or stem,
                "metadata_json": json.dumps(metadata, default=str, indent=1),
                "summary_json": dataset._compute_summary(result.data, metadata),
            }
        )
        # Formatted outside _(): Odoo's term extractor fails on an f-string inside the call.
        rejected_rate = f"{result.stats.get('error_rate', 0):.2%}"
        dataset._message_log(
            body=_(
                "Imported from %(file)s: %(valid)s of %(read)s rows accepted (%(rate)s rejected).",
                file=result.filename,
                valid=result.stats.get("rows_valid"),
                read=result.stats.get("rows_read"),
                rate=rejected_rate,
            )
        )
        job = self.env["ai.training.job"]
        if self.retrain_now:
            if not target:
                raise UserError(_("The imported data has no target column to train on."))
            job = job.create({"input_type": "dataset", "dataset_id": dataset.id})
            job.action_queue()
        return dataset, job

    def _write_summary(self, result, reason, dataset, job, dry_run):
        vals = {
            "accepted": result is not None and reason is None,
            "rejection_reason": reason or False,
            "dataset_id": dataset.id,
            "training_job_id": job.id,
            "step": "done" if dataset else "validated",
            "rows_read": 0,
            "rows_valid": 0,
            "rows_rejected": 0,
            "error_rate": 0.0,
            "output_rows": 0,
            "errors_html": False,
            "result_preview_html": False,
            "errors_file": False,
            "errors_filename": False,
        }
        if result is not None:
            stats = result.stats
            vals.update(
                {
                    "rows_read": stats.get("rows_read", 0),
                    "rows_valid": stats.get("rows_valid", 0),
                    "rows_rejected": stats.get("rows_rejected", 0),
                    "error_rate": stats.get("error_rate", 0.0),
                    "output_rows": stats.get("output_rows", 0),
                }
            )
            preview = result.preview.head(PREVIEW_ROWS)
            vals["result_preview_html"] = _html_table(
                list(preview.columns), [[_plain(v) for v in row] for row in preview.itertuples(index=False)]
            )
            errors = result.errors
            if len(errors):
                shown = errors.head(LISTED_ERRORS)
                vals["errors_html"] = _html_table(
                    [_("Row"), _("Column"), _("Value"), _("Reason")],
                    [[_plain(v) for v in row] for row in shown[["row", "column", "value", "reason"]].itertuples(index=False)],
                )
                stem = os.path.splitext(os.path.basename(self.filename or "upload"))[0]
                vals["errors_file"] = base64.b64encode(result.errors_csv())
                vals["errors_filename"] = f"{stem}-errors.csv"
        if dry_run and vals["accepted"]:
            vals["step"] = "validated"
        self.write(vals)


def _plain(value):
    """A JSON/HTML-friendly cell: dates as ISO text, NaN as empty."""
    if value is None:
        return None
    if hasattr(value, "isoformat"):
        text = value.isoformat()
        return text[:10] if text.endswith("T00:00:00") else text
    if isinstance(value, float) and value != value:
        return None
    if isinstance(value, (int, float, str, bool)):
        return value
    return str(value)
