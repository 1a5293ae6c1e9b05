"""The security matrix over real HTTP and JSON-RPC (issue 11).

Two companies; a Manager, an Analyst, a User, an internal user without AI
groups, a portal user and anonymous visitors of company A, an Analyst and a
Manager of company B. Every check goes through the web client's
``/web/dataset/call_kw`` (session) or the external ``/jsonrpc`` API, or a
route; the ORM is only used to build the data and to look at what is stored.
"""

import base64
import csv
import json
import os
from unittest.mock import patch

from odoo import api, http
from odoo.modules import get_module_path
from odoo.service import security
from odoo.tests import HttpCase, new_test_user, tagged
from odoo.tests.common import Opener, get_db_name
from odoo.tools import config, mute_logger

from ..project.tests import ga4_fake
from ..models.ai_protected_fields_mixin import as_engine
from ..models.ai_secret import CONFIG_KEY, PREFIX, S3_SECRET_PARAM
from .common import handmade_version, make_dataset, make_users

SMALL_CSV = "date;store;sales\n2024-01-01;A;1\n2024-01-02;A;2\n2024-01-03;A;3\n"
FOREIGN_NAME = "Company B secret sales"
S3_SECRET = "s3-secret-MATRIX-0123456789"


@tagged("post_install", "-at_install")
class TestSecurityMatrix(HttpCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.startClassPatcher(patch.dict(config.options, {CONFIG_KEY: "matrix test key"}))
        cls.company = cls.env.company
        cls.company_b = cls.env["res.company"].create({"name": "Matrix Co B"})
        cls.users = make_users(cls.env, cls.company, cls.company_b)
        b = {"company_id": cls.company_b.id, "company_ids": [(6, 0, cls.company_b.ids)]}
        cls.b_analyst = new_test_user(
            cls.env, "ai_b_analyst", groups="base.group_user,ai_train_model.group_ai_analyst", **b
        )
        cls.portal = new_test_user(cls.env, "ai_portal", groups="base.group_portal")
        for user in (cls.users.user, cls.users.analyst, cls.users.manager):
            user.groups_id += cls.env.ref("base.group_allow_export")
        cls.logins = {
            "manager": "ai_manager",
            "analyst": "ai_analyst",
            "user": "ai_reader",
            "plain": "ai_plain",
            "portal": "ai_portal",
            "b_analyst": "ai_b_analyst",
            "b_manager": "ai_foreign",
        }
        cls.dataset = make_dataset(cls.env, name="Company A sales")
        cls.dataset_b = make_dataset(cls.env, name=FOREIGN_NAME, company=cls.company_b)
        cls.job = cls.env["ai.training.job"].create({"dataset_id": cls.dataset.id, "candidates": "naive"})
        cls.version = handmade_version(cls.env, cls.job)
        sa = ga4_fake.make_service_account()
        cls.pem_line = sa["private_key"].splitlines()[1]
        cls.credential = cls.env["ai.ga4.credential"].create(
            {"name": "Matrix GA4", "key_json": json.dumps(sa), "property_ids": "123456"}
        )
        cls.download = cls.env["ai.ga4.download"].create(
            {"name": "Matrix download", "credential_id": cls.credential.id, "property_id": "123456"}
        )
        cls.env["res.config.settings"].create({"ai_s3_secret_access_key": S3_SECRET}).execute()
        cls.files = {
            "artifact": cls._attachment(cls.version, "artifact_file"),
            "parquet": cls._attachment(cls.dataset, "data_file"),
        }
        cls.env.flush_all()

    @classmethod
    def _attachment(cls, record, field):
        return cls.env["ir.attachment"].sudo().search(
            [("res_model", "=", record._name), ("res_id", "=", record.id), ("res_field", "=", field)]
        )

    # ------------------------------------------------------------------ helpers

    def login(self, who):
        """A session of ``who`` (built directly: passwords are checked once,
        by the external ``/jsonrpc`` calls, not on every switch of user)."""
        if who == "anonymous":
            self.authenticate(None, None)
            return
        user = self.env["res.users"].search([("login", "=", self.logins[who])])
        if getattr(self, "session", None):
            http.root.session_store.delete(self.session)
        self.session = session = http.root.session_store.new()
        session.update(http.get_default_session(), db=get_db_name())
        self.cr.flush()
        self.cr.clear()
        env = api.Environment(self.cr, user.id, {})
        session.uid = user.id
        session.login = user.login
        session.session_token = security.compute_session_token(session, env)
        session.context = dict(env["res.users"].context_get())
        http.root.session_store.save(session)
        self.opener = Opener(self.cr)
        self.opener.cookies["session_id"] = session.sid

    def call(self, model, method, *args, **kwargs):
        """``(ok, result or error message)`` of a web-client RPC."""
        payload = {
            "jsonrpc": "2.0",
            "method": "call",
            "id": 1,
            "params": {"model": model, "method": method, "args": list(args), "kwargs": kwargs},
        }
        response = self.url_open(
            "/web/dataset/call_kw", data=json.dumps(payload), headers={"Content-Type": "application/json"}
        )
        body = response.json()
        if "error" in body:
            return False, body["error"]["data"].get("message") or body["error"]["message"]
        return True, body["result"]

    def external(self, who, model, method, *args, **kwargs):
        """``(ok, result or error message)`` of an external ``/jsonrpc`` call."""
        login = self.logins[who]
        uid = self.env["res.users"].search([("login", "=", login)]).id
        payload = {
            "jsonrpc": "2.0",
            "method": "call",
            "id": 1,
            "params": {
                "service": "object",
                "method": "execute_kw",
                "args": [get_db_name(), uid, login, model, method, list(args), kwargs],
            },
        }
        body = self.url_open("/jsonrpc", data=json.dumps(payload), headers={"Content-Type": "application/json"}).json()
        if "error" in body:
            return False, body["error"]["data"].get("message") or body["error"]["message"]
        return True, body["result"]

    def refused(self, outcome, *, names_nothing=True):
        ok, message = outcome
        self.assertFalse(ok, f"expected a refusal, got {message!r}")
        if names_nothing:
            self.assertNotIn(FOREIGN_NAME, str(message))
            self.assertNotIn(self.pem_line, str(message))
        return message

    # ------------------------------------------------------------------ 1. engine files

    @mute_logger("odoo.http")
    def test_01_engine_files_cannot_be_swapped_over_rpc(self):
        before = {name: attachment.checksum for name, attachment in self.files.items()}
        for who in ("analyst", "manager"):
            self.login(who)
            for name, attachment in self.files.items():
                ids = [attachment.id]
                attempts = {
                    "write": ("write", ids, {"raw": base64.b64encode(b"22 forged bytes here!!").decode()}),
                    "datas": ("write", ids, {"datas": base64.b64encode(b"forged").decode()}),
                    "public": ("write", ids, {"public": True}),
                    "token": ("generate_access_token", ids),
                    "unlink": ("unlink", ids),
                    "copy": ("copy", attachment.id),
                }
                for label, (method, *args) in attempts.items():
                    with self.subTest(who=who, file=name, attempt=label):
                        self.refused(self.call("ir.attachment", method, *args))
                record = self.version if name == "artifact" else self.dataset
                field = "artifact_file" if name == "artifact" else "data_file"
                with self.subTest(who=who, file=name, attempt="plant"):
                    self.refused(
                        self.call(
                            "ir.attachment",
                            "create",
                            {"name": "x", "res_model": record._name, "res_id": record.id, "res_field": field,
                             "datas": base64.b64encode(b"planted").decode()},
                        )
                    )
                with self.subTest(who=who, file=name, attempt="field write"):
                    self.refused(self.call(record._name, "write", [record.id], {field: base64.b64encode(b"x").decode()}))
        self.env.invalidate_all()
        for name, attachment in self.files.items():
            self.assertEqual(attachment.checksum, before[name])
            self.assertFalse(attachment.public or attachment.access_token)
            owner = self.env[attachment.res_model].browse(attachment.res_id)
            self.assertEqual(len(self._attachment(owner, attachment.res_field)), 1)

    @mute_logger("odoo.http")
    def test_02_web_content_never_serves_engine_files_by_token_or_public_flag(self):
        # A database restored from elsewhere could hold the flags: set them in SQL.
        token = "matrix-token-0123456789"
        for attachment in self.files.values():
            self.env.cr.execute(
                "UPDATE ir_attachment SET public = true, access_token = %s WHERE id = %s", (token, attachment.id)
            )
        self.env.invalidate_all()
        for who in ("anonymous", "portal", "plain", "b_manager"):
            self.login(who)
            for name, attachment in self.files.items():
                for url in (f"/web/content/{attachment.id}", f"/web/content/{attachment.id}?access_token={token}",
                            f"/web/content/{attachment.id}?download=true&access_token={token}"):
                    with self.subTest(who=who, file=name, url=url):
                        response = self.url_open(url, allow_redirects=False)
                        self.assertIn(response.status_code, (303, 404), response.status_code)
                        self.assertNotIn(b"PK\x03\x04", response.content)
                        self.assertNotIn(b"PAR1", response.content)
        # A reader of the record gets the checked file.
        self.login("user")
        response = self.url_open(f"/web/content/{self.files['artifact'].id}")
        self.assertEqual(response.status_code, 200)
        self.assertEqual(response.content[:4], b"PK\x03\x04")

    @mute_logger("odoo.http", "odoo.addons.ai_train_model.models.model_trainer")
    def test_03_tampered_files_refused_on_every_read_route(self):
        donor = make_dataset(self.env, name="Donor", frame=None)
        donor_bytes = donor._get_parquet_bytes()[:-8] + b"tampered"
        artifact = self.files["artifact"]
        as_engine(self._attachment(self.dataset, "data_file")).write({"raw": donor_bytes})
        as_engine(artifact).write({"raw": b"22 forged bytes here!!"})
        self.env.flush_all()
        self.env.invalidate_all()
        self.login("user")
        for url in (f"/ai_train_model/model/{self.version.id}/download",
                    f"/ai_train_model/dataset/{self.dataset.id}/report.xlsx"):
            with self.subTest(url=url):
                response = self.url_open(url)
                self.assertEqual(response.status_code, 409)
                self.assertIn(b"does not match its recorded SHA-256", response.content)
        # Odoo's /web/content turns the refusal into a 404; the file is not served.
        response = self.url_open(f"/web/content?model=ai.dataset&id={self.dataset.id}&field=data_file")
        self.assertEqual(response.status_code, 404)
        self.assertNotIn(b"PAR1", response.content)
        self.login("analyst")
        message = self.refused(self.call("ai.model.version", "action_promote", [self.version.id]))
        self.assertIn("does not match its recorded SHA-256", message)
        ok, job_id = self.call("ai.training.job", "create", {"dataset_id": self.dataset.id, "candidates": "naive"})
        self.assertTrue(ok, job_id)
        self.assertTrue(self.call("ai.training.job", "action_queue", [job_id])[0])
        self.env["ai.training.job"]._job_cron_run()
        job = self.env["ai.training.job"].browse(job_id)
        self.assertEqual(job.state, "failed")
        self.assertIn("does not match its recorded SHA-256", job.error_message)

    # ------------------------------------------------------------------ 2. wizards

    @mute_logger("odoo.http")
    def test_04_wizards_private_to_their_creator(self):
        self.login("analyst")
        ok, wizard_id = self.call(
            "ai.dataset.import.wizard", "create",
            {"file": base64.b64encode(SMALL_CSV.encode()).decode(), "filename": "a.csv", "name": "A private import"},
        )
        self.assertTrue(ok, wizard_id)
        self.assertTrue(self.call("ai.dataset.import.wizard", "action_load", [wizard_id])[0])
        wizard = self.env["ai.dataset.import.wizard"].browse(wizard_id)
        self.login("manager")
        ok, merge_id = self.call("ai.dataset.merge.wizard", "create", {"dataset_ids": [[6, 0, [self.dataset.id]]]})
        ok2, register_id = self.call("ai.dataset.register.wizard", "create", {"dataset_id": self.dataset.id})
        self.assertTrue(ok and ok2, (merge_id, register_id))
        targets = {
            "ai.dataset.import.wizard": ([wizard_id], "analyst"),
            "ai.dataset.import.column": (wizard.column_ids.ids, "analyst"),
            "ai.dataset.import.mapping": (wizard.mapping_ids.ids, "analyst"),
            "ai.dataset.merge.wizard": ([merge_id], "manager"),
            "ai.dataset.register.wizard": ([register_id], "manager"),
        }
        for who in ("b_analyst", "b_manager", "manager", "analyst"):
            self.login(who)
            for model, (ids, owner) in targets.items():
                if who == owner:
                    continue
                with self.subTest(who=who, model=model):
                    ok, found = self.call(model, "search_read", [("id", "in", ids)], ["id"])
                    if ok:
                        self.assertEqual(found, [])
                    self.refused(self.call(model, "read", ids, ["create_date"]))
                    self.refused(self.call(model, "web_read", ids, {"display_name": {}}))
                    self.refused(self.call(model, "write", ids, {"create_uid": 1}))
                    self.refused(self.call(model, "unlink", ids))
            if who != "analyst":
                for method in ("action_validate", "action_import"):
                    with self.subTest(who=who, run=method):
                        self.refused(self.call("ai.dataset.import.wizard", method, [wizard_id]))
        self.assertFalse(self.env["ai.dataset"].search([("name", "=", "A private import")]))

    # ------------------------------------------------------------------ 3. companies, 5. names

    @mute_logger("odoo.http")
    def test_05_company_moves_refused_and_foreign_ids_name_nothing(self):
        self.login("manager")
        records = [self.dataset, self.job, self.version, self.credential, self.download]
        for record in records:
            with self.subTest(model=record._name):
                self.refused(self.call(record._name, "write", [record.id], {"company_id": self.company_b.id}))
        self.env.invalidate_all()
        self.assertEqual({record.company_id for record in records}, {self.company})
        self.login("analyst")
        foreign = self.dataset_b.id
        attempts = [
            ("ai.dataset.import.wizard", "create", {"base_dataset_id": foreign}),
            ("ai.dataset.import.wizard", "onchange", [], {"base_dataset_id": foreign}, ["base_dataset_id"],
             {"base_dataset_id": {"fields": {"display_name": {}}}, "name": {}}),
            ("ai.dataset.import.wizard", "web_save", [], {"base_dataset_id": foreign},
             {"specification": {"base_dataset_id": {"fields": {"display_name": {}}}}}),
            ("ai.training.job", "create", {"dataset_id": foreign}),
            ("ai.training.job", "write", [self.job.id], {"dataset_id": foreign}),
            ("ai.dataset.merge.wizard", "create", {"dataset_ids": [[6, 0, [self.dataset.id, foreign]]]}),
            ("ai.dataset", "write", [self.dataset.id], {"parent_ids": [[4, foreign]]}),
        ]
        for model, method, *args in attempts:
            kwargs = args.pop() if method == "web_save" else {}
            with self.subTest(model=model, method=method):
                message = self.refused(self.call(model, method, *args, **kwargs))
                self.assertIn("not available to you", message)

    # ------------------------------------------------------------------ 4. states

    @mute_logger("odoo.http")
    def test_06_states_only_through_their_buttons(self):
        cases = [
            ("ai.dataset", self.dataset.id, {"state": "archived"}),
            ("ai.dataset", self.dataset.id, {"state": "registered"}),
            ("ai.dataset", self.dataset.id, {"s3_key": "s3://x/y", "registered_on": "2024-01-01 00:00:00"}),
            ("ai.training.job", self.job.id, {"state": "done"}),
            ("ai.model.version", self.version.id, {"state": "production"}),
            ("ai.ga4.credential", self.credential.id, {"check_state": "ok"}),
            ("ai.ga4.download", self.download.id, {"state": "done"}),
        ]
        for who in ("analyst", "manager"):
            self.login(who)
            for model, record_id, vals in cases:
                with self.subTest(who=who, model=model, vals=vals):
                    self.refused(self.call(model, "write", [record_id], vals))
            with self.subTest(who=who, create="state"):
                self.refused(self.call("ai.dataset", "create", {"name": "Forged", "state": "registered"}))
            ok, forged = self.call(
                "ai.dataset", "create", {"name": f"Forged {who}"}, context={"default_state": "registered"}
            )
            self.assertTrue(ok, forged)
            self.assertEqual(self.env["ai.dataset"].browse(forged).state, "draft")
        self.env.invalidate_all()
        self.assertEqual((self.dataset.state, self.job.state, self.version.state), ("ready", "draft", "development"))
        # The buttons work, with their own rights.
        self.login("analyst")
        self.refused(self.call("ai.dataset", "action_archive", [self.dataset.id]))
        self.assertTrue(self.call("ai.model.version", "action_set_staging", [self.version.id])[0])
        self.login("manager")
        self.assertTrue(self.call("ai.dataset", "action_archive", [self.dataset.id])[0])
        self.env.invalidate_all()
        self.assertEqual((self.dataset.state, self.version.state), ("archived", "staging"))

    # ------------------------------------------------------------------ 5. secrets

    @mute_logger("odoo.http")
    def test_07_secrets_encrypted_and_never_readable_below_manager(self):
        self.env.cr.execute("SELECT key_secret FROM ai_ga4_credential WHERE id = %s", (self.credential.id,))
        stored = self.env.cr.fetchone()[0]
        self.assertTrue(stored.startswith(PREFIX))
        self.assertNotIn(self.pem_line, stored)
        self.env.cr.execute("SELECT value FROM ir_config_parameter WHERE key = %s", (S3_SECRET_PARAM,))
        self.assertNotIn(S3_SECRET, self.env.cr.fetchone()[0])
        cid = self.credential.id
        for who in ("user", "analyst", "plain", "portal"):
            self.login(who)
            for field in ("key_json", "key_secret"):
                calls = [
                    ("read", [cid], [field]),
                    ("web_read", [cid], {field: {}}),
                    ("search_read", [("id", "=", cid)], [field]),
                    ("export_data", [cid], [field]),
                    ("search", [(field, "ilike", "PRIVATE")]),
                    ("search_count", [(field, "!=", False)]),
                ]
                for method, *args in calls:
                    with self.subTest(who=who, field=field, method=method):
                        self.refused(self.call("ai.ga4.credential", method, *args))
            with self.subTest(who=who, method="read_group"):
                self.refused(self.call("ai.ga4.credential", "read_group", [], ["key_secret"], ["key_secret"]))
            with self.subTest(who=who, settings=True):
                ok, result = self.call("res.config.settings", "web_read", [], {"ai_s3_secret_access_key": {}})
                self.assertNotIn(S3_SECRET, json.dumps(result))
                self.refused(self.call("ir.config_parameter", "get_param", S3_SECRET_PARAM))
            if who == "analyst":
                with self.subTest(who=who, external=True):
                    self.refused(self.external(who, "ai.ga4.credential", "read", [cid], ["key_json"]))
        self.login("user")
        ok, rows = self.call("ai.ga4.credential", "search_read", [("id", "=", cid)], [])
        self.assertTrue(ok, rows)
        self.assertNotIn(self.pem_line, json.dumps(rows))
        self.assertNotIn(PREFIX, json.dumps(rows))
        self.login("manager")
        ok, rows = self.call("ai.ga4.credential", "read", [cid], ["key_json"])
        self.assertTrue(ok, rows)
        self.assertIn(self.pem_line, rows[0]["key_json"])

    # ------------------------------------------------------------------ CRUD = access CSV

    def test_08_crud_matches_the_access_csv(self):
        path = os.path.join(get_module_path("ai_train_model"), "security", "ir.model.access.csv")
        with open(path, newline="") as handle:
            lines = list(csv.DictReader(handle))
        groups = {
            "user": ["group_ai_user"],
            "analyst": ["group_ai_user", "group_ai_analyst"],
            "manager": ["group_ai_user", "group_ai_analyst", "group_ai_manager"],
            "plain": [],
            "portal": [],
        }
        models = sorted({line["model_id:id"][len("model_") :].replace("_", ".") for line in lines})
        checks = 0
        for who, user_groups in groups.items():
            self.login(who)
            for model in models:
                for operation in ("read", "write", "create", "unlink"):
                    expected = any(
                        line["perm_" + operation] == "1"
                        for line in lines
                        if line["model_id:id"] == "model_" + model.replace(".", "_")
                        and line["group_id:id"] in user_groups
                    )
                    ok, allowed = self.call(model, "check_access_rights", operation, raise_exception=False)
                    with self.subTest(who=who, model=model, operation=operation):
                        self.assertTrue(ok, allowed)
                        self.assertEqual(allowed, expected)
                    checks += 1
        self.assertGreater(checks, 200)

    # ------------------------------------------------------------------ cross-company, anonymous

    @mute_logger("odoo.http")
    def test_09_cross_company_and_anonymous(self):
        routes = [
            f"/ai_train_model/model/{self.version.id}/download",
            f"/ai_train_model/dataset/{self.dataset.id}/report.xlsx",
            f"/web/content?model=ai.dataset&id={self.dataset.id}&field=data_file",
            f"/web/content?model=ai.model.version&id={self.version.id}&field=artifact_file",
            f"/web/content?model=ai.training.job&id={self.job.id}&field=input_file",
        ]
        for who in ("b_analyst", "b_manager", "plain"):
            self.login(who)
            for url in routes:
                with self.subTest(who=who, url=url):
                    response = self.url_open(url)
                    self.assertEqual(response.status_code, 404)
                    self.assertNotIn(b"PK\x03\x04", response.content)
                    self.assertNotIn(b"Company A", response.content)
            for model, record in (("ai.dataset", self.dataset), ("ai.model.version", self.version),
                                  ("ai.training.job", self.job), ("ai.ga4.credential", self.credential)):
                with self.subTest(who=who, model=model):
                    self.refused(self.call(model, "read", [record.id], ["display_name"]))
                    ok, found = self.call(model, "search", [("id", "=", record.id)])
                    if ok:
                        self.assertEqual(found, [])
        self.refused(self.external("b_analyst", "ai.dataset", "read", [self.dataset.id], ["name"]))
        self.login("b_analyst")
        ok, found = self.call("ai.dataset", "search_read", [], ["name"])
        self.assertTrue(ok, found)
        self.assertEqual([row["name"] for row in found], [FOREIGN_NAME])
        self.logout()
        for url in routes[:2] + ["/ai_train_model/import/template/sales.csv"]:
            with self.subTest(anonymous=url):
                response = self.url_open(url, allow_redirects=False)
                self.assertIn(response.status_code, (302, 303))
                self.assertIn("/web/login", response.headers["Location"])
        ok, message = self.call("ai.dataset", "search_read", [], ["name"])
        self.assertFalse(ok)
        self.assertNotIn("Company A", str(message))

    # ------------------------------------------------------------------ 6. GA4, chatter

    @mute_logger("odoo.http")
    def test_10_ga4_property_outside_the_credential_and_import_without_email(self):
        self.login("analyst")
        message = self.refused(
            self.call("ai.ga4.download", "create",
                      {"name": "Elsewhere", "credential_id": self.credential.id, "property_id": "999999"})
        )
        self.assertIn("999999 is not in the property list", message)
        self.users.analyst.partner_id.email = False
        self.env.flush_all()
        ok, wizard_id = self.call(
            "ai.dataset.import.wizard", "create",
            {"file": base64.b64encode(SMALL_CSV.encode()).decode(), "filename": "a.csv", "name": "No e-mail"},
        )
        self.assertTrue(ok, wizard_id)
        self.assertTrue(self.call("ai.dataset.import.wizard", "action_load", [wizard_id])[0])
        ok, result = self.call("ai.dataset.import.wizard", "action_import", [wizard_id])
        self.assertTrue(ok, result)
        self.assertTrue(self.env["ai.dataset"].search([("name", "=", "No e-mail")]))
