import io
import logging
from collections import OrderedDict
from datetime import timedelta

from odoo import _, api, fields, models
from odoo.exceptions import UserError

from .tools import selection_label

_logger = logging.getLogger(__name__)

#: Bus notification type of training-job progress (see ``ai.training.job``).
JOB_PROGRESS = "ai_train_model/job_progress"
#: Prefix of the per-company bus channels; the company id follows.
JOB_CHANNEL_PREFIX = "ai_train_model.jobs."
#: Days of stored predictions behind the live accuracy.
LIVE_ACCURACY_DAYS = 28
#: Forecast totals read from artifacts, by artifact SHA-256 (artifacts never change).
_ARTIFACT_TOTALS = OrderedDict()
_ARTIFACT_TOTALS_MAX = 256


def job_channel(company_id):
    """The bus channel carrying the training progress of one company."""
    return f"{JOB_CHANNEL_PREFIX}{int(company_id)}"


class AiForecastDashboard(models.AbstractModel):
    """Data of the "AI Forecasting" landing page, in one call.

    One card per forecast target (per model family while targets do not
    exist): its champion, live or backtest accuracy, the next day's total
    forecast, open alerts, the last GA4 run and the last training. Everything
    is searched with the caller's rights, so record rules decide what shows.
    """

    _name = "ai.forecast.dashboard"
    _description = "AI Forecasting Dashboard"

    @api.model
    def get_dashboard_data(self):
        versions = self.env["ai.model.version"]
        cards = []
        if self._has_targets():
            targets = self.env["ai.forecast.target"].search([], order="name")
            cards += [self._target_card(target) for target in targets]
        # Model families that no target owns (versions trained before targets,
        # or from jobs without one) keep a card of their own.
        domain = [("state", "!=", "archived")]
        if "target_id" in versions._fields:
            domain.append(("target_id", "=", False))
        families = versions.read_group(domain, ["name"], ["company_id", "name"], orderby="name", lazy=False)
        cards += [self._family_card(group["company_id"][0], group["name"]) for group in families]
        return {
            "cards": cards,
            "jobs": self._running_jobs(),
            "ga4": self._last_ga4_run(self.env["ai.ga4.run"]),
            "bus_channels": [job_channel(cid) for cid in self.env.user.company_ids.ids],
            "bus_type": JOB_PROGRESS,
            "counts": {
                "datasets": self.env["ai.dataset"].search_count([("state", "!=", "archived")]),
                "versions": versions.search_count([("state", "!=", "archived")]),
                "queued": self.env["ai.training.job"].search_count([("state", "=", "queued")]),
                "failed": self.env["ai.training.job"].search_count([("state", "=", "failed")]),
            },
            "has_predictions": "ai.prediction" in self.env,
        }

    @api.model
    def _has_targets(self):
        return "ai.forecast.target" in self.env and "target_id" in self.env["ai.model.version"]._fields

    # ------------------------------------------------------------------ cards

    @api.model
    def _target_card(self, target):
        versions = self.env["ai.model.version"].search([("target_id", "=", target.id)], order="id desc")
        champion = target.champion_id if "champion_id" in target._fields else versions.browse()
        shown = champion or versions.filtered(lambda v: v.state != "archived")[:1]
        jobs = self.env["ai.training.job"]
        names = set(versions.mapped("name"))
        if "target_id" in jobs._fields:
            job = jobs.search([("target_id", "=", target.id)], order="id desc", limit=1)
        else:
            job = (
                jobs.search([("model_name", "in", list(names))], order="id desc", limit=1) if names else jobs
            )
        runs = self.env["ai.ga4.run"]
        download = target["ga4_download_id"] if "ga4_download_id" in target._fields else False
        if download:
            runs = runs.search([("download_id", "=", download.id)], order="id desc", limit=1)
        card = self._card(
            f"target:{target.id}", target.name, target.company_id, shown, bool(champion), job, runs
        )
        card["target_id"] = target.id
        if "ai.forecast.alert" in self.env:
            # The monitoring's open alerts (drift, accuracy, anomaly runs)
            # replace the plain anomaly count.
            card["alerts"] = [a for a in card["alerts"] if a.get("kind") != "anomalies"]
            alerts = self.env["ai.forecast.alert"]
            labels = dict(alerts._fields["kind"]._description_selection(self.env))
            groups = alerts.read_group(
                [("target_id", "=", target.id), ("state", "=", "open")], ["kind"], ["kind"], lazy=False
            )
            for group in groups:
                text = _(
                    "%(count)s open %(kind)s alert(s).", count=group["__count"], kind=labels[group["kind"]]
                )
                level = "danger" if group["kind"] == "accuracy" else "warning"
                card["alerts"].append({"level": level, "kind": group["kind"], "text": text})
        return card

    @api.model
    def _family_card(self, company_id, name):
        versions = self.env["ai.model.version"].search(
            [("company_id", "=", company_id), ("name", "=", name)], order="version desc"
        )
        live = versions.filtered(lambda v: v.state in ("production", "active"))[:1]
        shown = live or versions.filtered(lambda v: v.state != "archived")[:1]
        job = self.env["ai.training.job"].search(
            [("company_id", "=", company_id), ("model_name", "=", name)], order="id desc", limit=1
        )
        runs = self.env["ai.ga4.run"]
        if shown.dataset_id:
            runs = runs.search(
                [("company_id", "=", company_id), ("dataset_id.name", "=", shown.dataset_id.name)],
                order="id desc",
                limit=1,
            )
        company = self.env["res.company"].browse(company_id)
        return self._card(f"family:{company_id}:{name}", name, company, shown, bool(live), job, runs)

    @api.model
    def _card(self, key, name, company, shown, has_champion, job, ga4_run):
        alerts = []
        if not has_champion:
            alerts.append(
                {"level": "info", "text": _("No champion yet: promote a version to serve its forecasts.")}
            )
        if shown.needs_retraining:
            alerts.append(
                {"level": "warning", "text": _("Needs retraining: its dataset version was archived.")}
            )
        if job.state == "failed":
            alerts.append({"level": "danger", "text": _("The last training failed.")})
        anomalies = self._recent_anomalies(shown)
        if anomalies:
            alerts.append(
                {
                    "level": "warning",
                    "kind": "anomalies",
                    "text": _("%s anomalies in the last 7 days.", anomalies),
                }
            )
        return {
            "key": key,
            "name": name,
            "company": company.name,
            "champion": {
                "id": shown.id,
                "name": shown.display_name,
                "state": shown.state,
                "state_label": selection_label(shown, "state"),
                "series_count": shown.series_count,
                "date_trained": fields.Datetime.to_string(shown.date_trained)
                if shown.date_trained
                else False,
            }
            if shown
            else False,
            "accuracy": self._accuracy(shown),
            "next_day": self._next_day_total(shown),
            "alerts": alerts,
            "training": self._job_info(job) if job else False,
            "ga4": self._last_ga4_run(ga4_run) if ga4_run else False,
        }

    @api.model
    def _job_info(self, job):
        when = job.date_finished or job.date_started or job.date_queued or job.create_date
        return {
            "id": job.id,
            "name": job.name,
            "model_name": job.model_name,
            "state": job.state,
            "state_label": selection_label(job, "state"),
            "progress": job.progress,
            "date": fields.Datetime.to_string(when) if when else False,
        }

    @api.model
    def _last_ga4_run(self, runs):
        run = runs if len(runs) == 1 else runs.search([], order="id desc", limit=1)
        if not run:
            return False
        when = run.date_finished or run.date_started or run.create_date
        return {
            "id": run.id,
            "name": run.display_name,
            "state": run.state,
            "state_label": selection_label(run, "state"),
            "date": fields.Datetime.to_string(when) if when else False,
            "rows": run.rows,
        }

    @api.model
    def _running_jobs(self):
        jobs = self.env["ai.training.job"].search([("state", "in", ("queued", "running"))], order="id")
        return [self._job_info(job) for job in jobs]

    # ------------------------------------------------------------------ figures

    @api.model
    def _predictions(self, version, domain):
        if not version or "ai.prediction" not in self.env:
            return None
        model = self.env["ai.prediction"]
        base = [("model_version_id", "=", version.id)]
        if "prediction_type" in model._fields:
            base.append(("prediction_type", "=", "forecast"))
        return model, base + domain

    @api.model
    def _accuracy(self, version):
        """Live wMAPE over the stored predictions whose actuals arrived in the
        last days; the backtest score when there are none."""
        if not version:
            return False
        found = self._predictions(version, [])
        if found is not None:
            model, domain = found
            since = fields.Date.today() - timedelta(days=LIVE_ACCURACY_DAYS)
            domain = [*domain, ("date", ">=", since), ("date", "<=", fields.Date.today())]
            if "has_actual" in model._fields:
                rows = model.search_read([*domain, ("has_actual", "=", True)], ["actual", "yhat"])
            else:
                rows = [
                    r
                    for r in model.search_read(domain, ["actual", "yhat", "error"])
                    if r["actual"] or r["error"]
                ]
            total = sum(abs(r["actual"] or 0.0) for r in rows)
            if rows and total:
                wmape = sum(abs((r["actual"] or 0.0) - (r["yhat"] or 0.0)) for r in rows) / total
                return {"kind": "live", "label": _("Live wMAPE"), "value": wmape, "points": len(rows)}
        labels = dict(self.env["ai.training.job"]._METRICS)
        return {
            "kind": "backtest",
            "label": _("Backtest %s", labels.get(version.metric, version.metric or "")),
            "value": version.score,
            "points": 0,
        }

    @api.model
    def _next_day_total(self, version):
        """``{date, total}`` of the first forecast day from today on, summed
        over the series: from stored predictions, else from the artifact."""
        if not version:
            return False
        found = self._predictions(version, [("date", ">=", fields.Date.today())])
        if found is not None:
            model, domain = found
            first = model.search(domain, order="date", limit=1)
            if first:
                groups = model.read_group([*domain, ("date", "=", first.date)], ["yhat:sum"], [])
                return {"date": fields.Date.to_string(first.date), "total": groups[0]["yhat"] or 0.0}
        return self._artifact_next_day(version)

    @api.model
    def _artifact_next_day(self, version):
        import pandas as pd

        sha = version.artifact_sha256
        if not sha:
            return False
        if sha not in _ARTIFACT_TOTALS:
            try:
                members = version.verify_artifact()
            except UserError:
                return False
            raw = members.get("forecast.csv")
            total = False
            if raw:
                frame = pd.read_csv(io.BytesIO(raw), usecols=lambda c: c in ("ds", "horizon", "yhat"))
                if len(frame):
                    first = frame[frame["horizon"] == frame["horizon"].min()]
                    total = {"date": str(first["ds"].iloc[0])[:10], "total": float(first["yhat"].sum())}
            _ARTIFACT_TOTALS[sha] = total
            while len(_ARTIFACT_TOTALS) > _ARTIFACT_TOTALS_MAX:
                _ARTIFACT_TOTALS.popitem(last=False)
        return _ARTIFACT_TOTALS[sha]

    @api.model
    def _recent_anomalies(self, version):
        found = self._predictions(version, [("date", ">=", fields.Date.today() - timedelta(days=7))])
        if found is None or "is_anomaly" not in found[0]._fields:
            return 0
        model, domain = found
        return model.search_count([*domain, ("is_anomaly", "=", True)])
