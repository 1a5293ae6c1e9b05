import datetime

from odoo.exceptions import AccessError
from odoo.tests import TransactionCase, tagged

from .common import handmade_version, make_dataset, make_users


def prediction_rows(version, n_series=3, days=5, start=datetime.date(2026, 1, 1), shift=0.0):
    """Rows in ``ai.prediction``'s ``PREDICTION_COLUMNS`` order."""
    for s in range(n_series):
        for h in range(1, days + 1):
            yhat = 10.0 * s + h + shift
            yield (
                version.id,
                f"page {s}",
                f"Page {s}",
                start + datetime.timedelta(days=h - 1),
                h,
                "forecast",
                yhat,
                yhat - 1,
                yhat + 1,
                yhat - 2,
                yhat + 2,
            )


@tagged("post_install", "-at_install")
class TestPrediction(TransactionCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.dataset = make_dataset(cls.env)
        cls.target = cls.env["ai.forecast.target"].create(
            {"name": "Pageviews", "dataset_id": cls.dataset.id, "target_col": "pageviews", "series_cols": "page"}
        )
        job = cls.env["ai.training.job"].create({"dataset_id": cls.dataset.id, "candidates": "naive,snaive"})
        cls.version = handmade_version(cls.env, job)
        cls.version.target_id = cls.target
        cls.Prediction = cls.env["ai.prediction"]

    def _rows(self):
        # ctid: an UPDATE writes a new row version elsewhere, even inside this transaction.
        self.env.flush_all()
        self.env.cr.execute(
            "SELECT id, series_key, date, horizon, yhat, ctid::text FROM ai_prediction "
            "WHERE model_version_id = %s ORDER BY id",
            (self.version.id,),
        )
        return self.env.cr.fetchall()

    def test_same_batch_twice_keeps_the_same_rows(self):
        self.assertEqual(self.Prediction._upsert_rows(prediction_rows(self.version)), 15)
        first = self._rows()
        self.assertEqual(len(first), 15)
        self.assertEqual(self.Prediction._upsert_rows(prediction_rows(self.version)), 0)
        self.assertEqual(self._rows(), first)

    def test_changed_values_update_in_place(self):
        self.Prediction._upsert_rows(prediction_rows(self.version))
        ids = [row[0] for row in self._rows()]
        self.assertEqual(self.Prediction._upsert_rows(prediction_rows(self.version, shift=0.5)), 15)
        rows = self._rows()
        self.assertEqual([row[0] for row in rows], ids)
        record = self.Prediction.search(
            [("model_version_id", "=", self.version.id), ("series_key", "=", "page 1"), ("horizon", "=", 2)]
        )
        self.assertEqual(record.yhat, 12.5)
        self.assertFalse(record.has_actual)

    def test_non_finite_forecast_skipped(self):
        rows = list(prediction_rows(self.version, n_series=1, days=2))
        rows[0] = rows[0][:6] + (float("nan"),) + rows[0][7:]
        self.assertEqual(self.Prediction._upsert_rows(rows), 1)

    def test_created_by_the_engine_only(self):
        with self.assertRaises(AccessError):
            self.Prediction.create(
                {
                    "model_version_id": self.version.id,
                    "series_key": "x",
                    "date": "2026-01-01",
                    "horizon": 1,
                    "yhat": 1.0,
                }
            )

    def test_other_company_cannot_read(self):
        other = self.env["res.company"].create({"name": "Other Co"})
        users = make_users(self.env, self.env.company, other)
        self.Prediction._upsert_rows(prediction_rows(self.version))
        self.assertEqual(self.Prediction.with_user(users.analyst).search_count([]), 15)
        self.assertEqual(self.Prediction.with_user(users.foreign).search_count([]), 0)
        with self.assertRaises(AccessError):
            self.Prediction.with_user(users.plain).search_count([])
