"""Issue 11's hardening, tested on the ORM: engine files that cannot be
swapped and are checked on every read, creator-private wizards, companies and
states that only the engine changes, secrets encrypted at rest, the signing
key created once under concurrency (two real connections) and chatter that
does not need the author's e-mail. The same points over HTTP and JSON-RPC are
in ``test_security_matrix``."""

import base64
import contextlib
import json
import threading
from unittest.mock import patch

from odoo import SUPERUSER_ID, api
from odoo.exceptions import AccessError, UserError, ValidationError
from odoo.tests import TransactionCase, new_test_user, tagged
from odoo.tools import config

from ..project.tests import ga4_fake
from ..models.ai_protected_fields_mixin import AiIntegrityError, as_engine
from ..models.ai_secret import CONFIG_KEY, CONFIG_OLD_KEYS, PREFIX, S3_SECRET_PARAM
from .common import handmade_version, make_dataset, make_users, sample_frame

SMALL_CSV = "date;store;sales\n2024-01-01;A;1\n2024-01-02;A;2\n2024-01-03;A;3\n"


def engine_attachment(record, field):
    return record.env["ir.attachment"].sudo().search(
        [("res_model", "=", record._name), ("res_id", "=", record.id), ("res_field", "=", field)]
    )


@tagged("post_install", "-at_install")
class TestSecurityHardening(TransactionCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.company = cls.env.company
        cls.other_company = cls.env["res.company"].create({"name": "Hardening Other Co"})
        cls.users = make_users(cls.env, cls.company, cls.other_company)
        cls.b_analyst = new_test_user(
            cls.env,
            "ai_b_analyst",
            groups="base.group_user,ai_train_model.group_ai_analyst",
            company_id=cls.other_company.id,
            company_ids=[(6, 0, cls.other_company.ids)],
        )
        cls.dataset = make_dataset(cls.env)
        cls.other_dataset = make_dataset(cls.env, name="Secret B sales", company=cls.other_company)
        cls.job = cls.env["ai.training.job"].create({"dataset_id": cls.dataset.id, "candidates": "naive,snaive"})
        cls.version = handmade_version(cls.env, cls.job)

    # ------------------------------------------------------------------ engine files

    def test_engine_attachments_refuse_everyone_but_the_engine(self):
        for record, field in ((self.version, "artifact_file"), (self.dataset, "data_file")):
            attachment = engine_attachment(record, field)
            self.assertEqual(len(attachment), 1)
            checksum = attachment.checksum
            for user in (self.users.analyst, self.users.manager, self.env.ref("base.user_admin")):
                mine = attachment.with_user(user)
                attempts = {
                    "write": lambda a=mine: a.write({"raw": b"forged"}),
                    "public": lambda a=mine: a.write({"public": True}),
                    "token": lambda a=mine: a.generate_access_token(),
                    "token write": lambda a=mine: a.write({"access_token": "x" * 20}),
                    "unlink": lambda a=mine: a.unlink(),
                    "plant": lambda u=user, r=record, f=field: self.env["ir.attachment"].with_user(u).create(
                        {"name": "x", "res_model": r._name, "res_id": r.id, "res_field": f, "raw": b"planted"}
                    ),
                    "copy": lambda a=mine: a.copy(),
                }
                for name, attempt in attempts.items():
                    with self.subTest(model=record._name, user=user.login, attempt=name):
                        with self.assertRaisesRegex(AccessError, "stored by the training engine"):
                            attempt()
            # Re-pointing an ordinary attachment at the field is planting one.
            note = self.env["ir.attachment"].with_user(self.users.manager).create(
                {"name": "note.txt", "raw": b"hello", "res_model": record._name, "res_id": record.id}
            )
            with self.assertRaises(AccessError):
                note.write({"res_field": field})
            # Even the engine cannot publish them.
            with self.assertRaises(AccessError):
                as_engine(attachment).sudo().write({"public": True})
            self.assertEqual(engine_attachment(record, field).checksum, checksum)
            self.assertFalse(engine_attachment(record, field).public)

    def test_deleting_a_record_deletes_its_engine_files(self):
        dataset = make_dataset(self.env, name="To delete")
        attachment = engine_attachment(dataset, "data_file")
        dataset.with_user(self.users.manager).unlink()
        self.assertFalse(attachment.exists())

    def _tamper(self, record, field, raw):
        as_engine(engine_attachment(record, field)).write({"raw": raw})
        record.invalidate_recordset()

    def test_uploaded_training_file_cannot_be_swapped(self):
        csv = sample_frame(n_series=2).to_csv(index=False).encode()
        job = (
            self.env["ai.training.job"]
            .with_user(self.users.analyst)
            .create(
                {
                    "input_type": "file",
                    "input_file": base64.b64encode(csv),
                    "input_filename": "upload.csv",
                    "date_col": "date",
                    "target_col": "pageviews",
                    "series_cols": "page",
                    "candidates": "naive",
                }
            )
        )
        attachment = engine_attachment(job, "input_file")
        self.assertEqual(attachment.raw, csv)
        self.assertTrue(job.input_sha256)
        with self.assertRaisesRegex(AccessError, "stored by the training engine"):
            attachment.with_user(self.users.analyst).write({"raw": b"date,sales\n"})
        with self.assertRaises(AccessError):
            job.with_user(self.users.analyst).write({"input_sha256": "0" * 64})
        # The owner may still replace the upload while the job is a draft: stored again, digest included.
        job.with_user(self.users.analyst).write({"input_file": base64.b64encode(csv + b"\n")})
        self.assertEqual(engine_attachment(job, "input_file").raw, csv + b"\n")
        # Swapped behind the ORM's back: the run refuses the bytes instead of training on them.
        job.with_user(self.users.analyst).action_queue()
        self._tamper(job, "input_file", b"date,sales,store\n2024-01-01,1,a\n")
        self.env["ai.training.job"]._job_cron_run()
        self.assertEqual(job.state, "failed")
        self.assertIn("does not match its recorded SHA-256", job.error_message)

    def test_tampered_parquet_refused_on_every_read_path(self):
        dataset = make_dataset(self.env, name="Tampered")
        other = make_dataset(self.env, name="Donor", frame=sample_frame(n_series=1))
        job = self.env["ai.training.job"].create({"dataset_id": dataset.id, "candidates": "naive"})
        job.action_queue()
        # Another dataset's rows behind this dataset's checksum.
        self._tamper(dataset, "data_file", other._get_parquet_bytes())
        paths = {
            "bytes": dataset._get_parquet_bytes,
            "dataframe": dataset._read_dataframe,
            "excel report": dataset._excel_report_bytes,
            "registration": lambda: dataset._register_s3("bucket", "prefix", dry_run=True),
            "merge parent metadata": dataset._parent_metadata,
        }
        for name, read in paths.items():
            with self.subTest(path=name), self.assertRaisesRegex(AiIntegrityError, "does not match its recorded SHA-256"):
                read()
        self.env["ai.training.job"]._job_cron_run()
        self.assertEqual(job.state, "failed")
        self.assertIn("does not match its recorded SHA-256", job.error_message)

    def test_tampered_artifact_refused_on_download_activation_and_loading(self):
        job = self.env["ai.training.job"].create({"dataset_id": self.dataset.id, "candidates": "naive"})
        version = handmade_version(self.env, job, n_series=3, name="Tampered model")
        donor = self.version._get_artifact_bytes()
        # Another version's signed zip: the signature holds, the SHA-256 does not.
        self._tamper(version, "artifact_file", donor)
        for name, read in {
            "bytes": version._get_artifact_bytes,
            "verify": version.verify_artifact,
            "promote": version.with_user(self.users.analyst).action_promote,
        }.items():
            with self.subTest(path=name), self.assertRaisesRegex(UserError, "does not match its recorded SHA-256"):
                read()
        self.assertEqual(version.state, "development")
        # Bytes and digest both swapped (database access): the signature fails.
        forged = donor[:-30] + b"\0" * 30
        self._tamper(version, "artifact_file", forged)
        import hashlib

        version._engine().write({"artifact_sha256": hashlib.sha256(forged).hexdigest()})
        with self.assertRaisesRegex(UserError, "failed verification"):
            version.with_user(self.users.analyst).action_promote()
        self.assertEqual(version.state, "development")
        self.version.with_user(self.users.analyst).action_set_staging()
        self.assertEqual(self.version.state, "staging")

    # ------------------------------------------------------------------ wizards

    def test_wizards_are_private_to_their_creator(self):
        wizard = self.env["ai.dataset.import.wizard"].with_user(self.users.analyst).create(
            {"file": base64.b64encode(SMALL_CSV.encode()), "filename": "a.csv", "name": "Private"}
        )
        wizard.action_load()
        merge = self.env["ai.dataset.merge.wizard"].with_user(self.users.manager).create(
            {"dataset_ids": [(6, 0, self.dataset.ids)], "name": "m"}
        )
        register = self.env["ai.dataset.register.wizard"].with_user(self.users.manager).create(
            {"dataset_id": self.dataset.id, "bucket": "b"}
        )
        records = [wizard, wizard.column_ids, wizard.mapping_ids, merge, register]
        for other in (self.b_analyst, self.users.foreign, self.users.manager, self.users.analyst):
            for record in records:
                if record.create_uid == other:
                    continue
                if not record.with_user(other).check_access_rights("read", raise_exception=False):
                    continue  # the access CSV already keeps them out (registration: managers only)
                with self.subTest(user=other.login, model=record._name):
                    self.assertFalse(record.with_user(other).search([("id", "in", record.ids)]))
                    with self.assertRaises(AccessError):
                        record.with_user(other).read(["create_date"])
                    with self.assertRaises(AccessError):
                        record.with_user(other).write({"create_uid": other.id})
        with self.assertRaises(AccessError):
            wizard.with_user(self.b_analyst).action_import()
        with self.assertRaises(AccessError):
            self.env["ai.dataset.import.mapping"].with_user(self.b_analyst).create(
                {"wizard_id": wizard.id, "field_name": "sales"}
            )
        self.assertFalse(self.env["ai.dataset"].search([("name", "=", "Private")]))

    # ------------------------------------------------------------------ companies and references

    def test_company_cannot_change_after_creation(self):
        both = new_test_user(
            self.env,
            "ai_both_manager",
            groups="base.group_user,ai_train_model.group_ai_manager",
            company_id=self.company.id,
            company_ids=[(6, 0, (self.company | self.other_company).ids)],
        )
        credential = self.env["ai.ga4.credential"].create({"name": "C", "property_ids": "123"})
        download = self.env["ai.ga4.download"].create(
            {"name": "D", "credential_id": credential.id, "property_id": "123", "start_mode": "rolling"}
        )
        records = [self.dataset, self.job, self.version, credential, download]
        env = self.env(user=both, context={"allowed_company_ids": (self.company | self.other_company).ids})
        for record in records:
            with self.subTest(model=record._name), self.assertRaises(AccessError) as caught:
                record.with_env(env).write({"company_id": self.other_company.id})
            self.assertRegex(str(caught.exception), "cannot be changed after|set by the training engine")
            self.assertEqual(record.company_id, self.company)
        # A related company field does not move its record either (refused or ignored).
        with contextlib.suppress(AccessError):
            self.version.metric_ids[:1].with_env(env).write({"company_id": self.other_company.id})
        self.env.invalidate_all()
        self.assertEqual(self.version.company_id, self.company)

    def test_foreign_references_name_nothing(self):
        secret_name = "Secret B sales"
        Wizard = self.env["ai.dataset.import.wizard"].with_user(self.users.analyst)
        attempts = {
            "wizard create": lambda: Wizard.create({"base_dataset_id": self.other_dataset.id}),
            "wizard default": lambda: Wizard.with_context(default_base_dataset_id=self.other_dataset.id).create({}),
            "wizard write": lambda: Wizard.create({}).write({"base_dataset_id": self.other_dataset.id}),
            "wizard onchange": lambda: Wizard.onchange(
                {"base_dataset_id": self.other_dataset.id}, ["base_dataset_id"], {"base_dataset_id": {}, "name": {}}
            ),
            "job": lambda: self.env["ai.training.job"].with_user(self.users.analyst).create(
                {"dataset_id": self.other_dataset.id}
            ),
            "merge": lambda: self.env["ai.dataset.merge.wizard"].with_user(self.users.analyst).create(
                {"dataset_ids": [(6, 0, (self.dataset | self.other_dataset).ids)]}
            ),
            "lineage": lambda: self.dataset.with_user(self.users.analyst).write(
                {"parent_ids": [(4, self.other_dataset.id)]}
            ),
            "unknown id": lambda: Wizard.create({"base_dataset_id": 10**8}),
        }
        for name, attempt in attempts.items():
            with self.subTest(attempt=name), self.assertRaises(AccessError) as caught:
                attempt()
            message = str(caught.exception)
            self.assertIn("does not exist or is not available to you", message)
            self.assertNotIn(secret_name, message)
            self.assertNotIn(str(self.other_dataset.id), message)

    # ------------------------------------------------------------------ states

    def test_states_only_through_their_buttons(self):
        credential = self.env["ai.ga4.credential"].create({"name": "S", "property_ids": "123"})
        download = self.env["ai.ga4.download"].create(
            {"name": "S", "credential_id": credential.id, "property_id": "123", "start_mode": "rolling"}
        )
        cases = [
            (self.dataset, "state", "archived"),
            (self.dataset, "state", "registered"),
            (self.dataset, "s3_key", "s3://forged/key"),
            (self.job, "state", "done"),
            (self.version, "state", "production"),
            (credential, "check_state", "ok"),
            (download, "state", "done"),
        ]
        for record, field, value in cases:
            for user in (self.users.analyst, self.users.manager):
                with self.subTest(model=record._name, value=value, user=user.login):
                    # Refused by the access rights (analysts on credentials) or as engine-owned.
                    with self.assertRaisesRegex(AccessError, "set by the training engine|not allowed to modify"):
                        record.with_user(user).write({field: value})
        self.assertEqual(self.dataset.state, "ready")
        Dataset = self.env["ai.dataset"].with_user(self.users.analyst)
        with self.assertRaises(AccessError):
            Dataset.create({"name": "Forged", "state": "registered"})
        forged = Dataset.with_context(default_state="registered", default_s3_key="s3://forged/key").create(
            {"name": "Forged"}
        )
        self.assertEqual((forged.state, forged.s3_key), ("draft", False))
        with self.assertRaises(AccessError):
            self.env["ai.model.version"].with_user(self.users.manager).with_context(default_state="production").create(
                {"name": "x", "version": 9, "company_id": self.company.id}
            )
        # The buttons still move them, with their own checks.
        with self.assertRaises(AccessError):
            self.dataset.with_user(self.users.analyst).action_archive()
        self.dataset.with_user(self.users.manager).action_archive()
        self.assertEqual(self.dataset.state, "archived")
        self.assertEqual(self.dataset.archived_by_id, self.users.manager)
        with self.assertRaises(AccessError):
            self.version.with_user(self.users.user).action_set_staging()

    # ------------------------------------------------------------------ secrets

    def _key_text(self):
        return json.dumps(ga4_fake.make_service_account())

    def _raw(self, query, args):
        self.env.flush_all()
        self.env.cr.execute(query, args)
        return self.env.cr.fetchone()[0]

    def test_secrets_encrypted_at_rest_with_rotation(self):
        text = self._key_text()
        pem_line = json.loads(text)["private_key"].splitlines()[1]
        settings_secret = "s3-SECRET-abcdefghijklmnop"
        with patch.dict(config.options, {CONFIG_KEY: "first key passphrase", CONFIG_OLD_KEYS: ""}):
            credential = self.env["ai.ga4.credential"].with_user(self.users.manager).create(
                {"name": "Encrypted", "key_json": text, "property_ids": "123"}
            )
            self.env["res.config.settings"].create({"ai_s3_secret_access_key": settings_secret}).execute()
            stored_key = self._raw("SELECT key_secret FROM ai_ga4_credential WHERE id = %s", (credential.id,))
            stored_s3 = self._raw("SELECT value FROM ir_config_parameter WHERE key = %s", (S3_SECRET_PARAM,))
            for stored, secret in ((stored_key, pem_line), (stored_s3, settings_secret)):
                self.assertTrue(stored.startswith(PREFIX))
                self.assertNotIn(secret, stored)
                self.assertNotIn(secret, base64.urlsafe_b64decode(stored[len(PREFIX) :]).decode("latin-1"))
            # Nothing in the whole table row either.
            self.env.cr.execute("SELECT row_to_json(c)::text FROM ai_ga4_credential c WHERE id = %s", (credential.id,))
            self.assertNotIn(pem_line, self.env.cr.fetchone()[0])
            # Readers decrypt.
            credential.invalidate_recordset()
            self.assertIn(pem_line, credential.with_user(self.users.manager).key_json)
            self.assertEqual(credential._service_account().public_summary()["client_email"], credential.client_email)
            self.assertEqual(self.env["ai.dataset.registration"]._s3_settings()["secret_access_key"], settings_secret)
        # Rotation: the new key first, the old one still accepted, then re-encrypted.
        with patch.dict(config.options, {CONFIG_KEY: "second key", CONFIG_OLD_KEYS: "first key passphrase"}):
            self.env.invalidate_all()
            self.assertIn(pem_line, credential.with_user(self.users.manager).key_json)
            self.assertEqual(self.env["ai.secret"]._ai_rotate_secrets(), 2)
            self.assertEqual(self.env["ai.secret"]._ai_rotate_secrets(), 0)
            rotated = self._raw("SELECT key_secret FROM ai_ga4_credential WHERE id = %s", (credential.id,))
            self.assertNotEqual(rotated, stored_key)
        with patch.dict(config.options, {CONFIG_KEY: "second key", CONFIG_OLD_KEYS: ""}):
            self.env.invalidate_all()
            self.assertIn(pem_line, credential.with_user(self.users.manager).key_json)
            self.assertEqual(self.env["ai.dataset.registration"]._s3_settings()["secret_access_key"], settings_secret)
        # The old key alone cannot open them any more; no key at all says so.
        with patch.dict(config.options, {CONFIG_KEY: "first key passphrase", CONFIG_OLD_KEYS: ""}):
            self.env.invalidate_all()
            with self.assertRaisesRegex(UserError, "cannot be decrypted"):
                credential._service_account()
        with patch.dict(config.options, {CONFIG_KEY: "", CONFIG_OLD_KEYS: ""}):
            self.env.invalidate_all()
            with self.assertRaisesRegex(UserError, "ai_train_model_secret_key"):
                credential._service_account()

    def test_no_key_keeps_plain_storage_and_warns(self):
        text = self._key_text()
        with patch.dict(config.options, {CONFIG_KEY: "", CONFIG_OLD_KEYS: ""}), self.assertLogs(
            "odoo.addons.ai_train_model.models.ai_secret", "WARNING"
        ) as logs:
            credential = self.env["ai.ga4.credential"].create({"name": "Plain", "key_json": text, "property_ids": "1"})
            self.assertFalse(self.env["res.config.settings"].create({}).ai_secret_key_configured)
        self.assertIn("stored in plain text", logs.output[0])
        self.assertEqual(self._raw("SELECT key_secret FROM ai_ga4_credential WHERE id = %s", (credential.id,)), text)
        # A key configured later: the rotation encrypts what was plain.
        with patch.dict(config.options, {CONFIG_KEY: "late key", CONFIG_OLD_KEYS: ""}):
            self.assertTrue(self.env["res.config.settings"].create({}).ai_secret_key_configured)
            self.env["ai.secret"]._ai_rotate_secrets()
            stored = self._raw("SELECT key_secret FROM ai_ga4_credential WHERE id = %s", (credential.id,))
            self.assertTrue(stored.startswith(PREFIX))
            credential.invalidate_recordset()
            self.assertEqual(credential.key_json, text)

    # ------------------------------------------------------------------ chatter

    def test_import_by_a_user_without_email(self):
        user = new_test_user(
            self.env, "ai_no_email", groups="base.group_user,ai_train_model.group_ai_analyst", email=False
        )
        self.assertFalse(user.email)
        wizard = self.env["ai.dataset.import.wizard"].with_user(user).create(
            {"file": base64.b64encode(SMALL_CSV.encode()), "filename": "a.csv", "name": "No e-mail import"}
        )
        wizard.action_load()
        wizard.action_import()
        self.assertTrue(wizard.dataset_id, wizard.rejection_reason)
        bodies = " ".join(str(body) for body in wizard.dataset_id.message_ids.mapped("body"))
        self.assertIn("Imported from a.csv", bodies)


@tagged("post_install", "-at_install")
class TestSigningKeyRace(TransactionCase):
    """Two real connections (``registry.cursor()``, not the test cursor) ask
    for the same missing parameter at the same time; the loser's snapshot
    predates the winner's commit (what a cron worker sees)."""

    PARAM = "ai_train_model.test_signing_key_race"

    def _cleanup(self):
        with self.registry.cursor() as cr:
            cr.execute("DELETE FROM ir_config_parameter WHERE key = %s", (self.PARAM,))

    def test_created_once_under_concurrency(self):
        self._cleanup()
        self.addCleanup(self._cleanup)
        results, errors = {}, []
        with self.registry.cursor() as cr1, self.registry.cursor() as cr2:
            env1 = api.Environment(cr1, SUPERUSER_ID, {})
            env2 = api.Environment(cr2, SUPERUSER_ID, {})
            cr2.execute("SELECT 1")  # cr2's snapshot starts now, before cr1 commits
            results["first"] = env1["ir.config_parameter"]._ai_get_or_create_param(self.PARAM, lambda: "first")

            def second():
                try:
                    results["second"] = env2["ir.config_parameter"]._ai_get_or_create_param(
                        self.PARAM, lambda: "second"
                    )
                    cr2.commit()
                except Exception as exc:  # noqa: BLE001 - reported below
                    errors.append(exc)

            thread = threading.Thread(target=second)
            thread.start()
            thread.join(timeout=1)
            self.assertTrue(thread.is_alive(), "the second insert waits for the first transaction")
            cr1.commit()
            thread.join(timeout=30)
        self.assertFalse(errors, errors)
        self.assertEqual(results, {"first": "first", "second": "first"})
        with self.registry.cursor() as cr:
            cr.execute("SELECT value FROM ir_config_parameter WHERE key = %s", (self.PARAM,))
            self.assertEqual(cr.fetchall(), [("first",)])

    def test_signing_key_uses_it(self):
        key = self.env["ai.model.version"]._get_signing_key()
        self.assertEqual(len(key), 64)
        self.assertEqual(self.env["ai.model.version"]._get_signing_key(), key)
