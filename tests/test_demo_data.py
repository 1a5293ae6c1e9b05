import datetime

import pandas as pd

from odoo.modules.module import get_manifest
from odoo.tests import TransactionCase, tagged
from odoo.tools import convert_file

from ..models.ai_forecast_target import DEMO_ACTUAL_DAYS
from .common import SAMPLE_CSV

MODULE = "ai_train_model"


@tagged("post_install", "-at_install")
class TestDemoData(TransactionCase):
    """The demo data of the manifest gives a database a real forecast to look
    at: two dataset versions of the sample, a trained champion with its
    backtest metrics, its stored forecast, a week of actuals with their
    errors, the anomalies the engine flagged and their alert.

    The suite installs without demo data: the test loads the manifest's demo
    files the way an install does (mode ``init``, ``noupdate``), so it runs
    the same XML and the same engine method."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        if not cls.env.ref(f"{MODULE}.ai_forecast_target_pageviews_demo", raise_if_not_found=False):
            cls._load_demo("init")
        cls.target = cls.env.ref(f"{MODULE}.ai_forecast_target_pageviews_demo")
        cls.first = cls.env.ref(f"{MODULE}.ai_dataset_pageviews_demo")
        cls.second = cls.env.ref(f"{MODULE}.ai_dataset_pageviews_v2_demo")
        cls.champion = cls.target.champion_id

    @classmethod
    def _load_demo(cls, mode):
        for filename in get_manifest(MODULE)["demo"]:
            convert_file(cls.env, MODULE, filename, {}, mode=mode, noupdate=True, kind="demo")

    def _counts(self):
        return {
            model: self.env[model].search_count([("company_id", "=", self.target.company_id.id)])
            for model in (
                "ai.dataset",
                "ai.forecast.target",
                "ai.training.job",
                "ai.model.version",
                "ai.model.metric",
                "ai.prediction",
                "ai.prediction.accuracy",
                "ai.forecast.run",
                "ai.forecast.alert",
            )
        }

    def test_datasets_and_champion(self):
        sample = pd.read_csv(SAMPLE_CSV)
        pages = sample["page"].nunique()
        today = datetime.date.today()
        self.assertEqual((self.first.state, self.second.state), ("ready", "ready"))
        self.assertEqual((self.first.version, self.second.version), (1, 2))
        self.assertEqual(self.second.parent_ids, self.first)
        self.assertEqual((self.first.series_count, self.second.series_count), (pages, pages))
        self.assertEqual(self.second.row_count, len(sample))
        self.assertEqual(self.second.row_count - self.first.row_count, DEMO_ACTUAL_DAYS * pages)
        self.assertEqual(self.second.date_to - self.first.date_to, datetime.timedelta(days=DEMO_ACTUAL_DAYS))
        self.assertTrue(today - datetime.timedelta(days=8) <= self.second.date_to < today, self.second.date_to)
        self.assertEqual(self.champion.state, "production")
        self.assertEqual(self.champion.dataset_id, self.first)
        self.assertEqual(self.champion.series_count, pages)
        self.champion.verify_artifact()  # raises when the signature does not hold
        self.assertEqual(self.champion.job_id.state, "done")
        metrics = self.env["ai.model.metric"].search([("version_id", "=", self.champion.id), ("chosen", "=", True)])
        self.assertEqual(len(set(metrics.mapped("unique_id"))), pages)
        self.assertEqual(self.target.last_dataset_id, self.second)

    def test_forecast_with_actuals_and_anomalies(self):
        sample = pd.read_csv(SAMPLE_CSV)
        pages = sample["page"].nunique()
        horizon = self.target.horizon
        Prediction = self.env["ai.prediction"]
        rows = Prediction.search([("model_version_id", "=", self.champion.id)])
        self.assertEqual(len(rows), pages * horizon)
        self.assertEqual(set(rows.mapped("prediction_type")), {"forecast"})
        self.assertEqual(min(rows.mapped("date")), self.first.date_to + datetime.timedelta(days=1))
        known = rows.filtered("has_actual")
        self.assertEqual(len(known), pages * DEMO_ACTUAL_DAYS)
        # The actuals are the sample's values, moved by whole weeks, kept
        # where they lie near the forecast (else brought to its 80% band).
        shift = self.second.date_to - datetime.date.fromisoformat(sample["date"].max())
        self.assertEqual(shift.days % 7, 0)
        value = {
            (page, datetime.date.fromisoformat(day) + shift): float(views)
            for page, day, views in zip(sample["page"], sample["date"], sample["pageviews"])
        }
        kept = 0
        for row in known:
            self.assertAlmostEqual(row.error, row.actual - row.yhat, places=6)
            if row.actual == value[(row.series_key, row.date)]:
                kept += 1
            elif not row.is_anomaly:
                self.assertLessEqual(row.actual, row.yhat_upper_80 + 0.5)
                self.assertGreaterEqual(row.actual, row.yhat_lower_80 - 0.5)
        self.assertGreater(kept, len(known) // 2, "most actuals are the sample's own")
        self.assertEqual(max(known.mapped("date")), self.second.date_to)
        self.assertFalse((rows - known).filtered("is_anomaly"))
        # exactly one anomaly: a spike above the 95% band of the largest series
        anomalies = known.filtered("is_anomaly")
        self.assertEqual(len(anomalies), 1, anomalies.read(["series_key", "date", "actual", "yhat", "anomaly_score"]))
        self.assertGreater(anomalies.actual, anomalies.yhat_upper_95)
        totals = {}
        for row in rows:
            totals[row.series_key] = totals.get(row.series_key, 0.0) + row.yhat
        self.assertEqual(anomalies.series_key, max(totals, key=totals.get))
        alerts = self.env["ai.forecast.alert"].search([("target_id", "=", self.target.id), ("kind", "=", "anomaly")])
        self.assertTrue(alerts)
        self.assertEqual(set(alerts.mapped("version_id")), {self.champion})
        accuracy = self.env["ai.prediction.accuracy"].search(
            [("version_id", "=", self.champion.id), ("series_key", "=", "*"), ("bucket", "=", "D+1"), ("metric", "=", "mase")]
        )
        self.assertEqual(accuracy.n, pages)

    def test_loading_again_adds_nothing(self):
        before = self._counts()
        self._load_demo("update")
        self.assertEqual(self._counts(), before)
        self.assertFalse(self.target._demo_build(self.second.id))
        self.assertEqual(self._counts(), before)
        self.assertEqual(self.target.champion_id, self.champion)
