import datetime
from urllib.parse import parse_qs, urlsplit

from odoo.tests import HttpCase, tagged

from .common import handmade_version, make_dataset, make_users
from .test_health import api_key
from .test_prediction import prediction_rows

URL = "/ai_train_model/api/v1/predictions"
START = datetime.date(2026, 1, 1)


def rows_of(version, kind="forecast", **kwargs):
    """``prediction_rows`` with the prediction type set to ``kind``."""
    return [row[:5] + (kind,) + row[6:] for row in prediction_rows(version, **kwargs)]


@tagged("post_install", "-at_install")
class TestPredictionApi(HttpCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.company = cls.env.company
        cls.other_company = cls.env["res.company"].create({"name": "API Other Co"})
        cls.users = make_users(cls.env, cls.company, cls.other_company)
        Prediction = cls.env["ai.prediction"]

        dataset = make_dataset(cls.env)
        cls.target = cls.env["ai.forecast.target"].create(
            {"name": "Pageviews", "dataset_id": dataset.id, "target_col": "pageviews", "series_cols": "page"}
        )
        job = cls.env["ai.training.job"].create({"dataset_id": dataset.id, "candidates": "naive,snaive"})
        cls.champion, cls.challenger, cls.previous = (handmade_version(cls.env, job) for _ in range(3))
        (cls.champion | cls.challenger | cls.previous).write({"target_id": cls.target.id})
        # Through the registry: "previous" was champion before "champion" (ready for a rollback).
        cls.previous.action_promote()
        cls.champion.action_promote()
        cls.challenger.action_set_challenger()
        Prediction._upsert_rows(rows_of(cls.champion))  # 3 series x 5 days = 15 rows
        Prediction._upsert_rows(rows_of(cls.challenger, "shadow", n_series=2, shift=0.5))
        Prediction._upsert_rows(rows_of(cls.previous, n_series=1, shift=3.0))

        other_dataset = make_dataset(cls.env, company=cls.other_company, name="Other pageviews")
        cls.other_target = cls.env["ai.forecast.target"].create(
            {
                "name": "Other pageviews",
                "company_id": cls.other_company.id,
                "dataset_id": other_dataset.id,
                "target_col": "pageviews",
                "series_cols": "page",
            }
        )
        other_job = cls.env["ai.training.job"].create(
            {"dataset_id": other_dataset.id, "candidates": "naive", "company_id": cls.other_company.id}
        )
        other_version = handmade_version(cls.env, other_job)
        other_version.write({"target_id": cls.other_target.id})
        other_version.action_promote()
        Prediction._upsert_rows(rows_of(other_version, n_series=1))

        cls.keys = {name: api_key(cls.env, getattr(cls.users, name)) for name in vars(cls.users)}

    def _get(self, key="manager", query="", headers=None):
        headers = dict(headers or {})
        if key is not None:
            headers["Authorization"] = f"Bearer {self.keys.get(key, key)}"
        url = f"{URL}?{query}" if query else URL
        return self.url_open(url, headers=headers, allow_redirects=False)

    def _ok(self, response):
        self.assertEqual(response.status_code, 200, response.text)
        self.assertEqual(response.headers["Content-Type"].split(";")[0], "application/json")
        self.assertEqual(response.headers["Cache-Control"], "no-store")
        return response.json()

    def _error(self, response, status, code):
        self.assertEqual(response.status_code, status, response.text)
        body = response.json()
        self.assertEqual(body["error"]["code"], code)
        self.assertNotIn("data", body)
        return body["error"]

    # ------------------------------------------------------------------ answers

    def test_champion_forecasts_sorted_with_all_columns(self):
        body = self._ok(self._get(query=f"target={self.target.id}"))
        self.assertEqual(body["model_version"]["id"], self.champion.id)
        self.assertEqual((body["type"], body["count"], body["next"]), ("forecast", 15, None))
        data = body["data"]
        self.assertEqual(
            [(r["date"], r["series_key"], r["horizon"]) for r in data],
            sorted((r["date"], r["series_key"], r["horizon"]) for r in data),
        )
        first = data[0]
        self.assertEqual(first["date"], "2026-01-01")
        self.assertEqual((first["series_key"], first["series_label"], first["horizon"]), ("page 0", "Page 0", 1))
        self.assertEqual(
            (first["yhat"], first["yhat_lower_80"], first["yhat_upper_80"], first["yhat_lower_95"]),
            (1.0, 0.0, 2.0, -1.0),
        )
        self.assertIsNone(first["actual"], "an unknown actual is null, not 0")
        self.assertIs(first["is_anomaly"], False)
        ids = self.env["ai.prediction"].search([("model_version_id", "=", self.champion.id)]).ids
        self.assertEqual(sorted(r["id"] for r in data), sorted(ids))

    def test_same_rows_as_search_read_of_the_key_owner(self):
        body = self._ok(self._get("analyst", f"target={self.target.id}&limit=10000"))
        expected = self.env["ai.prediction"].with_user(self.users.analyst).search_read(
            [("model_version_id", "=", self.champion.id), ("prediction_type", "=", "forecast")],
            ["series_key", "yhat", "horizon"],
            order="date, series_key, horizon, id",
        )
        self.assertEqual(
            [(r["id"], r["series_key"], r["yhat"], r["horizon"]) for r in body["data"]],
            [(r["id"], r["series_key"], r["yhat"], r["horizon"]) for r in expected],
        )

    def test_shadow_serves_the_challenger(self):
        body = self._ok(self._get(query=f"target={self.target.id}&type=shadow"))
        self.assertEqual(body["model_version"]["id"], self.challenger.id)
        self.assertEqual(body["count"], 10)
        self.assertEqual(body["data"][0]["yhat"], 1.5)

    def test_previous_champion_served_after_rollback(self):
        self.assertEqual(self.target.champion_id, self.champion)
        self.target.with_user(self.users.manager).action_rollback()
        self.assertEqual(self.target.champion_id, self.previous)
        body = self._ok(self._get(query=f"target={self.target.id}"))
        self.assertEqual(body["model_version"]["id"], self.previous.id)
        self.assertEqual(body["count"], 5)
        self.assertEqual(body["data"][0]["yhat"], 4.0)

    def test_target_without_champion_is_empty(self):
        self.target._set_alias("champion", self.env["ai.model.version"], "test")
        body = self._ok(self._get(query=f"target={self.target.id}"))
        self.assertEqual((body["model_version"], body["count"], body["data"]), (None, 0, []))

    def test_filters(self):
        target = f"target={self.target.id}"
        body = self._ok(self._get(query=f"{target}&series=page 1&series=page 2"))
        self.assertEqual({r["series_key"] for r in body["data"]}, {"page 1", "page 2"})
        self.assertEqual(body["count"], 10)
        body = self._ok(self._get(query=f"{target}&horizon=1,2&horizon=5"))
        self.assertEqual(sorted({r["horizon"] for r in body["data"]}), [1, 2, 5])
        self.assertEqual(body["count"], 9)
        body = self._ok(self._get(query=f"{target}&date_from=2026-01-02&date_to=2026-01-03"))
        self.assertEqual({r["date"] for r in body["data"]}, {"2026-01-02", "2026-01-03"})
        self.assertEqual(body["count"], 6)
        body = self._ok(self._get(query=f"{target}&series=no such series"))
        self.assertEqual(body["count"], 0)

    def test_paging_with_next_links(self):
        query = f"target={self.target.id}&limit=4&horizon=1,2,3,4,5"
        seen, pages = [], 0
        response = self._get(query=query)
        while True:
            body = self._ok(response)
            pages += 1
            self.assertLessEqual(body["count"], 4)
            seen += [r["id"] for r in body["data"]]
            if not body["next"]:
                break
            parts = urlsplit(body["next"])
            self.assertEqual(parts.path, URL)
            self.assertEqual(parse_qs(parts.query)["page"], [str(pages + 1)])
            self.assertEqual(parse_qs(parts.query)["horizon"], ["1,2,3,4,5"])
            response = self._get(query=parts.query)
        self.assertEqual(pages, 4)
        self.assertEqual(len(seen), 15)
        self.assertEqual(len(set(seen)), 15, "no row twice across pages")
        body = self._ok(self._get(query=f"target={self.target.id}&limit=4&page=9"))
        self.assertEqual((body["count"], body["next"]), (0, None))

    # ------------------------------------------------------------------ access matrix

    def test_company_members_of_every_ai_group_read_their_target(self):
        for name in ("manager", "analyst"):
            body = self._ok(self._get(name, f"target={self.target.id}"))
            self.assertEqual(body["count"], 15, name)
        # A store-level User reads the series assigned to them only (none here;
        # see test_series_access).
        self.assertEqual(self._ok(self._get("user", f"target={self.target.id}"))["count"], 0)

    def test_other_company_target_is_404(self):
        error = self._error(self._get("foreign", f"target={self.target.id}"), 404, "not_found")
        self.assertNotIn("Pageviews", error["message"])
        body = self._ok(self._get("foreign", f"target={self.other_target.id}"))
        self.assertEqual(body["count"], 5)
        self._error(self._get("manager", f"target={self.other_target.id}"), 404, "not_found")

    def test_user_without_ai_group_gets_404(self):
        self._error(self._get("plain", f"target={self.target.id}"), 404, "not_found")

    def test_unknown_target_is_404(self):
        missing = self.env["ai.forecast.target"].search([], order="id desc", limit=1).id + 1000
        self._error(self._get(query=f"target={missing}"), 404, "not_found")

    def test_anonymous_gets_401(self):
        response = self._get(None, f"target={self.target.id}")
        self._error(response, 401, "unauthorized")
        self.assertIn("Bearer", response.headers["WWW-Authenticate"])

    def test_browser_session_without_key_gets_401(self):
        self.authenticate("ai_manager", "ai_manager")
        self._error(self._get(None, f"target={self.target.id}"), 401, "unauthorized")

    def test_invalid_and_revoked_keys_get_401(self):
        self._error(self._get("0" * 40, f"target={self.target.id}"), 401, "unauthorized")
        self._error(
            self._get(None, f"target={self.target.id}", {"Authorization": "Basic abc"}), 401, "unauthorized"
        )
        key = api_key(self.env, self.users.analyst, "to revoke")
        self._ok(self._get(key, f"target={self.target.id}"))
        self.env["res.users.apikeys"].sudo().search(
            [("user_id", "=", self.users.analyst.id), ("name", "=", "to revoke")]
        ).unlink()
        self._error(self._get(key, f"target={self.target.id}"), 401, "unauthorized")

    def test_archived_owner_key_gets_401(self):
        key = api_key(self.env, self.users.user, "archived owner")
        self._ok(self._get(key, f"target={self.target.id}"))
        self.users.user.active = False
        self._error(self._get(key, f"target={self.target.id}"), 401, "unauthorized")

    # ------------------------------------------------------------------ rate limit

    def test_rate_limited_with_retry_after(self):
        self.env["ir.config_parameter"].sudo().set_param("ai_train_model.api_rate_limit", "3")
        key = api_key(self.env, self.users.analyst, "limited")
        for _ in range(3):
            self._ok(self._get(key, f"target={self.target.id}"))
        response = self._get(key, f"target={self.target.id}")
        self._error(response, 429, "rate_limited")
        retry_after = int(response.headers["Retry-After"])
        self.assertGreaterEqual(retry_after, 1)
        self.assertLessEqual(retry_after, 120)
        # the limit is per key: another key of the same user still gets through
        self._ok(self._get(api_key(self.env, self.users.analyst, "other"), f"target={self.target.id}"))

    def test_sliding_window_arithmetic(self):
        from ..models.ai_api_rate_limit import sliding_window

        self.assertEqual(sliding_window(0, 2, 10.0, 60, 3), (True, 0))
        # 3 in this window, none before: the next request fits once this window's 3 weigh
        # 2 or less, i.e. a third of the way into the next window (50 s + 20 s).
        self.assertEqual(sliding_window(0, 3, 10.0, 60, 3), (False, 70))
        # 6 in the previous window, 0 now, 30 s in: estimate 3; fits when 6 * (1 - t/60) <= 2 -> t = 40
        self.assertEqual(sliding_window(6, 0, 30.0, 60, 3), (False, 10))
        self.assertEqual(sliding_window(6, 0, 45.0, 60, 3), (True, 0))

    def test_refused_requests_are_not_counted(self):
        Limit = self.env["ai.api.rate.limit"].sudo()
        self.env["ir.config_parameter"].sudo().set_param("ai_train_model.api_rate_limit", "2")
        now = 1_000_000 * 60 + 1.0
        self.assertEqual([Limit._hit("k", now=now) for _ in range(2)], [0, 0])
        waits = [Limit._hit("k", now=now) for _ in range(5)]
        self.assertTrue(all(wait > 0 for wait in waits))
        # 2 hits counted, not 7: two windows later the key is free again
        self.assertEqual(Limit._hit("k", now=now + 120), 0)
        self.assertEqual(Limit.search_count([]), 1, "old windows are purged, keys stored hashed")
        self.assertNotEqual(Limit.search([]).key_hash, "k")

    # ------------------------------------------------------------------ bad parameters

    def test_bad_parameters_name_the_parameter(self):
        t = f"target={self.target.id}"
        cases = {
            "": "target",
            "target=abc": "target",
            "target=0": "target",
            f"{t}&date_from=2026-13-01": "date_from",
            f"{t}&date_to=yesterday": "date_to",
            f"{t}&date_from=2026-01-05&date_to=2026-01-01": "date_to",
            f"{t}&horizon=0": "horizon",
            f"{t}&horizon=1,x": "horizon",
            f"{t}&limit=10001": "limit",
            f"{t}&limit=0": "limit",
            f"{t}&page=-1": "page",
            f"{t}&type=champion": "type",
            f"{t}&date_form=2026-01-01": "date_form",
            f"{t}&target=2": "target",
        }
        for query, parameter in cases.items():
            error = self._error(self._get(query=query), 400, "bad_parameter")
            self.assertEqual(error["parameter"], parameter, query)
            self.assertIn(parameter, error["message"], query)
