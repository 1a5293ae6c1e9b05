import json
from datetime import timedelta

from odoo import fields
from odoo.tests import TransactionCase, tagged

from ..project.tests import ga4_fake
from ..models.ai_forecast_dashboard import JOB_PROGRESS, job_channel
from .common import make_dataset, make_users, sample_frame
from .test_forecast_chart import chart_version


@tagged("post_install", "-at_install")
class TestForecastDashboard(TransactionCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.company = cls.env.company
        cls.other_company = cls.env["res.company"].create({"name": "Other Co"})
        cls.users = make_users(cls.env, cls.company, cls.other_company)
        cls.dataset = make_dataset(cls.env, sample_frame(n_series=2, days=60))
        cls.version, cls.pages = chart_version(cls.env, cls.dataset)

    def _data(self, user):
        return self.env["ai.forecast.dashboard"].with_user(user).get_dashboard_data()

    def _card(self, data):
        cards = [card for card in data["cards"] if card["name"] == self.version.name]
        self.assertEqual(len(cards), 1)
        return cards[0]

    def test_card_of_a_version_without_target(self):
        card = self._card(self._data(self.users.user))
        self.assertEqual(card["champion"]["id"], self.version.id)
        self.assertEqual(card["champion"]["state"], "development")
        self.assertEqual(card["accuracy"]["kind"], "backtest")
        self.assertAlmostEqual(card["accuracy"]["value"], self.version.score)
        # forecast.csv day 1: 101 + 201 over the two series.
        self.assertAlmostEqual(card["next_day"]["total"], 302.0)
        self.assertEqual(card["training"]["id"], self.version.job_id.id)
        self.assertEqual([a["level"] for a in card["alerts"]], ["info"])

    def _target(self):
        target = self.env["ai.forecast.target"].create(
            {"name": "Pageviews target", "dataset_id": self.dataset.id, "target_col": "pageviews", "series_cols": "page"}
        )
        self.version.target_id = target
        return target

    def test_target_card_with_champion_live_accuracy_and_anomaly(self):
        target = self._target()
        self.version.action_promote()
        today = fields.Date.today()
        rows = [
            (self.version.id, page, page, today + timedelta(days=d), d + 3,
             "forecast", 10.0 * (i + 1), 9.0, 11.0, 8.0, 12.0)
            for i, page in enumerate(self.pages)
            for d in range(-2, 2)
        ]
        self.env["ai.prediction"]._upsert_rows(rows)
        past = self.env["ai.prediction"].search([("date", "<", today)])
        past._engine().write({"actual": 12.0})
        past[:1]._engine().write({"is_anomaly": True, "anomaly_score": 4.2})
        data = self._data(self.users.analyst)
        cards = [card for card in data["cards"] if card.get("target_id") == target.id]
        self.assertEqual(len(cards), 1)
        self.assertNotIn(self.version.name, [c["name"] for c in data["cards"] if not c.get("target_id")])
        card = cards[0]
        self.assertEqual(card["champion"]["id"], self.version.id)
        self.assertEqual(card["champion"]["state"], "production")
        # Past days: forecasts 10 and 20 against actuals 12, two days each: |2|+|8| over 12+12, twice.
        self.assertEqual(card["accuracy"]["kind"], "live")
        self.assertAlmostEqual(card["accuracy"]["value"], 20.0 / 48.0)
        self.assertEqual(card["next_day"], {"date": fields.Date.to_string(today), "total": 30.0})
        # The monitoring has raised nothing yet: the anomaly count is not repeated as an alert.
        self.assertEqual(card["alerts"], [])
        self.env["ai.forecast.alert"]._raise(target, "drift", "pageviews", "Drift on pageviews", version=self.version)
        card = [c for c in self._data(self.users.analyst)["cards"] if c.get("target_id") == target.id][0]
        self.assertEqual([(a["level"], a["kind"]) for a in card["alerts"]], [("warning", "drift")])
        self.assertIn("1 open Drift alert", card["alerts"][0]["text"])

    def test_needs_retraining_alert(self):
        self.dataset.action_archive_dataset()
        card = self._card(self._data(self.users.user))
        self.assertEqual([a["level"] for a in card["alerts"]], ["info", "warning"])
        self.assertIn("retraining", card["alerts"][1]["text"])

    def test_last_ga4_run_on_the_dashboard_and_the_card(self):
        sa = ga4_fake.make_service_account()
        credential = self.env["ai.ga4.credential"].create(
            {"name": "Dashboard GA4", "key_json": json.dumps(sa), "property_ids": "123456"}
        )
        download = self.env["ai.ga4.download"].create(
            {
                "name": "Sessions",
                "credential_id": credential.id,
                "property_id": "123456",
                "dimensions": "date,country",
                "metrics": "sessions",
                "start_mode": "date",
                "start_date": fields.Date.today() - timedelta(days=10),
                "next_run": fields.Datetime.now() + timedelta(days=30),
            }
        )
        finished = fields.Datetime.now().replace(microsecond=0)
        run = self.env["ai.ga4.run"]._engine().create(
            {"download_id": download.id, "state": "done", "date_finished": finished, "dataset_id": self.dataset.id}
        )
        data = self._data(self.users.user)
        self.assertEqual(data["ga4"]["id"], run.id)
        self.assertEqual((data["ga4"]["state"], data["ga4"]["state_label"]), ("done", "Done"))
        self.assertEqual(data["ga4"]["date"], fields.Datetime.to_string(finished))
        self.assertEqual(self._card(data)["ga4"]["id"], run.id)
        self.assertEqual(self.dataset.ga4_run_count, 1)

    def test_running_jobs_and_progress_on_the_bus(self):
        job = self.env["ai.training.job"].create({"dataset_id": self.dataset.id, "candidates": "naive"})
        self.env["bus.bus"].search([]).unlink()
        job.with_user(self.users.analyst).action_queue()
        data = self._data(self.users.user)
        self.assertIn(job.id, [j["id"] for j in data["jobs"]])
        self.assertEqual(data["counts"]["queued"], 1)
        self.assertEqual(data["bus_channels"], [job_channel(self.company.id)])
        self.assertEqual(data["bus_type"], JOB_PROGRESS)
        messages = self.env["bus.bus"].search([("channel", "like", job_channel(self.company.id))])
        self.assertEqual(len(messages), 1)
        message = json.loads(messages.message)
        self.assertEqual(message["type"], JOB_PROGRESS)
        self.assertEqual(message["payload"]["id"], job.id)
        self.assertEqual(message["payload"]["state"], "queued")

    def test_other_company_sees_nothing_of_ours(self):
        data = self._data(self.users.foreign)
        self.assertEqual(data["cards"], [])
        self.assertEqual(data["bus_channels"], [job_channel(self.other_company.id)])

    def test_websocket_channels_follow_the_user_companies(self):
        ours, theirs = job_channel(self.company.id), job_channel(self.other_company.id)
        websocket = self.env["ir.websocket"]
        channels = websocket.with_user(self.users.user)._ai_job_channels([theirs, "other"])
        self.assertEqual(channels, ["other", ours])
        self.assertEqual(websocket.with_user(self.users.plain)._ai_job_channels([ours]), [])
