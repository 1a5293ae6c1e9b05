from odoo import api, fields, models

#: Columns of a prediction row as the engine writes them, in this order.
PREDICTION_COLUMNS = (
    "model_version_id",
    "series_key",
    "series_label",
    "date",
    "horizon",
    "prediction_type",
    "yhat",
    "yhat_lower_80",
    "yhat_upper_80",
    "yhat_lower_95",
    "yhat_upper_95",
)
#: The unique key (see ``_sql_constraints``) and conflict target of upserts.
PREDICTION_KEY = ("model_version_id", "date", "series_key", "horizon")


class AiPrediction(models.Model):
    """One forecast value: a model version's prediction of one series for one
    day, made ``horizon`` days ahead, with its 80% and 95% bounds and, once the
    day has passed and the data arrived, the actual value and the error.

    The key is ``(model_version_id, date, series_key, horizon)``: a version
    forecasting the same day at the same horizon again (a re-run of the same
    night, or after new data) replaces its older forecast, while forecasts of
    the same day made on other days (other horizons) stay, because live
    accuracy is measured per horizon. The type is not in the key: a challenger
    promoted to champion re-predicting the same night turns its shadow rows
    into served ones instead of doubling them.

    The target and the company are the version's (related, not stored): a
    forecast run writes tens of thousands of rows, and each stored reference
    would cost every row a foreign-key check and an index entry. The key's
    index, version then date first, serves the API's pages (one version, a
    date range, in date order), the actuals update and the cleanup.

    No audit columns (``_log_access = False``, as Odoo's own
    ``mail.notification``): a row's provenance is its version and the day it
    was made (``date - horizon``), and when predictions were last written is
    the forecast run's. The four columns would cost every row two more
    foreign-key checks (``create_uid``, ``write_uid``), the largest share of
    a bulk write left to PostgreSQL.

    Written by the engine only, in bulk (``_upsert_rows``); never by hand.
    """

    _name = "ai.prediction"
    _description = "AI Prediction"
    _inherit = ["ai.bulk.mixin", "ai.protected.fields.mixin"]
    _order = "date desc, series_key, horizon, id"
    _log_access = False
    _rec_name = "series_label"

    _protected_create = True
    _protected_fields = PREDICTION_COLUMNS + ("actual", "error", "is_anomaly", "anomaly_score", "scale")

    model_version_id = fields.Many2one(
        comodel_name="ai.model.version", required=True, readonly=True, ondelete="cascade"
    )
    target_id = fields.Many2one(related="model_version_id.target_id", string="Target")
    company_id = fields.Many2one(related="model_version_id.company_id", string="Company")
    series_key = fields.Char(
        required=True,
        readonly=True,
        help="The series key as the training core names it: the key columns' values joined with ' | ' "
        "('total' for a single series).",
    )
    series_label = fields.Char(string="Series", readonly=True)
    date = fields.Date(required=True, readonly=True)
    horizon = fields.Integer(required=True, readonly=True, group_operator="min", help="Days ahead (1 = D+1).")
    prediction_type = fields.Selection(
        selection=[("forecast", "Forecast"), ("shadow", "Shadow")],
        string="Type",
        required=True,
        default="forecast",
        readonly=True,
        help="Forecast: made by the champion and served. Shadow: made by the challenger, only scored.",
    )
    yhat = fields.Float(string="Forecast", readonly=True, group_operator="sum")
    yhat_lower_80 = fields.Float(string="Lower 80%", readonly=True, group_operator="sum")
    yhat_upper_80 = fields.Float(string="Upper 80%", readonly=True, group_operator="sum")
    yhat_lower_95 = fields.Float(string="Lower 95%", readonly=True, group_operator="sum")
    yhat_upper_95 = fields.Float(string="Upper 95%", readonly=True, group_operator="sum")
    actual = fields.Float(readonly=True, group_operator="sum", help="The observed value, once known.")
    error = fields.Float(readonly=True, group_operator="avg", help="Actual minus forecast.")
    has_actual = fields.Boolean(compute="_compute_has_actual", search="_search_has_actual")
    is_anomaly = fields.Boolean(string="Anomaly", readonly=True, index="btree_not_null")
    anomaly_score = fields.Float(readonly=True, group_operator="max")
    scale = fields.Float(
        readonly=True,
        group_operator="avg",
        help="The series' typical error at forecast time (mean absolute seasonal difference of its history, "
        "the MASE scale): live MASE and anomaly scores are measured in it.",
    )

    _sql_constraints = [
        (
            "prediction_uniq",
            "unique(model_version_id, date, series_key, horizon)",
            "A model version forecasts a series for a day at a given horizon once.",
        ),
        ("horizon_range", "CHECK(horizon BETWEEN 1 AND 90)", "The horizon must be between 1 and 90 days."),
    ]

    def _compute_has_actual(self):
        # Raw read: a stored Float shows NULL as 0.0 through the ORM.
        if not self.ids:
            for record in self:
                record.has_actual = False
            return
        self.flush_recordset(["actual"])
        self.env.cr.execute("SELECT id FROM ai_prediction WHERE id IN %s AND actual IS NOT NULL", (tuple(self.ids),))
        known = {row[0] for row in self.env.cr.fetchall()}
        for record in self:
            record.has_actual = record.id in known

    def _search_has_actual(self, operator, value):
        if operator not in ("=", "!="):
            raise ValueError(f"unsupported operator {operator!r}")
        positive = (operator == "=") == bool(value)
        return [("actual", "!=" if positive else "=", False)]

    @api.model
    def _upsert_rows(self, rows, columns=PREDICTION_COLUMNS):
        """Store prediction rows (tuples in ``columns`` order, by default
        ``PREDICTION_COLUMNS``, which may be followed by ``scale``) in one
        bulk upsert on the unique key. Non-finite bounds become NULL; a row
        without a finite ``yhat`` is skipped. Actuals already known for a key
        are kept (the update touches the forecast columns only). Returns the
        number of rows inserted or changed."""
        return self._engine()._bulk_upsert(list(columns), rows, PREDICTION_KEY, skip_empty=("yhat",))
