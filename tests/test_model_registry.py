import base64
import io
import zipfile

from odoo.exceptions import AccessError, UserError
from odoo.tests import TransactionCase, tagged

from ..project import model_artifact
from .common import handmade_version, make_dataset, make_users


@tagged("post_install", "-at_install")
class TestModelRegistry(TransactionCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.other_company = cls.env["res.company"].create({"name": "Other Co"})
        cls.users = make_users(cls.env, cls.env.company, cls.other_company)
        cls.dataset = make_dataset(cls.env)
        cls.target = cls.env["ai.forecast.target"].create(
            {"name": "Pageviews", "dataset_id": cls.dataset.id, "target_col": "pageviews", "series_cols": "page"}
        )
        job = cls.env["ai.training.job"].create({"dataset_id": cls.dataset.id, "candidates": "naive,snaive"})
        cls.v1 = handmade_version(cls.env, job)
        cls.v2 = handmade_version(cls.env, job)
        cls.v3 = handmade_version(cls.env, job)
        (cls.v1 | cls.v2 | cls.v3).write({"target_id": cls.target.id})

    def _history(self, alias="champion"):
        return self.env["ai.model.alias.history"].search(
            [("target_id", "=", self.target.id), ("alias", "=", alias)], order="id"
        )

    def test_new_versions_are_in_development(self):
        self.assertEqual(self.v1.state, "development")
        self.assertFalse(self.v1.alias)

    def test_promote_then_rollback_restores_previous_champion(self):
        analyst = self.users.analyst
        self.v1.with_user(analyst).action_promote(reason="first model")
        self.assertEqual(self.target.champion_id, self.v1)
        self.assertFalse(self.target.can_roll_back, "no earlier champion: the button is hidden")
        self.assertEqual((self.v1.state, self.v1.alias), ("production", "champion"))
        self.assertTrue(self.v1.date_live)
        self.v2.with_user(analyst).action_promote(reason="better backtest")
        self.assertEqual(self.target.champion_id, self.v2)
        self.assertEqual(self.v1.state, "staging")
        self.assertFalse(self.v1.alias)
        self.target.invalidate_recordset(["can_roll_back"])
        self.assertTrue(self.target.can_roll_back)
        self.assertTrue(self.v2.target_can_roll_back)
        self.target.with_user(analyst).action_rollback()
        self.assertEqual(self.target.champion_id, self.v1)
        self.assertEqual((self.v1.state, self.v2.state), ("production", "staging"))
        history = self._history()
        self.assertEqual(history.mapped("version_id"), self.v1 | self.v2 | self.v1)
        self.assertEqual(len(history.filtered(lambda line: not line.date_to)), 1)
        self.assertEqual(history[1].end_user_id, analyst)
        self.assertIn("Rollback", history[1].end_reason)
        self.assertEqual(history[0].reason, "first model")
        # A second rollback goes back to v2: the previous champion is always the last other one.
        self.v1.action_rollback()
        self.assertEqual(self.target.champion_id, self.v2)
        self.assertTrue(any("Rollback" in (m.body or "") for m in self.target.message_ids))

    def _wizard(self, action, record, user, context=None):
        """Open the reason wizard as ``user`` the way the form button does."""
        record = record.with_user(user).with_context(**(context or {}))
        result = (
            record.action_open_rollback_wizard() if action == "rollback" else record.action_open_alias_wizard()
        )
        self.assertEqual((result["res_model"], result["target"]), ("ai.model.alias.wizard", "new"))
        return self.env["ai.model.alias.wizard"].with_user(user).browse(result["res_id"])

    def test_reason_wizard_for_promote_challenger_and_rollback(self):
        analyst = self.users.analyst
        self._wizard("promote", self.v1, analyst, {"alias_action": "promote"}).action_confirm()
        self.v1._engine().write({"metric": "mase", "score": 0.912})
        self.v2._engine().write({"metric": "mase", "score": 0.834})
        wizard = self._wizard("promote", self.v2, analyst, {"alias_action": "promote"})
        self.assertIn(self.v2.display_name, wizard.summary)
        # The dialog compares with the champion it replaces.
        self.assertIn("0.834 against 0.912", wizard.summary)
        wizard.reason = "better wMAPE over 14 days"
        wizard.action_confirm()
        self.assertEqual(self.target.champion_id, self.v2)
        self.assertEqual(self._history()[-1].reason, "better wMAPE over 14 days")
        self.assertTrue(any("better wMAPE over 14 days" in (m.body or "") for m in self.v2.message_ids))
        challenger = self._wizard("challenger", self.v3, analyst, {"alias_action": "challenger"})
        challenger.reason = "try the holiday features"
        challenger.action_confirm()
        self.assertEqual(self.target.challenger_id, self.v3)
        self.assertEqual(self._history("challenger")[-1].reason, "try the holiday features")
        # A rollback needs a reason: refused without one, nothing moves.
        rollback = self._wizard("rollback", self.target, analyst)
        self.assertTrue(rollback.reason_required)
        self.assertIn(self.v1.display_name, rollback.summary)
        with self.assertRaises(UserError):
            rollback.action_confirm()
        self.assertEqual(self.target.champion_id, self.v2)
        rollback.reason = "  the new model misses the holidays  "
        rollback.action_confirm()
        self.assertEqual(self.target.champion_id, self.v1)
        line = self._history()[-1]
        self.assertEqual((line.version_id, line.reason), (self.v1, "the new model misses the holidays"))
        self.assertTrue(any("the new model misses the holidays" in (m.body or "") for m in self.target.message_ids))
        # From the version form too, and only for Analysts.
        with self.assertRaises(AccessError):
            self._wizard("rollback", self.v1, self.users.user)

    def test_rollback_without_previous_champion_is_refused(self):
        with self.assertRaises(UserError):
            self.target.action_rollback()
        self.v1.action_promote()
        with self.assertRaises(UserError):
            self.target.action_rollback()

    def test_one_challenger_and_promoting_it_clears_the_alias(self):
        self.v1.action_promote()
        self.v2.action_set_challenger()
        self.v3.action_set_challenger()
        self.assertEqual(self.target.challenger_id, self.v3)
        self.assertFalse(self.v2.alias)
        with self.assertRaises(UserError):
            self.v1.action_set_challenger()
        self.v3.action_promote()
        self.assertEqual(self.target.champion_id, self.v3)
        self.assertFalse(self.target.challenger_id)
        self.assertFalse(self._history("challenger").filtered(lambda line: not line.date_to))

    def test_archiving_keeps_history_and_champion_cannot_be_archived(self):
        self.v1.action_promote()
        self.v2.action_promote()
        with self.assertRaises(UserError):
            self.v2.action_archive_version()
        self.v1.action_archive_version()
        self.assertEqual(self.v1.state, "archived")
        self.assertEqual(len(self._history()), 2)
        self.assertEqual(self._history()[0].version_name, self.v1.display_name)
        # Rolling back to an archived former champion brings it back to production.
        self.target.action_rollback()
        self.assertEqual((self.target.champion_id, self.v1.state), (self.v1, "production"))

    def test_readers_cannot_promote_and_status_is_engine_owned(self):
        with self.assertRaises(AccessError):
            self.v1.with_user(self.users.user).action_promote()
        with self.assertRaises(AccessError):
            self.v1.with_user(self.users.manager).write({"state": "production"})
        with self.assertRaises(AccessError):
            self.env["ai.model.alias.history"].with_user(self.users.manager).create(
                {
                    "company_id": self.env.company.id,
                    "target_id": self.target.id,
                    "version_name": "forged",
                    "alias": "champion",
                    "date_from": "2026-01-01",
                }
            )

    def test_comparison_lists_backtest_buckets_of_each_version(self):
        action = (self.v1 | self.v2).action_compare()
        rows = self.env["ai.model.comparison"].search(action["domain"])
        self.assertEqual(set(rows.mapped("version_id")), {self.v1, self.v2})
        d1 = rows.filtered(lambda r: r.version_id == self.v1 and r.bucket == "D+1" and r.source == "backtest")
        self.assertAlmostEqual(d1.value, 0.9)  # the chosen snaive line of each series


@tagged("post_install", "-at_install")
class TestModelImport(TransactionCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.dataset = make_dataset(cls.env)
        cls.target = cls.env["ai.forecast.target"].create(
            {"name": "Imported", "dataset_id": cls.dataset.id, "target_col": "pageviews", "series_cols": "page"}
        )
        job = cls.env["ai.training.job"].create({"dataset_id": cls.dataset.id, "candidates": "naive,snaive"})
        cls.source = handmade_version(cls.env, job)
        cls.raw = cls.source._get_artifact_bytes()

    def _import(self, raw, name="model.zip"):
        wizard = self.env["ai.model.import.wizard"].create(
            {"target_id": self.target.id, "artifact_file": base64.b64encode(raw), "artifact_filename": name}
        )
        return wizard.action_import()

    def _count(self):
        return self.env["ai.model.version"].search_count([("target_id", "=", self.target.id)])

    def test_signed_zip_becomes_a_development_version(self):
        action = self._import(self.raw)
        version = self.env["ai.model.version"].browse(action["res_id"])
        self.assertEqual(version.target_id, self.target)
        self.assertEqual(version.state, "development")
        self.assertEqual(version.artifact_size, len(self.raw))
        self.assertEqual(len(version.metric_ids), 12)
        version.verify_artifact()

    def test_tampered_zip_refused_and_nothing_created(self):
        members = {}
        with zipfile.ZipFile(io.BytesIO(self.raw)) as archive:
            for info in archive.infolist():
                members[info.filename] = archive.read(info)
        members["forecast.csv"] = members["forecast.csv"].replace(b"1.0", b"9.0")
        buffer = io.BytesIO()
        with zipfile.ZipFile(buffer, "w") as archive:
            for name, data in members.items():
                archive.writestr(name, data)
        with self.assertRaises(UserError) as caught:
            self._import(buffer.getvalue())
        self.assertIn("refused", str(caught.exception))
        self.assertEqual(self._count(), 0)

    def test_foreign_key_and_garbage_refused(self):
        import tempfile
        from pathlib import Path

        import pandas as pd

        with tempfile.TemporaryDirectory() as tmp:
            path = model_artifact.build_artifact(
                Path(tmp) / "foreign.zip",
                model={"kind": "handmade"},
                metadata={"horizon": 7},
                forecast=pd.DataFrame({"unique_id": ["a"], "ds": ["2016-01-01"], "horizon": [1], "yhat": [1.0]}),
                metrics=pd.DataFrame(),
                signing_key=b"another database's key",
            )
            foreign = Path(path).read_bytes()
        for raw in (foreign, b"not a zip at all"):
            with self.assertRaises(UserError):
                self._import(raw)
        self.assertEqual(self._count(), 0)


@tagged("post_install", "-at_install")
class TestAutoPromotion(TransactionCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.dataset = make_dataset(cls.env)
        cls.target = cls.env["ai.forecast.target"].create(
            {"name": "Auto", "dataset_id": cls.dataset.id, "target_col": "pageviews", "series_cols": "page"}
        )
        job = cls.env["ai.training.job"].create({"dataset_id": cls.dataset.id, "candidates": "naive,snaive"})
        cls.champion = handmade_version(cls.env, job)
        cls.challenger = handmade_version(cls.env, job)
        (cls.champion | cls.challenger).write({"target_id": cls.target.id})
        cls.champion.action_promote()
        cls.challenger.action_set_challenger()

    def _score(self, days=3):
        import pandas as pd

        dates = pd.date_range("2026-01-01", periods=days)
        rows = []
        for version, miss, kind in ((self.champion, 10.0, "forecast"), (self.challenger, 1.0, "shadow")):
            for day in dates:
                rows.append(
                    (version.id, "s", "S", day.date(), 1, kind,
                     100.0 + miss, 90.0, 120.0, 80.0, 130.0)
                )  # fmt: skip
        self.env["ai.prediction"]._upsert_rows(rows)
        run = self.env["ai.forecast.run"]._queue(self.target, "refresh", f"manual-{days}")
        run._fill_actuals(pd.DataFrame({"unique_id": "s", "ds": dates, "y": 100.0}))
        self.assertEqual(
            self.env["ai.prediction"].search_count([("target_id", "=", self.target.id), ("has_actual", "=", True)]),
            2 * days,
        )
        return run

    def test_off_by_default(self):
        self.assertFalse(self.target.auto_promote)
        run = self._score()
        self.assertFalse(run._auto_promote())
        self.assertEqual(self.target.champion_id, self.champion)

    def test_promotes_the_better_challenger_and_says_so(self):
        self.target.write({"auto_promote": True, "auto_promote_margin": 50.0, "auto_promote_days": 3})
        run = self._score(days=2)
        self.assertFalse(run._auto_promote(), "fewer days of actuals than required")
        run = self._score(days=3)
        self.assertTrue(run._auto_promote())
        self.assertEqual(self.target.champion_id, self.challenger)
        self.assertIn("Automatic promotion", self.target.alias_history_ids[0].reason)
        self.assertTrue(any("Automatic promotion" in (m.body or "") for m in self.challenger.message_ids))

    def test_margin_not_met_keeps_the_champion(self):
        self.target.write({"auto_promote": True, "auto_promote_margin": 95.0, "auto_promote_days": 3})
        run = self._score()
        self.assertFalse(run._auto_promote())
        self.assertEqual(self.target.champion_id, self.champion)
