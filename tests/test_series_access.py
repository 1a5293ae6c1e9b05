"""Store-level roles (issue 8): a plain AI User reads only the series assigned
to them or to one of their groups, in the list, the chart and the API;
Analysts and Managers read every series of their companies; a user without
AI group and another company's users read nothing."""

import json

from odoo.exceptions import AccessError, MissingError, UserError, ValidationError
from odoo.tests import HttpCase, TransactionCase, new_test_user, tagged

from ..project.tests import ga4_fake
from .common import handmade_version, make_dataset, make_users
from .test_health import api_key
from .test_prediction_api import URL, rows_of

ALL_KEYS = {"page 0", "page 1", "page 2"}


@tagged("post_install", "-at_install")
class TestSeriesAccess(HttpCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.company = cls.env.company
        cls.company_b = cls.env["res.company"].create({"name": "Store Access Co B"})
        cls.users = make_users(cls.env, cls.company, cls.company_b)
        cls.store_group = cls.env["res.groups"].create({"name": "Store 2 managers"})
        cls.store2 = new_test_user(
            cls.env,
            "ai_store2",
            groups="base.group_user,ai_train_model.group_ai_user",
            company_id=cls.company.id,
            company_ids=[(6, 0, cls.company.ids)],
        )
        cls.store2.groups_id += cls.store_group
        cls.b_user = new_test_user(
            cls.env,
            "ai_b_user",
            groups="base.group_user,ai_train_model.group_ai_user",
            company_id=cls.company_b.id,
            company_ids=[(6, 0, cls.company_b.ids)],
        )
        dataset = make_dataset(cls.env)
        cls.target = cls.env["ai.forecast.target"].create(
            {"name": "Store sales", "dataset_id": dataset.id, "target_col": "pageviews", "series_cols": "page"}
        )
        job = cls.env["ai.training.job"].create({"dataset_id": dataset.id, "candidates": "naive,snaive"})
        cls.version = handmade_version(cls.env, job)
        cls.version.target_id = cls.target
        cls.version.action_promote()
        cls.env["ai.prediction"]._upsert_rows(rows_of(cls.version))  # page 0..2, 5 days each
        cls.env["ai.prediction.accuracy"]._store(
            cls.version,
            [(key, "1-28", "mase", 1.0, 5, "2026-01-01", "2026-01-05") for key in (*sorted(ALL_KEYS), "*")],
        )
        # Company B: same series keys, assigned to its own user.
        dataset_b = make_dataset(cls.env, company=cls.company_b, name="B sales")
        cls.target_b = cls.env["ai.forecast.target"].create(
            {
                "name": "B sales",
                "company_id": cls.company_b.id,
                "dataset_id": dataset_b.id,
                "target_col": "pageviews",
                "series_cols": "page",
            }
        )
        job_b = cls.env["ai.training.job"].create(
            {"dataset_id": dataset_b.id, "candidates": "naive", "company_id": cls.company_b.id}
        )
        version_b = handmade_version(cls.env, job_b)
        version_b.target_id = cls.target_b
        version_b.action_promote()
        cls.env["ai.prediction"]._upsert_rows(rows_of(version_b))
        Assignment = cls.env["ai.series.assignment"]
        Assignment.create({"target_id": cls.target.id, "series_keys": "page 1\n", "user_ids": [(6, 0, cls.users.user.ids)]})
        Assignment.create(
            {"target_id": cls.target.id, "series_keys": "page 2\nno such page", "group_ids": [(6, 0, cls.store_group.ids)]}
        )
        Assignment.create(
            {"target_id": cls.target_b.id, "series_keys": "page 0\npage 1", "user_ids": [(6, 0, cls.b_user.ids)]}
        )

    def _keys(self, user, model="ai.prediction", domain=()):
        return set(self.env[model].with_user(user).search(list(domain)).mapped("series_key"))

    # ------------------------------------------------------------------ list / ORM

    def test_user_reads_only_assigned_series(self):
        self.assertEqual(self._keys(self.users.user), {"page 1"})
        self.assertEqual(self.env["ai.prediction"].with_user(self.users.user).search_count([]), 5)
        self.assertEqual(self._keys(self.store2), {"page 2"}, "assigned through a group")
        # Grouped reads (pivot, graph, dashboard totals) see the same rows.
        groups = self.env["ai.prediction"].with_user(self.users.user).read_group([], ["yhat:sum"], ["series_key"])
        self.assertEqual([g["series_key"] for g in groups], ["page 1"])
        # Reading another series' record by id is refused.
        other = self.env["ai.prediction"].search([("target_id", "=", self.target.id), ("series_key", "=", "page 0")])
        with self.assertRaises(AccessError):
            other.with_user(self.users.user).read(["yhat"])

    def test_live_accuracy_follows_the_assignment(self):
        self.assertEqual(self._keys(self.users.user, "ai.prediction.accuracy"), {"page 1"})
        self.assertEqual(self._keys(self.users.analyst, "ai.prediction.accuracy"), ALL_KEYS | {"*"})

    def test_backtest_metrics_follow_the_assignment(self):
        import pandas as pd

        self.env["ai.model.metric"]._import_frame(
            self.version,
            pd.DataFrame(
                [
                    {"unique_id": key, "model": "snaive", "bucket": "D+1", "metric": "mase", "value": 1.0, "chosen": True}
                    for key in sorted(ALL_KEYS)
                ]
            ),
        )
        domain = [("version_id", "=", self.version.id), ("unique_id", "in", sorted(ALL_KEYS))]

        def series(user):
            return set(self.env["ai.model.metric"].with_user(user).search(domain).mapped("unique_id"))

        self.assertEqual(series(self.users.user), {"page 1"})
        self.assertEqual(series(self.users.analyst), ALL_KEYS)
        # The chart's "mean of all series" is a grouped read: it averages the user's series only.
        groups = self.env["ai.model.metric"].with_user(self.users.user).read_group(domain, ["value:avg"], ["unique_id"])
        self.assertEqual([g["unique_id"] for g in groups], ["page 1"])

    def test_alerts_of_other_series_stay_hidden(self):
        Alert = self.env["ai.forecast.alert"]
        Alert._raise(self.target, "drift", "pageviews", "Drift on pageviews", version=self.version)
        for key in sorted(ALL_KEYS):
            Alert._raise(self.target, "anomaly", f"{key} @ 2026-01-02", f"Anomalies on {key}", self.version)
        Alert._raise(self.target_b, "drift", "pageviews", "Drift on B", version=None)
        self.env.flush_all()

        def seen(user):
            return set(Alert.with_user(user).search([]).mapped("key"))

        self.assertEqual(seen(self.users.user), {"pageviews", "page 1 @ 2026-01-02"})
        self.assertEqual(seen(self.store2), {"pageviews", "page 2 @ 2026-01-02"})
        self.assertEqual(len(Alert.with_user(self.users.analyst).search([])), 4)
        self.assertEqual(seen(self.b_user), {"pageviews"})
        self.assertEqual(Alert.with_user(self.b_user).search([]).target_id, self.target_b)

    def test_assigned_flag_is_searchable(self):
        mine = self.env["ai.prediction"].with_user(self.users.analyst).search([("series_allowed", "=", True)])
        self.assertFalse(mine, "nothing is assigned to the analyst: they see all through their group")
        not_mine = self.env["ai.prediction"].with_user(self.users.user).search([("series_allowed", "=", False)])
        self.assertFalse(not_mine)

    def test_analyst_and_manager_read_every_series_of_their_company(self):
        for user in (self.users.analyst, self.users.manager):
            self.assertEqual(self._keys(user), ALL_KEYS, user.login)
            self.assertEqual(
                set(self.env["ai.prediction"].with_user(user).search([]).mapped("target_id")), {self.target}
            )

    def test_other_company_and_no_ai_group_read_nothing(self):
        self.assertEqual(
            set(self.env["ai.prediction"].with_user(self.b_user).search([]).mapped("target_id")), {self.target_b}
        )
        self.assertEqual(self._keys(self.b_user), {"page 0", "page 1"})
        self.assertEqual(self._keys(self.users.foreign, domain=[("target_id", "=", self.target.id)]), set())
        with self.assertRaises(AccessError):
            self.env["ai.prediction"].with_user(self.users.plain).search([])

    def test_unassigned_user_reads_nothing(self):
        lonely = new_test_user(self.env, "ai_lonely", groups="base.group_user,ai_train_model.group_ai_user")
        self.assertEqual(self.env["ai.prediction"].with_user(lonely).search_count([]), 0)

    def test_assignment_managed_by_analysts_only(self):
        Assignment = self.env["ai.series.assignment"]
        values = {"target_id": self.target.id, "series_keys": "page 0", "user_ids": [(6, 0, self.users.user.ids)]}
        with self.assertRaises(AccessError):
            Assignment.with_user(self.users.user).create(values)
        Assignment.with_user(self.users.analyst).create(values)
        self.assertEqual(self._keys(self.users.user), {"page 0", "page 1"}, "visible at once, nothing to recompute")
        with self.assertRaises(ValidationError):
            Assignment.with_user(self.users.analyst).create({**values, "user_ids": []})
        with self.assertRaises(ValidationError):
            Assignment.with_user(self.users.analyst).create({**values, "series_keys": " \n"})
        # The other company's target and assignments stay out of reach.
        self.assertFalse(Assignment.with_user(self.users.analyst).search([("target_id", "=", self.target_b.id)]))

    # ------------------------------------------------------------------ chart

    def test_chart_lists_and_draws_only_assigned_series(self):
        chart = self.env["ai.forecast.chart"]
        data = chart.with_user(self.users.user).get_chart_data("ai.forecast.target", self.target.id)
        self.assertEqual(data["series"], ["page 1"])
        self.assertEqual(data["series_key"], "page 1")
        self.assertEqual(len(data["forecast"]), 5)
        with self.assertRaises(UserError):
            chart.with_user(self.users.user).get_chart_data("ai.forecast.target", self.target.id, series_key="page 0")
        # On the model version too: the artifact's own series are filtered.
        data = chart.with_user(self.users.user).get_chart_data("ai.model.version", self.version.id)
        self.assertEqual(data["series"], ["page 1"])
        analyst = chart.with_user(self.users.analyst).get_chart_data("ai.forecast.target", self.target.id)
        self.assertTrue(ALL_KEYS <= set(analyst["series"]))
        lonely = new_test_user(self.env, "ai_lonely2", groups="base.group_user,ai_train_model.group_ai_user")
        empty = chart.with_user(lonely).get_chart_data("ai.forecast.target", self.target.id)
        self.assertEqual((empty["series"], empty["forecast"], empty["history"]), ([], [], []))
        self.assertTrue(empty["messages"])

    # ------------------------------------------------------------------ API

    def test_api_serves_only_assigned_series(self):
        def get(user):
            key = api_key(self.env, user, "store")
            return self.url_open(
                f"{URL}?target={self.target.id}&limit=100", headers={"Authorization": f"Bearer {key}"}
            )

        body = get(self.users.user).json()
        self.assertEqual({row["series_key"] for row in body["data"]}, {"page 1"})
        self.assertEqual(body["count"], 5)
        self.assertEqual(get(self.users.analyst).json()["count"], 15)
        self.assertEqual(get(self.users.foreign).status_code, 404)

    # ------------------------------------------------------------------ browser

    def test_store_user_tour(self):
        self.start_tour("/web#action=ai_train_model.ai_prediction_action", "ai_train_model_store_predictions", login="ai_reader")
        url = f"/web#model=ai.forecast.target&id={self.target.id}&view_type=form"
        self.start_tour(url, "ai_train_model_store_chart", login="ai_reader")


@tagged("post_install", "-at_install")
class TestRoleCapabilities(TransactionCase):
    """What each role can do, across two companies: the User reads, the
    Analyst imports, trains and promotes, the Manager holds credentials,
    settings and the scheduled actions."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.company_b = cls.env["res.company"].create({"name": "Roles Co B"})
        cls.users = make_users(cls.env, cls.env.company, cls.company_b)
        cls.dataset = make_dataset(cls.env)
        cls.target = cls.env["ai.forecast.target"].create(
            {"name": "Roles", "dataset_id": cls.dataset.id, "target_col": "pageviews", "series_cols": "page"}
        )
        job = cls.env["ai.training.job"].create({"dataset_id": cls.dataset.id, "candidates": "naive"})
        cls.version = handmade_version(cls.env, job)
        cls.version.target_id = cls.target
        cls.sa = json.dumps(ga4_fake.make_service_account())

    def _can(self, user, action):
        try:
            with self.env.cr.savepoint():
                action(user)
                self.env.flush_all()
        except (AccessError, MissingError):
            return False
        return True

    def test_each_role_does_exactly_its_part(self):
        def import_file(user):
            self.env["ai.dataset.import.wizard"].with_user(user).create({})

        def train(user):
            job = self.env["ai.training.job"].with_user(user).create({"dataset_id": self.dataset.id, "candidates": "naive"})
            job.action_queue()

        def promote(user):
            self.version.with_user(user).action_promote()

        def store_access(user):
            self.env["ai.series.assignment"].with_user(user).create(
                {"target_id": self.target.id, "series_keys": "page 0", "user_ids": [(6, 0, self.users.user.ids)]}
            )

        def credential(user):
            self.env["ai.ga4.credential"].with_user(user).create({"name": "GA4", "key_json": self.sa, "property_ids": "1"})

        def settings(user):
            self.env["ai.forecast.settings"].with_user(user).create({"n_jobs": 2}).execute()

        actions = {
            "import": import_file,
            "train": train,
            "promote": promote,
            "store access": store_access,
            "credential": credential,
            "settings and crons": settings,
        }
        expected = {
            "user": set(),
            "analyst": {"import", "train", "promote", "store access"},
            "manager": set(actions),
            "plain": set(),
        }
        for role, allowed in expected.items():
            user = getattr(self.users, role)
            for name, action in actions.items():
                with self.subTest(role=role, action=name):
                    self.assertEqual(self._can(user, action), name in allowed)

    def test_other_company_manager_reaches_nothing_of_ours(self):
        foreign = self.users.foreign
        self.assertFalse(self.env["ai.forecast.target"].with_user(foreign).search([("id", "=", self.target.id)]))
        self.assertFalse(self._can(foreign, lambda user: self.version.with_user(user).action_promote()))
        self.assertFalse(
            self._can(
                foreign,
                lambda user: self.env["ai.series.assignment"].with_user(user).create(
                    {"target_id": self.target.id, "series_keys": "page 0", "user_ids": [(6, 0, user.ids)]}
                ),
            )
        )
