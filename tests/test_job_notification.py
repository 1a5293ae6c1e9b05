"""Failure notifications of background jobs (issue 8): a training job that
fails for good or stalls, a GA4 run that fails for good: one activity for one
member of the right group and one chatter message, never one per retry or
cron tick."""

import json
from datetime import timedelta

from odoo import fields
from odoo.tests import TransactionCase, new_test_user, tagged
from odoo.tools import mute_logger

from ..project.tests import ga4_fake
from .common import make_dataset, make_users
from .test_training_job import JOB_LOGGER

FAILED = "ai_train_model.mail_activity_type_ai_job_failed"
STALE = "ai_train_model.mail_activity_type_ai_job_stale"


@tagged("post_install", "-at_install")
class TestJobNotification(TransactionCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.company_b = cls.env["res.company"].create({"name": "Notify Co B"})
        cls.users = make_users(cls.env, cls.env.company, cls.company_b)
        cls.dataset = make_dataset(cls.env)

    def _job(self, user=None, **values):
        Job = self.env["ai.training.job"].with_user(user) if user else self.env["ai.training.job"]
        job = Job.create({"dataset_id": self.dataset.id, "horizon": 7, "cv_windows": 2, "candidates": "naive", **values})
        return job.sudo()

    def _activities(self, record, xmlid=FAILED):
        return self.env["mail.activity"].search(
            [("res_model", "=", record._name), ("res_id", "=", record.id), ("activity_type_id", "=", self.env.ref(xmlid).id)]
        )

    def _fail(self, job):
        """Run the job through the cron; its target column does not exist."""
        job._job_queue(reset=True)
        with mute_logger(JOB_LOGGER):
            self.env["ai.training.job"]._job_cron_run()
        self.assertEqual(job.state, "failed")

    def test_failed_training_twice_gives_one_activity_for_the_analyst_who_queued_it(self):
        job = self._job(self.users.analyst, target_col="no_such_column")
        messages = len(job.message_ids)
        self._fail(job)
        activity = self._activities(job)
        self.assertEqual(len(activity), 1)
        self.assertEqual(activity.user_id, self.users.analyst)
        self.assertIn("failed", activity.summary)
        self.assertIn("no_such_column", activity.note)
        notes = job.message_ids.filtered(lambda m: "no_such_column" in (m.body or ""))
        self.assertEqual(len(notes), 1, "one chatter message")
        self.assertGreater(len(job.message_ids), messages)
        # A manual retry that fails again: the open activity stands for both.
        self._fail(job)
        self.assertEqual(self._activities(job), activity)
        self.assertEqual(len(job.message_ids.filtered(lambda m: "no_such_column" in (m.body or ""))), 1)
        # Once the activity is done, a new failure is news again.
        activity.action_feedback("looked")
        self._fail(job)
        self.assertEqual(len(self._activities(job)), 1)
        self.assertNotEqual(self._activities(job), activity)

    def test_job_queued_by_a_non_analyst_goes_to_the_first_analyst_of_its_company(self):
        job = self._job(target_col="no_such_column")  # created by OdooBot (the nightly retrain)
        self._fail(job)
        activity = self._activities(job)
        self.assertEqual(len(activity), 1)
        analysts = self.env.ref("ai_train_model.group_ai_analyst").users.filtered(
            lambda u: u.active and not u.share and self.env.company in u.company_ids
        )
        self.assertEqual(activity.user_id, analysts.sorted("id")[:1])
        self.assertNotEqual(activity.user_id, self.users.user)
        self.assertNotEqual(activity.user_id, self.users.foreign, "not another company's analyst")

    def test_retry_that_is_not_final_notifies_nobody(self):
        job = self._job()
        job._engine().write({"state": "running", "attempts": 1})
        job._job_fail("worker lost", retry=True)
        self.assertEqual(job.state, "queued")
        self.assertFalse(self._activities(job))
        job._engine().write({"state": "running", "attempts": job._job_max_attempts})
        job._job_fail("worker lost", retry=True)
        self.assertEqual(job.state, "failed")
        self.assertEqual(len(self._activities(job)), 1)

    def test_stale_job_with_a_live_worker_is_notified_once(self):
        job = self._job()
        old = fields.Datetime.now() - timedelta(hours=3)
        job._engine().write({"state": "running", "attempts": 1, "date_heartbeat": old})
        key = job._job_lock_key()
        with self.registry.cursor() as worker_cr:
            worker_cr.execute("SELECT pg_advisory_lock(%s, %s)", key)
            try:
                for _tick in range(3):
                    self.env["ai.training.job"]._job_requeue_orphans()
            finally:
                worker_cr.execute("SELECT pg_advisory_unlock(%s, %s)", key)
        self.assertEqual(job.state, "running", "a live worker's job is not taken away")
        activity = self._activities(job, STALE)
        self.assertEqual(len(activity), 1, "one activity, not one per cron tick")
        self.assertIn("not progressing", activity.summary)
        self.assertFalse(self._activities(job))

    def test_ga4_run_failure_goes_to_one_manager_of_the_download(self):
        credential = self.env["ai.ga4.credential"].create(
            {"name": "Notify GA4", "key_json": json.dumps(ga4_fake.make_service_account()), "property_ids": "123"}
        )
        download = self.env["ai.ga4.download"].create(
            {"name": "Notify download", "credential_id": credential.id, "property_id": "123"}
        )
        manager2 = new_test_user(
            self.env, "ai_manager2", groups="base.group_user,ai_train_model.group_ai_manager"
        )
        run = download.with_user(manager2)._create_run("manual").sudo()
        for _attempt in range(2):
            run._engine().write({"state": "running", "attempts": run._job_max_attempts})
            run._job_fail("HTTP 500", retry=True)
        self.assertEqual(run.state, "failed")
        activity = self._activities(download)
        self.assertEqual(len(activity), 1)
        self.assertEqual(activity.user_id, manager2, "the manager who started it")
        self.assertIn("HTTP 500", activity.note)
