from odoo import api, fields, models

#: Series key of the lines that pool every series of a version.
ALL_SERIES = "*"


class AiPredictionAccuracy(models.Model):
    """Live accuracy of a model version: one metric over one horizon bucket,
    for one series or for all of them (``series_key = '*'``), computed from
    the stored predictions whose actuals are known.

    Recomputed in full for a version on each refresh and bulk-written on the
    unique key, so a refresh run twice writes nothing the second time."""

    _name = "ai.prediction.accuracy"
    _description = "AI Live Accuracy"
    _inherit = ["ai.bulk.mixin", "ai.protected.fields.mixin"]
    _order = "version_id, series_key, metric, bucket"
    _rec_name = "metric"

    _protected_create = True
    #: Every column is the engine's, and the bulk write sends them all.
    _protected_fields = _COLUMNS = (
        "company_id",
        "target_id",
        "version_id",
        "series_key",
        "bucket",
        "metric",
        "value",
        "n",
        "date_from",
        "date_to",
    )

    company_id = fields.Many2one(comodel_name="res.company", required=True, readonly=True, index=True)
    target_id = fields.Many2one(comodel_name="ai.forecast.target", required=True, readonly=True, ondelete="cascade")
    version_id = fields.Many2one(
        comodel_name="ai.model.version", string="Model Version", required=True, readonly=True, ondelete="cascade"
    )
    series_key = fields.Char(string="Series", required=True, readonly=True, help="'*': all series pooled.")
    bucket = fields.Char(required=True, readonly=True, help="D+1, D+7, D+28 (one day ahead) or 1-28 (days 1 to 28).")
    metric = fields.Char(required=True, readonly=True)
    value = fields.Float(readonly=True, group_operator="avg")
    n = fields.Integer(string="Actuals", readonly=True, group_operator="sum", help="Actuals scored.")
    date_from = fields.Date(string="First Day", readonly=True)
    date_to = fields.Date(string="Last Day", readonly=True)

    _sql_constraints = [
        (
            "accuracy_uniq",
            "unique(version_id, series_key, bucket, metric)",
            "A live accuracy line is unique per version, series, bucket and metric.",
        ),
    ]

    @api.model
    def _store(self, version, rows):
        """Bulk-write ``rows`` (``series_key, bucket, metric, value, n,
        date_from, date_to``) of ``version``; lines of this version that the
        new computation no longer has are removed. Returns the rows written."""
        rows = [
            (version.company_id.id, version.target_id.id, version.id, *row)
            for row in rows
        ]
        keys = {(row[3], row[4], row[5]) for row in rows}
        stale = self.search([("version_id", "=", version.id)]).filtered(
            lambda line: (line.series_key, line.bucket, line.metric) not in keys
        )
        if stale:
            stale.sudo().unlink()
        return self._engine()._bulk_upsert(
            list(self._COLUMNS),
            rows,
            ["version_id", "series_key", "bucket", "metric"],
        )
