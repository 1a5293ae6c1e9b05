import base64
import io
import json
import os
import tempfile

from odoo import _, api, fields, models
from odoo.exceptions import UserError

from ..models.tools import form_action
from ..project import dataset_manager, errors, importar_datos
from .import_csv_wizard import LISTED_ERRORS, _html_table, _plain


class AiDatasetMergeWizard(models.TransientModel):
    """Merge several dataset versions into a new version naming them as parents.

    Rows with the same keys and date that differ are conflicts, resolved by the
    on-conflict policy and listed in a report (CSV downloadable). The merge is
    done by ``project.dataset_manager.merge``.
    """

    _name = "ai.dataset.merge.wizard"
    _description = "AI Dataset Merge"
    _inherit = ["ai.protected.fields.mixin"]

    dataset_ids = fields.Many2many(
        comodel_name="ai.dataset",
        string="Datasets",
        domain="[('state', 'in', ('ready', 'registered'))]",
        help="Versions to merge, in order: with keep-last the later one wins a conflict.",
    )
    name = fields.Char(string="Dataset Name", help="Name of the merged dataset (a new version of it is created).")
    on_conflict = fields.Selection(
        selection=[("keep-last", "Keep the last"), ("keep-first", "Keep the first"), ("fail", "Fail")],
        default="keep-last",
        required=True,
        help="Which row to keep when the datasets disagree on the same keys and date.",
    )
    dataset_id = fields.Many2one(comodel_name="ai.dataset", string="Merged Dataset", readonly=True)
    conflict_count = fields.Integer(string="Conflicting Keys", readonly=True)
    conflicts_html = fields.Html(string="Conflicts", sanitize=False, readonly=True)
    conflicts_file = fields.Binary(string="Conflict Report", attachment=False, readonly=True)
    conflicts_filename = fields.Char(readonly=True)

    @api.model
    def default_get(self, fields_list):
        values = super().default_get(fields_list)
        if self.env.context.get("active_model") == "ai.dataset" and self.env.context.get("active_ids"):
            datasets = self.env["ai.dataset"].browse(self.env.context["active_ids"]).exists()
            values["dataset_ids"] = [(6, 0, datasets.ids)]
            if "name" in fields_list and datasets and not values.get("name"):
                values["name"] = datasets[0].name
        return values

    def action_merge(self):
        """Merge the datasets into a new version. Called by the Merge button."""
        self.ensure_one()
        datasets = self.dataset_ids
        if len(datasets) < 2:
            raise UserError(_("Choose at least two dataset versions to merge."))
        if not (self.name or "").strip():
            raise UserError(_("Give the merged dataset a name."))
        not_ready = datasets.filtered(lambda dataset: dataset.state not in ("ready", "registered"))
        if not_ready:
            raise UserError(_("Only ready datasets can be merged: %s.", ", ".join(not_ready.mapped("display_name"))))
        self.env["ai.dataset"].check_access_rights("create")
        import pyarrow as pa
        import pyarrow.parquet as pq

        from ..project.datasets import metadata as dataset_metadata  # imports pyarrow: only when used

        frames = []
        for dataset in datasets:
            table = pq.read_table(io.BytesIO(dataset._get_parquet_bytes()))
            frames.append((table.replace_schema_metadata(None), dataset._dataset_metadata(table)))
        Dataset = self.env["ai.dataset"]
        with self.env.cr.savepoint():
            merged = Dataset.create(
                {
                    "name": self.name.strip(),
                    "source": "merge",
                    "template": datasets[0].template,
                    "parent_ids": [(6, 0, datasets.ids)],
                    "date_col": datasets[0].date_col,
                    "target_col": datasets[0].target_col,
                    "series_cols": datasets[0].series_cols,
                }
            )
            try:
                data, conflicts, metadata = dataset_manager.merge(
                    frames, on_conflict=self.on_conflict, name=merged._metadata_name(), version=merged.version
                )
            except errors.InputError as exc:
                raise UserError(_("The datasets cannot be merged: %s", exc)) from None
            table = pa.Table.from_pandas(data, preserve_index=False)
            with tempfile.TemporaryDirectory(prefix="ai_merge_") as tmp:
                path = dataset_metadata.write_dataset(table, os.path.join(tmp, "merged.parquet"), metadata)
                with open(path, "rb") as handle:
                    raw = handle.read()
            merged._store_parquet(raw, filename=f"{merged._metadata_name()}-v{merged.version}.parquet")
            merged._engine().write(
                {
                    "metadata_json": json.dumps(metadata, default=str, indent=1),
                    "summary_json": merged._compute_summary(data, metadata),
                }
            )
            count = int(metadata.get("merge", {}).get("conflicting_keys", 0))
            merged._message_log(
                body=_(
                    "Merged from %(parents)s (%(policy)s): %(count)s conflicting key(s).",
                    parents=", ".join(datasets.mapped("display_name")),
                    policy=self.on_conflict,
                    count=count,
                )
            )
        vals = {"dataset_id": merged.id, "conflict_count": count, "conflicts_html": False, "conflicts_file": False}
        if len(conflicts):
            shown = conflicts.head(LISTED_ERRORS)
            vals["conflicts_html"] = _html_table(
                list(shown.columns), [[_plain(v) for v in row] for row in shown.itertuples(index=False)]
            )
            vals["conflicts_file"] = base64.b64encode(importar_datos.errors_csv(conflicts))
            vals["conflicts_filename"] = f"{merged._metadata_name()}-v{merged.version}-conflicts.csv"
        self.write(vals)
        return form_action(self, target="new")

    def action_open_dataset(self):
        self.ensure_one()
        return form_action(self.dataset_id, "ai_train_model.ai_dataset_action")
