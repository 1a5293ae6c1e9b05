import json
import os
import tempfile
from types import SimpleNamespace

from odoo.exceptions import MissingError, UserError
from odoo.tests import TransactionCase, tagged

from ..project import model_artifact
from .common import make_dataset, make_users, sample_frame

BUCKETS = ("D+1", "D+7", "D+28", "1-28")


def horizon_errors(pages, horizon):
    """Backtest MASE per horizon day: ``value * (series + 1) + day / 10``."""
    import pandas as pd

    values = {"naive": 1.2, "snaive": 0.9, "mean(naive+snaive)": 1.0}
    return pd.DataFrame(
        [
            {"unique_id": page, "model": model, "horizon": h, "mase": value * (i + 1) + h / 10}
            for i, page in enumerate(pages)
            for model, value in values.items()
            for h in range(1, horizon + 1)
        ]
    )


def chart_version(env, dataset, horizon=3, per_day=True):
    """A model version over ``dataset``'s real series, with a forecast.csv
    holding 80 % and 95 % bands, metric lines for two candidates and an
    ensemble and (``per_day``) their error by horizon day, without training."""
    import pandas as pd

    job = env["ai.training.job"].create(
        {"dataset_id": dataset.id, "candidates": "naive,snaive", "horizon": horizon}
    )
    frame = dataset._read_dataframe()
    pages = sorted(frame["page"].unique())
    last = pd.to_datetime(frame["date"]).max()
    forecast = pd.DataFrame(
        [
            {
                "unique_id": page,
                "page": page,
                "ds": (last + pd.Timedelta(days=h)).strftime("%Y-%m-%d"),
                "horizon": h,
                "yhat": 100.0 * (i + 1) + h,
                "yhat_lower": 90.0 * (i + 1) + h,
                "yhat_upper": 110.0 * (i + 1) + h,
                "yhat_lower_95": 80.0 * (i + 1) + h,
                "yhat_upper_95": 120.0 * (i + 1) + h,
                "model": "snaive",
            }
            for i, page in enumerate(pages)
            for h in range(1, horizon + 1)
        ]
    )
    values = {"naive": 1.2, "snaive": 0.9, "mean(naive+snaive)": 1.0}
    metrics = pd.DataFrame(
        [
            {
                "unique_id": page,
                "model": model,
                "bucket": bucket,
                "metric": metric,
                "value": value * (i + 1) + b,
                "chosen": model == "snaive",
            }
            for i, page in enumerate(pages)
            for model, value in values.items()
            for b, bucket in enumerate(("1-28", "D+28", "D+1", "D+7"))
            for metric in ("mase", "smape")
        ]
    )
    metadata = {"horizon": horizon, "chosen": {page: "snaive" for page in pages}}
    key = env["ai.model.version"]._get_signing_key()
    with tempfile.TemporaryDirectory() as tmp:
        path = model_artifact.build_artifact(
            os.path.join(tmp, "model.zip"),
            model={"kind": "handmade"},
            metadata=metadata,
            forecast=forecast,
            metrics=metrics,
            signing_key=key,
            horizon_errors=horizon_errors(pages, horizon) if per_day else None,
        )
        artifact = open(path, "rb").read()
    summary = SimpleNamespace(
        metadata=json.loads(json.dumps(metadata)),
        metrics=metrics,
        forecast=forecast,
        series=pd.DataFrame({"unique_id": pages, "model": ["snaive"] * len(pages)}),
    )
    return env["ai.model.version"]._create_from_training(job, summary, artifact), pages


