import base64
import csv
import io

import pandas as pd

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
        self.assertEqual(book.sheetnames, ["Resumen", "Datos", "Columnas", "Series", "Consistencia", "Linaje"])
        resumen = {row[0]: row[1] for row in book["Resumen"].iter_rows(values_only=True)}
        self.assertEqual((resumen["name"], resumen["rows"]), ("Sales_report", 4))
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

    def test_register_to_s3(self):
        import boto3
        from moto.server import ThreadedMotoServer

        server = ThreadedMotoServer(ip_address="127.0.0.1", port=0)
        server.start()
        self.addCleanup(server.stop)
        host, port = server.get_host_and_port()
        endpoint = f"http://{host}:{port}"
        s3 = boto3.client(
            "s3", endpoint_url=endpoint, region_name="us-east-1", aws_access_key_id="AKIDTEST", aws_secret_access_key=SECRET
        )
        s3.create_bucket(Bucket="ai-datasets")
        params = self.env["ir.config_parameter"].sudo()
        for key, value in {
            "s3_bucket": "ai-datasets",
            "s3_prefix": "registry",
            "s3_endpoint_url": endpoint,
            "s3_region": "us-east-1",
            "s3_access_key_id": "AKIDTEST",
            "s3_secret_access_key": SECRET,
        }.items():
            params.set_param(f"ai_train_model.{key}", value)
        dataset = sales_dataset(self.env, "Store sales", [1, 2, 3])
        with self.assertRaisesRegex(UserError, "managers"):
            dataset.with_user(self.users.analyst).action_register_s3()
        action = dataset.with_user(self.users.manager).action_register_s3()
        self.assertEqual(action["params"]["type"], "success")
        self.assertEqual(dataset.state, "registered")
        self.assertEqual(dataset.s3_key, "s3://ai-datasets/registry/Store_sales/v1/Store_sales_v1.zip")
        head = s3.head_object(Bucket="ai-datasets", Key="registry/Store_sales/v1/Store_sales_v1.zip")
        self.assertEqual(head["Metadata"]["sha256"], dataset.s3_sha256)
        body = s3.get_object(Bucket="ai-datasets", Key="registry/datasets.csv")["Body"].read().decode()
        rows = list(csv.DictReader(io.StringIO(body)))
        self.assertEqual([(r["name"], r["version"], r["sha256"]) for r in rows], [("Store_sales", "1", dataset.s3_sha256)])
        # a second registration adds no registry row
        dataset.with_user(self.users.manager).action_register_s3()
        body = s3.get_object(Bucket="ai-datasets", Key="registry/datasets.csv")["Body"].read().decode()
        self.assertEqual(len(list(csv.DictReader(io.StringIO(body)))), 1)
        self.assertNotIn(SECRET, " ".join(dataset.message_ids.mapped("body")))
        # a missing bucket is a clear error, without the secret
        params.set_param("ai_train_model.s3_bucket", "no-such-bucket")
        other = sales_dataset(self.env, "Other sales", [1, 2])
        with self.assertRaisesRegex(UserError, "Registration of Other sales v1 failed") as caught:
            other.action_register_s3()
        self.assertNotIn(SECRET, str(caught.exception))
        self.assertEqual(other.state, "ready")


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
