import json
import os
from datetime import timedelta

from odoo import fields
from odoo.exceptions import AccessError, UserError, ValidationError
from odoo.tests import TransactionCase, tagged

from ..project.tests import ga4_fake
from .common import make_users

PROPERTY = "123456"


@tagged("post_install", "-at_install")
class TestGa4Download(TransactionCase):
    """Scheduled downloads run through the cron against the GA4 fake on 127.0.0.1."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.fake_module = ga4_fake
        sa = cls.fake_module.make_service_account()
        cls.fake = cls.fake_module.FakeGA4([sa]).start()
        cls.addClassCleanup(cls.fake.stop)
        other = cls.env["res.company"].create({"name": "GA4 Download Other Co"})
        cls.users = make_users(cls.env, cls.env.company, other)
        params = cls.env["ir.config_parameter"].sudo()
        # fast client-side backoff so a storm exhausts the retries in a second
        for name, value in (("ga4_retry_initial", "0.01"), ("ga4_retry_maximum", "0.05"),
                            ("ga4_retry_deadline", "0.5"), ("ga4_call_timeout", "10")):
            params.set_param(f"ai_train_model.{name}", value)
        cls.credential = cls.env["ai.ga4.credential"].create(
            {"name": "Fake GA4", "key_json": json.dumps(sa), "property_ids": PROPERTY, "api_endpoint": cls.fake.url}
        )
        cls.Download = cls.env["ai.ga4.download"]
        cls.today = fields.Date.context_today(cls.Download)
        cls.yesterday = cls.today - timedelta(days=1)

    def setUp(self):
        super().setUp()
        self.fake.reset()

    def _download(self, **values):
        return self.Download.create(
            {
                "name": values.pop("name", "Sessions by country"),
                "credential_id": self.credential.id,
                "property_id": PROPERTY,
                "dimensions": "date,country",
                "metrics": "sessions,purchaseRevenue",
                "start_mode": "date",
                "start_date": self.today - timedelta(days=10),
                "page_size": 5,
                "next_run": fields.Datetime.now() + timedelta(days=30),  # queued by hand
                **values,
            }
        )

    def _cron(self):
        self.Download._cron_run_downloads()
        self.env.invalidate_all()

    def _make_due(self, run):
        run._engine().write({"date_not_before": fields.Datetime.now() - timedelta(seconds=1)})

    def _expected_value(self, day, country, metric="sessions"):
        return self.fake_module._metric_value(PROPERTY, [day.strftime("%Y%m%d"), country], metric)

    # ------------------------------------------------------------------ success

    def test_cron_run_done_with_stats_flags_and_dataset(self):
        self.fake.faults.thresholded = True
        download = self._download()
        download.action_run_now()
        run = download.run_ids
        self.assertEqual((len(run), run.state, run.trigger), (1, "queued", "manual"))
        self._cron()
        self.assertEqual(run.state, "done", run.error_message or run.log)
        self.assertEqual((run.window_start, run.window_end), (self.today - timedelta(days=10), self.yesterday))
        self.assertEqual(run.rows, 30)  # 10 days x 3 countries
        self.assertEqual(run.pages, 6)  # 5 rows a page
        self.assertEqual(run.attempts, 1)
        self.assertGreater(run.tokens_consumed, 0)
        self.assertGreater(run.quota_remaining, 0)
        self.assertTrue(run.subject_to_thresholding)
        self.assertFalse(run.sampled)
        self.assertFalse(run.data_loss_from_other_row)
        dataset = run.dataset_id
        self.assertTrue(dataset)
        self.assertEqual(download.dataset_id, dataset)
        self.assertEqual(download.state, "done")
        self.assertEqual(download.last_run_id, run)
        self.assertEqual((dataset.source, dataset.row_count, dataset.series_count), ("ga4", 30, 3))
        self.assertEqual((dataset.date_from, dataset.date_to), (run.window_start, self.yesterday))
        self.assertEqual((dataset.series_cols, dataset.target_col), ("country", "sessions"))
        self.assertFalse(dataset.parent_ids)
        frame = dataset._read_dataframe()
        self.assertEqual(list(frame.columns), ["date", "country", "sessions", "purchaseRevenue"])
        self.assertEqual(str(frame["sessions"].dtype), "int64")
        row = frame[(frame["date"] == self.yesterday) & (frame["country"] == "Spain")]
        self.assertEqual(int(row["sessions"].iloc[0]), int(self._expected_value(self.yesterday, "Spain")))
        self.assertFalse(self.env["ai.ga4.run"].sudo().browse(run.id).workdir, "work folder removed")

    def test_schedule_queues_due_downloads_and_advances_next_run(self):
        past = fields.Datetime.now() - timedelta(hours=1)
        download = self._download(next_run=past, interval_number=1, interval_type="days")
        self._cron()
        self.assertEqual(download.run_ids.state, "done")
        self.assertEqual(download.run_ids.trigger, "schedule")
        self.assertEqual(download.next_run, past + timedelta(days=1))
        self._cron()  # not due again: no new run
        self.assertEqual(len(download.run_ids), 1)

    def test_lookback_replaces_recent_days_and_keeps_older(self):
        download = self._download(lookback_days=3)
        download.action_run_now()
        self._cron()
        first = download.dataset_id
        self.assertEqual(first.row_count, 30)
        # A stored head whose values all differ from GA4's and which ends two
        # days ago: the next run must re-download its last 3 days + yesterday.
        frame = first._read_dataframe()
        frame = frame[frame["date"] <= self.yesterday - timedelta(days=1)].copy()
        frame["sessions"] = -1
        tampered = self.env["ai.dataset"].create(
            {"name": download.dataset_name, "source": "ga4", "date_col": "date", "series_cols": "country",
             "target_col": "sessions", "parent_ids": [(6, 0, first.ids)]}
        )
        tampered._store_dataframe(frame)
        download._engine().write({"dataset_id": tampered.id})
        download.action_run_now()
        self._cron()
        run = download.last_run_id
        self.assertEqual(run.state, "done", run.error_message or run.log)
        last_stored = self.yesterday - timedelta(days=1)
        self.assertEqual(run.window_start, last_stored - timedelta(days=2))
        self.assertEqual(run.window_end, self.yesterday)
        self.assertEqual(run.rows, 4 * 3)
        new = download.dataset_id
        self.assertEqual(run.dataset_id, new)
        self.assertEqual(new.parent_ids, tampered)
        self.assertEqual(run.parent_dataset_id, tampered)
        self.assertEqual(new.version, tampered.version + 1)
        self.assertEqual(new.row_count, 30)
        merged = new._read_dataframe()
        older = merged[merged["date"] < run.window_start]
        recent = merged[merged["date"] >= run.window_start]
        self.assertEqual(len(older), 6 * 3)
        self.assertTrue((older["sessions"] == -1).all(), "days before the lookback are kept as stored")
        self.assertEqual(len(recent), 4 * 3)
        self.assertFalse((recent["sessions"] == -1).any(), "lookback days are replaced by GA4's values")
        self.assertEqual(tampered.row_count, 27, "the previous version is left as it was")

    # ------------------------------------------------------------------ faults

    def test_503_storm_retrying_then_succeeds(self):
        self.fake.faults.errors = [503] * 200
        download = self._download()
        download.action_run_now()
        with self.assertLogs("odoo.addons.ai_train_model.project.ga4.download", "WARNING") as logs:
            self._cron()
        self.assertIn("ServiceUnavailable", "\n".join(logs.output))
        run = download.run_ids
        self.assertEqual(run.state, "retrying")
        self.assertEqual(run.attempts, 1)
        self.assertGreater(run.date_not_before, fields.Datetime.now())
        self.assertIn("gave up after retrying", run.error_message)
        self.assertFalse(run.dataset_id)
        self.assertFalse(download.dataset_id, "a failed attempt creates no dataset version")
        self.assertEqual(download.state, "retrying")
        self._cron()  # not due yet: nothing happens
        self.assertEqual((run.state, run.attempts), ("retrying", 1))
        self.fake.reset()
        self._make_due(run)
        self._cron()
        self.assertEqual(run.state, "done", run.error_message or run.log)
        self.assertEqual(run.attempts, 2)
        self.assertFalse(run.error_message)
        self.assertEqual(download.dataset_id.row_count, 30)

    def test_property_outside_credential_list_refused(self):
        with self.assertRaises(ValidationError) as caught:
            self._download(property_id="999999")
        self.assertIn("999999 is not in the property list of credential Fake GA4", str(caught.exception))
        # A property dropped from the list afterwards stops the runs, with the reason.
        download = self._download()
        self.credential.property_ids = "777777"
        download.action_run_now()
        self._cron()
        run = download.run_ids
        self.assertEqual(run.state, "failed")
        self.assertIn("123456 is not in the property list", run.error_message)

    def test_forbidden_property_fails_after_retry_limit_with_activity(self):
        # Listed on the credential, but the service account has no access to it.
        self.credential.property_ids = f"{PROPERTY}, 999999"
        download = self._download(property_id="999999")
        download.action_run_now()
        self._cron()
        run = download.run_ids
        self.assertEqual(run.state, "retrying")
        self.assertIn("permission denied", run.error_message)
        self.assertIn("properties/999999", run.error_message)
        self.assertFalse(download.activity_ids)
        for _attempt in range(2):
            self._make_due(run)
            self._cron()
        self.assertEqual((run.state, run.attempts), ("failed", 3))
        self.assertIn("Viewer access", run.error_message)
        self.assertFalse(self.env["ai.dataset"].search([("name", "=", download.dataset_name)]))
        activities = download.activity_ids
        self.assertEqual(len(activities), 1, "one activity for one manager, none per retry")
        managers = self.env.ref("ai_train_model.group_ai_manager").users
        self.assertIn(activities.user_id, managers)
        self.assertIn(download.company_id, activities.user_id.company_ids)
        self.assertIn("failed", activities.summary)

    def test_unknown_metric_fails_at_once(self):
        download = self._download(metrics="sessions,notAMetric")
        download.action_run_now()
        self._cron()
        run = download.run_ids
        self.assertEqual((run.state, run.attempts), ("failed", 1))
        self.assertIn("unknown metric 'notAMetric'", run.error_message)
        self.assertTrue(download.activity_ids)

    def test_quota_stop_then_resume_gives_the_same_data(self):
        self.fake.faults.tokens_per_day = 30  # 3 pages of 10 tokens
        download = self._download(name="Quota")
        download.action_run_now()
        self._cron()
        run = download.run_ids
        self.assertEqual(run.state, "stopped", run.error_message or run.log)
        self.assertEqual(run.pages, 3)
        self.assertEqual(run.rows, 15)
        self.assertGreater(run.date_not_before, fields.Datetime.now())
        self.assertFalse(download.dataset_id)
        workdir = run.sudo().workdir
        self.assertTrue(os.path.exists(os.path.join(workdir, "window.checkpoint.json")))
        self.fake.reset()  # a new day: the quota is back
        self._make_due(run)
        self._cron()
        self.assertEqual(run.state, "done", run.error_message or run.log)
        self.assertEqual(run.attempts, 1, "resuming after a quota stop is not a new attempt")
        self.assertEqual((run.rows, run.pages), (30, 6))
        self.assertFalse(os.path.exists(workdir))
        reference = self._download(name="Reference")
        reference.action_run_now()
        self._cron()
        resumed = download.dataset_id._read_dataframe()
        expected = reference.dataset_id._read_dataframe()
        self.assertEqual(resumed.to_dict("records"), expected.to_dict("records"))

    # ------------------------------------------------------------------ guards

    def test_run_now_never_runs_a_download_twice(self):
        download = self._download()
        download.action_run_now()
        download.action_run_now()
        self.assertEqual(len(download.run_ids), 1)
        run = download.run_ids
        run._engine().write({"state": "running"})
        with self.assertRaises(UserError):
            download.action_run_now()
        self.env.flush_all()
        self.assertFalse(self.env["ai.ga4.run"]._job_claim_next(), "a running download is not claimed again")
        self.assertEqual(run.state, "running")

    def test_groups_on_run_now_and_runs(self):
        download = self._download()
        with self.assertRaises(AccessError):
            download.with_user(self.users.user).action_run_now()
        download.with_user(self.users.analyst).action_run_now()
        run = download.run_ids
        self.assertEqual(run.state, "queued")
        with self.assertRaises(AccessError):
            run.with_user(self.users.manager).write({"state": "done"})
        with self.assertRaises(AccessError):
            self.env["ai.ga4.run"].with_user(self.users.manager).create({"download_id": download.id})

    def test_definition_validated(self):
        cases = [
            ({"dimensions": "country"}, "must include 'date'"),
            ({"metrics": "ses sions"}, "not a GA4 API name"),
            ({"dimensions": "date,country,country"}, "listed twice"),
            ({"metrics": "sessions", "dimensions": "date,sessions"}, "both as dimension and metric"),
            ({"property_id": "G-12345"}, "property id must be digits"),
        ]
        for values, message in cases:
            with self.subTest(message=message), self.assertRaises(ValidationError) as caught:
                self._download(**values)
            self.assertIn(message, str(caught.exception))
