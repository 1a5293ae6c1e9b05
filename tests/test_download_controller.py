from odoo.tests import HttpCase, tagged

from ..models.ai_core import core
from .common import handmade_version, make_dataset, make_users


@tagged("post_install", "-at_install")
class TestDownloadController(HttpCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.company = cls.env.company
        cls.other_company = cls.env["res.company"].create({"name": "Other Co"})
        cls.users = make_users(cls.env, cls.company, cls.other_company)
        dataset = make_dataset(cls.env)
        job = cls.env["ai.training.job"].create({"dataset_id": dataset.id, "candidates": "naive,snaive"})
        # A name with characters that must not reach the header unescaped.
        cls.version = handmade_version(cls.env, job, name='Sales "EU"; rm -rf / ünï')
        cls.url = f"/ai_train_model/model/{cls.version.id}/download"

    def test_allowed_user_downloads_verifiable_zip(self):
        self.authenticate("ai_reader", "ai_reader")
        response = self.url_open(self.url)
        self.assertEqual(response.status_code, 200)
        self.assertEqual(response.headers["Content-Type"], "application/zip")
        self.assertEqual(response.headers["X-Content-Type-Options"], "nosniff")
        self.assertEqual(int(response.headers["Content-Length"]), len(response.content))
        self.assertEqual(len(response.content), self.version.artifact_size)
        disposition = response.headers["Content-Disposition"]
        self.assertIn("attachment", disposition)
        self.assertIn("Sales_EU_rm_-rf_", disposition)
        self.assertNotIn('"EU"', disposition)
        self.assertNotIn(";" + " rm", disposition)
        members = core("model_artifact").verify_artifact(
            response.content, self.env["ai.model.version"]._get_signing_key()
        )
        self.assertIn("model.joblib", members)

    def test_action_download_points_to_route(self):
        action = self.version.action_download()
        self.assertEqual(action["type"], "ir.actions.act_url")
        self.assertEqual(action["url"], self.url)

    def _assert_not_found(self, response):
        self.assertEqual(response.status_code, 404)
        self.assertNotIn(b"PK\x03\x04", response.content)
        self.assertNotIn(b"Sales", response.content)

    def test_other_company_gets_404(self):
        self.authenticate("ai_foreign", "ai_foreign")
        self._assert_not_found(self.url_open(self.url))

    def test_user_without_group_gets_404(self):
        self.authenticate("ai_plain", "ai_plain")
        self._assert_not_found(self.url_open(self.url))

    def test_unknown_id_gets_404(self):
        self.authenticate("ai_reader", "ai_reader")
        missing = self.env["ai.model.version"].search([], order="id desc", limit=1).id + 1000
        self._assert_not_found(self.url_open(f"/ai_train_model/model/{missing}/download"))

    def test_anonymous_redirected_to_login(self):
        response = self.url_open(self.url, allow_redirects=False)
        self.assertIn(response.status_code, (302, 303))
        self.assertIn("/web/login", response.headers["Location"])

    def test_archived_version_for_analysts_and_managers_only(self):
        self.version._engine().write({"state": "archived"})
        self.authenticate("ai_reader", "ai_reader")
        self._assert_not_found(self.url_open(self.url))
        for login in ("ai_analyst", "ai_manager"):
            self.authenticate(login, login)
            response = self.url_open(self.url)
            self.assertEqual(response.status_code, 200, login)
            self.assertEqual(len(response.content), self.version.artifact_size)
        self.authenticate("ai_foreign", "ai_foreign")
        self._assert_not_found(self.url_open(self.url))

    def test_champion_and_challenger_stay_downloadable_to_readers(self):
        target = self.env["ai.forecast.target"].create(
            {"name": "Download target", "dataset_id": self.version.dataset_id.id, "target_col": "pageviews"}
        )
        self.version.target_id = target
        self.version.action_promote()
        self.authenticate("ai_reader", "ai_reader")
        self.assertEqual(self.url_open(self.url).status_code, 200)
