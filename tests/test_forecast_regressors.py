"""Known-future regressors in Odoo: a dataset gives the values of the days to
forecast as rows after each series' last observed day (target empty); the
training job, the nightly forecast and the incremental retraining read them,
and a dataset without them fails the run with a message and no prediction."""

import base64
import datetime
import json

import numpy as np
import pandas as pd

from odoo.tests import TransactionCase, tagged

from .common import make_dataset

HORIZON = 14
HISTORY_DAYS = 240
PROMO_LIFT = 30.0


def promo_frame(first, last, future_days):
    """Two pages whose views jump by 30 on promotion days (every third day),
    observed from ``first`` to ``last``, then ``future_days`` rows with the
    promotion calendar and no views."""
    rng = np.random.default_rng(7)
    rows = []
    for level, page in enumerate(("Alpha", "Beta")):
        ds = pd.date_range(first, last + datetime.timedelta(days=future_days), freq="D")
        promo = ((ds - pd.Timestamp("2024-01-01")).days % 3 == 0).astype(float)
        views = 100.0 + 20.0 * level + PROMO_LIFT * promo + rng.normal(0, 0.5, len(ds))
        views[ds > pd.Timestamp(last)] = np.nan
        rows.append(pd.DataFrame({"date": ds.strftime("%Y-%m-%d"), "page": page, "pageviews": views.round(2), "promo": promo}))
    return pd.concat(rows, ignore_index=True)


def is_promo(day):
    return (day - datetime.date(2024, 1, 1)).days % 3 == 0


