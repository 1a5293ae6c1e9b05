"""Rough edges met on the way from a CSV to a forecast (issue 8, section 8)."""

import base64
import json
from datetime import timedelta

from odoo import fields
from odoo.exceptions import UserError
from odoo.tests import TransactionCase, tagged

from ..project.tests import ga4_fake
from .common import SAMPLE_CSV, make_dataset, make_users, sample_frame
from .test_forecast_chart import chart_version


@tagged("post_install", "-at_install")
class TestSampleImport(TransactionCase):
    """The project's own sample imports with the default template, no manual step."""

    def _wizard(self, **values):
        with open(SAMPLE_CSV, "rb") as handle:
            data = handle.read()
        wizard = self.env["ai.dataset.import.wizard"].create(
            {"file": base64.b64encode(data), "filename": "wikipedia_pageviews_daily.csv", **values}
        )
        self.assertEqual(wizard.template, "sales", "the default template")
        action = wizard.action_load()
        self.assertEqual(action["name"], "Import Data", "the dialog keeps its title")
        return wizard

    def test_sample_maps_page_and_pageviews_and_knows_its_target(self):
        wizard = self._wizard()
        self.assertEqual(wizard.template, "ga4")
        mapping = {line.field_name: line.column_id.name for line in wizard.mapping_ids if line.column_id}
        self.assertEqual(mapping, {"date": "date", "page": "page", "pageviews": "pageviews"})
        self.assertEqual(wizard.target_line_id.field_name, "pageviews")
        self.assertIn("GA4", wizard.file_info)
        self.assertEqual(wizard.action_validate()["name"], "Import Data")
        self.assertTrue(wizard.accepted, wizard.rejection_reason)
        wizard.retrain_now = True
        wizard.action_import()
        dataset = wizard.dataset_id
        self.assertEqual((dataset.target_col, dataset.series_cols, dataset.date_col), ("pageviews", "page", "date"))
        self.assertEqual(dataset.series_count, 9)
        self.assertEqual(wizard.training_job_id.state, "queued")
        self.assertEqual(wizard.training_job_id.target_col, "pageviews")

    def test_wizard_asks_for_the_target_before_validate(self):
        wizard = self._wizard(name="No target")
        wizard.target_line_id = False
        with self.assertRaisesRegex(UserError, "Choose the Target"):
            wizard.action_validate()
        self.assertFalse(self.env["ai.dataset"].search([("name", "=", "No target")]))

    def test_missing_metric_group_is_named_by_the_wizard(self):
        wizard = self._wizard()
        wizard.mapping_ids.filtered(lambda line: line.field_name == "pageviews").column_id = False
        with self.assertRaisesRegex(UserError, "at least one of these fields") as caught:
            wizard.action_validate()
        self.assertIn("sessions", str(caught.exception))
        self.assertNotIn("--mapping", str(caught.exception))


@tagged("post_install", "-at_install")
class TestReadableForms(TransactionCase):
    """Tables instead of raw JSON, and the retraining flag where users look."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        import pandas as pd

        frame = sample_frame(n_series=2, days=60)
        frame["date"] = pd.to_datetime(frame["date"]).dt.date  # as imports store it (date32)
        cls.dataset = make_dataset(cls.env, frame)
        cls.dataset._engine().write({"summary_json": cls.dataset._compute_summary()})
        cls.version, cls.pages = chart_version(cls.env, cls.dataset)

    def test_schema_and_summary_are_tables(self):
        schema = str(self.dataset.schema_html)
        self.assertIn("<table", schema)
        for name in ("page", "date", "pageviews"):
            self.assertIn(f"<td>{name}</td>", schema)
        summary = str(self.dataset.summary_html)
        self.assertIn("<table", summary)
        self.assertIn("Checks", summary)
        self.assertIn(self.pages[0], summary)
        self.assertNotIn('{"', summary)

    def test_table_cells_are_escaped(self):
        self.dataset._engine().write({"schema_json": json.dumps([{"name": "<script>x</script>", "type": "string"}])})
        self.assertNotIn("<script>", str(self.dataset.schema_html))
        self.assertIn("&lt;script&gt;", str(self.dataset.schema_html))

    def test_chosen_models_per_series_table(self):
        html = str(self.version.chosen_models_html)
        self.assertEqual(html.count("<tr>"), 1 + len(self.pages))
        self.assertIn("MASE D+1", html)
        self.assertIn("<td>snaive</td>", html)

    def test_needs_retraining_on_form_list_and_filter(self):
        views = self.env["ai.model.version"]
        for view_type in ("form", "tree", "search"):
            arch = views.get_view(view_type=view_type)["arch"]
            self.assertIn("needs_retraining", arch, view_type)
        self.dataset.action_archive_dataset()
        self.assertTrue(self.version.needs_retraining)
        self.assertIn(self.version, views.search([("needs_retraining", "=", True)]))

    def test_smart_buttons_between_dataset_and_versions(self):
        self.assertEqual(self.dataset.model_version_count, 1)
        action = self.dataset.action_view_model_versions()
        self.assertEqual(self.env["ai.model.version"].search(action["domain"]), self.version)
        self.assertEqual(self.version.action_view_dataset()["res_id"], self.dataset.id)
        self.assertEqual(self.dataset.ga4_run_count, 0)

    def test_bucket_labels_are_distinct(self):
        metric_label = self.env["ai.model.metric"]._fields["bucket"].string
        self.assertEqual(metric_label, "Horizon Bucket")
        self.assertNotEqual(metric_label, self.env["res.config.settings"]._fields["ai_s3_bucket"].string)


@tagged("post_install", "-at_install")
class TestRefusedGa4Key(TransactionCase):
    """A key Google refuses (401) fails the run at once, without Viewer advice."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        fake_module = ga4_fake
        known = fake_module.make_service_account()
        cls.fake = fake_module.FakeGA4([known]).start()
        cls.addClassCleanup(cls.fake.stop)
        cls.users = make_users(cls.env, cls.env.company, cls.env["res.company"].create({"name": "GA4 Other"}))
        stranger = fake_module.make_service_account("stranger@demo-project.iam.gserviceaccount.com", key_size=1024)
        cls.credential = cls.env["ai.ga4.credential"].create(
            {"name": "Refused", "key_json": json.dumps(stranger), "property_ids": "123456", "api_endpoint": cls.fake.url}
        )

    def test_run_fails_without_retry_and_without_viewer_advice(self):
        download = self.env["ai.ga4.download"].create(
            {
                "name": "Refused key",
                "credential_id": self.credential.id,
                "property_id": "123456",
                "dimensions": "date,country",
                "metrics": "sessions",
                "start_mode": "date",
                "start_date": fields.Date.today() - timedelta(days=5),
                "next_run": fields.Datetime.now() + timedelta(days=30),
            }
        )
        download.action_run_now()
        download._cron_run_downloads()
        self.env.invalidate_all()
        run = download.run_ids
        self.assertEqual((run.state, run.attempts), ("failed", 1))
        self.assertIn("refused", run.error_message)
        self.assertNotIn("Viewer", run.error_message)
        self.assertNotIn("?", run.error_message)

    def test_check_access_says_the_key_was_refused(self):
        credential = self.credential.with_user(self.users.manager)
        credential.action_check_access()
        self.assertEqual(credential.check_state, "error")
        self.assertIn("refused the key", credential.check_message)
        self.assertNotIn("Viewer", credential.check_message)
        self.assertNotIn("..", credential.check_message)
