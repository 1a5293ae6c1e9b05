import datetime
from unittest.mock import patch

import pandas as pd
from freezegun import freeze_time

from odoo.tests import TransactionCase, tagged
from odoo.tests.common import new_test_user

from .common import make_dataset, sample_frame

HORIZON = 7


@tagged("post_install", "-at_install")
class TestPredictionCron(TransactionCase):
    """The forecast runs end to end on the sample: a champion trained on the
    first 120 days predicts D+1..D+7, a challenger predicts in shadow, the next
    dataset version brings the actuals, live accuracy and anomaly alerts."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.full = sample_frame(n_series=2, days=150)
        days = sorted(cls.full["date"].unique())
        cls.first_days = days[:120]
        cls.new_days = days[120:127]
        cls.v1 = make_dataset(cls.env, cls.full[cls.full["date"].isin(cls.first_days)].reset_index(drop=True))
        cls.v1.action_set_ready()
        cls.target = cls.env["ai.forecast.target"].create(
            {
                "name": "Pageviews",
                "dataset_id": cls.v1.id,
                "target_col": "pageviews",
                "series_cols": "page",
                "horizon": HORIZON,
                "candidates": "naive,snaive",
                "cv_windows": 1,
                "schedule": "daily",
                "schedule_hour": 0,
            }
        )
        cls.Run = cls.env["ai.forecast.run"]
        cls.Prediction = cls.env["ai.prediction"]
        cls.champion = cls._train(cls.v1, "naive,snaive")
        cls.challenger = cls._train(cls.v1, "naive")

    @classmethod
    def _train(cls, dataset, candidates):
        job = cls.env["ai.training.job"].create(
            {
                "dataset_id": dataset.id,
                "target_id": cls.target.id,
                "model_name": "Pageviews",
                "candidates": candidates,
                "horizon": HORIZON,
                "cv_windows": 1,
            }
        )
        job.action_queue()
        cls.env["ai.training.job"]._job_cron_run()
        assert job.state == "done", job.error_message
        return job.model_version_id

    def _predict(self):
        # Inside the target's night (company time), so that the run is due and starts before 06:00.
        start, _end = self.Run._night_window(self.target, self.Run._local_now(self.target.company_id).date())
        with freeze_time(start + datetime.timedelta(minutes=30)):
            self.Run._cron_nightly()
            self.Run._job_cron_run()

    def _rows(self, version=None):
        self.env.flush_all()
        self.env.cr.execute(
            "SELECT id, model_version_id, series_key, date, horizon, prediction_type, yhat, actual, is_anomaly, "
            "anomaly_score, ctid::text FROM ai_prediction "
            "WHERE model_version_id IN (SELECT id FROM ai_model_version WHERE target_id = %s) ORDER BY id",
            (self.target.id,),
        )
        rows = self.env.cr.fetchall()
        return [row for row in rows if version is None or row[1] == version.id]

    def _drift_activities(self):
        # The new dataset version's refresh may raise anomaly alerts too.
        return self.champion.activity_ids.filtered(lambda act: (act.summary or "").startswith("Drift"))

    def _new_dataset(self, frame=None):
        frame = self.full[self.full["date"].isin(self.first_days + self.new_days)] if frame is None else frame
        dataset = make_dataset(self.env, frame.reset_index(drop=True))
        dataset.action_set_ready()
        return dataset

    def test_trained_versions_join_the_target(self):
        self.assertEqual(self.target.champion_id, self.champion)
        self.assertEqual(self.target.challenger_id, self.challenger)
        self.assertEqual((self.champion.state, self.challenger.state), ("production", "staging"))

    def test_nightly_predicts_champion_and_shadow_once(self):
        self._predict()
        run = self.Run.search([("target_id", "=", self.target.id), ("kind", "=", "predict")])
        self.assertEqual(len(run), 1)
        self.assertEqual(run.state, "done", run.error_message)
        champion_rows = self._rows(self.champion)
        shadow_rows = self._rows(self.challenger)
        self.assertEqual(len(champion_rows), 2 * HORIZON)
        self.assertEqual(len(shadow_rows), 2 * HORIZON)
        self.assertEqual({row[5] for row in champion_rows}, {"forecast"})
        self.assertEqual({row[5] for row in shadow_rows}, {"shadow"})
        first_new = datetime.date.fromisoformat(self.new_days[0])
        self.assertEqual(min(row[3] for row in champion_rows), first_new)
        self.assertEqual(sorted({row[4] for row in champion_rows}), list(range(1, HORIZON + 1)))
        record = self.Prediction.browse(champion_rows[0][0])
        self.assertTrue(record.scale > 0)
        self.assertTrue(record.yhat_lower_95 <= record.yhat_lower_80 <= record.yhat <= record.yhat_upper_80 <= record.yhat_upper_95)
        self.assertEqual(self.target.last_run_date, datetime.date.fromisoformat(run.run_key))
        # The same cron twice: nothing queued, nothing written.
        before = self._rows()
        self._predict()
        self.assertEqual(self.Run.search_count([("target_id", "=", self.target.id), ("kind", "=", "predict")]), 1)
        self.assertEqual(self._rows(), before)
        # The run itself again (a re-run after a crash): the upsert finds every row unchanged.
        long, keys = run._read_dataset(self.v1)
        self.assertEqual(run._predict(self.champion, "forecast", long[long["observed"]], keys), 0)

    def test_refresh_fills_actuals_scores_both_and_is_idempotent(self):
        self._predict()
        v2 = self._new_dataset()
        self.Run._cron_refresh()
        self.Run._job_cron_run()
        run = self.Run.search([("target_id", "=", self.target.id), ("kind", "=", "refresh")])
        self.assertEqual(run.state, "done", run.error_message)
        self.assertEqual(self.target.last_dataset_id, v2)
        rows = self._rows()
        known = [row for row in rows if row[7] is not None]
        self.assertEqual(len(known), len(rows), "every predicted day is in the new data")
        actual_of = {
            (page, datetime.date.fromisoformat(day)): float(value)
            for page, day, value in zip(self.full["page"], self.full["date"], self.full["pageviews"])
        }
        for row in known:
            self.assertAlmostEqual(row[7], actual_of[(row[2], row[3])])
            self.assertAlmostEqual(self.Prediction.browse(row[0]).error, row[7] - row[6])
        Accuracy = self.env["ai.prediction.accuracy"]
        for version in (self.champion, self.challenger):
            lines = Accuracy.search([("version_id", "=", version.id), ("series_key", "=", "*")])
            self.assertLessEqual({"D+1", "D+7"}, set(lines.mapped("bucket")), version.display_name)
            self.assertTrue(lines.filtered(lambda line: line.metric == "mase" and line.bucket == "D+1").n >= 2)
            self.assertTrue(Accuracy.search_count([("version_id", "=", version.id), ("series_key", "!=", "*")]))
        self.assertTrue(self.champion.live_mase > 0)
        comparison = self.env["ai.model.comparison"].search(
            [("version_id", "=", self.champion.id), ("source", "=", "live")]
        )
        self.assertTrue(comparison)
        # Twice: nothing queued, and the work itself changes nothing.
        before = self._rows()
        accuracy_before = Accuracy.search_read([("target_id", "=", self.target.id)], ["value", "write_date"])
        self.Run._cron_refresh()
        self.assertEqual(self.Run.search_count([("target_id", "=", self.target.id), ("kind", "=", "refresh")]), 1)
        run._run_refresh()
        self.assertEqual(self._rows(), before)
        self.assertEqual(Accuracy.search_read([("target_id", "=", self.target.id)], ["value", "write_date"]), accuracy_before)

    def test_new_dataset_version_queues_the_refresh_and_wakes_the_cron(self):
        self._predict()
        cron = self.env.ref("ai_train_model.ir_cron_ai_forecast_run")
        Trigger = self.env["ir.cron.trigger"].sudo()
        triggers = Trigger.search_count([("cron_id", "=", cron.id)])
        v2 = self._new_dataset()
        run = self.Run.search([("target_id", "=", self.target.id), ("kind", "=", "refresh")])
        self.assertEqual(len(run), 1, "the new version in the lineage queued its refresh")
        self.assertEqual((run.state, run.dataset_id, run.run_key), ("queued", v2, str(v2.id)))
        self.assertGreater(Trigger.search_count([("cron_id", "=", cron.id)]), triggers, "the cron was woken up")
        self.assertFalse(
            [row for row in self._rows() if row[7] is not None], "no actual filled inside the request"
        )
        # Another version of an unrelated dataset queues nothing for this target.
        make_dataset(self.env, name="Other lineage").action_set_ready()
        self.assertEqual(self.Run.search_count([("target_id", "=", self.target.id), ("kind", "=", "refresh")]), 1)
        self.Run._job_cron_run()
        self.assertEqual(run.state, "done", run.error_message)
        self.assertEqual(self.target.last_dataset_id, v2)
        self.assertTrue([row for row in self._rows() if row[7] is not None])
        # Marking the refreshed version ready again queues nothing new.
        v2.action_set_ready()
        self.assertEqual(self.Run.search_count([("target_id", "=", self.target.id), ("kind", "=", "refresh")]), 1)

    def test_refresh_of_a_replaced_version_is_skipped(self):
        self._predict()
        v2 = self._new_dataset()
        v3 = self._new_dataset()
        runs = self.Run.search([("target_id", "=", self.target.id), ("kind", "=", "refresh")], order="id")
        self.assertEqual(runs.mapped("dataset_id"), v2 | v3)
        self.Run._job_cron_run()
        self.assertEqual(runs.mapped("state"), ["done", "done"])
        self.assertIn("nothing to refresh", runs[0].log)
        self.assertEqual(self.target.last_dataset_id, v3, "the older version's run does not move it back")

    def test_new_data_queues_an_incremental_retraining(self):
        self._predict()
        v2 = self._new_dataset()
        run = self.Run._queue(self.target, "predict", "2099-01-02")
        run._job_queue()
        self.Run._job_cron_run()
        job = self.env["ai.training.job"].search([("target_id", "=", self.target.id), ("dataset_id", "=", v2.id)])
        self.assertEqual(len(job), 1)
        self.assertEqual(job.parent_version_id, self.champion, "only new days were added: incremental")
        self.env["ai.training.job"]._job_cron_run()
        self.assertEqual(job.state, "done", job.error_message)
        self.assertEqual(self.target.challenger_id, job.model_version_id)
        self.assertIn("parent_artifact_sha256", job.model_version_id.metadata_json or "")

    def test_anomaly_run_raises_one_activity(self):
        self._predict()
        frame = self.full[self.full["date"].isin(self.first_days + self.new_days)].copy()
        page = sorted(frame["page"].unique())[0]
        spike = frame["page"].eq(page) & frame["date"].isin(self.new_days[1:4])
        frame.loc[spike, "pageviews"] = frame["pageviews"].max() * 50
        self._new_dataset(frame)
        self.Run._cron_refresh()
        self.Run._job_cron_run()
        alerts = self.env["ai.forecast.alert"].search([("target_id", "=", self.target.id), ("kind", "=", "anomaly")])
        spiked = alerts.filtered(lambda alert: alert.key.startswith(page))
        self.assertEqual(len(spiked), 1, alerts.mapped("key"))
        self.assertIn(self.new_days[1], spiked.key)
        self.assertTrue(spiked.activity_id)
        flagged = self.Prediction.search(
            [("model_version_id", "=", self.champion.id), ("series_key", "=", page), ("is_anomaly", "=", True)]
        )
        self.assertTrue(flagged)
        activities = self.champion.activity_ids
        # Another dataset version with the same anomalies: no second activity.
        self._new_dataset(frame)
        self.Run._cron_refresh()
        self.Run._job_cron_run()
        self.assertEqual(self.champion.activity_ids, activities)
        self.assertEqual(
            len(self.env["ai.forecast.alert"].search([("target_id", "=", self.target.id), ("kind", "=", "anomaly")])),
            len(alerts),
        )

    def test_drift_alert_raised_once_then_cleared(self):
        params = self.env["ir.config_parameter"].sudo()
        params.set_param("ai_train_model.drift_psi_max", "0.000001")
        self._predict()
        self._new_dataset()
        self.Run._cron_monitor()
        self.Run._job_cron_run()
        run = self.Run.search([("target_id", "=", self.target.id), ("kind", "=", "monitor")])
        self.assertEqual(run.state, "done", run.error_message)
        alert = self.env["ai.forecast.alert"].search([("target_id", "=", self.target.id), ("kind", "=", "drift")])
        self.assertEqual(alert.state, "open")
        self.assertTrue(self.target.drift_alert)
        activities = self._drift_activities()
        self.assertEqual(len(activities), 1)
        messages = len(self.champion.message_ids)
        # The monitor cron twice the same day queues nothing; another day still crossed adds nothing.
        self.Run._cron_monitor()
        self.assertEqual(self.Run.search_count([("target_id", "=", self.target.id), ("kind", "=", "monitor")]), 1)
        self.Run._queue(self.target, "monitor", "2099-01-04")
        self.Run._job_cron_run()
        self.assertEqual(self._drift_activities(), activities)
        self.assertEqual(len(self.champion.message_ids), messages)
        # Back under the threshold: the alert closes.
        params.set_param("ai_train_model.drift_psi_max", "1000")
        params.set_param("ai_train_model.drift_ks_pvalue_min", "0")
        self.Run._queue(self.target, "monitor", "2099-01-05")
        self.Run._job_cron_run()
        self.assertEqual(alert.state, "closed")
        self.assertFalse(self.target.drift_alert)

    def test_drift_activity_goes_to_one_analyst_of_the_company(self):
        """Two cron ticks while drift stays crossed: one activity, for an
        Analyst; the responsible user gets it only when an Analyst."""
        params = self.env["ir.config_parameter"].sudo()
        params.set_param("ai_train_model.drift_psi_max", "0.000001")
        plain = new_test_user(self.env, login="alerts_plain", groups="base.group_user,ai_train_model.group_ai_user")
        self.target.alert_user_id = plain
        self._predict()
        self._new_dataset()
        self.Run._cron_monitor()
        self.Run._job_cron_run()
        self.Run._queue(self.target, "monitor", "2099-01-04")
        self.Run._job_cron_run()
        self.assertEqual(self.Run.search_count([("target_id", "=", self.target.id), ("kind", "=", "monitor"), ("state", "=", "done")]), 2)
        activities = self._drift_activities()
        self.assertEqual(len(activities), 1, "one activity while the drift stays crossed")
        self.assertNotEqual(activities.user_id, plain, "a user without the Analyst group gets no alert")
        self.assertTrue(activities.user_id.has_group("ai_train_model.group_ai_analyst"))
        self.assertIn(self.target.company_id, activities.user_id.company_ids)
        self.assertTrue(activities.user_id.active and not activities.user_id.share)
        # The condition clears, then comes back with an Analyst as the responsible user: a new activity, theirs.
        analyst = new_test_user(self.env, login="alerts_analyst", groups="base.group_user,ai_train_model.group_ai_analyst")
        self.target.alert_user_id = analyst
        params.set_param("ai_train_model.drift_psi_max", "1000")
        params.set_param("ai_train_model.drift_ks_pvalue_min", "0")
        self.Run._queue(self.target, "monitor", "2099-01-05")
        self.Run._job_cron_run()
        params.set_param("ai_train_model.drift_psi_max", "0.000001")
        self.Run._queue(self.target, "monitor", "2099-01-06")
        self.Run._queue(self.target, "monitor", "2099-01-07")
        self.Run._job_cron_run()
        new = self._drift_activities() - activities
        self.assertEqual(len(new), 1)
        self.assertEqual(new.user_id, analyst)

    def test_exogenous_column_drift_one_alert_per_crossing_column(self):
        """A temperature column jumps in the new days, a price column keeps its
        weekly pattern: one drift alert for the temperature only, kept once
        across ticks, closed when the column is back to normal."""
        frame = self.full[self.full["date"].isin(self.first_days + self.new_days)].copy()
        dates = pd.to_datetime(frame["date"])
        frame["price"] = 10.0 + dates.dt.dayofweek
        frame["temperature"] = 20.0 + dates.dt.day % 10
        frame.loc[frame["date"].isin(self.new_days), "temperature"] = 45.0
        self._new_dataset(frame)
        self.Run._cron_monitor()
        self.Run._job_cron_run()
        run = self.Run.search([("target_id", "=", self.target.id), ("kind", "=", "monitor")])
        self.assertEqual(run.state, "done", run.error_message)
        Alert = self.env["ai.forecast.alert"]
        domain = [("target_id", "=", self.target.id), ("kind", "=", "drift"), ("key", "=like", "column %")]
        alerts = Alert.search(domain)
        self.assertEqual(alerts.mapped("key"), ["column temperature"])
        self.assertEqual(alerts.state, "open")
        self.assertIn("temperature", alerts.message)
        self.assertTrue(self.target.drift_alert)
        activity = alerts.activity_id
        self.assertTrue(activity)
        # Another tick, still crossed: no second alert nor activity.
        self.Run._queue(self.target, "monitor", "2099-01-04")
        self.Run._job_cron_run()
        self.assertEqual(Alert.search(domain), alerts)
        self.assertEqual(self._drift_activities().filtered(lambda act: "temperature" in (act.note or "")), activity)
        # Temperature back to its usual values: the alert closes.
        frame["temperature"] = 20.0 + dates.dt.day % 10
        self._new_dataset(frame)
        self.Run._queue(self.target, "monitor", "2099-01-05")
        self.Run._job_cron_run()
        self.assertEqual(alerts.state, "closed")

    def test_accuracy_alert_raised_once(self):
        params = self.env["ir.config_parameter"].sudo()
        params.set_param("ai_train_model.accuracy_wmape_max", "0.001")
        params.set_param("ai_train_model.drift_psi_max", "1000")
        params.set_param("ai_train_model.drift_ks_pvalue_min", "0")
        self._predict()
        self._new_dataset()
        self.Run._cron_refresh()
        self.Run._job_cron_run()
        self.Run._cron_monitor()
        self.Run._job_cron_run()
        self.assertTrue(self.champion.accuracy_alert)
        alerts = self.env["ai.forecast.alert"].search([("target_id", "=", self.target.id), ("kind", "=", "accuracy")])
        self.assertEqual(len(alerts), 1)
        self.assertTrue(alerts.activity_id)

        def accuracy_activities():
            return self.champion.activity_ids.filtered(lambda act: (act.summary or "").startswith("Accuracy"))

        self.assertEqual(accuracy_activities(), alerts.activity_id)
        self.Run._queue(self.target, "monitor", "2099-01-04")
        self.Run._job_cron_run()
        self.assertEqual(accuracy_activities(), alerts.activity_id)

    def test_refresh_killed_mid_batch_finishes_on_the_next_tick(self):
        self._predict()
        self._new_dataset()
        self.Run._cron_refresh()
        run = self.Run.search([("target_id", "=", self.target.id), ("kind", "=", "refresh")])
        original = type(run)._score_version
        calls = []

        def dying(self, version):
            calls.append(version)
            if len(calls) == 2:
                raise RuntimeError("worker killed")
            return original(self, version)

        with patch.object(type(run), "_score_version", dying), self.assertLogs(level="ERROR"):
            self.Run._job_cron_run()
        self.assertEqual(run.state, "queued", "an outage is retried")
        self.assertTrue(run.date_not_before)
        self.assertNotEqual(self.target.last_dataset_id, run.dataset_id)
        run._engine().write({"date_not_before": False})
        self.Run._job_cron_run()
        self.assertEqual(run.state, "done", run.error_message)
        after_retry = self._rows()
        fields_read = ["series_key", "bucket", "metric", "value", "n"]
        order = "version_id, series_key, bucket, metric"
        accuracy = self.env["ai.prediction.accuracy"].search_read([("target_id", "=", self.target.id)], fields_read, order=order)
        # A clean run of the same work now changes nothing: the retry reached the clean result.
        run._run_refresh()
        self.assertEqual(self._rows(), after_retry)
        self.assertEqual(
            self.env["ai.prediction.accuracy"].search_read([("target_id", "=", self.target.id)], fields_read, order=order),
            accuracy,
        )
        self.assertIn("*", {line["series_key"] for line in accuracy})

    def test_stale_running_run_is_requeued(self):
        run = self.Run._queue(self.target, "predict", "2099-01-03")
        long_ago = datetime.datetime(2000, 1, 1)
        run._engine().write({"state": "running", "attempts": 1, "date_heartbeat": long_ago, "date_started": long_ago})
        self.Run._job_requeue_orphans()
        self.assertEqual(run.state, "queued")
        run._engine().write({"date_not_before": False})
        self.Run._job_cron_run()
        self.assertEqual(run.state, "done", run.error_message)
        self.assertEqual(len(self._rows(self.champion)), 2 * HORIZON)

    def test_cleanup_twice(self):
        self._predict()
        self.assertTrue(self._rows())
        self.env["ir.config_parameter"].sudo().set_param("ai_train_model.prediction_retention_days", "30")
        deleted = self.Run._cron_cleanup(batch_size=5)
        self.assertEqual(deleted["ai_prediction"], 4 * HORIZON, "the sample is years old: every prediction goes")
        self.assertFalse(self._rows())
        self.assertEqual(self.Run._cron_cleanup(batch_size=5)["ai_prediction"], 0)