@tagged("post_install", "-at_install")
class TestForecastRegressors(TransactionCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.today = datetime.date.today()
        cls.first = cls.today - datetime.timedelta(days=HISTORY_DAYS)
        # Version 1 ends a week ago and carries the promotions of the 14 days after it.
        cls.v1_last = cls.today - datetime.timedelta(days=8)
        cls.v1 = cls._dataset(cls.v1_last, HORIZON)
        cls.target = cls.env["ai.forecast.target"].create(
            {
                "name": "Promotions",
                "dataset_id": cls.v1.id,
                "target_col": "pageviews",
                "series_cols": "page",
                "horizon": HORIZON,
                "candidates": "gbm",
                "cv_windows": 1,
                "schedule": "manual",
            }
        )
        cls.Run = cls.env["ai.forecast.run"]
        cls.Job = cls.env["ai.training.job"]
        cls.job = cls.Job.create(
            {
                "dataset_id": cls.v1.id,
                "target_id": cls.target.id,
                "model_name": "Promotions",
                "candidates": "gbm",
                "horizon": HORIZON,
                "cv_windows": 1,
                "regressor_cols": "promo",
            }
        )
        cls.job.action_queue()
        cls.Job._job_cron_run()
        assert cls.job.state == "done", cls.job.error_message
        cls.champion = cls.job.model_version_id

    @classmethod
    def _dataset(cls, last, future_days):
        dataset = make_dataset(cls.env, promo_frame(cls.first, last, future_days), name="Promotions")
        dataset.action_set_ready()
        return dataset

    def _predict(self):
        run = self.Run._queue(self.target, "predict", self.today.isoformat())
        run._job_queue()
        self.Run._job_cron_run()
        return run

    def _prediction_rows(self):
        self.env.flush_all()
        self.env.cr.execute(
            "SELECT series_key, date, horizon, yhat FROM ai_prediction "
            "WHERE model_version_id IN (SELECT id FROM ai_model_version WHERE target_id = %s) ORDER BY series_key, date",
            (self.target.id,),
        )
        return self.env.cr.fetchall()

    def test_training_job_reads_the_future_rows(self):
        self.assertEqual(self.target.champion_id, self.champion)
        self.assertEqual(self.champion._regressor_names(), ("promo",))
        self.assertIn(f"{2 * HORIZON} row(s) after the last observed day", self.job.log)
        data = json.loads(self.champion.metadata_json)["data"]
        self.assertEqual(data["last_date"], self.v1_last.isoformat(), "the future rows are not history")
        Chart = self.env["ai.forecast.chart"]
        history = Chart._history_points(Chart._history_data(self.champion, []), "Alpha", 30)
        self.assertEqual(history[-1]["x"], self.v1_last.isoformat(), "the chart's history stops at the last observed day")
        self.assertEqual(len(history), 30)

    def test_nightly_forecast_uses_the_dataset_future_rows(self):
        # Version 2: the week since, up to yesterday, and the promotions of the next 14 days.
        v2 = self._dataset(self.today - datetime.timedelta(days=1), HORIZON)
        run = self._predict()
        self.assertEqual(run.state, "done", run.error_message)
        rows = self._prediction_rows()
        self.assertEqual(len(rows), 2 * HORIZON)
        self.assertEqual(min(row[1] for row in rows), self.today, "forecast from the day after yesterday")
        for page in ("Alpha", "Beta"):
            promo = [row[3] for row in rows if row[0] == page and is_promo(row[1])]
            plain = [row[3] for row in rows if row[0] == page and not is_promo(row[1])]
            gap = sum(promo) / len(promo) - sum(plain) / len(plain)
            self.assertTrue(PROMO_LIFT - 10 < gap < PROMO_LIFT + 10, (page, gap))
        # The retraining it queued is incremental, keeps the column and reads the same future rows.
        job = self.Job.search([("target_id", "=", self.target.id), ("dataset_id", "=", v2.id)])
        self.assertEqual((job.parent_version_id, job.regressor_cols), (self.champion, "promo"))
        self.Job._job_cron_run()
        self.assertEqual(job.state, "done", job.error_message)
        self.assertEqual(job.model_version_id._regressor_names(), ("promo",))
        self.assertIn("parent_artifact_sha256", job.model_version_id.metadata_json)
        self.assertIn(f"{2 * HORIZON} row(s) after the last observed day", job.log)

    def test_nightly_forecast_without_future_rows_fails_and_writes_nothing(self):
        v2 = self._dataset(self.today - datetime.timedelta(days=1), 0)
        run = self._predict()
        self.assertEqual(run.state, "failed")
        self.assertIn("trained with the known-future column(s) promo", run.error_message)
        self.assertIn("no 'promo' for series 'Alpha' on %s" % self.today.isoformat(), run.error_message)
        self.assertIn("Nothing was predicted with this version", run.log)
        self.assertNotIn("Traceback", run.log)
        self.assertEqual(self._prediction_rows(), [], "no prediction written for the champion")
        # The retraining queued by the run fails the same way, before training anything.
        job = self.Job.search([("target_id", "=", self.target.id), ("dataset_id", "=", v2.id)])
        self.assertEqual(job.parent_version_id, self.champion, "only new days: incremental")
        self.Job._job_cron_run()
        self.assertEqual(job.state, "failed")
        self.assertIn("known-future column(s) promo need their values for the 14 days", job.error_message)
        self.assertFalse(job.model_version_id)

    def test_missing_days_of_the_horizon_are_named(self):
        self._dataset(self.today - datetime.timedelta(days=1), 5)  # 9 of the 14 days missing
        run = self._predict()
        self.assertEqual(run.state, "failed")
        sixth = (self.today + datetime.timedelta(days=5)).isoformat()
        self.assertIn("no 'promo' for series 'Alpha' on %s" % sixth, run.error_message)
        self.assertEqual(self._prediction_rows(), [])


@tagged("post_install", "-at_install")
class TestPlannedRowsImport(TransactionCase):
    """The import wizard keeps the planned rows of a sales file (sales empty,
    price given, after each store's last day of sales, today and after
    included): they become the future rows of the dataset."""

    def test_import_keeps_planned_rows_as_future_rows(self):
        from ..project import forecast_service

        today = datetime.date.today()
        lines = ["date,store,sales,price,promotion"]
        for store in ("North", "South"):
            for back in range(60, 0, -1):
                day = today - datetime.timedelta(days=back)
                lines.append(f"{day.isoformat()},{store},{10 + back % 7},1.5,no")
            for ahead in range(HORIZON):
                day = today + datetime.timedelta(days=ahead)
                lines.append(f"{day.isoformat()},{store},,{1.0 if ahead % 2 else 1.5},{'yes' if ahead % 2 else 'no'}")
        lines.append(f"{(today + datetime.timedelta(days=3)).isoformat()},West,4,1.0,no")  # sales in the future
        wizard = self.env["ai.dataset.import.wizard"].create(
            {"file": base64.b64encode("\n".join(lines).encode()), "filename": "sales.csv", "name": "Planned"}
        )
        wizard.action_load()
        wizard.max_error_rate = 0.05
        wizard.action_import()
        self.assertTrue(wizard.accepted, wizard.rejection_reason)
        self.assertEqual((wizard.rows_valid, wizard.rows_rejected), (2 * (60 + HORIZON), 1))
        dataset = wizard.dataset_id
        self.assertEqual(dataset.date_to, today - datetime.timedelta(days=1), "the history ends yesterday")
        summary = json.loads(dataset.summary_json)
        self.assertEqual((summary["planned_rows"], summary["date_max"]), (2 * HORIZON, dataset.date_to.isoformat()))
        self.assertIn("Planned rows (known-future values)", dataset.summary_html)
        frames = forecast_service.dataset_frames(
            dataset._read_dataframe(), "date", "sales", ["store"], ["price", "promotion"]
        )
        self.assertEqual(frames.long["ds"].max().date(), today - datetime.timedelta(days=1))
        self.assertEqual(len(frames.future), 2 * HORIZON)
        self.assertEqual(frames.future["ds"].min().date(), today)
        self.assertEqual(sorted(frames.future["promotion"].unique()), [0.0, 1.0], "a yes/no flag reads as 1/0")
        # Both planned columns are known-future columns a training job can take (the flag too).
        kinds = {column.name: column.kind for column in dataset.column_ids}
        self.assertEqual((kinds["price"], kinds["promotion"]), ("numeric", "flag"))
        job = self.env["ai.training.job"].create(
            {
                "dataset_id": dataset.id,
                "horizon": HORIZON,
                "cv_windows": 1,
                "candidates": "gbm",
                "regressor_cols": "price, promotion",
            }
        )
        self.assertEqual(len(job.regressor_column_ids), 2)
        job.action_queue()
        self.assertEqual(job.state, "queued")
