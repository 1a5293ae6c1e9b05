import json
import os
import shutil
from datetime import timedelta
from pathlib import Path

from odoo import _, api, fields, models
from odoo.exceptions import UserError, ValidationError
from odoo.tools import config

from ..project import ga4
from ..project.ga4 import client as ga4_client
from ..project.ga4 import download as ga4_download
from ..project.ga4 import merge as ga4_merge


class AiGa4Run(models.Model):
    """One execution of a GA4 download: a window of days fetched and merged.

    A job of ``ai.job.mixin``: created queued by the cron (schedule) or the
    Run Now button, run by the cron ``ir_cron_ai_ga4_download_run`` (see
    ``ai.ga4.download._cron_run_downloads``). A network failure puts it in
    ``retrying`` until ``date_not_before`` (exponential backoff) for up to
    ``_job_max_attempts`` attempts; a spent property quota puts it in
    ``stopped``, resumed later from the checkpoint kept in its work folder
    (not a new attempt). Only a complete download produces a dataset version.
    At most one unfinished run per download (a unique index). Every field is
    written by the engine.
    """

    _name = "ai.ga4.run"
    _description = "GA4 Download Run"
    _inherit = ["ai.job.mixin"]
    _order = "id desc"
    _rec_name = "name"

    _protected_create = True
    _protected_fields = (
        "download_id",
        "trigger",
        "window_start",
        "window_end",
        "rows",
        "pages",
        "tokens_consumed",
        "quota_remaining",
        "quota_json",
        "subject_to_thresholding",
        "sampled",
        "sampling_json",
        "data_loss_from_other_row",
        "dataset_id",
        "parent_dataset_id",
        "workdir",
        "stats_json",
    )
    _job_cron_xmlid = "ai_train_model.ir_cron_ai_ga4_download_run"
    _job_claimable_states = ("queued", "retrying", "stopped")
    _job_retry_state = "retrying"
    #: ``ai_train_model.ga4_retry_minutes`` (first retry delay, doubled at each
    #: attempt) and ``ga4_stale_minutes``.
    _job_param_prefix = "ga4"
    #: A failed or stuck download goes to a Manager (credentials are theirs).
    _job_notify_group = "ai_train_model.group_ai_manager"
    _job_stale_minutes = 2
    #: Minutes to wait before resuming a run stopped by the quota
    #: (``ai_train_model.ga4_quota_wait_minutes``).
    _QUOTA_WAIT_MINUTES = 60

    name = fields.Char(compute="_compute_name", store=True)
    download_id = fields.Many2one(
        comodel_name="ai.ga4.download",
        required=True,
        readonly=True,
        index=True,
        ondelete="cascade",
    )
    company_id = fields.Many2one(related="download_id.company_id", store=True, index=True)
    state = fields.Selection(
        selection_add=[("retrying", "Retrying"), ("stopped", "Stopped (quota)"), ("done",)],
        ondelete={"retrying": "cascade", "stopped": "cascade"},
        default="queued",  # created queued; never draft or cancelled
    )
    trigger = fields.Selection(
        selection=[("schedule", "Schedule"), ("manual", "Manual")],
        required=True,
        default="schedule",
        readonly=True,
    )
    attempts = fields.Integer(help="Attempts started so far (resuming after a quota stop is not one).")
    date_not_before = fields.Datetime(string="Next Retry", help="When the cron takes a retrying or stopped run up again.")
    window_start = fields.Date(readonly=True, help="First day downloaded (lookback days included).")
    window_end = fields.Date(readonly=True, help="Last day downloaded.")
    rows = fields.Integer(readonly=True)
    pages = fields.Integer(readonly=True)
    tokens_consumed = fields.Integer(string="Quota Tokens Used", readonly=True)
    quota_remaining = fields.Integer(string="Daily Tokens Left", readonly=True)
    quota_json = fields.Text(string="Quota", readonly=True, groups="base.group_no_one")
    subject_to_thresholding = fields.Boolean(
        string="Thresholded",
        readonly=True,
        help="GA4 withheld rows with few users (Google signals / demographics): totals may be understated.",
    )
    sampled = fields.Boolean(readonly=True, help="GA4 answered from a sample of the events.")
    sampling_json = fields.Text(string="Sampling", readonly=True)
    data_loss_from_other_row = fields.Boolean(
        string="(other) Row",
        readonly=True,
        help="High-cardinality dimension values were folded into an '(other)' row.",
    )
    error_message = fields.Text(string="Error")
    dataset_id = fields.Many2one(
        comodel_name="ai.dataset",
        string="Dataset Version",
        readonly=True,
        index="btree_not_null",
        ondelete="set null",
        help="The dataset version this run produced.",
    )
    parent_dataset_id = fields.Many2one(
        comodel_name="ai.dataset",
        string="Merged Into",
        readonly=True,
        ondelete="set null",
        help="The version the window was merged into (the chain's previous version).",
    )
    workdir = fields.Char(
        string="Checkpoint Folder",
        readonly=True,
        groups="base.group_no_one",
        help="Partial download and checkpoint; removed when the run ends.",
    )
    stats_json = fields.Text(string="Statistics", readonly=True, groups="base.group_no_one")

    def init(self):
        # One unfinished run per download at most, whatever the race.
        self.env.cr.execute(
            """
            CREATE UNIQUE INDEX IF NOT EXISTS ai_ga4_run_one_unfinished_idx
                ON ai_ga4_run (download_id)
             WHERE state IN ('queued', 'running', 'retrying', 'stopped')
            """
        )

    # ------------------------------------------------------------------ computes

    @api.depends("download_id.name")
    def _compute_name(self):
        for run in self:
            run.name = f"{run.download_id.name or ''} #{run.id or '?'}"

    # ------------------------------------------------------------------ CRUD

    def unlink(self):
        if any(run.state == "running" for run in self):
            raise UserError(_("A running GA4 download cannot be deleted."))
        for run in self:
            run._remove_workdir()
        return super().unlink()

    # ------------------------------------------------------------------ job

    def _job_run(self):
        """Download the run's window and merge it into a new dataset version,
        or stop on a spent quota (resumed later from the checkpoint)."""
        self.ensure_one()
        run = self._engine()
        if not run.window_start:
            window = run.download_id._next_window()
            if window is None:
                run._job_done(_("The dataset is already up to date (nothing to download yet)."))
                return
            run.write({"window_start": window[0], "window_end": window[1]})
            run._job_commit()  # a retry resumes the same window from its checkpoint
        stats = run._download()
        if stats.status == "stopped":
            run._stop(stats)
            return
        with self.env.cr.savepoint():
            run._merge_and_store(stats)

    def _job_claim_values(self):
        values = super()._job_claim_values()
        if self.state == "stopped":
            # Resuming after a quota stop is not a new attempt.
            values.update(attempts=self.attempts, date_started=self.date_started or values["date_started"])
        return values

    def _job_handle_error(self, exc):
        # A GA4 error the core already described (and logged): retried, except
        # a refused key (401), which stays refused until someone uploads a new one.
        if isinstance(exc, ga4.DownloadError):
            if exc.stats is not None:
                self._engine()._record_stats(exc.stats)
            self._job_fail(str(exc), retry=exc.reason != "unauthenticated")
            return
        super()._job_handle_error(exc)

    def _job_internal_error_message(self):
        return _(
            "The download stopped because of an internal error. An administrator can find the "
            "details in the server log (run %s).",
            self.name,
        )

    def _job_on_failed(self):
        self._remove_workdir()
        return super()._job_on_failed()

    def _job_notify_record(self):
        # The download is what managers follow (runs come and go daily).
        return self.download_id

    def _download(self):
        """Download the run's window to its work folder; return the ``RunStats``."""
        self.ensure_one()
        download = self.download_id
        credential = download.credential_id
        try:
            download._check_property_allowed()
        except ValidationError as exc:
            raise UserError(exc.args[0]) from None
        key = credential._service_account()
        request = ga4_download.ReportRequest(
            property_id=download.property_id,
            start_date=self.window_start.isoformat(),
            end_date=self.window_end.isoformat(),
            dimensions=download._dimension_list(),
            metrics=download._metric_list(),
            page_size=download.page_size,
            chunk_days=download.chunk_days,
        )
        workdir = self._ensure_workdir()
        params = self.env["ir.config_parameter"].sudo()
        policy = ga4_client.RetryPolicy(
            initial=float(params.get_param("ai_train_model.ga4_retry_initial", 1.0)),
            maximum=float(params.get_param("ai_train_model.ga4_retry_maximum", 60.0)),
            deadline=float(params.get_param("ai_train_model.ga4_retry_deadline", 600.0)),
            timeout=float(params.get_param("ai_train_model.ga4_call_timeout", 120.0)),
        )
        self._job_log(
            _(
                "Downloading %(start)s..%(end)s of property %(property)s (attempt %(attempt)s).",
                start=self.window_start,
                end=self.window_end,
                property=download.property_id,
                attempt=self.attempts,
            )
        )
        self._job_commit()
        return ga4_download.download_report(
            key,
            request,
            workdir / "window.parquet",
            checkpoint_path=workdir / "window.checkpoint.json",
            api_endpoint=credential.api_endpoint or None,
            retry_policy=policy,
        )

    def _merge_and_store(self, stats):
        """Merge the downloaded window into the chain: a new dataset version."""
        self.ensure_one()
        import pyarrow.parquet as pq

        download = self.download_id
        window = pq.read_table(Path(stats.output)).to_pandas()
        previous = download._chain_head()
        old = previous._read_dataframe() if previous else None
        keep_from = None
        if download.start_mode == "rolling":
            keep_from = self.window_end - timedelta(days=download.window_days - 1)
        merged = ga4_merge.merge_window(
            old,
            window,
            date_col="date",
            keys=[d for d in download._dimension_list() if d != "date"],
            window_start=self.window_start,
            window_end=self.window_end,
            keep_from=keep_from,
        )
        dataset = download._new_dataset_version(merged, previous)
        self._record_stats(stats)
        self.write({"dataset_id": dataset.id, "parent_dataset_id": previous.id if previous else False})
        self._job_done(
            _(
                "Done: %(rows)s rows in %(pages)s pages; dataset %(dataset)s has %(total)s rows.",
                rows=stats.rows,
                pages=stats.pages,
                dataset=dataset.display_name,
                total=dataset.row_count,
            )
        )
        download._engine().write({"dataset_id": dataset.id, "last_success": fields.Datetime.now()})
        self._remove_workdir()

    def _stop(self, stats):
        """The property's quota is spent: keep the checkpoint, resume later."""
        self.ensure_one()
        minutes = int(self._param("ga4_quota_wait_minutes", self._QUOTA_WAIT_MINUTES))
        when = fields.Datetime.now() + timedelta(minutes=minutes)
        self._record_stats(stats)
        self.write({"state": "stopped", "date_not_before": when, "error_message": False})
        self._job_log(
            _(
                "Stopped: the property's quota is spent (%(rows)s rows so far). Resuming after %(when)s.",
                rows=stats.rows,
                when=fields.Datetime.to_string(when),
            )
        )
        self._job_trigger_cron(at=when)

    def _record_stats(self, stats):
        data = stats.to_dict()
        day = (data.get("quota_remaining") or {}).get("tokens_per_day") or {}
        self.write(
            {
                "rows": data["rows"],
                "pages": data["pages"],
                "tokens_consumed": data["tokens_consumed"],
                "quota_remaining": day.get("remaining", 0),
                "quota_json": json.dumps(data.get("quota_remaining") or {}, indent=1),
                "subject_to_thresholding": data["subject_to_thresholding"],
                "data_loss_from_other_row": data["data_loss_from_other_row"],
                "sampled": bool(data["sampling_metadatas"]),
                "sampling_json": json.dumps(data["sampling_metadatas"]) if data["sampling_metadatas"] else False,
                "stats_json": json.dumps({k: v for k, v in data.items() if k != "output"}, indent=1, default=str),
            }
        )

    # ------------------------------------------------------------------ helpers

    def _ensure_workdir(self):
        """The run's folder for the partial download and its checkpoint, under
        the server's data directory (so a later cron tick finds it again)."""
        self.ensure_one()
        path = Path(config["data_dir"]) / "ai_train_model_ga4" / self.env.cr.dbname / f"run-{self.id}"
        path.mkdir(parents=True, exist_ok=True)
        if self.workdir != str(path):
            self.write({"workdir": str(path)})
        return path

    def _remove_workdir(self):
        # sudo: the folder path is technical (group_no_one); any caller that
        # may end or delete the run may remove its leftovers.
        folder = self.sudo().workdir
        if folder and os.path.isdir(folder):
            shutil.rmtree(folder, ignore_errors=True)
        if folder:
            self._engine().write({"workdir": False})

    def _param(self, name, default):
        return self.env["ir.config_parameter"].sudo().get_param(f"ai_train_model.{name}", default)
