import io
import zipfile

from odoo.tests import HttpCase, tagged

from .common import handmade_version, make_dataset, make_users, sample_frame


@tagged("post_install", "-at_install")
class TestFullTour(HttpCase):
    """The whole path in a browser, as an analyst: import a CSV through the
    wizard, Train from the dataset, queue (tour 1); the cron trains; open the
    version, see its chart with bands, promote it (tour 2); download the zip."""

    browser_size = "1366,900"

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.users = make_users(cls.env, cls.env.company, cls.env["res.company"].create({"name": "Tour Other"}))
        # A target with a champion already: the trained version joins it as challenger.
        old_data = make_dataset(cls.env, sample_frame(n_series=1, days=60), name="Old Sales")
        cls.target = cls.env["ai.forecast.target"].create(
            {"name": "Tour Target", "target_col": "pageviews", "series_cols": "page", "dataset_id": old_data.id}
        )
        old_job = cls.env["ai.training.job"].create({"dataset_id": old_data.id})
        cls.old = handmade_version(cls.env, old_job, name="Old Sales")
        cls.old._join_target(cls.target)

    def test_import_train_promote_download(self):
        self.start_tour(
            "/web#action=ai_train_model.ai_dataset_import_wizard_action",
            "ai_train_model_import_and_train",
            login="ai_analyst",
        )
        job = self.env["ai.training.job"].search([("dataset_id.name", "=", "Tour Sales")])
        self.assertEqual(len(job), 1)
        self.assertEqual((job.state, job.date_col, job.target_col, job.series_cols), ("queued", "date", "pageviews", "page"))
        self.assertEqual((job.target_id, job.horizon, job.create_uid), (self.target, 14, self.users.analyst))
        self.env["ai.training.job"]._job_cron_run()
        self.assertEqual(job.state, "done", job.error_message or job.log)
        version = job.model_version_id
        self.assertEqual((version.state, version.alias), ("staging", "challenger"))

        url = f"/web#model=ai.model.version&id={version.id}&view_type=form"
        self.start_tour(url, "ai_train_model_promote", login="ai_analyst")
        self.env.invalidate_all()
        self.assertEqual(self.target.champion_id, version)
        self.assertEqual(version.state, "production")
        history = self.env["ai.model.alias.history"].search(
            [("version_id", "=", version.id), ("alias", "=", "champion"), ("date_to", "=", False)]
        )
        self.assertEqual(history.reason, "Backtest beats seasonal naive")
        # the replaced version stays findable under the default filter
        self.assertEqual(self.old.state, "staging")
        self.assertIn(self.old, self.env["ai.model.version"].search([("state", "!=", "archived")]))

        self.authenticate("ai_analyst", "ai_analyst")
        response = self.url_open(f"/ai_train_model/model/{version.id}/download")
        self.assertEqual(response.status_code, 200)
        with zipfile.ZipFile(io.BytesIO(response.content)) as archive:
            names = archive.namelist()
        self.assertIn("SIGNATURE", names)
        self.assertIn("metadata.json", names)
