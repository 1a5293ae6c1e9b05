import base64
import csv
import io
import json
from datetime import timedelta

import pandas as pd

from odoo import fields
from odoo.exceptions import AccessError, UserError
from odoo.tests import HttpCase, TransactionCase, tagged

from .common import handmade_version, make_users

SECRET = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"


def sales_dataset(env, name, values, start="2024-01-01", store="A"):
    frame = pd.DataFrame(
        {
            "date": pd.date_range(start, periods=len(values), freq="D"),
            "sales": [float(v) for v in values],
            "store": store,
        }
    )
    dataset = env["ai.dataset"].create(
        {"name": name, "template": "sales", "date_col": "date", "target_col": "sales", "series_cols": "store"}
    )
    dataset._store_dataframe(frame)
    return dataset


@tagged("post_install", "-at_install")
class TestDatasetLifecycle(TransactionCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.other_company = cls.env["res.company"].create({"name": "Other Bakery"})
        cls.users = make_users(cls.env, cls.env.company, cls.other_company)

    def test_merge_creates_a_version_with_both_parents_and_a_conflict_report(self):
        first = sales_dataset(self.env, "Sales", [1, 2, 3])
        second = sales_dataset(self.env, "Sales", [30, 4, 5], start="2024-01-03")
        wizard = (
            self.env["ai.dataset.merge.wizard"]
            .with_context(active_model="ai.dataset", active_ids=(first | second).ids)
            .create({"on_conflict": "keep-last"})
        )
        self.assertEqual((wizard.name, wizard.dataset_ids), ("Sales", first | second))
        wizard.action_merge()
        merged = wizard.dataset_id
        self.assertEqual((merged.source, merged.version, merged.parent_ids), ("merge", 3, first | second))
        self.assertEqual(merged.row_count, 5)
        self.assertEqual(merged._read_dataframe()["sales"].tolist(), [1.0, 2.0, 30.0, 4.0, 5.0])
        self.assertEqual(wizard.conflict_count, 1)
        report = list(csv.DictReader(io.StringIO(base64.b64decode(wizard.conflicts_file).decode("utf-8-sig"))))
        self.assertEqual(len(report), 2)
        self.assertEqual({r["kept"] for r in report}, {"True", "False"})
        self.assertIn('"source": "merge"', merged.metadata_json)
        self.assertEqual(first.child_ids, merged)

    def test_merge_fail_policy_creates_nothing(self):
        first = sales_dataset(self.env, "Sales", [1, 2, 3])
        second = sales_dataset(self.env, "Sales", [30], start="2024-01-03")
        wizard = self.env["ai.dataset.merge.wizard"].create(
            {"name": "Sales", "dataset_ids": [(6, 0, (first | second).ids)], "on_conflict": "fail"}
        )
        count = self.env["ai.dataset"].search_count([])
        with self.assertRaisesRegex(UserError, "conflicting key"):
            wizard.action_merge()
        self.assertEqual(self.env["ai.dataset"].search_count([]), count)
        with self.assertRaisesRegex(UserError, "at least two"):
            self.env["ai.dataset.merge.wizard"].create({"name": "x", "dataset_ids": [(6, 0, first.ids)]}).action_merge()

    def test_archive_keeps_data_and_flags_model_versions(self):
        dataset = sales_dataset(self.env, "Sales", range(1, 40))
        job = self.env["ai.training.job"].create({"dataset_id": dataset.id, "candidates": "naive"})
        version = handmade_version(self.env, job)
        self.assertEqual(version.dataset_id, dataset)
        self.assertFalse(version.needs_retraining)
        checksum = dataset.checksum
        with self.assertRaises(AccessError):
            dataset.with_user(self.users.analyst).action_archive()
        dataset.with_user(self.users.manager).action_archive()
        self.assertEqual(dataset.state, "archived")
        self.assertEqual((dataset.checksum, dataset.archived_by_id), (checksum, self.users.manager))
        self.assertEqual(len(dataset._read_dataframe()), 39, "the data stays for audit")
        self.assertTrue(dataset.exists())
        self.assertTrue(version.needs_retraining)
        self.assertEqual(version.dataset_id, dataset, "lineage kept")
        with self.assertRaises(AccessError):
            version.write({"needs_retraining": False})

    def test_excel_report_has_the_expected_sheets(self):
        from openpyxl import load_workbook

        dataset = sales_dataset(self.env, "Sales report", [1, 2, 3, 4])
        book = load_workbook(io.BytesIO(dataset._excel_report_bytes()), read_only=True)
        # The user reads English: sheet names and headers in English alike.
        self.assertEqual(book.sheetnames, ["Summary", "Data", "Columns", "Series", "Checks", "Lineage"])
        summary = {row[0]: row[1] for row in book["Summary"].iter_rows(values_only=True)}
        self.assertEqual((summary["name"], summary["rows"]), ("Sales_report", 4))
        self.assertEqual(next(book["Checks"].iter_rows(values_only=True))[:2], ("check", "status"))
        self.env["res.lang"]._activate_lang("es_ES")
        spanish = load_workbook(
            io.BytesIO(dataset.with_context(lang="es_ES")._excel_report_bytes()), read_only=True
        )
        self.assertEqual(spanish.sheetnames[0], "Resumen")
        self.assertEqual(next(spanish["Consistencia"].iter_rows(values_only=True))[:2], ("verificación", "estado"))
        resumen = {row[0]: row[1] for row in spanish["Resumen"].iter_rows(values_only=True)}
        self.assertEqual((resumen["nombre"], resumen["filas"]), ("Sales_report", 4))
        action = dataset.action_download_report()
        self.assertEqual(action["url"], f"/ai_train_model/dataset/{dataset.id}/report.xlsx")

    def test_secret_key_unreadable_by_analyst(self):
        self.env["ir.config_parameter"].sudo().set_param("ai_train_model.s3_secret_access_key", SECRET)
        with self.assertRaises(AccessError):
            self.env["res.config.settings"].with_user(self.users.analyst).create({})
        with self.assertRaises(AccessError):
            self.env["ir.config_parameter"].with_user(self.users.analyst).get_param("ai_train_model.s3_secret_access_key")
        settings = self.env["res.config.settings"].create({})
        with self.assertRaises(AccessError):
            settings.with_user(self.users.analyst).read(["ai_s3_secret_access_key"])
        # even a manager never gets the stored secret back (write-only field)
        self.assertFalse(settings.ai_s3_secret_access_key)
        self.assertTrue(settings.ai_s3_secret_set)
        self.assertNotIn(SECRET, str(settings.read()))

    def test_settings_store_the_secret(self):
        settings = self.env["res.config.settings"].create(
            {"ai_s3_bucket": "bucket-x", "ai_s3_access_key_id": "AKIDEXAMPLE", "ai_s3_secret_access_key": "s3cr3t-value"}
        )
        settings.execute()
        params = self.env["ir.config_parameter"].sudo()
        self.assertEqual(params.get_param("ai_train_model.s3_secret_access_key"), "s3cr3t-value")
        self.assertEqual(params.get_param("ai_train_model.s3_bucket"), "bucket-x")
        # saving the settings again without typing a key keeps the stored one
        self.env["res.config.settings"].create({"ai_s3_bucket": "bucket-y"}).execute()
        self.assertEqual(params.get_param("ai_train_model.s3_secret_access_key"), "s3cr3t-value")


@tagged("post_install", "-at_install")
class TestDatasetRegistration(TransactionCase):
    """Register to S3 through the wizard and the cron, against moto's S3 server on loopback."""

    @classmethod
    def setUpClass(cls):
        import boto3
        from moto.server import ThreadedMotoServer

        super().setUpClass()
        cls.server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
        cls.server.start()
        cls.addClassCleanup(cls.server.stop)
        host, port = cls.server.get_host_and_port()
        cls.endpoint = f"http://{host}:{port}"
        cls.s3 = boto3.client(
            "s3", endpoint_url=cls.endpoint, region_name="us-east-1", aws_access_key_id="AKIDTEST", aws_secret_access_key=SECRET
        )
        cls.other_company = cls.env["res.company"].create({"name": "Other Bakery"})
        cls.users = make_users(cls.env, cls.env.company, cls.other_company)
        cls.cron = cls.env.ref("ai_train_model.ir_cron_ai_dataset_register")

    def setUp(self):
        super().setUp()
        # one bucket per test: moto's state outlives the test transaction
        self.bucket = f"ai-datasets-{self._testMethodName[5:30].replace('_', '-')}"
        self.s3.create_bucket(Bucket=self.bucket)
        self._settings(self.bucket)

    def _settings(self, bucket):
        params = self.env["ir.config_parameter"].sudo()
        for key, value in {
            "s3_bucket": bucket,
            "s3_prefix": "registry",
            "s3_endpoint_url": self.endpoint,
            "s3_region": "us-east-1",
            "s3_access_key_id": "AKIDTEST",
            "s3_secret_access_key": SECRET,
        }.items():
            params.set_param(f"ai_train_model.{key}", value)

    def _wizard(self, dataset, user=None, **values):
        user = user or self.users.manager
        action = dataset.with_user(user).action_register_s3()
        self.assertEqual(action["res_model"], "ai.dataset.register.wizard")
        return self.env["ai.dataset.register.wizard"].with_user(user).with_context(**action["context"]).create(values)

    def _keys(self, bucket=None):
        listing = self.s3.list_objects_v2(Bucket=bucket or self.bucket)
        return sorted(obj["Key"] for obj in listing.get("Contents", []))

    def _registry_rows(self):
        body = self.s3.get_object(Bucket=self.bucket, Key="registry/datasets.csv")["Body"].read().decode()
        return list(csv.DictReader(io.StringIO(body)))

    def _triggers(self):
        return self.env["ir.cron.trigger"].search_count([("cron_id", "=", self.cron.id)])

    def test_dry_run_shows_the_plan_and_writes_nothing(self):
        dataset = sales_dataset(self.env, "Store sales", [1, 2, 3])
        wizard = self._wizard(dataset)
        self.assertEqual((wizard.dataset_id, wizard.bucket, wizard.prefix, wizard.dry_run), (dataset, self.bucket, "registry", True))
        triggers = self._triggers()
        action = wizard.action_confirm()
        self.assertEqual((action["res_model"], action["res_id"]), ("ai.dataset.register.wizard", wizard.id))
        self.assertEqual(wizard.preview_action, "would-register")
        self.assertEqual(wizard.preview_key, f"s3://{self.bucket}/registry/Store_sales/v1/Store_sales_v1.zip")
        self.assertEqual(wizard.preview_registry, f"s3://{self.bucket}/registry/datasets.csv")
        self.assertRegex(wizard.preview_sha256, r"^[0-9a-f]{64}$")
        self.assertGreater(wizard.preview_size, 0)
        row = json.loads(wizard.preview_row)
        self.assertEqual((row["name"], row["version"], row["rows"], row["sha256"]), ("Store_sales", 1, 3, wizard.preview_sha256))
        self.assertIn("Store_sales", wizard.preview_html)
        self.assertEqual(self._keys(), [], "a dry run writes nothing to the bucket")
        self.assertEqual((dataset.state, dataset.registration_state, dataset.s3_key), ("ready", False, False))
        self.assertEqual(self._triggers(), triggers, "a dry run queues nothing")

    def test_only_managers_register(self):
        dataset = sales_dataset(self.env, "Store sales", [1, 2, 3])
        with self.assertRaisesRegex(UserError, "managers"):
            dataset.with_user(self.users.analyst).action_register_s3()
        with self.assertRaises(AccessError):
            self.env["ai.dataset.register.wizard"].with_user(self.users.analyst).create({"dataset_id": dataset.id})
        with self.assertRaisesRegex(UserError, "managers"):
            dataset.with_user(self.users.analyst)._queue_registration(self.bucket, "registry")
        self._wizard(dataset, dry_run=False).action_confirm()
        with self.assertRaises(AccessError):
            dataset.registration_id.with_user(self.users.manager).write({"state": "done"})
        with self.assertRaises(AccessError):
            self.env["ai.dataset.registration"].with_user(self.users.manager).create(
                {"dataset_id": dataset.id, "bucket": self.bucket}
            )

    def test_the_cron_does_the_upload(self):
        dataset = sales_dataset(self.env, "Store sales", [1, 2, 3])
        wizard = self._wizard(dataset, dry_run=False)
        triggers = self._triggers()
        action = wizard.action_confirm()
        self.assertEqual(action["params"]["next"], {"type": "ir.actions.act_window_close"})
        self.assertEqual((dataset.state, dataset.registration_state), ("ready", "queued"))
        self.assertEqual((dataset.registration_id.bucket, dataset.registration_id.prefix), (self.bucket, "registry"))
        self.assertEqual(self._triggers(), triggers + 1, "queueing wakes the cron up")
        self.assertEqual(self._keys(), [], "nothing is uploaded inside the request")
        with self.assertRaisesRegex(UserError, "already Queued"):
            self._wizard(dataset, dry_run=False).action_confirm()

        self.env["ai.dataset.registration"]._job_cron_run()
        self.assertEqual((dataset.state, dataset.registration_state), ("registered", "done"))
        self.assertEqual(dataset.s3_key, f"s3://{self.bucket}/registry/Store_sales/v1/Store_sales_v1.zip")
        self.assertEqual(dataset.registered_by_id, self.users.manager)
        self.assertEqual(self._keys(), ["registry/Store_sales/v1/Store_sales_v1.zip", "registry/datasets.csv"])
        head = self.s3.head_object(Bucket=self.bucket, Key="registry/Store_sales/v1/Store_sales_v1.zip")
        self.assertEqual(head["Metadata"]["sha256"], dataset.s3_sha256)
        rows = self._registry_rows()
        self.assertEqual([(r["name"], r["version"], r["sha256"]) for r in rows], [("Store_sales", "1", dataset.s3_sha256)])
        self.assertIn("Registered to", dataset.message_ids[0].body)

        # a second registration adds no registry row; the dry run says so first
        wizard = self._wizard(dataset)
        wizard.action_confirm()
        self.assertEqual(wizard.preview_action, "already-registered")
        self._wizard(dataset, dry_run=False).action_confirm()
        self.env["ai.dataset.registration"]._job_cron_run()
        self.assertEqual(len(self._registry_rows()), 1)
        self.assertIn("Already registered", dataset.registration_message)

    def test_a_failure_is_retryable(self):
        dataset = sales_dataset(self.env, "Other sales", [1, 2])
        self._wizard(dataset, bucket="no-such-bucket", dry_run=False).action_confirm()
        self.env["ai.dataset.registration"]._job_cron_run()
        self.assertEqual((dataset.state, dataset.registration_state), ("ready", "failed"))
        self.assertIn("Registration of Other sales v1 failed: S3 refused: NoSuchBucket", dataset.registration_message)
        self.assertIn("NoSuchBucket", dataset.message_ids[0].body)
        with self.assertRaisesRegex(UserError, "managers"):
            dataset.with_user(self.users.analyst).action_retry_registration()

        # the bucket appears; a retry goes to the same bucket and succeeds
        self.s3.create_bucket(Bucket="no-such-bucket")
        self.addCleanup(self._drop_bucket, "no-such-bucket")
        triggers = self._triggers()
        dataset.with_user(self.users.manager).action_retry_registration()
        self.assertEqual(dataset.registration_state, "queued")
        self.assertEqual(self._triggers(), triggers + 1)
        with self.assertRaisesRegex(UserError, "Only failed registrations"):
            dataset.with_user(self.users.manager).action_retry_registration()
        self.env["ai.dataset.registration"]._job_cron_run()
        self.assertEqual((dataset.state, dataset.registration_state), ("registered", "done"))
        self.assertEqual(self._keys("no-such-bucket"), ["registry/Other_sales/v1/Other_sales_v1.zip", "registry/datasets.csv"])

    def test_an_orphaned_registration_is_queued_again(self):
        dataset = sales_dataset(self.env, "Orphan", [1, 2])
        self._wizard(dataset, dry_run=False).action_confirm()
        registration = dataset.registration_id
        an_hour_ago = fields.Datetime.now() - timedelta(hours=1)
        registration._engine().write({"state": "running", "attempts": 1, "date_heartbeat": an_hour_ago})
        with self.assertLogs("odoo.addons.ai_train_model.models.ai_job_mixin", "WARNING"):
            self.env["ai.dataset.registration"]._job_cron_run()
        self.assertEqual(registration.state, "queued")
        self.assertIn("requeued", registration.log)
        self.assertGreater(registration.date_not_before, fields.Datetime.now(), "requeued after a backoff delay")
        registration._engine().write({"date_not_before": an_hour_ago})
        self.env["ai.dataset.registration"]._job_cron_run()
        self.assertEqual((dataset.state, dataset.registration_state), ("registered", "done"))
        self.assertEqual(dataset.registration_id, registration)

    def test_the_secret_never_reaches_logs_or_chatter(self):
        dataset = sales_dataset(self.env, "Secret sales", [1, 2, 3])
        with self.assertLogs(level="DEBUG") as logs:
            self._wizard(dataset).action_confirm()
            self._wizard(dataset, bucket="missing-bucket", dry_run=False).action_confirm()
            self.env["ai.dataset.registration"]._job_cron_run()
            self.assertEqual(dataset.registration_state, "failed")
            with self.assertRaisesRegex(UserError, "NoSuchBucket") as caught:
                self._wizard(dataset, bucket="missing-bucket").action_confirm()
            self.assertNotIn(SECRET, str(caught.exception))
            self._wizard(dataset, dry_run=False).action_confirm()
            self.env["ai.dataset.registration"]._job_cron_run()
            self.assertEqual(dataset.registration_state, "done")
        output = "\n".join(logs.output)
        self.assertIn("registered to s3://", output, "the logs were captured")
        self.assertIn("botocore", output, "boto's debug logs were captured too")
        self.assertNotIn(SECRET, output)
        chatter = dataset.message_ids
        self.assertTrue(any("NoSuchBucket" in (body or "") for body in chatter.mapped("body")))
        tracked = chatter.tracking_value_ids
        texts = chatter.mapped("body") + tracked.mapped("old_value_char") + tracked.mapped("new_value_char")
        self.assertNotIn(SECRET, " ".join(text or "" for text in texts))
        self.assertNotIn(SECRET, str(dataset.read()))

    def _drop_bucket(self, bucket):
        for key in self._keys(bucket):
            self.s3.delete_object(Bucket=bucket, Key=key)
        self.s3.delete_bucket(Bucket=bucket)


@tagged("post_install", "-at_install")
class TestDatasetDownloads(HttpCase):
    def test_report_download_checks_access(self):
        other_company = self.env["res.company"].create({"name": "Other Bakery"})
        users = make_users(self.env, self.env.company, other_company)
        dataset = sales_dataset(self.env, "Downloadable", [1, 2, 3])
        url = f"/ai_train_model/dataset/{dataset.id}/report.xlsx"
        self.authenticate(users.user.login, users.user.login)
        response = self.url_open(url)
        self.assertEqual(response.status_code, 200)
        self.assertEqual(response.content[:2], b"PK")
        self.assertEqual(response.headers["X-Content-Type-Options"], "nosniff")
        self.assertEqual(self.url_open(f"/ai_train_model/dataset/{dataset.id + 100000}/report.xlsx").status_code, 404)
        self.authenticate(users.foreign.login, users.foreign.login)
        self.assertEqual(self.url_open(url).status_code, 404)
        self.authenticate(users.plain.login, users.plain.login)
        self.assertEqual(self.url_open(url).status_code, 404)
        self.assertEqual(self.url_open("/ai_train_model/import/template/sales.csv").status_code, 404)

    def test_template_download(self):
        self.authenticate("admin", "admin")
        response = self.url_open("/ai_train_model/import/template/sales.csv")
        self.assertEqual(response.status_code, 200)
        self.assertIn(b"date", response.content)
        xlsx = self.url_open("/ai_train_model/import/template/sales.xlsx")
        self.assertEqual(xlsx.content[:2], b"PK")
        self.assertEqual(self.url_open("/ai_train_model/import/template/sales.exe").status_code, 404)


@tagged("post_install", "-at_install")
class TestSecretParameterRpc(HttpCase):
    """System parameters (the S3 secret among them) are for administrators
    (base.group_system): no AI group reads them through RPC."""

    def test_no_ai_group_reads_the_secret_parameter(self):
        from odoo.tests.common import JsonRpcException

        self.env["ir.config_parameter"].sudo().set_param("ai_train_model.s3_secret_access_key", SECRET)
        other_company = self.env["res.company"].create({"name": "Other Bakery"})
        users = make_users(self.env, self.env.company, other_company)
        calls = [
            ("search_read", [[("key", "=", "ai_train_model.s3_secret_access_key")]], {"fields": ["value"]}),
            ("get_param", ["ai_train_model.s3_secret_access_key"], {}),
            ("_get_param", ["ai_train_model.s3_secret_access_key"], {}),
        ]
        for user in (users.user, users.analyst, users.manager, users.plain):
            self.assertFalse(user.has_group("base.group_system"))
            self.authenticate(user.login, user.login)
            for method, args, kwargs in calls:
                with self.subTest(user=user.login, method=method), self.assertRaises(JsonRpcException) as caught:
                    self.make_jsonrpc_request(
                        "/web/dataset/call_kw",
                        {"model": "ir.config_parameter", "method": method, "args": args, "kwargs": kwargs},
                    )
                self.assertEqual(str(caught.exception), "odoo.exceptions.AccessError")
        # an administrator does read it: the control that the calls above are well-formed
        self.authenticate("admin", "admin")
        rows = self.make_jsonrpc_request(
            "/web/dataset/call_kw",
            {"model": "ir.config_parameter", "method": "search_read",
             "args": [[("key", "=", "ai_train_model.s3_secret_access_key")]], "kwargs": {"fields": ["value"]}},
        )
        self.assertEqual([row["value"] for row in rows], [SECRET])
