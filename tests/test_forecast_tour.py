from odoo.tests import HttpCase, tagged

from .common import make_dataset, make_users, sample_frame
from .test_forecast_chart import chart_version


@tagged("post_install", "-at_install")
class TestForecastTour(HttpCase):
    browser_size = "1366,768"

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.users = make_users(cls.env, cls.env.company, cls.env["res.company"].create({"name": "Other Co"}))
        frame = sample_frame(n_series=2, days=90)
        pages = sorted(frame["page"].unique())
        frame["page"] = frame["page"].map({pages[0]: "Alpha_series", pages[1]: "Beta_series"})
        # Alpha is the largest series: the chart opens on it.
        frame.loc[frame["page"] == "Alpha_series", "pageviews"] += 10 * frame["pageviews"].max()
        dataset = make_dataset(cls.env, frame)
        cls.version, _pages = chart_version(cls.env, dataset)

    def test_model_version_chart(self):
        url = f"/web#model=ai.model.version&id={self.version.id}&view_type=form"
        self.start_tour(url, "ai_train_model_forecast_chart", login="ai_analyst")

    def test_dashboard(self):
        self.start_tour("/web#action=ai_train_model.ai_forecast_dashboard_action", "ai_train_model_dashboard", login="ai_reader")
