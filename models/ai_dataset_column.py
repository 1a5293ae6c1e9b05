"""``ai.dataset.column``: the columns of a dataset (or of a training job's
uploaded file), so that training jobs pick their columns instead of typing them."""

from odoo import api, fields, models

#: Kinds a column can have, as the training job checks them.
KINDS = [("date", "Date"), ("numeric", "Number"), ("text", "Text"), ("flag", "Yes/No"), ("other", "Other")]


def arrow_kind(type_name):
    """The kind of a column from its Arrow type name (``date32[day]``, ``int64``...)."""
    name = (type_name or "").lower()
    if name.startswith(("date", "timestamp")):
        return "date"
    if name.startswith(("int", "uint", "float", "double", "decimal", "halffloat")):
        return "numeric"
    if name in ("string", "large_string", "utf8", "large_utf8") or name.startswith("dictionary"):
        return "text"
    if name in ("bool", "boolean"):
        return "flag"
    return "other"


def frame_kinds(frame, sample=200):
    """``[(name, type name, kind)]`` for the columns of a DataFrame read from a
    CSV: text columns whose first values all parse as dates are dates."""
    import pandas as pd

    out = []
    for name in frame.columns:
        column = frame[name]
        if pd.api.types.is_bool_dtype(column):
            kind = "flag"
        elif pd.api.types.is_numeric_dtype(column):
            kind = "numeric"
        elif pd.api.types.is_datetime64_any_dtype(column):
            kind = "date"
        else:
            values = column.dropna().astype(str).head(sample)
            parsed = pd.to_datetime(values, errors="coerce", format="mixed") if len(values) else values
            kind = "date" if len(values) and parsed.notna().all() else "text"
        out.append((str(name), str(column.dtype), kind))
    return out


class AiDatasetColumn(models.Model):
    """One column of a dataset's schema or of an uploaded file's header.

    Filled by the engine from the stored schema (:meth:`ai.dataset._sync_columns`)
    or from the upload (:meth:`ai.training.job._sync_file_columns`); read-only
    for users, who pick them on the training job form.
    """

    _name = "ai.dataset.column"
    _description = "AI Dataset Column"
    _order = "sequence, id"

    name = fields.Char(required=True, readonly=True)
    sequence = fields.Integer(readonly=True)
    type_name = fields.Char(string="Type", readonly=True)
    kind = fields.Selection(selection=KINDS, required=True, default="other", readonly=True)
    dataset_id = fields.Many2one("ai.dataset", ondelete="cascade", index="btree_not_null", readonly=True)
    job_id = fields.Many2one("ai.training.job", ondelete="cascade", index="btree_not_null", readonly=True)
    company_id = fields.Many2one("res.company", compute="_compute_company_id", store=True, index=True)

    @api.depends("dataset_id.company_id", "job_id.company_id")
    def _compute_company_id(self):
        for column in self:
            column.company_id = column.dataset_id.company_id or column.job_id.company_id

    @api.depends("name", "kind")
    def _compute_display_name(self):
        labels = dict(self._fields["kind"]._description_selection(self.env))
        for column in self:
            column.display_name = f"{column.name} ({labels.get(column.kind, column.kind)})"

    @api.model
    def _replace(self, owner_field, owner, columns):
        """Replace the columns of ``owner`` (a dataset or a job) by ``columns``,
        a list of ``(name, type name, kind)`` (the engine's write)."""
        existing = self.sudo().search([(owner_field, "=", owner.id)])
        if [(c.name, c.type_name or "", c.kind) for c in existing] == [(n, t or "", k) for n, t, k in columns]:
            return existing
        existing.unlink()
        return self.sudo().create(
            [
                {owner_field: owner.id, "name": name, "type_name": type_name, "kind": kind, "sequence": index}
                for index, (name, type_name, kind) in enumerate(columns)
            ]
        )
