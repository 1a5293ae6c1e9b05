import io
import logging
import uuid
from datetime import datetime, timedelta

import pytz

from odoo import _, api, fields, models
from odoo.exceptions import UserError
from odoo.tools import SQL

from ..project import errors, model_artifact
from .ai_prediction import PREDICTION_COLUMNS
from .ai_prediction_accuracy import ALL_SERIES

_logger = logging.getLogger(__name__)

#: Days of recent observed data compared with the training window for drift.
DRIFT_RECENT_DAYS = 28
#: Actuals (days x series, champion forecasts) below which no accuracy alert is raised.
ACCURACY_MIN_ACTUALS = 7
#: Local hour (company time zone) by which the nightly forecasts must be ready.
NIGHT_END_HOUR = 6


class AiForecastRun(models.Model):
    """One unit of forecasting work for a target, run by the shared job queue
    (``ai.job.mixin``): the nightly **predict** run (queue the retraining,
    then the champion forecasts and the challenger shadows), a **refresh** run
    when a new dataset version appears in the target's lineage (actuals,
    errors, anomalies, live accuracy, automatic promotion) and the daily
    **monitor** run (drift and accuracy alerts).

    A run is unique per (target, kind, key) — the local day for predict and
    monitor runs, the dataset version for refresh runs — so the schedulers can
    fire any number of times: the same work is queued once. Every write a run
    makes is an idempotent upsert, so a run killed half-way and run again ends
    with the same data as a clean run.
    """

    _name = "ai.forecast.run"
    _description = "AI Forecast Run"
    _inherit = ["ai.job.mixin"]
    _order = "id desc"
    _job_cron_xmlid = "ai_train_model.ir_cron_ai_forecast_run"
    _job_batch_size = 10
    _job_param_prefix = "forecast_run"
    _protected_fields = ("company_id", "target_id", "kind", "run_key", "dataset_id", "date_deadline")
    _protected_create = True

    name = fields.Char(compute="_compute_name")
    company_id = fields.Many2one(comodel_name="res.company", required=True, readonly=True, index=True)
    target_id = fields.Many2one(
        comodel_name="ai.forecast.target", required=True, readonly=True, ondelete="cascade", index=True
    )
    kind = fields.Selection(
        selection=[("predict", "Retrain and Predict"), ("refresh", "Actuals and Live Accuracy"), ("monitor", "Drift and Accuracy Check")],
        required=True,
        readonly=True,
    )
    run_key = fields.Char(required=True, readonly=True, help="Local day (predict, monitor) or dataset version (refresh).")
    dataset_id = fields.Many2one(comodel_name="ai.dataset", readonly=True, ondelete="set null")
    date_deadline = fields.Datetime(
        string="Start Before",
        readonly=True,
        help="Nightly runs: 06:00 in the company's time zone. A run not started by then waits for the next night.",
    )

    _sql_constraints = [
        ("run_uniq", "unique(target_id, kind, run_key)", "This forecasting work is already queued."),
    ]

    @api.depends("target_id", "kind", "run_key")
    def _compute_name(self):
        labels = dict(self._fields["kind"]._description_selection(self.env))
        for run in self:
            run.name = f"{run.target_id.name or ''} / {labels.get(run.kind, '')} / {run.run_key or ''}"

    # ------------------------------------------------------------------ schedulers (crons)

    @api.model
    def _company_tz(self, company):
        return pytz.timezone(company.partner_id.tz or self.env.user.tz or "UTC")

    @api.model
    def _local_now(self, company):
        return pytz.utc.localize(fields.Datetime.now()).astimezone(self._company_tz(company))

    @api.model
    def _night_window(self, target, day):
        """``(start, end)`` of ``target``'s night on the local ``day``: from its
        start hour to 06:00 in the company's time zone, as naive UTC datetimes
        (daylight saving time included)."""
        tz = self._company_tz(target.company_id)

        def utc(hour):
            local = tz.localize(datetime.combine(day, datetime.min.time()).replace(hour=hour))
            return local.astimezone(pytz.utc).replace(tzinfo=None)

        return utc(target.schedule_hour), utc(NIGHT_END_HOUR)

    @api.model
    def _queue(self, target, kind, key, dataset=None, deadline=None):
        """Queue one run unless it exists already (any state). Returns the new run."""
        self.env.cr.execute(
            """
            INSERT INTO ai_forecast_run (company_id, target_id, kind, run_key, dataset_id, date_deadline, state,
                                         date_queued, attempts, progress, create_uid, create_date, write_uid,
                                         write_date)
            VALUES (%s, %s, %s, %s, %s, %s, 'queued', now() AT TIME ZONE 'UTC', 0, 0,
                    %s, now() AT TIME ZONE 'UTC', %s, now() AT TIME ZONE 'UTC')
            ON CONFLICT (target_id, kind, run_key) DO NOTHING
            RETURNING id
            """,
            (
                target.company_id.id,
                target.id,
                kind,
                key,
                dataset.id if dataset else None,
                deadline,
                self.env.uid,
                self.env.uid,
            ),
        )
        row = self.env.cr.fetchone()
        return self.browse(row[0]) if row else self.browse()

    @api.model
    def _cron_nightly(self):
        """Queue the retrain-and-predict run of every target whose schedule is
        due, once per local day: the company-local time is within the
        target's night (from its start hour to 06:00) on a scheduled day (its
        weekday for weekly targets). The run must start before 06:00 local
        (``date_deadline``), else it waits for the next night (see
        :meth:`_run_predict`); a target whose earlier run still waits gets
        no second one."""
        self.env.flush_all()
        queued = self.browse()
        targets = self.env["ai.forecast.target"].search([("schedule", "!=", "manual")])
        waiting = set(
            self.search([("target_id", "in", targets.ids), ("kind", "=", "predict"), ("state", "in", ("queued", "running"))])
            .mapped("target_id")
            .ids
        )
        for target in targets:
            now = self._local_now(target.company_id)
            if not target.schedule_hour <= now.hour < NIGHT_END_HOUR or target.id in waiting:
                continue
            if target.schedule == "weekly" and str(now.weekday()) != target.schedule_weekday:
                continue
            _start, deadline = self._night_window(target, now.date())
            queued |= self._queue(target, "predict", now.date().isoformat(), deadline=deadline)
        return self._after_queue(queued)

    def _wait_for_next_night(self):
        """The nightly run was not started before 06:00 local: put it back in
        the queue until the target's next night, and say so in its log."""
        self.ensure_one()
        target = self.target_id
        now = self._local_now(target.company_id)
        day = now.date() if now.hour < target.schedule_hour else now.date() + timedelta(days=1)
        start, end = self._night_window(target, day)
        self._engine().write({"state": "queued", "date_not_before": start, "date_deadline": end, "progress": 0.0})
        # Built before the _() call: the translation extractor reads its arguments as literals.
        local_start = f"{day.isoformat()} {target.schedule_hour:02d}:00"
        self._job_log(
            _(
                "Not started before %(hour)02d:00 (%(tz)s): retraining and predicting now would not finish before "
                "the working day. The run waits for the next night, from %(start)s local time.",
                hour=NIGHT_END_HOUR,
                tz=now.tzinfo.zone,
                start=local_start,
            )
        )
        self._job_trigger_cron(at=start)

    @api.model
    def _cron_refresh(self):
        """Queue a refresh run for every target whose lineage has a dataset
        version newer than the last one refreshed."""
        self.env.flush_all()
        queued = self.browse()
        for target in self.env["ai.forecast.target"].search([]):
            dataset = target._latest_dataset()
            if dataset and dataset != target.last_dataset_id:
                queued |= self._queue(target, "refresh", str(dataset.id), dataset)
        return self._after_queue(queued)

    @api.model
    def _queue_refresh_for_datasets(self, datasets):
        """Queue the refresh run of every target whose lineage ``datasets``
        (new or changed dataset versions) belong to, when the version is the
        newest usable one of that lineage, and wake the forecast cron up.
        Called when a version becomes usable (an import, a merge, a GA4 run):
        nothing long runs in the caller's request."""
        usable = datasets.filtered(lambda dataset: dataset.state in ("ready", "registered") and dataset.checksum)
        if not usable:
            return self.browse()
        Target = self.env["ai.forecast.target"].sudo()
        queued = self.browse()
        for dataset in usable:
            targets = Target.search(
                [
                    ("company_id", "=", dataset.company_id.id),
                    "|",
                    "&",
                    ("source", "=", "dataset"),
                    ("dataset_id.name", "=", dataset.name),
                    "&",
                    ("source", "=", "ga4"),
                    ("ga4_download_id.dataset_name", "=", dataset.name),
                ]
            )
            for target in targets:
                if target._latest_dataset() == dataset and target.last_dataset_id != dataset:
                    self.env.flush_all()
                    queued |= self.sudo()._queue(target, "refresh", str(dataset.id), dataset)
        if queued:
            self.invalidate_model()
            self._job_trigger_cron()
        return queued

    @api.model
    def _cron_monitor(self):
        """Queue the daily drift and accuracy check of every target with a champion."""
        self.env.flush_all()
        queued = self.browse()
        for target in self.env["ai.forecast.target"].search([("champion_id", "!=", False)]):
            queued |= self._queue(target, "monitor", self._local_now(target.company_id).date().isoformat())
        return self._after_queue(queued)

    @api.model
    def _after_queue(self, queued):
        self.invalidate_model()
        if queued:
            self._job_commit()
            self._job_trigger_cron()
        return queued

    @api.model
    def _cron_cleanup(self, batch_size=10000):
        """Delete predictions dated before the prediction retention window
        (``ai_train_model.prediction_retention_days``, 90 days by default),
        then, older than the run retention window
        (``ai_train_model.run_retention_days``, by default the same number of
        days): finished forecast runs, closed alerts, finished GA4 runs that
        made no dataset version, and the logs of the other finished GA4 runs
        and training jobs (the run or job itself stays: it tells where a
        dataset version or a model version came from).

        The newest run of each download, target or kind, and the newest
        successful one, always stay: the health summary and the "last
        success" figures read them. ``batch_size`` rows per statement and a
        commit after each (outside tests): a worker killed mid-way leaves
        fewer rows to handle next time, and a second run changes nothing.
        Returns ``{what: rows}``."""
        params = self.env["ir.config_parameter"].sudo()
        days = int(params.get_param("ai_train_model.prediction_retention_days", 90) or 90)
        run_days = int(params.get_param("ai_train_model.run_retention_days", days) or days)
        today = fields.Date.context_today(self)
        cutoff_date = today - timedelta(days=max(days, 1))
        run_cutoff = datetime.combine(today - timedelta(days=max(run_days, 1)), datetime.min.time())
        finished = "state IN ('done', 'failed', 'cancelled') AND COALESCE(date_finished, write_date) < %(cutoff)s"
        keep_forecast = (
            "id NOT IN (SELECT max(id) FROM ai_forecast_run WHERE state = 'done' GROUP BY target_id, kind "
            "UNION ALL SELECT max(id) FROM ai_forecast_run GROUP BY target_id, kind)"
        )
        keep_ga4 = (
            "id NOT IN (SELECT max(id) FROM ai_ga4_run WHERE state = 'done' GROUP BY download_id "
            "UNION ALL SELECT max(id) FROM ai_ga4_run GROUP BY download_id)"
        )
        keep_job = (
            "id NOT IN (SELECT max(id) FROM ai_training_job WHERE state = 'done' GROUP BY target_id, dataset_id "
            "UNION ALL SELECT max(id) FROM ai_training_job GROUP BY target_id, dataset_id)"
        )
        # (what, table, statement, WHERE clause, cutoff)
        steps = [
            ("ai_prediction", "ai_prediction", "delete", "date < %(cutoff)s", cutoff_date),
            ("ai_forecast_run", "ai_forecast_run", "delete", f"{finished} AND {keep_forecast}", run_cutoff),
            (
                "ai_forecast_alert",
                "ai_forecast_alert",
                "delete",
                "state = 'closed' AND date_closed < %(cutoff)s",
                run_cutoff,
            ),
            ("ai_ga4_run", "ai_ga4_run", "delete", f"{finished} AND dataset_id IS NULL AND {keep_ga4}", run_cutoff),
            (
                "ai_ga4_run_log",
                "ai_ga4_run",
                "clear_log",
                f"{finished} AND log IS NOT NULL AND {keep_ga4}",
                run_cutoff,
            ),
            (
                "ai_training_job_log",
                "ai_training_job",
                "clear_log",
                f"{finished} AND log IS NOT NULL AND {keep_job}",
                run_cutoff,
            ),
        ]
        self.env.flush_all()
        done = {}
        for what, table, action, where, cutoff in steps:
            done[what] = self._cleanup_in_batches(table, action, where, cutoff, batch_size)
        for model in ("ai.prediction", "ai.forecast.run", "ai.forecast.alert", "ai.ga4.run", "ai.training.job"):
            self.env[model].invalidate_model()
        self.env["ai.ga4.download"].invalidate_model(["run_ids", "last_run_id"])
        if any(done.values()):
            _logger.info("forecast cleanup (predictions before %s, runs before %s): %s", cutoff_date, run_cutoff, done)
        return done

    @api.model
    def _cleanup_in_batches(self, table, action, where, cutoff, batch_size):
        """Delete the rows of ``table`` matching ``where`` (or empty their
        ``log``), ``batch_size`` at a time with a commit after each batch.
        Returns the number of rows handled."""
        if action == "delete":
            statement = f"DELETE FROM {table} WHERE id IN (SELECT id FROM {table} WHERE {where} LIMIT %(limit)s)"
        else:
            statement = (
                f"UPDATE {table} SET log = NULL WHERE id IN (SELECT id FROM {table} WHERE {where} LIMIT %(limit)s)"
            )
        total = 0
        while True:
            self.env.cr.execute(statement, {"cutoff": cutoff, "limit": batch_size})  # noqa: S608
            count = self.env.cr.rowcount
            total += count
            self._job_commit()
            if count < batch_size:
                return total

    # ------------------------------------------------------------------ job

    def _job_run(self):
        self.ensure_one()
        if self.kind == "predict":
            self._run_predict()
        elif self.kind == "refresh":
            self._run_refresh()
        else:
            self._run_monitor()

    def _job_is_retryable(self, exc):
        return not isinstance(exc, (errors.InputError, UserError))

    def _read_dataset(self, dataset, frame=None):
        """``(long, keys)`` of a dataset version (or of its already read
        ``frame``) in the target's columns; its future rows left out."""
        frames = self._read_dataset_frames(dataset, frame)
        return frames.long, frames.keys

    def _read_dataset_frames(self, dataset, frame=None, regressors=()):
        """The history of a dataset version (``long``, with the known-future
        ``regressors`` columns), its series ``keys`` and its ``future`` rows:
        the days after each series' last observed one, target empty, that
        give the known-future values of the days to forecast
        (``project.forecast_service.dataset_frames``)."""
        target = self.target_id
        frame = dataset.sudo()._read_dataframe() if frame is None else frame
        from ..project import forecast_service  # pandas: only when used

        return forecast_service.dataset_frames(
            frame, target.date_col, target.target_col, target._series_list(), regressors
        )

    def _latest(self):
        dataset = self.dataset_id or self.target_id._latest_dataset()
        if not dataset:
            raise UserError(_("%s has no ready dataset version to work on.", self.target_id.name))
        return dataset

    # ------------------------------------------------------------------ predict

    def _run_predict(self):
        target = self.target_id
        if self.date_deadline and fields.Datetime.now() >= self.date_deadline:
            self._wait_for_next_night()
            return
        dataset = self._latest()
        self._engine().write({"dataset_id": dataset.id})
        self._queue_retraining(dataset)
        self._job_commit()
        frame = dataset.sudo()._read_dataframe()
        read = {}
        pairs = [(target.champion_id, "forecast"), (target.challenger_id, "shadow")]
        pairs = [(version, kind) for version, kind in pairs if version]
        for index, (version, kind) in enumerate(pairs):
            # A version trained with known-future columns reads them too (once per set of columns).
            regressors = version._regressor_names()
            if regressors not in read:
                read[regressors] = self._read_dataset_frames(dataset, frame, regressors)
            frames = read[regressors]
            observed = frames.long[frames.long["observed"]]
            written = self._predict(version, kind, observed, frames.keys, frames.future)
            self._job_log(
                _("%(version)s: %(count)s prediction rows written (%(kind)s).", version=version.display_name, count=written, kind=kind)
            )
            self._job_progress(index + 1, len(pairs))  # commits: one version per batch
        if not pairs:
            self._job_log(_("%s has no champion yet: nothing predicted.", target.name))
        target.sudo().write({"last_run_date": fields.Date.from_string(self.run_key)})

    def _predict(self, version, kind, observed, keys, future=None):
        """Forecast with ``version`` from the ``observed`` days (and, for a
        version trained with known-future columns, their ``future`` values)
        and upsert its predictions. Returns the rows written. A forecast that
        cannot be made raises before anything is written for the version."""
        from ..project import forecast_service as service  # pandas: only when used
        loaded = model_artifact.load_artifact(version.sudo()._get_artifact_bytes(), version._get_signing_key())
        try:
            forecast = service.forecast_from_artifact(loaded, observed, future)
        except errors.InputError as exc:
            regressors = service.declared_regressors(loaded)
            if not regressors:
                raise
            raise UserError(
                _(
                    "%(version)s was trained with the known-future column(s) %(columns)s: the dataset %(dataset)s "
                    "needs their values for the %(horizon)s days after each series' last observed day, as rows "
                    "with %(columns)s filled and %(target)s left empty. Nothing was predicted with this version. "
                    "%(detail)s",
                    version=version.display_name,
                    columns=", ".join(regressors),
                    dataset=self.dataset_id.display_name or "",
                    horizon=version.horizon,
                    target=self.target_id.target_col,
                    detail=str(exc),
                )
            ) from exc
        history = service.training_history(loaded)
        if len(observed):
            import pandas as pd

            history = pd.concat([history, observed[["unique_id", "ds", "y"]]]).drop_duplicates(
                ["unique_id", "ds"], keep="last"
            )
        scales = service.series_scales(history)
        labels = service.series_labels(keys, forecast["unique_id"].unique())
        target = self.target_id
        horizon = min(int(target.horizon or 90), 90)
        forecast = forecast[(forecast["horizon"] >= 1) & (forecast["horizon"] <= horizon)]

        def rows():
            for row in forecast.itertuples(index=False):
                uid = str(row.unique_id)
                yield (
                    version.id,
                    uid,
                    labels.get(uid, uid),
                    row.ds.date(),
                    int(row.horizon),
                    kind,
                    float(row.yhat),
                    float(row.yhat_lower_80),
                    float(row.yhat_upper_80),
                    float(row.yhat_lower_95),
                    float(row.yhat_upper_95),
                    scales.get(uid),
                )

        return self.env["ai.prediction"]._upsert_rows(rows(), columns=(*PREDICTION_COLUMNS, "scale"))

    def _queue_retraining(self, dataset):
        """Queue the training job of the target on ``dataset`` unless one
        exists (any state but failed or cancelled). Incremental when the
        champion was trained on an earlier version of the same lineage with
        the same first day (only new days were added), full otherwise."""
        target = self.target_id
        champion = target.champion_id
        if champion and champion.dataset_id == dataset:
            return False
        Job = self.env["ai.training.job"].sudo()
        existing = Job.search(
            [("target_id", "=", target.id), ("dataset_id", "=", dataset.id), ("state", "not in", ("failed", "cancelled"))],
            limit=1,
        )
        if existing:
            return False
        parent = champion.dataset_id if champion else self.env["ai.dataset"]
        incremental = bool(
            parent
            and parent.name == dataset.name
            and parent.version < dataset.version
            and parent.date_from == dataset.date_from
            and parent.date_to
            and dataset.date_to
            and dataset.date_to > parent.date_to
        )
        values = target._training_job_values(dataset, parent_version=champion if incremental else None)
        regressors = champion._regressor_names() if champion else ()
        if regressors:
            # The retrained version keeps the champion's known-future columns.
            values["regressor_cols"] = ", ".join(regressors)
        job = Job.with_company(target.company_id).create(values)
        job.action_queue()
        self._job_log(
            _("Training job %(job)s queued (%(mode)s).", job=job.name, mode=_("incremental") if incremental else _("full"))
        )
        return job

    # ------------------------------------------------------------------ refresh

    def _run_refresh(self):
        target = self.target_id
        newest = target._latest_dataset()
        if self.dataset_id and newest and newest.version > self.dataset_id.version:
            # Queued for a version that a newer one replaced meanwhile: the
            # newer version's own refresh covers its days.
            self._job_log(
                _("%(old)s was replaced by %(new)s: nothing to refresh.", old=self.dataset_id.display_name, new=newest.display_name)
            )
            return
        dataset = self._latest()
        long, _keys = self._read_dataset(dataset)
        observed = long[long["observed"]]
        filled = self._fill_actuals(observed)
        self._job_log(_("%s prediction rows got their actual.", filled))
        self._job_commit()
        versions = self.env["ai.model.version"].browse(self._scored_version_ids())
        for index, version in enumerate(versions):
            self._score_version(version)
            self._job_progress(index + 1, len(versions))  # commits: one version per batch
        self._raise_anomaly_alerts()
        self._auto_promote()
        target.sudo().write({"last_dataset_id": dataset.id})

    def _fill_actuals(self, observed):
        """Set ``actual`` and ``error`` of the target's predictions from the
        observed days: ``COPY`` into a temporary table, one ``UPDATE ... FROM``
        touching only rows whose actual changed. Returns the rows changed."""
        if not len(observed):
            return 0
        self.env.flush_all()
        cr = self.env.cr
        temp = f"ai_actuals_{uuid.uuid4().hex[:12]}"
        cr.execute(SQL("CREATE TEMPORARY TABLE %s (series_key varchar, date date, y float8) ON COMMIT DROP", SQL.identifier(temp)))
        buffer = io.StringIO()
        for uid, ds, y in zip(observed["unique_id"], observed["ds"], observed["y"]):
            text = str(uid).replace('"', '""')
            buffer.write(f'"{text}",{ds.date().isoformat()},{float(y)!r}\n')
        buffer.seek(0)
        cr.copy_expert(f"COPY {temp} (series_key, date, y) FROM STDIN WITH (FORMAT csv)", buffer)
        cr.execute(
            SQL(
                """
                UPDATE ai_prediction p
                   SET actual = a.y, error = a.y - p.yhat
                  FROM %s a
                 WHERE p.model_version_id IN (SELECT id FROM ai_model_version WHERE target_id = %s)
                   AND p.series_key = a.series_key AND p.date = a.date
                   AND p.actual IS DISTINCT FROM a.y
                """,
                SQL.identifier(temp),
                self.target_id.id,
            )
        )
        changed = cr.rowcount
        cr.execute(SQL("DROP TABLE %s", SQL.identifier(temp)))
        self.env["ai.prediction"].invalidate_model()
        return changed

    def _scored_version_ids(self):
        self.env.cr.execute(
            "SELECT DISTINCT model_version_id FROM ai_prediction "
            "WHERE model_version_id IN (SELECT id FROM ai_model_version WHERE target_id = %s) "
            "AND actual IS NOT NULL ORDER BY 1",
            (self.target_id.id,),
        )
        return [row[0] for row in self.env.cr.fetchall()]

    def _prediction_frame(self, version):
        import pandas as pd

        self.env.cr.execute(
            """
            SELECT id, series_key, date, horizon, prediction_type, actual, yhat, yhat_lower_80, yhat_upper_80,
                   yhat_lower_95, yhat_upper_95, scale, is_anomaly, anomaly_score
              FROM ai_prediction
             WHERE model_version_id = %s AND actual IS NOT NULL
            """,
            (version.id,),
        )
        columns = [
            "id", "unique_id", "date", "horizon", "type", "y", "yhat", "lo-80", "hi-80",
            "lo-95", "hi-95", "scale", "is_anomaly", "anomaly_score",
        ]  # fmt: skip
        frame = pd.DataFrame(self.env.cr.fetchall(), columns=columns)
        for column in ("y", "yhat", "lo-80", "hi-80", "lo-95", "hi-95", "scale", "anomaly_score"):
            frame[column] = frame[column].astype(float)
        return frame

    def _score_version(self, version):
        """Anomaly flags of the version's scored predictions and its live
        accuracy (all series and per series), both written only where they
        changed."""
        import numpy as np

        from ..project import monitoring  # pandas/scipy: only when used
        frame = self._prediction_frame(version)
        if frame.empty:
            return
        threshold = float(self.env["ir.config_parameter"].sudo().get_param("ai_train_model.anomaly_score_max", 4.0))
        flags, scores = monitoring.anomaly_scores(
            frame["y"], frame["yhat"], frame["lo-95"], frame["hi-95"], frame["scale"], threshold=threshold
        )
        scores = np.where(np.isfinite(scores), np.round(scores, 6), np.nan)
        self._write_anomalies(frame["id"].to_numpy(), flags, scores)
        rows = []
        for per_series in (False, True):
            table = monitoring.live_accuracy(frame, per_series=per_series)
            for record in table.to_dict("records"):
                uid = str(record["unique_id"]) if per_series else ALL_SERIES
                part = frame if not per_series else frame[frame["unique_id"] == uid]
                for metric in ("mae", "mase", "wmape", "bias", "coverage-80", "coverage-95"):
                    value = record.get(metric)
                    if value is None or not np.isfinite(value) or not record["n"]:
                        continue
                    rows.append((uid, record["bucket"], metric, round(float(value), 10), int(record["n"]), part["date"].min(), part["date"].max()))
        self.env["ai.prediction.accuracy"]._store(version, rows)

    def _write_anomalies(self, ids, flags, scores):
        self.env.flush_all()
        cr = self.env.cr
        temp = f"ai_anomaly_{uuid.uuid4().hex[:12]}"
        cr.execute(SQL("CREATE TEMPORARY TABLE %s (id int, flag bool, score float8) ON COMMIT DROP", SQL.identifier(temp)))
        buffer = io.StringIO()
        for record_id, flag, score in zip(ids, flags, scores):
            score_text = repr(float(score)) if score == score else ""
            buffer.write(f"{int(record_id)},{'t' if flag else 'f'},{score_text}\n")
        buffer.seek(0)
        cr.copy_expert(f"COPY {temp} (id, flag, score) FROM STDIN WITH (FORMAT csv)", buffer)
        cr.execute(
            SQL(
                """
                UPDATE ai_prediction p SET is_anomaly = a.flag, anomaly_score = a.score
                  FROM %s a
                 WHERE p.id = a.id
                   AND (p.is_anomaly IS DISTINCT FROM a.flag OR p.anomaly_score IS DISTINCT FROM a.score)
                """,
                SQL.identifier(temp),
            )
        )
        cr.execute(SQL("DROP TABLE %s", SQL.identifier(temp)))
        self.env["ai.prediction"].invalidate_model()

    def _raise_anomaly_alerts(self):
        """One alert (and one activity) per run of anomalous days on a series
        of the champion's served forecasts; a day is anomalous when its most
        recent forecast (smallest horizon) was."""
        target = self.target_id
        champion = target.champion_id
        if not champion:
            return 0
        from ..project import monitoring  # pandas/scipy: only when used
        self.env.cr.execute(
            """
            SELECT DISTINCT ON (series_key, date) series_key, series_label, date, is_anomaly, anomaly_score
              FROM ai_prediction
             WHERE model_version_id = %s AND prediction_type = 'forecast' AND actual IS NOT NULL
          ORDER BY series_key, date, horizon
            """,
            (champion.id,),
        )
        by_series = {}
        for key, label, day, flag, score in self.env.cr.fetchall():
            by_series.setdefault(key, (label, []))[1].append((day, bool(flag), score))
        raised = 0
        Alert = self.env["ai.forecast.alert"]
        for key, (label, days) in sorted(by_series.items()):
            runs = monitoring.anomaly_runs([d for d, _f, _s in days], [f for _d, f, _s in days], [s if s is not None else float("nan") for _d, _f, s in days])
            for run in runs.to_dict("records"):
                start, end = run["start"].date(), run["end"].date()
                message = _(
                    "Anomalies on %(series)s: %(days)s day(s) from %(start)s to %(end)s outside the 95%% band or "
                    "far from the forecast of %(version)s (largest score %(score).1f).",
                    series=label or key,
                    days=run["days"],
                    start=start,
                    end=end,
                    version=champion.display_name,
                    score=run["max_score"] if run["max_score"] == run["max_score"] else 0.0,
                )
                raised += Alert._raise(target, "anomaly", f"{key} @ {start.isoformat()}", message, champion)
        return raised

    def _auto_promote(self):
        """Promote the challenger when automatic promotion is on and, over
        the last N days both versions were scored on (D+1 forecasts), its
        wMAPE beats the champion's by the margin. Says so in the chatter."""
        target = self.target_id
        champion, challenger = target.champion_id, target.challenger_id
        if not (target.auto_promote and champion and challenger):
            return False
        days = int(target.auto_promote_days)
        self.env.cr.execute(
            """
            WITH common AS (
                SELECT series_key, date FROM ai_prediction
                 WHERE model_version_id IN %s AND horizon = 1 AND actual IS NOT NULL
              GROUP BY series_key, date HAVING count(DISTINCT model_version_id) = 2
            ), last_days AS (
                SELECT DISTINCT date FROM common ORDER BY date DESC LIMIT %s
            )
            SELECT p.model_version_id, sum(abs(p.actual - p.yhat)), sum(abs(p.actual)), count(DISTINCT p.date)
              FROM ai_prediction p
              JOIN common c ON c.series_key = p.series_key AND c.date = p.date
             WHERE p.model_version_id IN %s AND p.horizon = 1 AND p.date IN (SELECT date FROM last_days)
          GROUP BY p.model_version_id
            """,
            ((champion.id, challenger.id), days, (champion.id, challenger.id)),
        )
        figures = {row[0]: row[1:] for row in self.env.cr.fetchall()}
        if len(figures) < 2 or min(row[2] for row in figures.values()) < days:
            return False
        wmape = {vid: (err / volume * 100.0 if volume else float("inf")) for vid, (err, volume, _n) in figures.items()}
        margin = float(target.auto_promote_margin) / 100.0
        if not wmape[challenger.id] < wmape[champion.id] * (1.0 - margin):
            return False
        reason = _(
            "Automatic promotion: over the last %(days)s days of actuals, D+1 wMAPE %(challenger).2f%% against "
            "%(champion).2f%% for %(old)s (margin %(margin)s%%).",
            days=days,
            challenger=wmape[challenger.id],
            champion=wmape[champion.id],
            old=champion.display_name,
            margin=target.auto_promote_margin,
        )
        target.sudo()._set_alias("champion", challenger, reason)
        return True

    # ------------------------------------------------------------------ monitor

    def _exogenous_drift(self, frame, reference, last_day, thresholds):
        """Drift of the dataset's exogenous numeric columns (neither the date,
        the target nor a series column): the last days against the champion's
        training window, PSI and KS as for the target. One alert per column
        crossing a threshold (key ``column <name>``), raised once while it
        stays crossed; the alerts of the other columns close. Returns the
        names of the columns crossing."""
        import pandas as pd

        from ..project import monitoring  # pandas/scipy: only when used

        target = self.target_id
        champion = target.champion_id
        Alert = self.env["ai.forecast.alert"]
        crossed_keys = {}
        series = target._series_list()
        columns = monitoring.exogenous_columns(frame, [target.date_col, target.target_col, *series])
        if columns and last_day is not None and len(reference) and target.date_col in frame.columns:
            dates = pd.to_datetime(frame[target.date_col], errors="coerce")
            window = frame[(dates >= reference["ds"].min()) & (dates <= reference["ds"].max())]
            # The future rows (planned promotions, prices) are no recent data.
            recent = frame[(dates > last_day - pd.Timedelta(days=DRIFT_RECENT_DAYS)) & (dates <= last_day)]
            table = monitoring.column_drift(window, recent, columns)
            for row in table.to_dict("records"):
                if not monitoring.crossed_drift_thresholds(row["psi"], row["pvalue"], **thresholds):
                    continue
                key = f"column {row['column']}"
                crossed_keys[key] = row["column"]
                Alert._raise(
                    target,
                    "drift",
                    key,
                    _(
                        "Data drift on %(target)s: the last %(days)s days of the exogenous column %(column)s differ "
                        "from the training window of %(version)s (PSI %(psi).3f, KS %(ks).3f, p-value %(p).4f).",
                        target=target.name,
                        days=DRIFT_RECENT_DAYS,
                        column=row["column"],
                        version=champion.display_name,
                        psi=row["psi"],
                        ks=row["ks"],
                        p=row["pvalue"],
                    ),
                    champion,
                )
        open_keys = (
            Alert.sudo()
            .search([("target_id", "=", target.id), ("kind", "=", "drift"), ("state", "=", "open"), ("key", "=like", "column %")])
            .mapped("key")
        )
        Alert._clear(target, "drift", keys=[key for key in open_keys if key not in crossed_keys])
        return list(crossed_keys.values())

    def _run_monitor(self):
        """Drift of the recent target values against the champion's training
        window, and the champion's live accuracy against the thresholds."""
        import numpy as np

        target = self.target_id
        champion = target.champion_id
        if not champion:
            return
        params = self.env["ir.config_parameter"].sudo()
        from ..project import monitoring  # pandas/scipy: only when used
        from ..project import forecast_service as service  # pandas: only when used
        dataset = self._latest()
        frame = dataset.sudo()._read_dataframe()
        long, _keys = self._read_dataset(dataset, frame)
        observed = long[long["observed"]]
        loaded = model_artifact.load_artifact(champion.sudo()._get_artifact_bytes(), champion._get_signing_key())
        reference = service.training_history(loaded)
        last_day = observed["ds"].max() if len(observed) else None
        recent = observed[observed["ds"] > last_day - np.timedelta64(DRIFT_RECENT_DAYS, "D")] if last_day is not None else observed
        psi_value = monitoring.psi(reference["y"], recent["y"])
        ks_stat, ks_pvalue = monitoring.ks_statistic(reference["y"], recent["y"])
        thresholds = {
            "psi_max": float(params.get_param("ai_train_model.drift_psi_max", 0.25)) or None,
            "ks_pvalue_min": float(params.get_param("ai_train_model.drift_ks_pvalue_min", 0.01)) or None,
        }
        crossed = monitoring.crossed_drift_thresholds(psi_value, ks_pvalue, **thresholds)
        crossed_columns = self._exogenous_drift(frame, reference, last_day, thresholds)
        target.sudo().write(
            {
                "drift_alert": bool(crossed or crossed_columns),
                "drift_psi": psi_value if psi_value == psi_value else 0.0,
                "drift_ks_pvalue": ks_pvalue if ks_pvalue == ks_pvalue else 0.0,
            }
        )
        Alert = self.env["ai.forecast.alert"]
        if crossed:
            Alert._raise(
                target,
                "drift",
                "target",
                _(
                    "Data drift on %(target)s: the last %(days)s days of %(column)s differ from the training window "
                    "of %(version)s (PSI %(psi).3f, KS %(ks).3f, p-value %(p).4f).",
                    target=target.name,
                    days=DRIFT_RECENT_DAYS,
                    column=target.target_col,
                    version=champion.display_name,
                    psi=psi_value,
                    ks=ks_stat,
                    p=ks_pvalue,
                ),
                champion,
            )
        else:
            Alert._clear(target, "drift", keys=["target"])
        line = {
            acc.metric: acc.value
            for acc in self.env["ai.prediction.accuracy"].search(
                [("version_id", "=", champion.id), ("series_key", "=", ALL_SERIES), ("bucket", "=", "1-28")]
            )
        }
        count = self.env["ai.prediction.accuracy"].search(
            [("version_id", "=", champion.id), ("series_key", "=", ALL_SERIES), ("bucket", "=", "1-28")], limit=1
        ).n
        crossed = monitoring.crossed_accuracy_thresholds(
            {**line, "n": count},
            mase_max=float(params.get_param("ai_train_model.accuracy_mase_max", 1.5)) or None,
            wmape_max=float(params.get_param("ai_train_model.accuracy_wmape_max", 50.0)) or None,
            min_actuals=ACCURACY_MIN_ACTUALS,
        )
        champion._engine().write({"accuracy_alert": bool(crossed)})
        if crossed:
            Alert._raise(
                target,
                "accuracy",
                f"version {champion.id}",
                _(
                    "Live accuracy of %(version)s is poor: MASE %(mase).3f, wMAPE %(wmape).1f%% over days 1-28 "
                    "(%(n)s actuals).",
                    version=champion.display_name,
                    mase=line.get("mase", 0.0),
                    wmape=line.get("wmape", 0.0),
                    n=count,
                ),
                champion,
            )
        else:
            Alert._clear(target, "accuracy")
