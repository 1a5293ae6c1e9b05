import json
from datetime import timedelta
from unittest.mock import patch

from odoo import fields
from odoo.tests import TransactionCase, tagged

from ..project.tests import ga4_fake
from .common import handmade_version, make_dataset


@tagged("post_install", "-at_install")
class TestForecastCleanup(TransactionCase):
    """The cleanup cron: old predictions, finished runs and closed alerts go,
    old job logs are emptied, the last run and last success of each parent
    stay, and a second run (or the rerun of a killed one) changes nothing."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.env["ir.config_parameter"].sudo().set_param("ai_train_model.prediction_retention_days", "90")
        cls.env["ir.config_parameter"].sudo().set_param("ai_train_model.run_retention_days", "30")
        now = fields.Datetime.now()
        cls.old, cls.recent = now - timedelta(days=40), now - timedelta(days=5)
        cls.dataset = make_dataset(cls.env)
        cls.dataset.action_set_ready()
        cls.target = cls.env["ai.forecast.target"].create(
            {"name": "Cleanup", "dataset_id": cls.dataset.id, "target_col": "pageviews", "series_cols": "page"}
        )
        Job = cls.env["ai.training.job"]
        cls.job = Job.create({"dataset_id": cls.dataset.id, "candidates": "naive", "target_id": cls.target.id})
        cls.version = handmade_version(cls.env, cls.job)
        cls.version.write({"target_id": cls.target.id})
        today = fields.Date.context_today(cls.env.user)
        rows = [
            (cls.version.id, "a", "A", day, 1, "forecast", 1.0, 0, 2, 0, 3)
            for day in (today - timedelta(days=120), today - timedelta(days=91), today - timedelta(days=10), today)
        ]
        cls.env["ai.prediction"]._upsert_rows(rows)
        # Forecast runs: per kind, old ones finished (done or failed) and the newest ones.
        Run = cls.env["ai.forecast.run"]
        cls.runs = {}
        for key, state, when in (
            ("p-old-done", "done", cls.old),
            ("p-old-failed", "failed", cls.old),
            ("p-last-done", "done", cls.old + timedelta(days=1)),  # old, but the last success: stays
            ("p-recent-failed", "failed", cls.recent),
            ("p-old-queued", "queued", None),
        ):
            run = Run._queue(cls.target, "predict", key)
            run._engine().write({"state": state, "date_finished": when, "log": "log\n"})
            cls.runs[key] = run
        # GA4 runs of one download.
        credential = cls.env["ai.ga4.credential"].create(
            {"name": "Cleanup GA4", "key_json": json.dumps(ga4_fake.make_service_account()), "property_ids": "1"}
        )
        cls.download = cls.env["ai.ga4.download"].create(
            {
                "name": "Sessions",
                "credential_id": credential.id,
                "property_id": "1",
                "dimensions": "date",
                "metrics": "sessions",
                "start_mode": "date",
                "start_date": fields.Date.today() - timedelta(days=10),
                "next_run": now + timedelta(days=30),
            }
        )
        Ga4 = cls.env["ai.ga4.run"]._engine()
        values = {"download_id": cls.download.id, "log": "fetched\n"}
        cls.ga4_old_failed = Ga4.create({**values, "state": "failed", "date_finished": cls.old})
        cls.ga4_old_made_data = Ga4.create(
            {**values, "state": "done", "date_finished": cls.old, "dataset_id": cls.dataset.id}
        )
        cls.ga4_old_done_nothing = Ga4.create({**values, "state": "done", "date_finished": cls.old})
        cls.ga4_last_done = Ga4.create({**values, "state": "done", "date_finished": cls.old + timedelta(days=1)})
        cls.ga4_last = Ga4.create({**values, "state": "failed", "date_finished": cls.old + timedelta(days=2)})
        # Training jobs: an old finished one, the last success of the target (old too), a recent one.
        cls.old_job = Job.create({"dataset_id": cls.dataset.id, "candidates": "naive", "target_id": cls.target.id})
        cls.old_job._engine().write({"state": "failed", "date_finished": cls.old, "log": "trained\n"})
        cls.job._engine().write({"state": "done", "date_finished": cls.old, "log": "trained\n"})
        recent_job = Job.create({"dataset_id": cls.dataset.id, "candidates": "naive", "target_id": cls.target.id})
        recent_job._engine().write({"state": "failed", "date_finished": cls.recent, "log": "trained\n"})

    def _state(self):
        self.env.invalidate_all()
        self.env.cr.execute(
            "SELECT 'p', count(*) FROM ai_prediction p JOIN ai_model_version v ON v.id = p.model_version_id "
            "WHERE v.target_id = %s "
            "UNION ALL SELECT 'r', count(*) FROM ai_forecast_run WHERE target_id = %s "
            "UNION ALL SELECT 'g', count(*) FROM ai_ga4_run WHERE download_id = %s "
            "UNION ALL SELECT 'gl', count(*) FROM ai_ga4_run WHERE download_id = %s AND log IS NOT NULL "
            "UNION ALL SELECT 'jl', count(*) FROM ai_training_job WHERE target_id = %s AND log IS NOT NULL",
            (self.target.id, self.target.id, self.download.id, self.download.id, self.target.id),
        )
        return dict(self.env.cr.fetchall())

    def _check_cleaned(self):
        self.env.invalidate_all()
        self.assertEqual(
            sorted(self.env["ai.prediction"].search([("target_id", "=", self.target.id)]).mapped("date")),
            sorted(
                fields.Date.context_today(self.env.user) - timedelta(days=d) for d in (10, 0)
            ),
        )
        kept = self.env["ai.forecast.run"].search([("target_id", "=", self.target.id)]).mapped("run_key")
        self.assertEqual(sorted(kept), ["p-last-done", "p-old-queued", "p-recent-failed"])
        ga4 = self.env["ai.ga4.run"].search([("download_id", "=", self.download.id)])
        self.assertEqual(ga4, self.ga4_old_made_data | self.ga4_last_done | self.ga4_last)
        self.assertFalse(self.ga4_old_made_data.log, "the run that made a dataset version stays, without its log")
        self.assertTrue(self.ga4_last_done.log and self.ga4_last.log)
        self.assertFalse(self.old_job.log)
        self.assertTrue(self.job.log, "the target's last successful training keeps its log")
        self.assertEqual(self.download.last_run_id, self.ga4_last)

    def test_cleanup_twice_changes_nothing_the_second_time(self):
        done = self.env["ai.forecast.run"]._cron_cleanup(batch_size=2)
        self.assertEqual(
            done,
            {
                "ai_prediction": 2,
                "ai_forecast_run": 2,
                "ai_forecast_alert": 0,
                "ai_ga4_run": 2,
                "ai_ga4_run_log": 1,
                "ai_training_job_log": 1,
            },
        )
        self._check_cleaned()
        before = self._state()
        again = self.env["ai.forecast.run"]._cron_cleanup(batch_size=2)
        self.assertEqual(set(again.values()), {0})
        self.assertEqual(self._state(), before)

    def test_killed_mid_way_then_rerun_ends_clean(self):
        Run = self.env["ai.forecast.run"]
        calls = []

        def dying_commit(self):
            calls.append(1)
            if len(calls) == 3:
                raise RuntimeError("worker killed")

        with patch.object(type(Run), "_job_commit", dying_commit), self.assertRaises(RuntimeError):
            Run._cron_cleanup(batch_size=1)
        self.assertTrue(any(self._state().values()))
        Run._cron_cleanup(batch_size=1)
        self._check_cleaned()
        self.assertEqual(set(Run._cron_cleanup(batch_size=1).values()), {0})
