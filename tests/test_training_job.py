import base64
import hashlib
import io
import json
import re
import zipfile
from datetime import timedelta
from unittest.mock import patch

from odoo import fields
from odoo.exceptions import UserError
from odoo.tests import TransactionCase, tagged
from odoo.tools import mute_logger

from ..models import model_trainer
from ..project import errors, model_artifact
from .common import make_dataset, sample_frame

JOB_LOGGER = "odoo.addons.ai_train_model.models.ai_job_mixin"


def _fast(dataset, **values):
    return {
        "dataset_id": dataset.id,
        "horizon": 7,
        "cv_windows": 2,
        "candidates": "naive,snaive,ets",
        **values,
    }


@tagged("post_install", "-at_install")
class TestTrainingRun(TransactionCase):
    """One real training run on the sample data, through the cron."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.dataset = make_dataset(cls.env, sample_frame(n_series=3, days=150))
        cls.job = cls.env["ai.training.job"].create(_fast(cls.dataset))
        cls.job.action_queue()
        cls.env["ai.training.job"]._job_cron_run()
        cls.version = cls.job.model_version_id

    def test_job_done_with_progress_and_log(self):
        self.assertEqual(self.job.state, "done", self.job.error_message or self.job.log)
        self.assertEqual(self.job.progress, 100.0)
        self.assertEqual(self.job.attempts, 1)
        self.assertFalse(self.job.error_message)
        self.assertTrue(self.job.date_started <= self.job.date_finished)
        self.assertIn("Done: 3 series", self.job.log)

    def test_version_lineage_and_digests(self):
        version = self.version
        self.assertTrue(version)
        self.assertEqual((version.name, version.version), ("Pageviews", 1))
        self.assertEqual(version.dataset_id, self.dataset)
        self.assertEqual(version.job_id, self.job)
        self.assertEqual(version.company_id, self.job.company_id)
        self.assertEqual(version.data_sha256, self.dataset.checksum)
        self.assertEqual(version.horizon, 7)
        self.assertEqual(version.series_count, 3)
        chosen = json.loads(version.chosen_models_json)
        self.assertEqual(len(chosen), 3)
        for name in chosen.values():
            # A candidate, or an ensemble of candidates such as "mean(ets+snaive)".
            ensemble = re.fullmatch(r"\w+\((.+)\)", name)
            members = ensemble.group(1).split("+") if ensemble else [name]
            self.assertLessEqual(set(members), {"naive", "snaive", "ets"}, name)
        raw = base64.b64decode(version.artifact_file)
        self.assertEqual(version.artifact_sha256, hashlib.sha256(raw).hexdigest())
        self.assertEqual(version.artifact_size, len(raw))
        self.assertEqual(json.loads(version.metadata_json)["horizon"], 7)

    def test_metric_lines_cover_candidates_buckets_and_choice(self):
        lines = self.version.metric_ids
        self.assertTrue(lines)
        self.assertEqual(set(lines.mapped("unique_id")), set(json.loads(self.version.chosen_models_json)))
        self.assertTrue({"naive", "snaive", "ets"} <= set(lines.mapped("model")))
        self.assertIn("mase", lines.mapped("metric"))
        self.assertIn("D+1", lines.mapped("bucket"))
        chosen = json.loads(self.version.chosen_models_json)
        for uid, model in chosen.items():
            picked = lines.filtered(lambda line, uid=uid: line.unique_id == uid and line.chosen)
            self.assertEqual(set(picked.mapped("model")), {model}, uid)
        mase = lines.filtered(lambda line: line.chosen and line.metric == "mase" and line.bucket == "1-7")
        self.assertEqual(len(mase), 3)
        self.assertAlmostEqual(self.version.score, sum(mase.mapped("value")) / 3, places=6)

    def test_artifact_verifies_with_database_key_only(self):
        members = self.version.verify_artifact()
        self.assertIn("model.joblib", members)
        raw = base64.b64decode(self.version.artifact_file)
        with self.assertRaises(errors.ArtifactError):
            model_artifact.verify_artifact(raw, b"another database's key")

    def test_second_run_adds_version_two(self):
        job = self.env["ai.training.job"].create(_fast(self.dataset, candidates="naive,snaive"))
        job.action_queue()
        job._job_cron_run()
        self.assertEqual(job.state, "done", job.error_message)
        self.assertEqual(job.model_version_id.version, 2)
        self.assertEqual(job.model_version_id.display_name, "Pageviews v2")

    def test_closed_weekdays_are_flagged_and_forecast_as_zero(self):
        import numpy as np
        import pandas as pd

        days = pd.date_range("2024-01-01", periods=210, freq="D")
        open_days = days[days.dayofweek < 5]  # a call centre: no rows on weekends
        values = 3000 + np.random.default_rng(5).normal(0, 90, len(open_days))
        frame = pd.DataFrame({"date": open_days.strftime("%Y-%m-%d"), "page": "calls", "pageviews": values})
        job = self.env["ai.training.job"].create(_fast(make_dataset(self.env, frame, name="Calls")))
        job.action_queue()
        job._job_cron_run()
        self.assertEqual(job.state, "done", job.error_message)
        version = job.model_version_id
        self.assertEqual(json.loads(version.metadata_json)["closed_weekdays"], {"calls": [5, 6]})
        html = str(version.series_flags_html)
        self.assertIn("calls", html)
        self.assertIn("Sat, Sun", html)
        with zipfile.ZipFile(io.BytesIO(base64.b64decode(version.artifact_file))) as archive:
            forecast = pd.read_csv(io.BytesIO(archive.read("forecast.csv")), parse_dates=["ds"])
        weekend = forecast["ds"].dt.dayofweek >= 5
        self.assertEqual(int(weekend.sum()), 2)
        self.assertTrue((forecast.loc[weekend, ["yhat", "yhat_lower", "yhat_upper"]] == 0).all().all())
        self.assertTrue((forecast.loc[~weekend, "yhat"] > 2000).all())


    def test_a_series_with_a_yearly_shape_is_flagged_and_its_models_reload(self):
        import numpy as np
        import pandas as pd

        from ..project.forecasting.yearly import YearlyAdjusted

        days = pd.date_range("2022-01-01", periods=800, freq="D")
        t = np.arange(len(days))
        births = 500 + 80 * np.sin(2 * np.pi * t / 365.25) + np.random.default_rng(6).normal(0, 10, len(days))
        frame = pd.DataFrame({"date": days.strftime("%Y-%m-%d"), "page": "births", "pageviews": births.round(1)})
        dataset = make_dataset(self.env, frame, name="Births")
        job = self.env["ai.training.job"].create(_fast(dataset, candidates="ets"))
        job.action_queue()
        job._job_cron_run()
        self.assertEqual(job.state, "done", job.error_message)
        version = job.model_version_id
        self.assertEqual(json.loads(version.metadata_json)["yearly_series"], ["births"])
        html = str(version.series_flags_html)
        self.assertIn("births", html)
        self.assertIn("Yearly Shape", html)
        # the artifact rebuilds the adjusted ETS under Odoo's package name
        loaded = model_artifact.load_artifact(version.sudo()._get_artifact_bytes(), version._get_signing_key())
        fitted = loaded.model["series"]["births"].fitted
        self.assertIn("ets", fitted)
        self.assertIsInstance(fitted["ets"].model, YearlyAdjusted)
        forecast = fitted["ets"].predict(7, level=(80,))
        self.assertTrue(np.isfinite(forecast.to_numpy()).all())


@tagged("post_install", "-at_install")
class TestTrainingFailures(TransactionCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.dataset = make_dataset(cls.env, sample_frame(n_series=2, days=90))
        cls.Version = cls.env["ai.model.version"]

    def _run(self, **values):
        job = self.env["ai.training.job"].create(_fast(self.dataset, **values))
        # The engine checks again what the Queue button checks (a job queued
        # by code, or a dataset whose columns are not known, meets it there).
        job._job_queue()
        job._job_cron_run()
        return job

    def test_bad_column_fails_with_specific_message(self):
        before = self.Version.search_count([])
        job = self._run(target_col="sales")
        self.assertEqual(job.state, "failed")
        self.assertIn("'sales'", job.error_message)
        self.assertIn("'pageviews'", job.error_message, "the message lists the columns that exist")
        self.assertFalse(job.model_version_id)
        self.assertEqual(self.Version.search_count([]), before)

    def test_non_numeric_target_fails_with_core_message(self):
        job = self._run(target_col="page", series_cols="")
        self.assertEqual(job.state, "failed")
        self.assertIn("'page'", job.error_message)
        self.assertIn("numeric", job.error_message)
        self.assertNotIn("Traceback", job.error_message)

    def test_uploaded_csv_input(self):
        frame = sample_frame(n_series=1, days=90)
        job = self.env["ai.training.job"].create(
            {
                "input_type": "file",
                "input_file": base64.b64encode(frame.to_csv(index=False, sep=";").encode()),
                "input_filename": "shop sales.csv",
                "date_col": "date",
                "target_col": "pageviews",
                "series_cols": "page",
                "horizon": 7,
                "cv_windows": 2,
                "candidates": "naive,snaive",
            }
        )
        self.assertEqual(job.model_name, "shop sales")
        job.action_queue()
        job._job_cron_run()
        self.assertEqual(job.state, "done", job.error_message)
        self.assertFalse(job.model_version_id.dataset_id)
        csv_bytes = base64.b64decode(job.input_file)
        self.assertEqual(job.model_version_id.data_sha256, hashlib.sha256(csv_bytes).hexdigest())
        with zipfile.ZipFile(io.BytesIO(base64.b64decode(job.model_version_id.artifact_file))) as archive:
            self.assertIn("SIGNATURE", archive.namelist())

    @mute_logger(JOB_LOGGER)
    def test_unexpected_error_is_generic_and_leaves_nothing(self):
        before = self.Version.search_count([])
        with patch.object(model_trainer, "train_to_artifact", side_effect=RuntimeError("/secret/path exploded")):
            job = self._run()
        self.assertEqual(job.state, "failed")
        self.assertIn("internal error", job.error_message)
        self.assertNotIn("secret", job.error_message)
        self.assertNotIn("secret", job.log)
        self.assertEqual(self.Version.search_count([]), before)

    @mute_logger(JOB_LOGGER)
    def test_failure_while_storing_rolls_back_the_version(self):
        before = self.Version.search_count([])
        metric_class = type(self.env["ai.model.metric"])
        with patch.object(metric_class, "_import_frame", side_effect=RuntimeError("disk full")):
            job = self._run(candidates="naive,snaive")
        self.assertEqual(job.state, "failed")
        self.assertFalse(job.model_version_id)
        self.assertEqual(self.Version.search_count([]), before, "no half-stored version")
        self.assertFalse(self.env["ai.model.metric"].search_count([("version_id.job_id", "=", job.id)]))
        # Retrying after the fault produces the result.
        job.action_retry()
        job._job_cron_run()
        self.assertEqual(job.state, "done", job.error_message)
        self.assertEqual(self.Version.search_count([]), before + 1)


@tagged("post_install", "-at_install")
class TestJobLifecycle(TransactionCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.dataset = make_dataset(cls.env, sample_frame(n_series=1, days=60))

    def _job(self, **values):
        return self.env["ai.training.job"].create(_fast(self.dataset, **values))

    def test_queue_triggers_cron(self):
        job = self._job()
        cron = self.env.ref("ai_train_model.ir_cron_ai_training_job_run")
        triggers = self.env["ir.cron.trigger"].search_count([("cron_id", "=", cron.id)])
        job.action_queue()
        self.assertEqual(job.state, "queued")
        self.assertTrue(job.date_queued)
        self.assertGreater(self.env["ir.cron.trigger"].search_count([("cron_id", "=", cron.id)]), triggers)
        with self.assertRaises(UserError):
            job.action_queue()

    def test_claim_takes_oldest_queued_and_marks_running(self):
        first, second = self._job(), self._job()
        second.action_queue()
        first.action_queue()
        first._engine().write({"date_queued": fields.Datetime.now() - timedelta(minutes=1)})
        claimed = self.env["ai.training.job"]._job_claim_next()
        self.assertEqual(claimed, first)
        self.assertEqual((first.state, first.attempts), ("running", 1))
        self.assertEqual(second.state, "queued")

    def test_cron_batch_retriggers_itself_while_jobs_remain(self):
        first, second = self._job(candidates="naive"), self._job(candidates="naive")
        (first | second).action_queue()
        cron = self.env.ref("ai_train_model.ir_cron_ai_training_job_run")
        Trigger = self.env["ir.cron.trigger"]
        triggers = Trigger.search_count([("cron_id", "=", cron.id)])
        self.env["ai.training.job"]._job_cron_run(limit=1)
        self.assertEqual(sorted((first | second).mapped("state")), ["done", "queued"])
        self.assertEqual(Trigger.search_count([("cron_id", "=", cron.id)]), triggers + 1)
        self.env["ai.training.job"]._job_cron_run(limit=1)
        self.assertEqual((first | second).mapped("state"), ["done", "done"])
        self.assertEqual(Trigger.search_count([("cron_id", "=", cron.id)]), triggers + 1, "nothing left: no trigger")

    def test_stale_running_job_is_requeued_then_failed(self):
        job = self._job()
        old = fields.Datetime.now() - timedelta(hours=3)
        job._engine().write({"state": "running", "attempts": 1, "date_heartbeat": old})
        fresh = self._job()
        fresh._engine().write({"state": "running", "attempts": 1, "date_heartbeat": fields.Datetime.now()})
        with mute_logger(JOB_LOGGER):
            self.env["ai.training.job"]._job_requeue_orphans()
        self.assertEqual(job.state, "queued")
        self.assertIn("requeued", job.log)
        self.assertEqual(fresh.state, "running", "a job with a recent heartbeat is left alone")
        job._engine().write({"state": "running", "attempts": 3, "date_heartbeat": old})
        with mute_logger(JOB_LOGGER):
            self.env["ai.training.job"]._job_requeue_orphans()
        self.assertEqual(job.state, "failed")
        self.assertIn("stopped responding", job.error_message)

    def test_running_job_with_live_worker_is_left_alone(self):
        job = self._job()
        old = fields.Datetime.now() - timedelta(hours=3)
        job._engine().write({"state": "running", "attempts": 1, "date_heartbeat": old})
        key = job._job_lock_key()
        # Another connection plays the worker busy on a long series.
        with self.registry.cursor() as worker_cr:
            worker_cr.execute("SELECT pg_advisory_lock(%s, %s)", key)
            try:
                self.assertFalse(self.env["ai.training.job"]._job_requeue_orphans())
                self.assertEqual(job.state, "running")
            finally:
                worker_cr.execute("SELECT pg_advisory_unlock(%s, %s)", key)

    def test_cancel_and_retry(self):
        job = self._job()
        job.action_queue()
        job.action_cancel()
        self.assertEqual(job.state, "cancelled")
        job._job_cron_run()
        self.assertEqual(job.state, "cancelled", "the cron ignores cancelled jobs")
        job.action_retry()
        self.assertEqual(job.state, "queued")
        job._engine().write({"state": "running"})
        with self.assertRaises(UserError):
            job.action_cancel()
        with self.assertRaises(UserError):
            job.unlink()

    def test_progress_callback_writes_percent_and_heartbeat(self):
        job = self._job()
        job.action_queue()
        job = self.env["ai.training.job"]._job_claim_next()
        progress = job._job_progress_callback()
        progress(1, 4)
        self.assertEqual(job.progress, 25.0)
        beat = job.sudo().date_heartbeat
        self.assertTrue(beat)
        progress(4, 4)
        self.assertEqual(job.progress, 100.0)

    def test_settings_frozen_once_queued(self):
        job = self._job()
        job.write({"horizon": 14})
        job.action_queue()
        with self.assertRaisesRegex(UserError, "cannot change once queued"):
            job.write({"horizon": 28})
        job.action_cancel()
        job.action_reset_to_draft()
        job.write({"horizon": 28})
        self.assertEqual(job.horizon, 28)

    def test_queue_refuses_missing_input(self):
        job = self.env["ai.training.job"].create(
            {"input_type": "file", "model_name": "x", "target_col": "y", "candidates": "naive"}
        )
        with self.assertRaisesRegex(UserError, "Upload"):
            job.action_queue()