@tagged("post_install", "-at_install")
class TestForecastChart(TransactionCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.company = cls.env.company
        cls.other_company = cls.env["res.company"].create({"name": "Other Co"})
        cls.users = make_users(cls.env, cls.company, cls.other_company)
        cls.frame = sample_frame(n_series=2, days=150)
        cls.dataset = make_dataset(cls.env, cls.frame)
        cls.version, cls.pages = chart_version(cls.env, cls.dataset)

    def _chart(self, user, **kwargs):
        chart = self.env["ai.forecast.chart"].with_user(user)
        return chart.get_chart_data("ai.model.version", self.version.id, **kwargs)

    def test_default_series_is_the_largest_with_its_history(self):
        data = self._chart(self.users.analyst)
        volumes = self.frame.groupby("page")["pageviews"].sum()
        self.assertEqual(data["series"], self.pages)
        self.assertEqual(data["series_total"], 2)
        self.assertEqual(data["series_key"], volumes.idxmax())
        self.assertEqual(data["chosen_model"], "snaive")
        expected = self.frame[self.frame["page"] == volumes.idxmax()].sort_values("date")
        self.assertEqual([p["x"] for p in data["history"]], list(expected["date"]))
        self.assertEqual([p["y"] for p in data["history"]], [float(v) for v in expected["pageviews"]])
        self.assertEqual(data["messages"], [])

    def test_forecast_bands_from_the_artifact(self):
        key = self.pages[1]
        data = self._chart(self.users.analyst, series_key=key)
        self.assertEqual(data["series_key"], key)
        self.assertEqual([p["horizon"] for p in data["forecast"]], [1, 2, 3])
        first = data["forecast"][0]
        self.assertEqual(
            (first["y"], first["lo80"], first["hi80"], first["lo95"], first["hi95"]),
            (201.0, 181.0, 221.0, 161.0, 241.0),
        )
        self.assertGreater(first["x"], data["history"][-1]["x"])
        self.assertEqual(data["actuals"], [])
        self.assertEqual(data["anomalies"], [])

    def test_history_limit_keeps_the_newest_days(self):
        full = self._chart(self.users.analyst, series_key=self.pages[0])
        short = self._chart(self.users.analyst, series_key=self.pages[0], limit_history=10)
        self.assertEqual(short["history"], full["history"][-10:])

    def test_metrics_by_horizon_per_candidate(self):
        data = self._chart(self.users.analyst, series_key=self.pages[0])
        metrics = data["metrics"]
        self.assertEqual(metrics["metric"], "MASE")
        self.assertEqual(metrics["buckets"], list(BUCKETS))
        by_model = {m["model"]: m for m in metrics["models"]}
        self.assertEqual(set(by_model), {"naive", "snaive", "mean(naive+snaive)"})
        self.assertEqual(metrics["models"][0]["model"], "snaive")
        self.assertTrue(by_model["snaive"]["chosen"])
        self.assertEqual(by_model["snaive"]["chosen_count"], 2)
        self.assertTrue(by_model["mean(naive+snaive)"]["ensemble"])
        self.assertFalse(by_model["naive"]["ensemble"])
        # Series 0: value + bucket offset (1-28 -> 0, D+28 -> 1, D+1 -> 2, D+7 -> 3).
        self.assertAlmostEqual(by_model["naive"]["series"]["D+1"], 1.2 + 2)
        self.assertAlmostEqual(by_model["naive"]["series"]["1-28"], 1.2)
        # Mean over both series: (1.2 + 2.4) / 2 + offset.
        self.assertAlmostEqual(by_model["naive"]["overall"]["D+7"], 1.8 + 3)

    def test_error_by_horizon_day_per_candidate(self):
        data = self._chart(self.users.analyst, series_key=self.pages[1])
        metrics = data["metrics"]
        self.assertEqual(metrics["days"], [1, 2, 3])
        self.assertEqual(metrics["days_metric"], "MASE")
        self.assertEqual(metrics["buckets"], list(BUCKETS), "the buckets stay for the table")
        by_model = {m["model"]: m for m in metrics["models"]}
        self.assertEqual(set(by_model), {"naive", "snaive", "mean(naive+snaive)"})
        self.assertTrue(by_model["snaive"]["chosen"])
        for model in by_model.values():
            self.assertEqual(len(model["series_days"]), 3)
            self.assertEqual(len(model["overall_days"]), 3)
        # Series 1: value * 2 + day / 10; mean of both series: value * 1.5 + day / 10.
        for got, want in zip(by_model["naive"]["series_days"], (2.5, 2.6, 2.7)):
            self.assertAlmostEqual(got, want)
        for got, want in zip(by_model["snaive"]["overall_days"], (1.45, 1.55, 1.65)):
            self.assertAlmostEqual(got, want)

    def test_error_by_day_mean_covers_only_the_assigned_series(self):
        target = self.env["ai.forecast.target"].create(
            {
                "name": "Chart target",
                "dataset_id": self.dataset.id,
                "target_col": "pageviews",
                "series_cols": "page",
            }
        )
        self.version.target_id = target
        self.env["ai.series.assignment"].create(
            {"target_id": target.id, "series_keys": self.pages[0], "user_ids": [(6, 0, self.users.user.ids)]}
        )
        data = self._chart(self.users.user)
        self.assertEqual(data["series"], [self.pages[0]])
        naive = {m["model"]: m for m in data["metrics"]["models"]}["naive"]
        self.assertEqual(naive["overall_days"], naive["series_days"], "the other series stay out of the mean")
        self.assertAlmostEqual(naive["overall_days"][0], 1.3)

    def test_artifact_without_error_by_day_falls_back_to_buckets(self):
        version, pages = chart_version(self.env, self.dataset, per_day=False)
        chart = self.env["ai.forecast.chart"].with_user(self.users.analyst)
        metrics = chart.get_chart_data("ai.model.version", version.id, series_key=pages[0])["metrics"]
        self.assertEqual(metrics["days"], [])
        self.assertEqual(metrics["buckets"], list(BUCKETS))
        self.assertTrue(all("series_days" not in m for m in metrics["models"]))
        self.assertAlmostEqual({m["model"]: m for m in metrics["models"]}["naive"]["series"]["D+1"], 3.2)

    def test_unknown_series_is_refused(self):
        with self.assertRaises(UserError):
            self._chart(self.users.user, series_key="no such page")

    def test_other_company_and_no_group_get_not_found(self):
        for user in (self.users.foreign, self.users.plain):
            with self.subTest(user=user.login), self.assertRaises(MissingError):
                self._chart(user)

    def test_missing_record_and_foreign_model(self):
        chart = self.env["ai.forecast.chart"].with_user(self.users.user)
        missing = self.env["ai.model.version"].search([], order="id desc", limit=1).id + 1000
        with self.assertRaises(MissingError):
            chart.get_chart_data("ai.model.version", missing)
        with self.assertRaises(UserError):
            chart.get_chart_data("res.users", self.users.user.id)

    def test_stored_predictions_actuals_and_anomalies_on_version_and_target(self):
        import datetime

        target = self.env["ai.forecast.target"].create(
            {"name": "Pageviews target", "dataset_id": self.dataset.id, "target_col": "pageviews", "series_cols": "page"}
        )
        self.version.target_id = target
        self.version.action_promote()
        key = self.pages[0]
        start = datetime.date(2030, 1, 1)
        rows = [
            (self.version.id, page, page, start + datetime.timedelta(days=day),
             horizon, "forecast", 100.0 + day - horizon, 90.0, 110.0, 80.0, 120.0)
            for page in self.pages
            for day in range(3)
            for horizon in (1, 2)
        ]
        self.env["ai.prediction"]._upsert_rows(rows)
        first_day = self.env["ai.prediction"].search([("series_key", "=", key), ("date", "=", start)])
        first_day._engine().write({"actual": 0.0})  # a zero that arrived is an actual
        first_day[:1]._engine().write({"is_anomaly": True, "anomaly_score": 3.5})
        for res_model, res_id in (("ai.model.version", self.version.id), ("ai.forecast.target", target.id)):
            with self.subTest(res_model=res_model):
                data = self.env["ai.forecast.chart"].with_user(self.users.analyst).get_chart_data(
                    res_model, res_id, series_key=key
                )
                self.assertEqual(data["version"]["id"], self.version.id)
                self.assertTrue(data["history"], "history from the champion's dataset")
                # One point per date: the latest issued forecast (shortest horizon).
                self.assertEqual([p["x"] for p in data["forecast"]], ["2030-01-01", "2030-01-02", "2030-01-03"])
                self.assertEqual([p["horizon"] for p in data["forecast"]], [1, 1, 1])
                self.assertEqual([p["y"] for p in data["forecast"]], [99.0, 100.0, 101.0])
                self.assertEqual(data["forecast"][0]["lo95"], 80.0)
                self.assertEqual(data["actuals"], [{"x": "2030-01-01", "y": 0.0}])
                self.assertEqual(data["anomalies"], [{"x": "2030-01-01", "y": 0.0, "score": 3.5}])
        foreign = self.env["ai.forecast.chart"].with_user(self.users.foreign)
        with self.assertRaises(MissingError):
            foreign.get_chart_data("ai.forecast.target", target.id)

    def test_archived_dataset_still_shows_history(self):
        self.dataset.action_archive_dataset()
        data = self._chart(self.users.analyst)
        self.assertTrue(data["history"])
