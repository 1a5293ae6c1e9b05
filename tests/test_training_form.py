"""Training from a dataset: the Train button, columns picked from the schema,
checks before Queue, frequency and known-future columns, series flags, the
job form's company, logs in the requester's language, S3 registration."""

import base64
import json

from odoo.exceptions import AccessError, UserError
from odoo.tests import Form, TransactionCase, tagged
from odoo.tests.common import new_test_user

from ..project.training import TrainConfig
from .common import handmade_version, make_dataset, sample_frame


@tagged("post_install", "-at_install")
class TestTrainFromDataset(TransactionCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        frame = sample_frame(n_series=2, days=120)
        frame["promo"] = (frame.index % 7 == 0).astype(int)
        cls.dataset = make_dataset(cls.env, frame)
        cls.Job = cls.env["ai.training.job"]

    def _job(self, **values):
        return self.Job.create({"dataset_id": self.dataset.id, "horizon": 7, "cv_windows": 2, **values})

    def _column(self, name):
        return self.dataset.column_ids.filtered(lambda column: column.name == name)

    def test_dataset_columns_with_kinds(self):
        kinds = {column.name: column.kind for column in self.dataset.column_ids}
        self.assertEqual(kinds, {"page": "text", "date": "date", "pageviews": "numeric", "promo": "numeric"})
        self.assertEqual(self._column("page").display_name, "page (Text)")

    def test_train_button_opens_a_prefilled_job_form(self):
        action = self.dataset.action_train()
        self.assertEqual(action["res_model"], "ai.training.job")
        form = Form(self.Job.with_context(**action["context"]))
        self.assertEqual(form.dataset_id, self.dataset)
        self.assertEqual(form.date_column_id, self._column("date"))
        self.assertEqual(form.target_column_id, self._column("pageviews"))
        self.assertEqual(form.series_column_ids[:], self._column("page"))
        self.assertEqual(form.freq, "auto")
        form.regressor_column_ids.add(self._column("promo"))
        form.horizon = 7
        job = form.save()
        self.assertEqual((job.date_col, job.target_col, job.series_cols, job.regressor_cols), ("date", "pageviews", "page", "promo"))
        self.assertEqual(sorted(job.candidate_ids.mapped("code")), sorted(job._candidate_list()))

    def test_pickers_write_the_column_names(self):
        job = self._job()
        job.write({"series_column_ids": [(5, 0, 0)], "candidate_ids": [(6, 0, self.env["ai.training.candidate"].search([("code", "in", ("naive", "snaive"))]).ids)]})
        self.assertFalse(job.series_cols)
        self.assertEqual(sorted(job._candidate_list()), ["naive", "snaive"])

    def test_train_button_refuses_empty_dataset(self):
        empty = self.env["ai.dataset"].create({"name": "Empty"})
        with self.assertRaisesRegex(UserError, "no data"):
            empty.action_train()

    def _assert_refused(self, pattern, **values):
        job = self._job(**values)
        with self.assertRaisesRegex(UserError, pattern):
            job.action_queue()
        self.assertEqual(job.state, "draft", "nothing is queued")

    def test_unknown_column_refused_before_queue(self):
        self._assert_refused(r"target column 'sales' is not in the data(.|\n)*Data columns: page, date", target_col="sales")

    def test_non_numeric_target_refused_before_queue(self):
        self._assert_refused(r"target column 'page' must hold numbers; it holds text", target_col="page", series_cols="")

    def test_date_column_must_hold_dates(self):
        self._assert_refused(r"date column 'pageviews' holds number values, not dates", date_col="pageviews", target_col="promo")

    def test_same_column_twice_refused(self):
        self._assert_refused(r"column 'pageviews' is used twice \(as target and as known-future\)", regressor_cols="pageviews")

    def test_freq_and_regressors_reach_the_train_config(self):
        job = self._job(freq="W", regressor_cols="promo")
        options = job._train_config_options()
        self.assertEqual(options, {"freq": "W", "regressors": ("promo",)})
        config = TrainConfig(horizon=7, **options).validate()
        self.assertEqual((config.freq, config.regressors), ("W", ("promo",)))
        self.assertEqual(self._job()._train_config_options(), {}, "automatic frequency: inferred by the core")

    def test_uploaded_file_header_becomes_columns(self):
        frame = sample_frame(n_series=1, days=60)
        job = self.Job.create(
            {
                "input_type": "file",
                "input_file": base64.b64encode(frame.to_csv(index=False).encode()),
                "input_filename": "sales.csv",
                "date_col": "date",
                "target_col": "pageviews",
                "series_cols": "page",
            }
        )
        kinds = {column.name: column.kind for column in job.file_column_ids}
        self.assertEqual(kinds, {"page": "text", "date": "date", "pageviews": "numeric"})
        self.assertEqual(job.available_column_ids, job.file_column_ids)
        self.assertEqual(job.target_column_id.name, "pageviews")
        job.write({"target_column_id": job.file_column_ids.filtered(lambda c: c.name == "page").id})
        self.assertEqual(job.target_col, "page")
        with self.assertRaisesRegex(UserError, "must hold numbers"):
            job.action_queue()

    def test_company_cannot_change_on_a_saved_job(self):
        other = self.env["res.company"].create({"name": "Other Shop"})
        job = self._job()
        with self.assertRaisesRegex(AccessError, "cannot be changed after"):
            job.write({"company_id": other.id})
        arch = self.env["ir.ui.view"].browse(
            self.Job.get_views([(False, "form")])["views"]["form"]["id"]
        ).arch_db
        self.assertIn('name="company_id" groups="base.group_multi_company" readonly="id"', arch)
        self.assertEqual(job.company_id, self.env.company)


@tagged("post_install", "-at_install")
class TestSeriesFlags(TransactionCase):
    def test_stale_and_demand_flags_on_version_and_dataset(self):
        dataset = make_dataset(self.env, sample_frame(n_series=1, days=60))
        job = self.env["ai.training.job"].create({"dataset_id": dataset.id})
        version = handmade_version(self.env, job)
        self.assertEqual(version.stale_series_count, 0)
        self.assertFalse(self.env["ai.dataset"].search([("id", "=", dataset.id), ("stale_series_count", ">", 0)]))
        metadata = {
            "stale_series": ["series 1"],
            "demand": {"series 0": "smooth", "series 1": "lumpy", "series 2": "intermittent"},
            "closed_weekdays": {"series 2": [6]},
            "random_walk_series": ["series 3"],
            "yearly_series": ["series 4"],
        }
        version._engine().write({"metadata_json": json.dumps(metadata), "dataset_id": dataset.id})
        self.assertEqual(version.stale_series_count, 1)
        html = str(version.series_flags_html)
        self.assertIn("series 1", html)
        self.assertIn("Lumpy", html)
        self.assertIn("Sun", html)
        self.assertIn("series 3", html, "a random-walk series is listed")
        self.assertIn("Random Walk", html)
        self.assertIn("series 4", html, "a series with a yearly shape is listed")
        self.assertIn("Yearly Shape", html)
        self.assertNotIn("series 0", html, "a series without a flag is not listed")
        self.assertEqual(self.env["ai.model.version"].search([("stale_series_count", ">", 0), ("id", "=", version.id)]), version)
        self.assertEqual(dataset.stale_series_count, 1)
        self.assertIn("series 1", str(dataset.series_flags_html))
        self.assertEqual(self.env["ai.dataset"].search([("stale_series_count", ">", 0)]), dataset)
        self.assertNotIn(dataset, self.env["ai.dataset"].search([("stale_series_count", "=", 0)]))


@tagged("post_install", "-at_install")
class TestJobLanguage(TransactionCase):
    def test_log_lines_in_the_language_of_the_requester(self):
        self.env["res.lang"]._activate_lang("es_ES")
        analyst = new_test_user(
            self.env, "ai_analyst_es", groups="base.group_user,ai_train_model.group_ai_analyst", lang="es_ES"
        )
        dataset = make_dataset(self.env, sample_frame(n_series=1, days=90))
        job = (
            self.env["ai.training.job"]
            .with_user(analyst)
            .create({"dataset_id": dataset.id, "horizon": 7, "cv_windows": 1, "candidates": "naive,snaive"})
        )
        job.action_queue()
        self.assertEqual(job._job_lang(), "es_ES")
        # the cron runs as OdooBot, in English
        self.env["ai.training.job"].with_user(self.env.ref("base.user_root")).with_context(lang="en_US")._job_cron_run()
        job = job.sudo()
        self.assertEqual(job.state, "done", job.error_message)
        self.assertIn("Hecho: 1 series", job.log)
        self.assertNotIn("Done: 1 series", job.log)


@tagged("post_install", "-at_install")
class TestRegisterWithoutS3(TransactionCase):
    def test_register_hidden_and_explained_without_bucket(self):
        params = self.env["ir.config_parameter"].sudo()
        params.set_param("ai_train_model.s3_bucket", "")
        dataset = make_dataset(self.env, sample_frame(n_series=1, days=30))
        self.assertFalse(dataset.s3_configured)
        with self.assertRaisesRegex(UserError, "No S3 bucket is configured(.|\n)*Settings"):
            dataset.action_register_s3()
        params.set_param("ai_train_model.s3_bucket", "my-datasets")
        dataset.invalidate_recordset(["s3_configured"])
        self.assertTrue(dataset.s3_configured)
        action = dataset.action_register_s3()
        self.assertEqual(action["res_model"], "ai.dataset.register.wizard")


@tagged("post_install", "-at_install")
class TestMetricRatios(TransactionCase):
    def test_ratio_to_seasonal_naive_per_version_and_bucket(self):
        dataset = make_dataset(self.env, sample_frame(n_series=1, days=60))
        job = self.env["ai.training.job"].create({"dataset_id": dataset.id})
        first = handmade_version(self.env, job, n_series=2)
        second = handmade_version(self.env, job, n_series=1)
        Metric = self.env["ai.model.metric"]
        naive = Metric.search([("version_id", "=", first.id), ("model", "=", "naive")])
        self.assertEqual(len(naive), 6)
        for line in naive:
            self.assertAlmostEqual(line.ratio_snaive, 1.2 / 0.9, places=6)
        snaive = Metric.search([("version_id", "=", first.id), ("model", "=", "snaive")])
        self.assertEqual(set(snaive.mapped("ratio_snaive")), {1.0})
        # grouped by version and bucket: one mean per version, never across versions
        groups = Metric.read_group(
            [("version_id", "in", (first | second).ids), ("model", "=", "naive")],
            ["ratio_snaive:avg"],
            ["version_id", "bucket"],
            lazy=False,
        )
        self.assertEqual(len(groups), 6)
        for group in groups:
            self.assertAlmostEqual(group["ratio_snaive"], 1.2 / 0.9, places=6)
