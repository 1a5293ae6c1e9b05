import datetime

from freezegun import freeze_time

from odoo.tests import TransactionCase, tagged

from .common import make_dataset


@tagged("post_install", "-at_install")
class TestForecastSchedule(TransactionCase):
    """The nightly retrain-and-predict is due in the company's night (from the
    target's start hour to 06:00 local) and must start before 06:00 local;
    checked with a frozen clock for a Madrid and a Mexico City company."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.Run = cls.env["ai.forecast.run"]
        cls.targets = {}
        for tz in ("Europe/Madrid", "America/Mexico_City"):
            company = cls.env["res.company"].create({"name": f"Bakery {tz}"})
            company.partner_id.tz = tz
            cls.env.user.company_ids |= company
            dataset = make_dataset(cls.env, name=f"Sales {tz}", company=company)
            dataset.action_set_ready()
            cls.targets[tz] = cls.env["ai.forecast.target"].create(
                {
                    "name": f"Sales {tz}",
                    "company_id": company.id,
                    "dataset_id": dataset.id,
                    "target_col": "pageviews",
                    "series_cols": "page",
                    "schedule": "daily",
                    "schedule_hour": 1,
                }
            )

    def _queued_keys(self, tz):
        runs = self.Run.search([("target_id", "=", self.targets[tz].id), ("kind", "=", "predict")])
        return sorted(runs.mapped("run_key"))

    def test_due_only_in_each_company_night(self):
        self.assertEqual(self.env["ai.forecast.target"].new({}).schedule_hour, 1, "default start: 01:00")
        # 2026-01-15 00:30 UTC: 01:30 in Madrid (due), 18:30 the day before in Mexico City (not due).
        with freeze_time("2026-01-15 00:30:00"):
            self.Run._cron_nightly()
        self.assertEqual(self._queued_keys("Europe/Madrid"), ["2026-01-15"])
        self.assertEqual(self._queued_keys("America/Mexico_City"), [])
        madrid = self.Run.search([("target_id", "=", self.targets["Europe/Madrid"].id)])
        self.assertEqual(madrid.date_deadline, datetime.datetime(2026, 1, 15, 5, 0), "06:00 in Madrid (UTC+1)")
        # 05:30 UTC: 06:30 in Madrid (night over), 23:30 in Mexico City (before its start hour): nothing.
        with freeze_time("2026-01-15 05:30:00"):
            self.Run._cron_nightly()
        self.assertEqual(self._queued_keys("America/Mexico_City"), [])
        # 08:00 UTC: 02:00 in Mexico City (UTC-6): due, deadline 12:00 UTC.
        with freeze_time("2026-01-15 08:00:00"):
            self.Run._cron_nightly()
            self.Run._cron_nightly()  # twice: one run
        self.assertEqual(self._queued_keys("America/Mexico_City"), ["2026-01-15"])
        mexico = self.Run.search([("target_id", "=", self.targets["America/Mexico_City"].id)])
        self.assertEqual(mexico.date_deadline, datetime.datetime(2026, 1, 15, 12, 0))
        # Summer time: 06:00 in Madrid is 04:00 UTC (January's run done meanwhile).
        madrid._engine().write({"state": "done"})
        with freeze_time("2026-07-15 00:30:00"):
            self.Run._cron_nightly()
        self.assertEqual(
            self.Run.search(
                [("target_id", "=", self.targets["Europe/Madrid"].id), ("run_key", "=", "2026-07-15")]
            ).date_deadline,
            datetime.datetime(2026, 7, 15, 4, 0),
        )

    def test_not_started_by_six_waits_for_the_next_night_and_says_so(self):
        target = self.targets["America/Mexico_City"]
        with freeze_time("2026-01-15 08:00:00"):  # 02:00 local
            self.Run._cron_nightly()
        run = self.Run.search([("target_id", "=", target.id)])
        # The queue was busy: the worker takes the run at 06:30 local (12:30 UTC).
        with freeze_time("2026-01-15 12:30:00"):
            self.Run._job_cron_run()
        self.assertEqual(run.state, "queued")
        self.assertIn("waits for the next night", run.log)
        self.assertIn("America/Mexico_City", run.log)
        self.assertEqual(run.date_not_before, datetime.datetime(2026, 1, 16, 7, 0), "01:00 local the next night")
        self.assertEqual(run.date_deadline, datetime.datetime(2026, 1, 16, 12, 0))
        self.assertFalse(target.last_run_date, "nothing was predicted")
        # Later that day nothing runs, and the next night adds no second run while this one waits.
        with freeze_time("2026-01-15 20:00:00"):
            self.Run._job_cron_run()
        self.assertEqual(run.state, "queued")
        with freeze_time("2026-01-16 07:30:00"):
            self.Run._cron_nightly()
            self.assertEqual(self.Run.search_count([("target_id", "=", target.id)]), 1)
            self.Run._job_cron_run()
        # It ran that night (the target has no champion yet: nothing to predict, but done).
        self.assertEqual(run.state, "done", run.error_message)
        self.assertEqual(target.last_run_date, datetime.date(2026, 1, 15))
