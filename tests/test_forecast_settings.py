"""The AI Forecasting settings page of AI Managers (issue 8): reachable and
savable by a Manager who is not a system administrator, refused to
Analysts, validated, and write-only for the S3 keys."""

from unittest.mock import patch

from odoo.exceptions import AccessError, ValidationError
from odoo.tests import HttpCase, tagged
from odoo.tools import config

from ..models.ai_secret import CONFIG_KEY, PREFIX, S3_SECRET_PARAM
from .common import make_dataset, make_users

SECRET = "s3-secret-SETTINGS-0123456789"
KEY_ID = "AKIA-SETTINGS-KEY-ID"


@tagged("post_install", "-at_install")
class TestForecastSettings(HttpCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.startClassPatcher(patch.dict(config.options, {CONFIG_KEY: "settings test key"}))
        cls.users = make_users(cls.env, cls.env.company, cls.env["res.company"].create({"name": "Settings Co B"}))
        cls.params = cls.env["ir.config_parameter"].sudo()

    def _settings(self, user, **values):
        return self.env["ai.forecast.settings"].with_user(user).create(values)

    def test_manager_who_is_not_admin_opens_and_saves(self):
        manager = self.users.manager
        self.assertFalse(manager.has_group("base.group_system"))
        # Odoo's own settings page refuses them: the reason for this page.
        with self.assertRaises(AccessError):
            self.env["res.config.settings"].with_user(manager).create({}).execute()
        defaults = self.env["ai.forecast.settings"].with_user(manager).default_get(["default_horizon", "n_jobs"])
        self.assertEqual(defaults, {"default_horizon": 28, "n_jobs": 1})
        settings = self._settings(
            manager,
            default_horizon=14,
            default_candidates="naive, snaive",
            n_jobs=4,
            dask_address="tcp://10.0.0.5:8786",
            prediction_retention_days=30,
            drift_psi_max=0.0,
            s3_bucket="my-datasets",
            api_rate_limit=30,
        )
        settings.execute()
        get = self.params.get_param
        self.assertEqual(
            [get(f"ai_train_model.{key}") for key in ("default_horizon", "n_jobs", "dask_address", "prediction_retention_days")],
            ["14", "4", "tcp://10.0.0.5:8786", "30"],
        )
        self.assertEqual(float(get("ai_train_model.drift_psi_max")), 0.0, "0 is stored: it disables the test")
        self.assertEqual(get("ai_train_model.api_rate_limit"), "30")
        # The engine reads them: a new training job takes the defaults.
        job = self.env["ai.training.job"].create({"dataset_id": make_dataset(self.env).id})
        self.assertEqual((job.horizon, job.candidates), (14, "naive, snaive"))
        # Reopened, the page shows what was saved.
        again = self.env["ai.forecast.settings"].with_user(manager).default_get(["default_horizon", "s3_bucket"])
        self.assertEqual(again, {"default_horizon": 14, "s3_bucket": "my-datasets"})

    def test_menu_reachable_by_managers_only(self):
        menu = self.env.ref("ai_train_model.ai_settings_menu")
        for user, visible in ((self.users.manager, True), (self.users.analyst, False), (self.users.user, False)):
            menus = self.env["ir.ui.menu"].with_user(user)._visible_menu_ids()
            self.assertEqual(menu.id in menus, visible, user.login)
        self.assertEqual(menu.action, self.env.ref("ai_train_model.ai_forecast_settings_action"))

    def test_analyst_cannot_open_or_save(self):
        with self.assertRaises(AccessError):
            self.env["ai.forecast.settings"].with_user(self.users.analyst).default_get(["default_horizon"])
        with self.assertRaises(AccessError):
            self._settings(self.users.analyst, default_horizon=7)
        with self.assertRaises(AccessError):
            self._settings(self.users.manager).with_user(self.users.analyst).execute()

    def test_keys_are_write_only(self):
        manager = self.users.manager
        settings = self._settings(manager, s3_access_key_id=KEY_ID, s3_secret_access_key=SECRET)
        self.assertEqual(settings.read(["s3_secret_access_key", "s3_access_key_id"])[0]["s3_secret_access_key"], False)
        settings.execute()
        stored = self.params.get_param(S3_SECRET_PARAM)
        self.assertTrue(stored.startswith(PREFIX), "stored encrypted")
        self.assertNotIn(SECRET, stored)
        self.assertEqual(self.params.get_param("ai_train_model.s3_access_key_id"), KEY_ID)
        # Never read back: not from the saved record, not on reopening; only "set".
        self.assertFalse(settings.sudo().s3_secret_access_key)
        fields_ = ["s3_secret_access_key", "s3_access_key_id", "s3_secret_set", "s3_access_key_id_set"]
        reopened = self.env["ai.forecast.settings"].with_user(manager).default_get(fields_)
        self.assertEqual(reopened, {"s3_secret_set": True, "s3_access_key_id_set": True})
        page = self._settings(manager)
        self.assertEqual(page.read(fields_)[0]["s3_access_key_id"], False)
        # Saving without typing keeps the keys; "forget" removes them.
        page.execute()
        self.assertEqual(self.params.get_param(S3_SECRET_PARAM), stored)
        self._settings(manager, s3_forget_keys=True).execute()
        self.assertFalse(self.params.get_param(S3_SECRET_PARAM))
        self.assertFalse(self.params.get_param("ai_train_model.s3_access_key_id"))

    def test_bad_values_refused_with_clear_messages(self):
        cases = {
            "default_horizon": (0, "between 1 and 90"),
            "n_jobs": (0, "Parallel Workers"),
            "default_cv_windows": (50, "between 1 and 20"),
            "default_candidates": ("naive, arima9", "arima9"),
            "dask_address": ("not an address", "host:port"),
            "s3_endpoint_url": ("s3.example.com", "http(s) URL"),
            "s3_bucket": ("My_Bucket", "S3 Bucket"),
            "drift_ks_pvalue_min": (2.0, "between 0 and 1"),
            "anomaly_score_max": (0.0, "above 0"),
            "interval_levels": ("80", "including 80 and 95"),
        }
        for name, (value, expected) in cases.items():
            with self.subTest(name), self.assertRaises(ValidationError) as caught:
                self._settings(self.users.manager, **{name: value}).execute()
            self.assertIn(expected, str(caught.exception))
        self.assertFalse(self.params.get_param("ai_train_model.n_jobs"), "nothing stored")

    def test_interval_levels_reach_the_model(self):
        for text in ("80,95,120", "eighty,95", ""):
            with self.subTest(text), self.assertRaises(ValidationError):
                self._settings(self.users.manager, interval_levels=text).execute()
        self._settings(self.users.manager, interval_levels="95, 50,80").execute()
        self.assertEqual(self.env["ai.forecast.settings"]._get_levels(), (50, 80, 95))
        job = self.env["ai.training.job"].create(
            {"dataset_id": make_dataset(self.env).id, "horizon": 7, "cv_windows": 2, "candidates": "naive,snaive"}
        )
        job.action_queue()
        job._job_cron_run()
        self.assertEqual(job.state, "done", job.error_message or job.log)
        header = job.model_version_id.verify_artifact()["forecast.csv"].decode().splitlines()[0].split(",")
        for column in ("yhat_lower", "yhat_upper", "yhat_lower_50", "yhat_upper_50", "yhat_lower_95", "yhat_upper_95"):
            self.assertIn(column, header)

    def test_admin_settings_page_validates_the_same_way(self):
        with self.assertRaises(ValidationError):
            self.env["res.config.settings"].create({"ai_prediction_retention_days": 0}).execute()

    def test_manager_schedules_the_addon_crons_only(self):
        manager = self.users.manager
        cron = self.env.ref("ai_train_model.ir_cron_ai_training_job_run")
        defaults = self.env["ai.forecast.settings"].with_user(manager).default_get(["cron_line_ids"])
        refs = [command[2]["cron_ref"] for command in defaults["cron_line_ids"]]
        self.assertIn(cron.id, refs)
        self.assertNotIn(self.env.ref("base.autovacuum_job").id, refs, "only the addon's crons")
        lines = [
            (0, 0, {**values, "enabled": False, "interval_number": 7, "interval_type": "hours"})
            if values["cron_ref"] == cron.id
            else (0, 0, values)
            for _op, _id, values in defaults["cron_line_ids"]
        ]
        self._settings(manager, cron_line_ids=lines).execute()
        self.assertEqual((cron.active, cron.interval_number, cron.interval_type), (False, 7, "hours"))
        # A line naming another cron (forged over RPC) is refused.
        autovacuum = self.env.ref("base.autovacuum_job")
        forged = [(0, 0, {"cron_ref": autovacuum.id, "name": "x", "enabled": False, "interval_number": 1, "interval_type": "days"})]
        with self.assertRaises(AccessError):
            self._settings(manager, cron_line_ids=forged).execute()
        self.assertTrue(autovacuum.active)
        # Analysts reach no cron: not the page, not ir.cron itself.
        with self.assertRaises(AccessError):
            self.env["ir.cron"].with_user(self.users.analyst).browse(cron.id).write({"active": True})
