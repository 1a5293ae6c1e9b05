import json
from datetime import timedelta

from odoo import fields
from odoo.tests import HttpCase, tagged

from ..project.tests import ga4_fake
from .common import make_dataset, make_users

URL = "/ai_train_model/health"


def api_key(env, user, name="monitor"):
    """A fresh global (RPC) API key of ``user``, as created in the preferences."""
    return env["res.users.apikeys"].with_user(user)._generate(None, name)


@tagged("post_install", "-at_install")
class TestHealth(HttpCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.company = cls.env.company
        cls.other_company = cls.env["res.company"].create({"name": "Health Other Co"})
        cls.users = make_users(cls.env, cls.company, cls.other_company)
        now = fields.Datetime.now()
        dataset = make_dataset(cls.env)
        Job = cls.env["ai.training.job"]
        cls.done_job = Job.create({"dataset_id": dataset.id, "candidates": "naive"})
        cls.done_job._engine().write({"state": "done", "date_finished": now - timedelta(hours=30)})
        cls.failed_job = Job.create({"dataset_id": dataset.id, "candidates": "naive"})
        cls.failed_job._engine().write({"state": "failed", "date_finished": now - timedelta(hours=2)})
        old_failure = Job.create({"dataset_id": dataset.id, "candidates": "naive"})
        old_failure._engine().write({"state": "failed", "date_finished": now - timedelta(hours=30)})
        # GA4: one run done yesterday, one failed two days ago (outside the 24 h window).
        sa = ga4_fake.make_service_account()
        credential = cls.env["ai.ga4.credential"].create(
            {"name": "Health GA4", "key_json": json.dumps(sa), "property_ids": "123456"}
        )
        download = cls.env["ai.ga4.download"].create(
            {
                "name": "Sessions",
                "credential_id": credential.id,
                "property_id": "123456",
                "dimensions": "date,country",
                "metrics": "sessions",
                "start_mode": "date",
                "start_date": fields.Date.today() - timedelta(days=10),
                "next_run": now + timedelta(days=30),
            }
        )
        Run = cls.env["ai.ga4.run"]._engine()
        cls.ga4_done_at = (now - timedelta(hours=20)).replace(microsecond=0)
        Run.create({"download_id": download.id, "state": "done", "date_finished": cls.ga4_done_at})
        Run.create({"download_id": download.id, "state": "failed", "date_finished": now - timedelta(hours=48)})
        cls.manager_key = api_key(cls.env, cls.users.manager)
        cls.analyst_key = api_key(cls.env, cls.users.analyst)
        cls.foreign_key = api_key(cls.env, cls.users.foreign)

    def _get(self, key=None, headers=None, url=URL, **kwargs):
        headers = dict(headers or {})
        if key is not None:
            headers["Authorization"] = f"Bearer {key}"
        return self.url_open(url, headers=headers, allow_redirects=False, **kwargs)

    def _summary_of(self, response, company):
        self.assertEqual(response.status_code, 200, response.text)
        self.assertEqual(response.headers["Content-Type"].split(";")[0], "application/json")
        companies = {entry["company"]["id"]: entry for entry in response.json()["companies"]}
        return companies[company.id]

    # ------------------------------------------------------------------ figures

    def test_summary_figures(self):
        summary = self.env["ai.health"].with_user(self.users.manager)._summary(self.company)
        self.assertEqual(summary["status"], "error")
        self.assertEqual(summary["training"]["failed_24h"], 1, "the 30 h old failure is outside the window")
        self.assertEqual(
            summary["training"]["last_success"],
            self.done_job.date_finished.strftime("%Y-%m-%dT%H:%M:%SZ"),
        )
        self.assertEqual(summary["ga4"], {"last_success": self.ga4_done_at.strftime("%Y-%m-%dT%H:%M:%SZ"),
                                          "failed_24h": 0})
        self.assertEqual(summary["alerts"], {"open": 0, "items": []})

    def test_prediction_figures_come_from_the_runs(self):
        """Predictions carry no audit columns: the last prediction written is
        the last finished nightly run that writes them (a refresh run or a
        failed run does not count), the actuals refresh the last finished
        refresh run."""
        summary = self.env["ai.health"]._summary(self.company)
        self.assertEqual(summary["predictions"], {"last_write": None, "last_actuals_refresh": None, "failed_24h": 0})
        target = self.env["ai.forecast.target"].create(
            {"name": "Health", "dataset_id": self.done_job.dataset_id.id, "target_col": "pageviews", "series_cols": "page"}
        )
        now = fields.Datetime.now().replace(microsecond=0)
        Run = self.env["ai.forecast.run"]._engine()
        common = {"company_id": self.company.id, "target_id": target.id}
        Run.create({**common, "kind": "predict", "run_key": "2026-01-01", "state": "done",
                    "date_finished": now - timedelta(hours=5)})
        Run.create({**common, "kind": "predict", "run_key": "2026-01-02", "state": "failed",
                    "date_finished": now - timedelta(hours=1)})
        Run.create({**common, "kind": "refresh", "run_key": "7", "state": "done",
                    "date_finished": now - timedelta(hours=3)})
        Run.create({**common, "kind": "refresh", "run_key": "8", "state": "failed", "date_finished": now})
        summary = self.env["ai.health"].with_user(self.users.manager)._summary(self.company)
        self.assertEqual(
            summary["predictions"],
            {
                "last_write": (now - timedelta(hours=5)).strftime("%Y-%m-%dT%H:%M:%SZ"),
                "last_actuals_refresh": (now - timedelta(hours=3)).strftime("%Y-%m-%dT%H:%M:%SZ"),
                "failed_24h": 2,
            },
        )
        other = self.env["ai.health"].with_user(self.users.foreign)._summary(self.other_company)
        self.assertEqual(other["predictions"]["last_write"], None, "another company's runs are not counted")
        self.assertEqual(other["predictions"]["failed_24h"], 0)
        # Failed forecast runs make the status an error, as failed trainings and GA4 runs do.
        self.failed_job._engine().write({"date_finished": fields.Datetime.now() - timedelta(hours=25)})
        self.assertEqual(self.env["ai.health"]._summary(self.company)["status"], "error")
        Run.search([("state", "=", "failed"), ("target_id", "=", target.id)]).write(
            {"date_finished": now - timedelta(hours=25)}
        )
        self.assertEqual(self.env["ai.health"]._summary(self.company)["status"], "ok")

    def test_open_alert_listed_and_status_warning(self):
        self.failed_job._engine().write({"date_finished": fields.Datetime.now() - timedelta(hours=25)})
        version = self._version()
        self.assertEqual(self.env["ai.health"]._summary(self.company)["status"], "ok")
        version.activity_schedule(
            "mail.mail_activity_data_todo", summary="Drift: PSI 0.41 above 0.25", user_id=self.users.analyst.id
        )
        summary = self.env["ai.health"].with_user(self.users.manager)._summary(self.company)
        self.assertEqual(summary["status"], "warning")
        self.assertEqual(summary["alerts"]["open"], 1)
        self.assertEqual(summary["alerts"]["items"][0]["summary"], "Drift: PSI 0.41 above 0.25")
        self.assertEqual(summary["alerts"]["items"][0]["res_id"], version.id)
        other = self.env["ai.health"].with_user(self.users.foreign)._summary(self.other_company)
        self.assertEqual(other["alerts"]["open"], 0, "another company's alerts are not counted")

    def _version(self):
        from .common import handmade_version

        return handmade_version(self.env, self.done_job)

    def test_form_shows_the_same_figures(self):
        action = self.env["ai.health"].with_user(self.users.manager).action_open()
        record = self.env["ai.health"].with_user(self.users.manager).browse(action["res_id"])
        self.assertEqual(action["res_model"], "ai.health")
        self.assertEqual(record.company_id, self.company)
        self.assertEqual(record.status, "error")
        self.assertEqual(record.failed_training_24h, 1)
        self.assertEqual(record.last_ga4_success, self.ga4_done_at)
        self.assertEqual(record.last_training_success, self.done_job.date_finished)

    # ------------------------------------------------------------------ route access

    def test_manager_session_gets_json(self):
        self.authenticate("ai_manager", "ai_manager")
        entry = self._summary_of(self._get(), self.company)
        self.assertEqual(entry["training"]["failed_24h"], 1)
        self.assertEqual(entry["status"], "error")

    def test_manager_api_key_gets_json(self):
        entry = self._summary_of(self._get(self.manager_key), self.company)
        self.assertEqual(entry["ga4"]["failed_24h"], 0)

    def test_other_company_manager_sees_only_its_company(self):
        response = self._get(self.foreign_key)
        self.assertEqual([e["company"]["id"] for e in response.json()["companies"]], [self.other_company.id])
        entry = self._summary_of(response, self.other_company)
        self.assertEqual((entry["training"]["failed_24h"], entry["ga4"]["last_success"]), (0, None))
        response = self._get(self.foreign_key, url=f"{URL}?company_id={self.company.id}")
        self.assertEqual(response.status_code, 404)
        self.assertNotIn(b"failed_24h", response.content)

    def test_company_id_parameter(self):
        entry = self._summary_of(self._get(self.manager_key, url=f"{URL}?company_id={self.company.id}"), self.company)
        self.assertEqual(entry["company"]["id"], self.company.id)
        response = self._get(self.manager_key, url=f"{URL}?company_id=abc")
        self.assertEqual(response.status_code, 400)
        self.assertEqual(response.json()["error"]["parameter"], "company_id")

    def test_non_managers_get_404(self):
        for login in ("ai_analyst", "ai_reader", "ai_plain"):
            self.authenticate(login, login)
            response = self._get()
            self.assertEqual(response.status_code, 404, login)
            self.assertNotIn(b"failed_24h", response.content)
        self.authenticate(None, None)
        response = self._get(self.analyst_key)
        self.assertEqual(response.status_code, 404)
        self.assertNotIn(b"failed_24h", response.content)

    def test_anonymous_browser_redirected_to_login(self):
        response = self._get(headers={"Accept": "text/html,application/xhtml+xml"})
        self.assertIn(response.status_code, (302, 303))
        self.assertIn("/web/login", response.headers["Location"])

    def test_anonymous_api_client_gets_401(self):
        for accept in ("application/json", "*/*"):
            response = self._get(headers={"Accept": accept})
            self.assertEqual(response.status_code, 401, accept)
            self.assertEqual(response.json()["error"]["code"], "unauthorized")
            self.assertIn("Bearer", response.headers["WWW-Authenticate"])

    def test_invalid_and_revoked_keys_get_401(self):
        for key in ("not-a-key", "", self.manager_key[:-1] + ("0" if self.manager_key[-1] != "0" else "1")):
            self.assertEqual(self._get(key).status_code, 401, key)
        response = self._get(headers={"Authorization": f"Basic {self.manager_key}"})
        self.assertEqual(response.status_code, 401)
        key = api_key(self.env, self.users.manager, "to revoke")
        self.assertEqual(self._get(key).status_code, 200)
        self.env["res.users.apikeys"].sudo().search(
            [("user_id", "=", self.users.manager.id), ("name", "=", "to revoke")]
        ).unlink()
        self.assertEqual(self._get(key).status_code, 401)
