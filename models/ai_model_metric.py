import math
import re

from odoo import api, fields, models


class AiModelMetric(models.Model):
    """One backtest score: a series, a candidate model, a horizon bucket and a
    metric. Written in bulk by the engine (``_import_frame``), never by hand."""

    _name = "ai.model.metric"
    _description = "AI Model Metric"
    _inherit = ["ai.bulk.mixin", "ai.protected.fields.mixin"]
    _order = "version_id, chosen desc, unique_id, metric, bucket, model"
    _rec_name = "metric"

    _protected_create = True
    _protected_fields = ("version_id", "unique_id", "model", "bucket", "metric", "value", "chosen", "ratio_snaive")

    version_id = fields.Many2one(
        comodel_name="ai.model.version", string="Model Version", required=True, ondelete="cascade", index=True
    )
    company_id = fields.Many2one(related="version_id.company_id")
    unique_id = fields.Char(string="Series", required=True, index=True)
    model = fields.Char(required=True)
    bucket = fields.Char(
        string="Horizon Bucket",
        required=True,
        help="Horizon bucket: D+1, D+7, D+28 (a single day) or 1-28 (average over days 1 to 28)."
    )
    metric = fields.Char(required=True)
    value = fields.Float(
        group_operator="avg", help="Stored at full precision; shown with 4 decimals. Grouped rows show the mean."
    )
    chosen = fields.Boolean(help="The model chosen for this series.")
    ratio_snaive = fields.Float(
        string="Ratio to Seasonal Naive",
        readonly=True,
        group_operator="avg",
        help="This value divided by the seasonal naive model's for the same series, bucket and metric: below 1 "
        "the model beats repeating last week. Grouped rows show the mean ratio over series; compare versions "
        "side by side, never mixed.",
    )

    _sql_constraints = [
        (
            "metric_uniq",
            "unique(version_id, unique_id, model, bucket, metric)",
            "A metric line is unique per version, series, model, bucket and metric.",
        ),
    ]

    @api.model
    def _import_frame(self, version, frame):
        """Store the core's metrics frame (``unique_id, model, bucket, metric,
        value, chosen``) for ``version`` in one bulk upsert. Non-finite values
        (a metric undefined for a series) are skipped. Returns the row count."""
        if frame is None or not len(frame):
            return 0
        missing = {"unique_id", "model", "bucket", "metric", "value"} - set(frame.columns)
        if missing:
            raise ValueError(f"metrics frame lacks columns {sorted(missing)}")
        chosen = frame["chosen"] if "chosen" in frame.columns else [False] * len(frame)

        def rows():
            for uid, model, bucket, metric, value, is_chosen in zip(
                frame["unique_id"], frame["model"], frame["bucket"], frame["metric"], frame["value"], chosen
            ):
                value = float(value)
                if math.isfinite(value):
                    yield version.id, str(uid), str(model), str(bucket), str(metric), value, bool(is_chosen)

        count = self._engine()._bulk_upsert(
            ["version_id", "unique_id", "model", "bucket", "metric", "value", "chosen"],
            rows(),
            ["version_id", "unique_id", "model", "bucket", "metric"],
        )
        self._update_ratios(version)
        return count

    @api.model
    def _update_ratios(self, versions):
        """Set :attr:`ratio_snaive` of the versions' lines in one statement
        (no seasonal naive line for a series and bucket: no ratio)."""
        self.flush_model()
        self.env.cr.execute(
            """
            UPDATE ai_model_metric m
               SET ratio_snaive = CASE WHEN b.value > 0 THEN m.value / b.value END
              FROM ai_model_metric b
             WHERE m.version_id = ANY(%s)
               AND b.version_id = m.version_id AND b.unique_id = m.unique_id
               AND b.bucket = m.bucket AND b.metric = m.metric AND b.model = 'snaive'
            """,
            [list(versions.ids)],
        )
        self.invalidate_model(["ratio_snaive"])

    @api.model
    def _bucket_width(self, bucket):
        """Days a bucket label covers: ``1-28`` -> 28, ``D+7`` -> 1."""
        match = re.fullmatch(r"(\d+)-(\d+)", bucket or "")
        return int(match.group(2)) - int(match.group(1)) + 1 if match else 1
