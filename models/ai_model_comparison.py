from odoo import fields, models, tools


class AiModelComparison(models.Model):
    """Read-only view putting model versions side by side: each version's
    backtest metrics (mean over series of the chosen model's score) and its
    live accuracy (all series pooled) per metric and horizon bucket."""

    _name = "ai.model.comparison"
    _description = "AI Model Comparison"
    _auto = False
    _order = "version_id, source, metric, bucket"
    _rec_name = "metric"

    version_id = fields.Many2one(comodel_name="ai.model.version", string="Model Version", readonly=True)
    target_id = fields.Many2one(comodel_name="ai.forecast.target", readonly=True)
    company_id = fields.Many2one(comodel_name="res.company", readonly=True)
    source = fields.Selection(selection=[("backtest", "Backtest"), ("live", "Live")], readonly=True)
    bucket = fields.Char(readonly=True)
    metric = fields.Char(readonly=True)
    value = fields.Float(readonly=True, group_operator="avg", digits=(16, 4))
    n = fields.Integer(string="Series or Actuals", readonly=True, group_operator="sum")

    def init(self):
        tools.drop_view_if_exists(self.env.cr, self._table)
        self.env.cr.execute(
            f"""
            CREATE VIEW {self._table} AS (
                SELECT row_number() OVER (ORDER BY version_id, source, metric, bucket) AS id, *
                  FROM (
                    SELECT m.version_id, v.target_id, v.company_id, 'backtest'::varchar AS source,
                           m.bucket, m.metric, avg(m.value) AS value, count(*)::integer AS n
                      FROM ai_model_metric m
                      JOIN ai_model_version v ON v.id = m.version_id
                     WHERE m.chosen AND m.value IS NOT NULL
                  GROUP BY m.version_id, v.target_id, v.company_id, m.bucket, m.metric
                    UNION ALL
                    SELECT a.version_id, a.target_id, a.company_id, 'live'::varchar AS source,
                           a.bucket, a.metric, a.value, a.n
                      FROM ai_prediction_accuracy a
                     WHERE a.series_key = '*'
                  ) AS lines
            )
            """
        )
