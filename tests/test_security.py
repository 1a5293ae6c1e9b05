import psycopg2

from odoo.exceptions import AccessError, ValidationError
from odoo.tests import TransactionCase, tagged
from odoo.tools import mute_logger

from .common import handmade_version, make_dataset, make_users


@tagged("post_install", "-at_install")
class TestSecurity(TransactionCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.company = cls.env.company
        cls.other_company = cls.env["res.company"].create({"name": "Other Co"})
        cls.users = make_users(cls.env, cls.company, cls.other_company)
        cls.dataset = make_dataset(cls.env)
        cls.job = cls.env["ai.training.job"].create({"dataset_id": cls.dataset.id, "candidates": "naive,snaive"})
        cls.version = handmade_version(cls.env, cls.job)

    def test_group_chain_and_admin(self):
        manager = self.env.ref("ai_train_model.group_ai_manager")
        analyst = self.env.ref("ai_train_model.group_ai_analyst")
        user = self.env.ref("ai_train_model.group_ai_user")
        self.assertIn(analyst, manager.implied_ids)
        self.assertIn(user, analyst.implied_ids)
        self.assertTrue(self.env.ref("base.user_admin").has_group("ai_train_model.group_ai_manager"))
        self.assertTrue(self.users.manager.has_group("ai_train_model.group_ai_user"))

    def test_user_reads_but_cannot_create_jobs(self):
        jobs = self.env["ai.training.job"].with_user(self.users.user)
        self.assertEqual(jobs.search([("id", "=", self.job.id)]), self.job)
        with self.assertRaises(AccessError):
            jobs.create({"dataset_id": self.dataset.id})

    def test_analyst_creates_and_queues_but_cannot_delete(self):
        job = self.env["ai.training.job"].with_user(self.users.analyst).create(
            {"dataset_id": self.dataset.id, "candidates": "naive"}
        )
        self.assertTrue(job.name.startswith("TRAIN/"))
        job.action_queue()
        self.assertEqual(job.state, "queued")
        with self.assertRaises(AccessError):
            job.unlink()

    def test_engine_fields_refused_over_write(self):
        job = self.job.with_user(self.users.analyst)
        for vals in (
            {"state": "done"},
            {"progress": 100.0},
            {"log": "forged"},
            {"model_version_id": self.version.id},
            {"error_message": False, "horizon": 7},
        ):
            with self.subTest(vals=vals), self.assertRaises(AccessError):
                job.write(vals)
        # Even the superuser goes through the engine to change them.
        with self.assertRaises(AccessError):
            self.job.write({"state": "done"})
        job.write({"horizon": 7})
        self.assertEqual(self.job.horizon, 7)

    def test_engine_fields_refused_at_create_and_through_defaults(self):
        jobs = self.env["ai.training.job"].with_user(self.users.analyst)
        with self.assertRaises(AccessError):
            jobs.create({"dataset_id": self.dataset.id, "state": "done"})
        job = jobs.with_context(default_state="done", default_progress=100.0).create({"dataset_id": self.dataset.id})
        self.assertEqual((job.state, job.progress), ("draft", 0.0))

    def test_versions_and_metrics_created_and_changed_by_engine_only(self):
        versions = self.env["ai.model.version"].with_user(self.users.manager)
        with self.assertRaises(AccessError):
            versions.create({"name": "forged", "version": 1, "company_id": self.company.id})
        with self.assertRaises(AccessError):
            self.version.with_user(self.users.manager).write({"artifact_sha256": "0" * 64})
        line = self.version.metric_ids[0]
        with self.assertRaises(AccessError):
            line.with_user(self.users.manager).write({"value": 0.0})
        with self.assertRaises(AccessError):
            self.env["ai.model.metric"].with_user(self.users.manager).create(
                {"version_id": self.version.id, "unique_id": "x", "model": "x", "bucket": "D+1", "metric": "mase"}
            )
        # Lifecycle and notes stay editable.
        self.version.with_user(self.users.analyst).action_set_staging()
        self.assertEqual(self.version.state, "staging")
        with self.assertRaises(AccessError):
            self.version.with_user(self.users.manager).write({"state": "production"})

    def test_other_company_sees_nothing(self):
        env = self.env(user=self.users.foreign)
        self.assertFalse(env["ai.model.version"].search([("id", "=", self.version.id)]))
        self.assertFalse(env["ai.model.metric"].search([("version_id", "=", self.version.id)]))
        self.assertFalse(env["ai.training.job"].search([("id", "=", self.job.id)]))
        self.assertFalse(env["ai.dataset"].search([("id", "=", self.dataset.id)]))
        with self.assertRaises(AccessError):
            self.version.with_user(self.users.foreign).read(["name"])

    def test_artifact_attachment_follows_version_access(self):
        domain = [("res_model", "=", "ai.model.version"), ("res_id", "=", self.version.id), ("res_field", "=", "artifact_file")]
        attachment = self.env["ir.attachment"].search(domain)
        self.assertEqual(len(attachment), 1)
        self.assertTrue(attachment.with_user(self.users.user).read(["datas"])[0]["datas"])
        for user in (self.users.foreign, self.users.plain):
            with self.subTest(user=user.login), self.assertRaises(AccessError):
                attachment.with_user(user).read(["datas"])

    def test_user_without_group_has_no_access(self):
        with self.assertRaises(AccessError):
            self.version.with_user(self.users.plain).read(["name"])
        with self.assertRaises(AccessError):
            self.env["ai.dataset"].with_user(self.users.plain).search([])

    def test_signing_key_is_stable_and_admin_only(self):
        key = self.env["ai.model.version"]._get_signing_key()
        self.assertEqual(len(key), 64)
        self.assertEqual(key, self.env["ai.model.version"].with_user(self.users.user)._get_signing_key())
        with self.assertRaises(AccessError):
            self.env["ir.config_parameter"].with_user(self.users.manager).get_param("ai_train_model.signing_key")

    def test_candidates_validated_against_core_models(self):
        with self.assertRaisesRegex(ValidationError, "Unknown candidate model\\(s\\): arima9"):
            self.env["ai.training.job"].create({"dataset_id": self.dataset.id, "candidates": "ets, arima9"})
        with self.assertRaises(ValidationError):
            self.env["ai.training.job"].create({"dataset_id": self.dataset.id, "candidates": " , "})

    @mute_logger("odoo.sql_db")
    def test_horizon_range(self):
        with self.assertRaises(psycopg2.IntegrityError), self.env.cr.savepoint():
            self.env["ai.training.job"].create({"dataset_id": self.dataset.id, "horizon": 91})
