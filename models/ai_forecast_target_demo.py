"""``ai.forecast.target``: the demo forecast built when demo data is installed."""

from datetime import timedelta

from odoo import _, fields, models
from odoo.exceptions import UserError

from .ai_core import core

#: Days of actuals the second demo dataset version brings.
DEMO_ACTUAL_DAYS = 7


class AiForecastTarget(models.Model):
    _inherit = "ai.forecast.target"

    def _demo_build(self, update_dataset_id):
        """Make this target a demo forecast on the embedded sample: the
        target's dataset gets the sample without its last days, a training
        job trains the champion on it, a predict run stores its forecast, the
        version ``update_dataset_id`` brings the actuals of those days and a
        refresh run scores them (errors, anomalies, live accuracy, alerts).

        Called by ``demo/ai_forecast_target_demo.xml``. Every step is the
        engine's own (training job, forecast runs), run inline in the
        caller's transaction: an install loads demo data in a savepoint,
        which a commit would break. The sample's dates move by whole weeks to
        end yesterday, so the forecast covers the coming days. A target that
        has a champion already is left as it is (loading twice adds nothing).
        """
        self.ensure_one()
        if self.champion_id:
            return False
        import pandas as pd

        target = self.with_company(self.company_id)
        first_version = target.dataset_id
        update = self.env["ai.dataset"].browse(update_dataset_id).with_company(self.company_id)
        if update.checksum or update == first_version:
            raise UserError(_("The demo needs an empty second version of %s.", first_version.display_name))
        sample = pd.read_csv(core("entrenar_modelo").DEMO_DATA)
        first, second = core("datasets.demo").demo_versions(
            sample, date_col=target.date_col, today=fields.Date.context_today(target), actual_days=DEMO_ACTUAL_DAYS
        )
        if not first_version.checksum:
            first_version._store_dataframe(first, filename="wikipedia_pageviews_daily.parquet")
        job = self.env["ai.training.job"].with_company(self.company_id).create(
            {
                "company_id": target.company_id.id,
                "model_name": target.name,
                "dataset_id": first_version.id,
                "target_id": target.id,
                "date_col": target.date_col,
                "target_col": target.target_col,
                "series_cols": target.series_cols or False,
                "horizon": target.horizon,
                "candidates": target.candidates,
                "cv_windows": target.cv_windows,
                "metric": target.metric,
                "country_id": target.country_id.id,
            }
        )
        job.action_queue()
        target._demo_run(job)
        Run = self.env["ai.forecast.run"]
        day = (first_version.date_to + timedelta(days=1)).isoformat()
        target._demo_run(Run._queue(target, "predict", day))
        update._store_dataframe(second, filename="wikipedia_pageviews_daily.parquet")
        target._demo_run(Run._queue(target, "refresh", str(update.id), update))
        return True

    def _demo_run(self, jobs):
        """Run queued jobs inline; a failure stops the demo with its message."""
        failed = jobs._job_run_inline()
        if failed:
            raise UserError(
                _(
                    "The demo forecast of %(target)s stopped at %(job)s: %(message)s",
                    target=self.name,
                    job=failed[0].display_name,
                    message=failed[0].error_message,
                )
            )
