"""``ai.training.job``: training jobs, queued and run by the cron through ``ai.job.mixin``."""

import base64
import hashlib
import importlib.util
import os
import tempfile
from pathlib import Path

from odoo import _, api, fields, models
from odoo.exceptions import UserError, ValidationError

from ..project import errors
from ..project.incremental_training import update_artifact
from ..project.training import KNOWN_CANDIDATES, TrainConfig, train_to_artifact
from .tools import form_action, selection_label

#: Candidates that need an optional library, and that library's module.
_OPTIONAL_MODELS = {"prophet": "prophet"}


class AiTrainingJob(models.Model):
    """A request to train forecasting models on a dataset or an uploaded file.

    Users queue jobs; the cron ``ir_cron_ai_training_job_run`` runs them
    through ``ai.job.mixin`` (claim, progress, orphan requeue), calls
    ``project.training.train_to_artifact`` and stores the result as an
    ``ai.model.version`` with its metric lines. Everything the engine writes
    (state, progress, log, result) is protected against RPC writes. A failed
    training is not retried by itself (the same input fails the same way); a
    job whose worker died is.
    """

    _name = "ai.training.job"
    _description = "AI Training Job"
    _inherit = ["mail.thread", "mail.activity.mixin", "ai.job.mixin"]
    _order = "id desc"
    _check_company_auto = True

    _protected_fields = ("model_version_id", "data_sha256", "input_sha256")
    #: The uploaded file is stored by the engine with its SHA-256 (see
    #: ``create``/``write``): nobody can swap it through ``ir.attachment``
    #: between the upload and the run, which checks it before training.
    _engine_files = {"input_file": "input_sha256"}
    #: What a job was asked to do: frozen once it leaves draft, so that a
    #: finished job always describes the model version it produced.
    _settings_fields = (
        "company_id",
        "model_name",
        "input_type",
        "dataset_id",
        "input_file",
        "input_filename",
        "date_col",
        "target_col",
        "series_cols",
        "regressor_cols",
        "date_column_id",
        "target_column_id",
        "series_column_ids",
        "regressor_column_ids",
        "candidate_ids",
        "freq",
        "horizon",
        "candidates",
        "cv_windows",
        "metric",
        "country_id",
    )
    _job_cron_xmlid = "ai_train_model.ir_cron_ai_training_job_run"
    #: ``ai_train_model.job_stale_minutes`` / ``job_retry_minutes``.
    _job_param_prefix = "job"
    #: A failed or stuck training goes to an Analyst (who queued it, if one).
    _job_notify_group = "ai_train_model.group_ai_analyst"
    _METRICS = [
        ("mase", "MASE"),
        ("smape", "sMAPE"),
        ("wmape", "wMAPE"),
        ("mae", "MAE"),
        ("rmse", "RMSE"),
    ]

    name = fields.Char(required=True, readonly=True, copy=False, default=lambda self: _("New"))
    company_id = fields.Many2one("res.company", required=True, index=True, default=lambda self: self.env.company)
    model_name = fields.Char(
        compute="_compute_model_name",
        store=True,
        precompute=True,
        readonly=False,
        required=True,
        help="Name of the model family; each successful run adds a version to it.",
    )
    input_type = fields.Selection(
        selection=[("dataset", "Dataset"), ("file", "Uploaded File")],
        required=True,
        default="dataset",
    )
    dataset_id = fields.Many2one(
        comodel_name="ai.dataset",
        index=True,
        domain="[('state', 'in', ('ready', 'registered'))]",
        check_company=True,
    )
    input_file = fields.Binary(attachment=True, copy=False, help="A CSV or Parquet file in long format.")
    input_filename = fields.Char(copy=False)
    input_sha256 = fields.Char(string="Uploaded File SHA-256", readonly=True, copy=False)
    date_col = fields.Char(
        string="Date Column", compute="_compute_columns", store=True, precompute=True, readonly=False, required=True
    )
    target_col = fields.Char(
        string="Target Column", compute="_compute_columns", store=True, precompute=True, readonly=False, required=True
    )
    series_cols = fields.Char(
        string="Series Columns",
        compute="_compute_columns",
        store=True,
        precompute=True,
        readonly=False,
        help="Columns whose values identify a series (store, product...), comma separated. "
        "Empty: the whole file is one series.",
    )
    regressor_cols = fields.Char(
        string="Known-Future Columns",
        help="Columns whose future values are known when forecasting (promotions, prices, planned closures), "
        "comma separated; the models that can use them (gbm, prophet, sarimax) do.",
    )
    file_column_ids = fields.One2many(
        comodel_name="ai.dataset.column",
        inverse_name="job_id",
        string="File Columns",
        readonly=True,
        help="The header of the uploaded file, read when the file is saved.",
    )
    available_column_ids = fields.Many2many(
        comodel_name="ai.dataset.column",
        compute="_compute_available_column_ids",
        string="Available Columns",
    )
    date_column_id = fields.Many2one(
        comodel_name="ai.dataset.column",
        string="Date",
        compute="_compute_column_pickers",
        store=True,
        readonly=False,
        domain="[('id', 'in', available_column_ids)]",
        help="The column holding the date of each row.",
    )
    target_column_id = fields.Many2one(
        comodel_name="ai.dataset.column",
        string="Target",
        compute="_compute_column_pickers",
        store=True,
        readonly=False,
        domain="[('id', 'in', available_column_ids)]",
        help="The numeric column to forecast (sales, pageviews...).",
    )
    series_column_ids = fields.Many2many(
        comodel_name="ai.dataset.column",
        relation="ai_training_job_series_column_rel",
        column1="job_id",
        column2="column_id",
        string="Series",
        compute="_compute_column_pickers",
        store=True,
        readonly=False,
        domain="[('id', 'in', available_column_ids)]",
        help="Columns whose values identify a series (store, product...). Empty: the whole data is one series.",
    )
    regressor_column_ids = fields.Many2many(
        comodel_name="ai.dataset.column",
        relation="ai_training_job_regressor_column_rel",
        column1="job_id",
        column2="column_id",
        string="Known-Future Regressors",
        compute="_compute_column_pickers",
        store=True,
        readonly=False,
        domain="[('id', 'in', available_column_ids), ('kind', 'in', ('numeric', 'flag'))]",
        help="Number or yes/no columns known in advance (promotions, prices, planned closures): gbm, prophet "
        "and sarimax use them.",
    )
    freq = fields.Selection(
        selection=[("auto", "Automatic"), ("D", "Daily"), ("W", "Weekly"), ("M", "Monthly")],
        string="Frequency",
        default="auto",
        required=True,
        help="Frequency of the data. Automatic: inferred from the dates.",
    )
    horizon = fields.Integer(
        default=lambda self: self._default_setting("default_horizon"),
        required=True,
        help="Steps to forecast (1 to 90), in the data's frequency.",
    )
    candidates = fields.Char(
        default=lambda self: self._default_setting("default_candidates"),
        required=True,
        help="Candidate models, comma separated, among: naive, snaive, ets, sarimax, prophet, gbm, theta. "
        "Each series gets the one with the best backtest score.",
    )
    candidate_ids = fields.Many2many(
        comodel_name="ai.training.candidate",
        relation="ai_training_job_candidate_rel",
        column1="job_id",
        column2="candidate_id",
        string="Candidate Models",
        compute="_compute_candidate_ids",
        store=True,
        readonly=False,
        help="Each series gets the candidate with the best backtest score (or a combination of the best, "
        "an ensemble, when it scores better).",
    )
    cv_windows = fields.Integer(
        string="Backtest Windows",
        default=lambda self: self._default_setting("default_cv_windows"),
        required=True,
        help="Rolling-origin backtest windows (1 to 20).",
    )
    metric = fields.Selection(selection=_METRICS, default="mase", required=True, help="Selection metric.")
    country_id = fields.Many2one(
        comodel_name="res.country",
        string="Holidays Country",
        help="Public holidays of this country become model features.",
    )
    state = fields.Selection(tracking=True)
    progress = fields.Float(help="Share of series trained, in percent.")
    data_sha256 = fields.Char(string="Data SHA-256", readonly=True, copy=False)
    target_id = fields.Many2one(
        comodel_name="ai.forecast.target",
        string="Forecast Target",
        index="btree_not_null",
        ondelete="set null",
        check_company=True,
        help="The version this job trains joins this target (champion if it has none, else challenger).",
    )
    parent_version_id = fields.Many2one(
        comodel_name="ai.model.version",
        string="Update Of",
        ondelete="set null",
        help="Incremental training: update this version's artifact with the new days instead of training "
        "from scratch (project/utils/incremental.py).",
    )
    model_version_id = fields.Many2one(
        comodel_name="ai.model.version",
        readonly=True,
        copy=False,
        index="btree_not_null",
    )

    _sql_constraints = [
        ("horizon_range", "CHECK(horizon BETWEEN 1 AND 90)", "The horizon must be between 1 and 90 days."),
        ("cv_windows_range", "CHECK(cv_windows BETWEEN 1 AND 20)", "Backtest windows must be between 1 and 20."),
    ]

    @api.model
    def _default_setting(self, name):
        """Default of a new job from the AI Forecasting settings."""
        return self.env["ai.forecast.settings"]._get_value(name)

    # ------------------------------------------------------------------ computes

    @api.depends("dataset_id", "input_filename")
    def _compute_model_name(self):
        for job in self:
            if job.dataset_id:
                job.model_name = job.dataset_id.name
            elif job.input_filename:
                job.model_name = os.path.splitext(job.input_filename)[0]
            else:
                job.model_name = job.model_name

    @api.depends("dataset_id")
    def _compute_columns(self):
        for job in self:
            dataset = job.dataset_id
            job.date_col = dataset.date_col or job.date_col or "date"
            job.target_col = dataset.target_col or job.target_col
            job.series_cols = dataset.series_cols if dataset else job.series_cols

    @api.depends("input_type", "dataset_id.column_ids", "file_column_ids")
    def _compute_available_column_ids(self):
        for job in self:
            job.available_column_ids = job.dataset_id.column_ids if job.input_type == "dataset" else job.file_column_ids

    @api.depends("available_column_ids", "date_col", "target_col", "series_cols", "regressor_cols")
    def _compute_column_pickers(self):
        """The pickers follow the column names (the names are what the engine reads)."""
        for job in self:
            by_name = {column.name: column for column in job.available_column_ids}
            job.date_column_id = by_name.get((job.date_col or "").strip(), False)
            job.target_column_id = by_name.get((job.target_col or "").strip(), False)
            job.series_column_ids = [(6, 0, [by_name[n].id for n in job._series_list() if n in by_name])]
            job.regressor_column_ids = [(6, 0, [by_name[n].id for n in job._regressor_list() if n in by_name])]

    @api.depends("candidates")
    def _compute_candidate_ids(self):
        known = {candidate.code: candidate for candidate in self.env["ai.training.candidate"].search([])}
        for job in self:
            job.candidate_ids = [(6, 0, [known[c].id for c in job._candidate_list() if c in known])]

    @api.onchange("date_column_id", "target_column_id", "series_column_ids", "regressor_column_ids", "candidate_ids")
    def _onchange_column_pickers(self):
        for job in self:
            job._names_from_pickers(job._PICKERS)

    #: picker field -> the column-name field it sets
    _PICKERS = {
        "date_column_id": "date_col",
        "target_column_id": "target_col",
        "series_column_ids": "series_cols",
        "regressor_column_ids": "regressor_cols",
        "candidate_ids": "candidates",
    }

    def _names_from_pickers(self, pickers):
        """Set the column-name fields from the pickers in ``pickers``."""
        for picker in pickers:
            name_field = self._PICKERS[picker]
            columns = self[picker]
            if picker == "candidate_ids":
                value = ",".join(columns.mapped("code")) or self[name_field]
            elif picker in ("series_column_ids", "regressor_column_ids"):
                value = ", ".join(columns.mapped("name")) or False
            else:
                value = columns.name or self[name_field]
            if value != self[name_field]:
                self[name_field] = value

    # ------------------------------------------------------------------ constraints

    @api.constrains("candidates")
    def _check_candidates(self):
        known = self._model_names()
        for job in self:
            names = job._candidate_list()
            if not names:
                raise ValidationError(_("Give at least one candidate model."))
            unknown = [name for name in names if name not in known]
            if unknown:
                raise ValidationError(
                    _(
                        "Unknown candidate model(s): %(unknown)s. Known models: %(known)s.",
                        unknown=", ".join(unknown),
                        known=", ".join(sorted(known)),
                    )
                )
            for name in names:
                module = _OPTIONAL_MODELS.get(name)
                if module and importlib.util.find_spec(module) is None:
                    raise ValidationError(
                        _(
                            "The candidate model %(model)s needs the Python package %(package)s, "
                            "which is not installed on the server.",
                            model=name,
                            package=module,
                        )
                    )

    @api.constrains("input_type", "dataset_id")
    def _check_input(self):
        for job in self:
            if job.input_type == "dataset" and not job.dataset_id:
                raise ValidationError(_("Choose the dataset to train on."))

    # ------------------------------------------------------------------ CRUD

    @api.model_create_multi
    def create(self, vals_list):
        for vals in vals_list:
            if vals.get("name", _("New")) == _("New"):
                vals["name"] = self.env["ir.sequence"].next_by_code("ai.training.job") or _("New")
        uploads = [vals.pop("input_file", None) for vals in vals_list]
        jobs = super().create(vals_list)
        for job, upload, vals in zip(jobs, uploads, vals_list):
            if upload:
                job._store_input_file(upload)
            job._names_from_pickers([picker for picker in self._PICKERS if picker in vals])
        return jobs

    def write(self, vals):
        if not self._is_engine() and set(vals) & set(self._settings_fields):
            started = self.filtered(lambda job: job.state != "draft")
            if started:
                raise UserError(
                    _(
                        "The settings of %(jobs)s cannot change once queued; reset them to draft first.",
                        jobs=", ".join(started.mapped("name")),
                    )
                )
        if "input_file" in vals and not self._is_engine():
            vals = dict(vals)
            upload = vals.pop("input_file")
            result = super().write(vals) if vals else True
            for job in self:
                job._store_input_file(upload)
            return result
        result = super().write(vals)
        pickers = [picker for picker in self._PICKERS if picker in vals]
        if pickers and not self._is_engine():
            for job in self:
                job._names_from_pickers(pickers)
        return result

    def _store_input_file(self, upload):
        """Store the user's upload (base64, or False to clear it) as the
        engine, with its SHA-256: the user's right to write the job was
        checked by the caller (``create``/``write``)."""
        self.ensure_one()
        self.check_access_rights("write")
        self.check_access_rule("write")
        raw = base64.b64decode(upload) if upload else b""
        self._engine().write(
            {"input_file": upload or False, "input_sha256": hashlib.sha256(raw).hexdigest() if raw else False}
        )
        self._sync_file_columns(raw)

    def _sync_file_columns(self, raw):
        """Read the uploaded file's header into :attr:`file_column_ids` (an
        unreadable file leaves none: the run reports why)."""
        from ..project.utils import datos
        from .ai_dataset_column import frame_kinds

        self.ensure_one()
        columns = []
        if raw:
            with tempfile.TemporaryDirectory(prefix="ai_train_model_") as tmp:
                path = Path(tmp) / os.path.basename(self.input_filename or "input.csv")
                path.write_bytes(raw)
                try:
                    columns = frame_kinds(datos.read_table(path))
                except errors.InputError:
                    columns = []
        self.env["ai.dataset.column"]._replace("job_id", self, columns)

    def unlink(self):
        if any(job.state == "running" for job in self):
            raise UserError(_("A running training job cannot be deleted."))
        return super().unlink()

    # ------------------------------------------------------------------ actions

    def action_queue(self):
        """Queue draft jobs and wake the cron up. Called by the Queue button."""
        for job in self:
            if job.state != "draft":
                raise UserError(_("Only draft jobs can be queued (%(job)s is %(state)s).", job=job.name, state=selection_label(job, "state")))
            job._check_ready_to_queue()
        return self._job_queue()

    def action_retry(self):
        """Queue failed or cancelled jobs again."""
        for job in self:
            if job.state not in ("failed", "cancelled"):
                raise UserError(
                    _("Only failed or cancelled jobs can be retried (%(job)s is %(state)s).", job=job.name, state=selection_label(job, "state"))
                )
            job._check_ready_to_queue()
        return self._job_queue(reset=True)

    def action_cancel(self):
        """Cancel jobs that have not started. A running job finishes its run."""
        for job in self:
            if job.state not in ("draft", "queued", "failed"):
                raise UserError(
                    _(
                        "Only draft, queued or failed jobs can be cancelled (%(job)s is %(state)s).",
                        job=job.name,
                        state=selection_label(job, "state"),
                    )
                )
        self._engine().write({"state": "cancelled"})
        return True

    def action_reset_to_draft(self):
        for job in self:
            if job.state not in ("failed", "cancelled"):
                raise UserError(_("Only failed or cancelled jobs go back to draft."))
        self._engine().write({"state": "draft", "progress": 0.0, "error_message": False, "attempts": 0})
        return True

    def action_view_model_version(self):
        self.ensure_one()
        return form_action(self.model_version_id, "ai_train_model.ai_model_version_action")

    # ------------------------------------------------------------------ job

    def _job_run(self):
        """Train this claimed job and store its result (the version and its
        metric lines, all or nothing)."""
        self.ensure_one()
        with tempfile.TemporaryDirectory(prefix="ai_train_model_") as tmp:
            summary, artifact = self._train(Path(tmp))
            with self.env.cr.savepoint():
                self._store_result(summary, artifact)

    def _job_is_retryable(self, exc):
        # The same input and code fail the same way: the user retries after a fix.
        return False

    # Every change of state or progress is pushed to the dashboards (bus).

    def _job_queue(self, reset=False):
        result = super()._job_queue(reset=reset)
        self._notify_progress()
        return result

    @api.model
    def _job_claim_next(self):
        job = super()._job_claim_next()
        job._notify_progress()
        return job

    def _job_progress(self, done, total):
        # Queued before the commit that publishes the progress, with its value.
        self._notify_progress(progress=float(int(100 * done / total)) if total else 100.0)
        return super()._job_progress(done, total)

    def _job_done(self, message=None):
        result = super()._job_done(message)
        self._notify_progress()
        return result

    def _job_fail(self, message, retry=False):
        result = super()._job_fail(message, retry=retry)
        self._notify_progress()
        return result

    def _notify_progress(self, progress=None):
        """Tell the dashboards of the job's company where the job stands
        (the bus delivers it when the transaction commits)."""
        from .ai_forecast_dashboard import JOB_PROGRESS, job_channel

        for job in self:
            self.env["bus.bus"]._sendone(
                job_channel(job.company_id.id),
                JOB_PROGRESS,
                {
                    "id": job.id,
                    "name": job.name,
                    "model_name": job.model_name,
                    "state": job.state,
                    "state_label": selection_label(job, "state"),
                    "progress": job.progress if progress is None else progress,
                },
            )

    def _job_internal_error_message(self):
        return _(
            "The training stopped because of an internal error. An administrator can find "
            "the details in the server log (job %s).",
            self.name,
        )

    def _train(self, workdir):
        """Read the input, call the training core, return ``(summary, zip bytes)``."""
        self.ensure_one()
        frame, data_sha256 = self._read_input(workdir)
        series_cols = self._series_list()
        self._job_log(
            _(
                "Training on %(rows)s rows (%(columns)s), horizon %(horizon)s, candidates %(candidates)s.",
                rows=len(frame),
                columns=", ".join(map(str, frame.columns)),
                horizon=self.horizon,
                candidates=", ".join(self._candidate_list()),
            )
        )
        missing = [
            c for c in [self.date_col, self.target_col, *series_cols, *self._regressor_list()] if c not in frame.columns
        ]
        if missing:
            raise errors.InputError(
                _(
                    "Column(s) %(missing)s not found in the input; its columns are: %(columns)s.",
                    missing=", ".join(repr(c) for c in missing),
                    columns=", ".join(repr(str(c)) for c in frame.columns),
                )
            )
        settings = self.env["ai.forecast.settings"]
        train_config = TrainConfig(
            horizon=self.horizon,
            candidates=tuple(self._candidate_list()),
            cv_windows=self.cv_windows,
            metric=self.metric,
            country=self.country_id.code or None,
            n_jobs=settings._get_value("n_jobs"),
            dask_address=settings._get_value("dask_address") or None,
            levels=settings._get_levels(),
            **self._train_config_options(),
        )
        output = workdir / "model.zip"
        if self.parent_version_id:
            # The parent artifact's known-future columns are the ones its update needs.
            regressors = self.parent_version_id._regressor_names()
            history, future = self._split_future(frame, series_cols, regressors)
            return self._train_incremental(history, data_sha256, series_cols, workdir, future)
        history, future = self._split_future(frame, series_cols, self._regressor_list())
        summary = train_to_artifact(
            history,
            output,
            date_col=self.date_col,
            target_col=self.target_col,
            series_cols=series_cols,
            config=train_config,
            signing_key=self.env["ai.model.version"]._get_signing_key(),
            source_sha256=data_sha256,
            progress=self._job_progress_callback(),
            future=future,
        )
        self._engine().write({"data_sha256": data_sha256})
        metadata = summary.metadata or {}
        for warning in metadata.get("warnings") or []:
            self._job_log(_("Warning: %s", warning))
        for key, reason in sorted((metadata.get("fallbacks") or {}).items()):
            self._job_log(_("Series %(series)s fell back to a simple model: %(reason)s", series=key, reason=reason))
        return summary, output.read_bytes()

    def _split_future(self, frame, series_cols, regressors):
        """``(history, future)`` of the input: the future rows are the days
        after each series' last observed one, target empty, that give the
        known-future values of the days to forecast
        (``project.forecast_service.split_future``); ``None`` without
        known-future ``regressors``, which cannot be trained or updated
        without them."""
        from ..project.forecast_service import split_future  # pandas: only when used

        self.ensure_one()
        history, future = split_future(frame, self.date_col, self.target_col, series_cols)
        if not regressors:
            return history, None
        if not len(future):
            raise errors.InputError(
                _(
                    "The known-future column(s) %(columns)s need their values for the %(horizon)s days after "
                    "each series' last observed day: add those days to the data as rows with %(columns)s "
                    "filled and %(target)s left empty.",
                    columns=", ".join(regressors),
                    horizon=self.horizon,
                    target=self.target_col,
                )
            )
        self._job_log(
            _(
                "%(rows)s row(s) after the last observed day give the known-future values of the forecast.",
                rows=len(future),
            )
        )
        return history, future

    def _train_incremental(self, frame, data_sha256, series_cols, workdir, future=None):
        """Update the parent version's artifact with the new days
        (``project.utils.incremental.update_artifact``): the chosen models are
        refitted, series whose newest window degraded are selected again.
        ``future`` holds the known-future values of the days to forecast."""
        self.ensure_one()
        parent = workdir / "parent.zip"
        parent.write_bytes(self.parent_version_id.sudo()._get_artifact_bytes())
        output = workdir / "model.zip"
        self._job_log(_("Incremental update of %s with the new days.", self.parent_version_id.display_name))
        summary = update_artifact(
            parent,
            frame,
            output,
            self.env["ai.model.version"]._get_signing_key(),
            degrade_threshold=0.1,
            date_col=self.date_col,
            target_col=self.target_col,
            series_cols=series_cols,
            source_sha256=data_sha256,
            progress=self._job_progress_callback(),
            future=future,
        )
        self._engine().write({"data_sha256": data_sha256})
        return summary, output.read_bytes()

    def _read_input(self, workdir):
        """Return ``(DataFrame, sha256 of the input bytes)``."""
        from ..project.utils import datos  # imports pandas: only when used

        self.ensure_one()
        if self.input_type == "dataset":
            if not self.dataset_id:
                raise errors.InputError(_("The job has no dataset."))
            dataset = self.dataset_id
            raw = dataset._get_parquet_bytes()
            name = dataset.data_filename or "dataset.parquet"
        else:
            if not self.input_sha256:
                raise errors.InputError(_("The job has no uploaded file."))
            raw = self._engine_file_bytes("input_file")
            name = self.input_filename or "input"
        path = workdir / os.path.basename(name)
        path.write_bytes(raw)
        frame = datos.read_table(path)
        return frame, hashlib.sha256(raw).hexdigest()

    def _store_result(self, summary, artifact):
        """Create the model version and its metric lines; mark the job done."""
        self.ensure_one()
        version = self.env["ai.model.version"]._create_from_training(self, summary, artifact)
        chosen = summary.series
        self._job_log(
            _(
                "Done: %(series)s series, model version %(version)s.",
                series=len(chosen) if chosen is not None else 0,
                version=version.display_name,
            )
        )
        self._engine().write({"model_version_id": version.id})
        self._job_done()
        return version

    # ------------------------------------------------------------------ helpers

    def _check_ready_to_queue(self):
        self.ensure_one()
        if self.input_type == "dataset" and not self.dataset_id.checksum:
            raise UserError(_("Dataset %s has no data yet.", self.dataset_id.display_name))
        if self.input_type == "file" and not self.input_file:
            raise UserError(_("Upload the CSV or Parquet file to train on."))
        self._check_columns()

    def _check_columns(self):
        """Check the chosen columns against the data's columns before anything
        is queued: each exists, none is used twice, the date is a date and the
        target and known-future columns are numbers. Skipped when the data's
        columns are not known (an unreadable upload: the run says why)."""
        self.ensure_one()
        columns = {column.name: column for column in self.available_column_ids}
        if not columns:
            return
        kinds = dict(self.env["ai.dataset.column"]._fields["kind"]._description_selection(self.env))
        roles = [(_("date"), self.date_col), (_("target"), self.target_col)]
        roles += [(_("series"), name) for name in self._series_list()]
        roles += [(_("known-future"), name) for name in self._regressor_list()]
        problems = []
        seen = {}
        for role, name in roles:
            name = (name or "").strip()
            if not name:
                problems.append(_("Choose the %s column.", role))
                continue
            if name not in columns:
                problems.append(_("The %(role)s column %(column)s is not in the data.", role=role, column=repr(name)))
                continue
            if name in seen:
                problems.append(
                    _(
                        "The column %(column)s is used twice (as %(first)s and as %(second)s).",
                        column=repr(name),
                        first=seen[name],
                        second=role,
                    )
                )
            seen.setdefault(name, role)
        date = columns.get((self.date_col or "").strip())
        if date and date.kind != "date":
            problems.append(
                _("The date column %(column)s holds %(kind)s values, not dates.", column=repr(date.name), kind=kinds[date.kind].lower())
            )
        # A known-future column may also be a yes/no flag (a promotion), read as 1/0.
        numeric_roles = [(_("target"), self.target_col, ("numeric",))] + [
            (_("known-future"), name, ("numeric", "flag")) for name in self._regressor_list()
        ]
        for role, name, accepted in numeric_roles:
            column = columns.get((name or "").strip())
            if column and column.kind not in accepted:
                problems.append(
                    _(
                        "The %(role)s column %(column)s must hold numbers; it holds %(kind)s values.",
                        role=role,
                        column=repr(column.name),
                        kind=kinds[column.kind].lower(),
                    )
                )
        if problems:
            raise UserError(
                _("%(job)s cannot be queued:", job=self.display_name) + "\n- " + "\n- ".join(problems)
                + "\n" + _("Data columns: %s", ", ".join(columns))
            )

    def _candidate_list(self):
        self.ensure_one()
        return [name.strip().lower() for name in (self.candidates or "").split(",") if name.strip()]

    def _series_list(self):
        self.ensure_one()
        return [name.strip() for name in (self.series_cols or "").split(",") if name.strip()]

    def _regressor_list(self):
        self.ensure_one()
        return [name.strip() for name in (self.regressor_cols or "").split(",") if name.strip()]

    def _train_config_options(self):
        """Frequency and known-future columns, for the core versions that take them."""
        accepted = getattr(TrainConfig, "__dataclass_fields__", {})
        options = {}
        if "freq" in accepted and self.freq and self.freq != "auto":
            options["freq"] = self.freq
        if "regressors" in accepted and self._regressor_list():
            options["regressors"] = tuple(self._regressor_list())
        return options

    @api.model
    def _model_names(self):
        """Candidate names the training core knows."""
        return set(KNOWN_CANDIDATES)
