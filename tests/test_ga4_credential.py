import json
import logging

from odoo.exceptions import AccessError, UserError
from odoo.tests import TransactionCase, tagged

from ..project.tests import ga4_fake
from .common import make_users


class _Capture(logging.Handler):
    """Keeps what the server would log (INFO and above) during a test."""

    def __init__(self):
        super().__init__(level=logging.INFO)
        self.lines = []

    def emit(self, record):
        self.lines.append(self.format(record))


@tagged("post_install", "-at_install")
class TestGa4Credential(TransactionCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        fake_module = ga4_fake
        cls.sa = fake_module.make_service_account()
        cls.fake = fake_module.FakeGA4([cls.sa]).start()
        cls.addClassCleanup(cls.fake.stop)
        cls.company = cls.env.company
        other = cls.env["res.company"].create({"name": "GA4 Other Co"})
        cls.users = make_users(cls.env, cls.company, other)
        # export_data needs this group for users who are not admins
        for user in (cls.users.analyst, cls.users.manager):
            user.groups_id += cls.env.ref("base.group_allow_export")
        cls.key_text = json.dumps(cls.sa)
        cls.pem_line = cls.sa["private_key"].splitlines()[1]  # a line of the secret itself
        cls.credential = (
            cls.env["ai.ga4.credential"]
            .with_user(cls.users.manager)
            .create(
                {
                    "name": "Web shop reader",
                    "key_json": cls.key_text,
                    "property_ids": "123456",
                    "api_endpoint": cls.fake.url,
                }
            )
        )

    def test_public_fields_extracted_from_key(self):
        credential = self.credential
        self.assertTrue(credential.has_key)
        self.assertEqual(credential.client_email, self.sa["client_email"])
        self.assertEqual(credential.private_key_id, self.sa["private_key_id"])
        self.assertEqual(credential.gcp_project, "demo-project")
        self.assertEqual(credential.check_state, "unchecked")

    def test_manager_reads_key(self):
        values = self.credential.with_user(self.users.manager).read(["key_json"])[0]
        self.assertIn(self.pem_line, values["key_json"])

    def test_user_and_analyst_cannot_read_key(self):
        for user in (self.users.user, self.users.analyst):
            credential = self.credential.with_user(user)
            with self.assertRaises(AccessError):
                credential.read(["key_json"])
            values = credential.read(["name", "client_email", "private_key_id"])[0]
            self.assertEqual(values["client_email"], self.sa["client_email"])
            self.assertNotIn("key_json", credential.search_read([("id", "=", credential.id)])[0])
            self.assertNotIn("key_json", credential.fields_get())

    def test_analyst_export_excludes_key(self):
        credential = self.credential.with_user(self.users.analyst)
        exportable = [name for name in credential.fields_get() if name not in ("id",)]
        rows = credential.export_data(["name", "client_email", "private_key_id"])["datas"]
        self.assertEqual(rows[0][1], self.sa["client_email"])
        self.assertNotIn("key_json", exportable)
        with self.assertRaises(AccessError):
            credential.export_data(["name", "key_json"])
        rows = self.credential.with_user(self.users.manager).export_data(["key_json"])["datas"]
        self.assertIn(self.pem_line, rows[0][0])

    def test_analyst_cannot_probe_key_with_search(self):
        Credential = self.env["ai.ga4.credential"]
        with self.assertRaises(AccessError):
            Credential.with_user(self.users.analyst).search([("key_json", "ilike", "BEGIN PRIVATE")])
        # Stored encrypted: nobody searches it, managers included.
        with self.assertRaisesRegex(UserError, "stored encrypted and cannot be searched"):
            Credential.with_user(self.users.manager).search([("key_json", "ilike", "BEGIN PRIVATE")])

    def test_only_manager_writes_key(self):
        with self.assertRaises(AccessError):
            self.credential.with_user(self.users.analyst).write({"key_json": self.key_text})
        with self.assertRaises(AccessError):
            self.credential.with_user(self.users.analyst).action_check_access()

    def test_bad_key_refused_with_specific_message_and_nothing_stored(self):
        credential = self.credential.with_user(self.users.manager)
        cases = [
            ("{not json", "not valid JSON"),
            (json.dumps({**self.sa, "type": "authorized_user"}), "field 'type'"),
            (json.dumps({**self.sa, "private_key": "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END"}), "private_key"),
            (json.dumps({k: v for k, v in self.sa.items() if k != "client_email"}), "client_email"),
        ]
        for text, expected in cases:
            with self.subTest(expected=expected), self.assertRaises(UserError) as caught:
                credential.write({"key_json": text})
            self.assertIn(expected, str(caught.exception))
            self.assertNotIn(self.pem_line, str(caught.exception))
            self.assertIn(self.pem_line, credential.key_json)
            self.assertEqual(credential.client_email, self.sa["client_email"])
        count = self.env["ai.ga4.credential"].search_count([])
        with self.assertRaises(UserError):
            self.env["ai.ga4.credential"].with_user(self.users.manager).create({"name": "Bad", "key_json": "[]"})
        self.assertEqual(self.env["ai.ga4.credential"].search_count([]), count)

    def test_check_access_ok_report(self):
        self.credential.with_user(self.users.manager).action_check_access()
        credential = self.credential
        self.assertEqual(credential.check_state, "ok", credential.check_message)
        self.assertTrue(credential.check_date)
        self.assertEqual(credential.property_count, 3)
        self.assertIn("123456 Web shop (Demo account)", credential.properties_reached)
        self.assertIn("can read property 123456", credential.check_message)
        report = json.loads(credential.check_report)
        self.assertTrue(report["ok"])
        self.assertEqual(report["properties"][0]["property_id"], "123456")
        self.assertIn("sessions", [m["api_name"] for m in report["properties"][0]["metrics"]])
        self.assertNotIn(self.pem_line, credential.check_report)

    def test_check_access_error_report(self):
        credential = self.credential.with_user(self.users.manager)
        credential.property_ids = "123456, 999999"
        credential.action_check_access()
        self.assertEqual(credential.check_state, "error")
        self.assertIn("cannot read property 999999", credential.check_message)
        self.assertIn("Viewer", credential.check_message)
        report = json.loads(credential.check_report)
        self.assertFalse(report["ok"])
        self.assertEqual([p["accessible"] for p in report["properties"]], [True, False])

    def test_property_ids_validated(self):
        with self.assertRaises(Exception) as caught:
            self.credential.with_user(self.users.manager).property_ids = "123, G-ABC"
        self.assertIn("G-ABC", str(caught.exception))

    def test_key_never_in_chatter_tracking_or_log(self):
        capture = _Capture()
        root = logging.getLogger()
        root.addHandler(capture)
        try:
            credential = self.env["ai.ga4.credential"].with_user(self.users.manager).create(
                {"name": "Audit", "key_json": self.key_text, "property_ids": "999999", "api_endpoint": self.fake.url}
            )
            credential.write({"key_json": self.key_text, "name": "Audit 2"})
            credential.action_check_access()
            with self.assertRaises(UserError):
                credential.write({"key_json": self.key_text.replace("service_account", "user")})
            self.env.flush_all()
        finally:
            root.removeHandler(capture)
        messages = self.env["mail.message"].search(
            [("model", "=", "ai.ga4.credential"), ("res_id", "=", credential.id)]
        )
        self.assertTrue(messages, "the credential has a chatter")
        for message in messages:
            self.assertNotIn(self.pem_line, message.body or "")
            for tracking in message.sudo().tracking_value_ids:
                self.assertNotEqual(tracking.field_id.name, "key_json")
                self.assertNotIn(self.pem_line, str(tracking.old_value_char) + str(tracking.new_value_char))
        for line in capture.lines:
            self.assertNotIn(self.pem_line, line)
            self.assertNotIn("PRIVATE KEY", line)
