import base64
import hashlib
import json
import logging
import re
import secrets

from odoo import _, api, fields, models
from odoo.exceptions import UserError

from . import ai_json_table as json_table
from ..project import errors, model_artifact
from .ai_protected_fields_mixin import AiIntegrityError
from .tools import selection_label

_logger = logging.getLogger(__name__)

SIGNING_KEY_PARAM = "ai_train_model.signing_key"


class AiModelVersion(models.Model):
    """One trained forecasting model: a signed artifact zip plus what it was
    trained on and how well it backtested.

    Created by the training engine only (``_create_from_training``); its
    artifact, digests, metadata and metric lines cannot be edited. The zip is a
    field attachment, so it is readable exactly by the users who can read the
    version; download it through ``/ai_train_model/model/<id>/download``.
    """

    _name = "ai.model.version"
    _description = "AI Model Version"
    _inherit = ["mail.thread", "mail.activity.mixin", "ai.protected.fields.mixin"]
    _order = "name, version desc, id desc"

    _protected_create = True
    _engine_files = {"artifact_file": "artifact_sha256"}
    _protected_fields = (
        "state",
        "accuracy_alert",
        "date_live",
        "name",
        "version",
        "company_id",
        "job_id",
        "dataset_id",
        "artifact_file",
        "artifact_filename",
        "artifact_sha256",
        "artifact_size",
        "data_sha256",
        "horizon",
        "metric",
        "score",
        "series_count",
        "chosen_models_json",
        "metadata_json",
        "metric_ids",
        "date_trained",
        "needs_retraining",
    )

    name = fields.Char(required=True, readonly=True, index=True, help="Model family (the job's model name).")
    version = fields.Integer(required=True, readonly=True, help="Version number within the model family.")
    company_id = fields.Many2one(comodel_name="res.company", required=True, readonly=True, index=True)
    job_id = fields.Many2one(
        comodel_name="ai.training.job", string="Training Job", readonly=True, ondelete="set null", index=True
    )
    target_id = fields.Many2one(
        comodel_name="ai.forecast.target",
        string="Forecast Target",
        index="btree_not_null",
        ondelete="restrict",
        tracking=True,
        check_company=True,
        help="What this version forecasts; the target's champion and challenger are chosen among its versions.",
    )
    dataset_id = fields.Many2one(
        comodel_name="ai.dataset",
        readonly=True,
        ondelete="restrict",
        index=True,
        help="Dataset version the model was trained on (lineage).",
    )
    state = fields.Selection(
        selection=[
            ("development", "Development"),
            ("staging", "Staging"),
            ("production", "Production"),
            ("archived", "Archived"),
        ],
        string="Status",
        required=True,
        default="development",
        readonly=True,
        copy=False,
        tracking=True,
        index=True,
        help="Development: just trained. Staging: under evaluation (a challenger, a former champion). "
        "Production: the champion of its target. Archived: retired, kept for audit.",
    )
    alias = fields.Selection(
        selection=[("champion", "Champion"), ("challenger", "Challenger")],
        compute="_compute_alias",
        store=True,
        help="Champion: its forecasts are served. Challenger: it predicts in shadow mode beside the champion.",
    )
    target_can_roll_back = fields.Boolean(related="target_id.can_roll_back")
    date_live = fields.Datetime(
        string="Live Since", readonly=True, copy=False, help="When the version first predicted as champion or challenger."
    )
    alias_history_ids = fields.One2many(
        comodel_name="ai.model.alias.history", inverse_name="version_id", readonly=True
    )
    accuracy_ids = fields.One2many(
        comodel_name="ai.prediction.accuracy", inverse_name="version_id", string="Live Accuracy", readonly=True
    )
    accuracy_alert = fields.Boolean(
        readonly=True, copy=False, help="The live accuracy of this champion is above the alert thresholds now."
    )
    live_mase = fields.Float(
        string="Live MASE", compute="_compute_live_accuracy", help="Live MASE over days 1-28, all series."
    )
    live_wmape = fields.Float(
        string="Live wMAPE (%)", compute="_compute_live_accuracy", help="Live wMAPE over days 1-28, all series."
    )
    artifact_file = fields.Binary(string="Artifact", attachment=True, readonly=True, copy=False)
    artifact_filename = fields.Char(readonly=True, copy=False)
    artifact_sha256 = fields.Char(string="Artifact SHA-256", readonly=True, copy=False)
    artifact_size = fields.Integer(string="Artifact Size (bytes)", readonly=True, copy=False)
    data_sha256 = fields.Char(
        string="Data SHA-256", readonly=True, index=True, help="SHA-256 of the input the model was trained on."
    )
    horizon = fields.Integer(readonly=True)
    metric = fields.Selection(
        selection=lambda self: self.env["ai.training.job"]._METRICS, string="Selection Metric", readonly=True
    )
    score = fields.Float(
        readonly=True,
        help="Mean over series of the selection metric of the chosen models, over the whole horizon "
        "(backtest). Lower is better.",
    )
    series_count = fields.Integer(string="Series", readonly=True)
    chosen_models_json = fields.Text(
        string="Chosen Models", readonly=True, help="JSON object: series -> chosen model."
    )
    chosen_models_summary = fields.Char(compute="_compute_chosen_models_summary")
    prediction_count = fields.Integer(compute="_compute_prediction_count")
    chosen_models_html = fields.Html(
        string="Chosen per Series", compute="_compute_chosen_models_html", sanitize=False
    )
    metadata_json = fields.Text(string="Metadata", readonly=True, groups="base.group_no_one")
    metric_ids = fields.One2many(
        comodel_name="ai.model.metric", inverse_name="version_id", string="Metrics", readonly=True
    )
    date_trained = fields.Datetime(readonly=True)
    needs_retraining = fields.Boolean(
        readonly=True,
        tracking=True,
        help="Set when the dataset version this model was trained on is archived: retrain it on current data.",
    )
    notes = fields.Html()
    stale_series_count = fields.Integer(
        string="Stale Series",
        compute="_compute_stale_series_count",
        store=True,
        help="Series whose data stopped long before the end of the training data: each is forecast from "
        "its own end (or as the stale policy says), never from years of invented zeros.",
    )
    series_flags_html = fields.Html(string="Series Flags", compute="_compute_series_flags", sanitize=False)

    _sql_constraints = [
        (
            "name_version_uniq",
            "unique(company_id, name, version)",
            "This model version already exists in this company.",
        ),
    ]

    @api.depends("metadata_json")
    def _compute_stale_series_count(self):
        for record in self:
            metadata = json_table.loads(record.sudo().metadata_json, {})
            stale = metadata.get("stale_series") if isinstance(metadata, dict) else None
            record.stale_series_count = len(set(stale or []))

    @api.depends("metadata_json")
    def _compute_series_flags(self):
        """Per series, what the training found about its data (stale, demand
        class, closed weekdays, a level that wanders like a random walk, a
        repeated yearly shape): only
        the series with a flag are listed."""
        demand_labels = {
            "smooth": _("Smooth"),
            "erratic": _("Erratic"),
            "intermittent": _("Intermittent"),
            "lumpy": _("Lumpy"),
            "zero": _("All zero"),
        }
        weekdays = [_("Mon"), _("Tue"), _("Wed"), _("Thu"), _("Fri"), _("Sat"), _("Sun")]
        for record in self:
            metadata = json_table.loads(record.sudo().metadata_json, {})
            metadata = metadata if isinstance(metadata, dict) else {}
            stale = set(metadata.get("stale_series") or [])
            demand = metadata.get("demand") or {}
            closed = metadata.get("closed_weekdays") or {}
            walks = set(metadata.get("random_walk_series") or [])
            yearly = set(metadata.get("yearly_series") or [])
            rows = []
            for key in sorted(set(stale) | set(demand) | set(closed) | walks | yearly):
                kind = demand.get(key) or ""
                days = closed.get(key) or []
                flagged = key in stale or key in walks or key in yearly
                if not flagged and kind in ("", "smooth") and not days:
                    continue
                rows.append(
                    {
                        "series": key,
                        "stale": _("Yes") if key in stale else "",
                        "demand": demand_labels.get(kind, kind),
                        "closed": ", ".join(weekdays[d] for d in days if isinstance(d, int) and 0 <= d < 7),
                        "walk": _("Yes") if key in walks else "",
                        "yearly": _("Yes") if key in yearly else "",
                    }
                )
            record.series_flags_html = json_table.records_table(
                rows,
                ["series", "stale", "demand", "closed", "walk", "yearly"],
                {
                    "series": _("Series"),
                    "stale": _("Stale"),
                    "demand": _("Demand"),
                    "closed": _("Closed Weekdays"),
                    "walk": _("Random Walk"),
                    "yearly": _("Yearly Shape"),
                },
                more_label=_("%s more rows"),
            ) or False

    @api.depends("name", "version")
    def _compute_display_name(self):
        for record in self:
            record.display_name = f"{record.name or ''} v{record.version}"

    @api.depends("target_id.champion_id", "target_id.challenger_id")
    def _compute_alias(self):
        for record in self:
            target = record.target_id
            if target and target.champion_id == record:
                record.alias = "champion"
            elif target and target.challenger_id == record:
                record.alias = "challenger"
            else:
                record.alias = False

    def _compute_live_accuracy(self):
        lines = self.env["ai.prediction.accuracy"].search(
            [("version_id", "in", self.ids), ("series_key", "=", "*"), ("bucket", "=", "1-28")]
        )
        values = {(line.version_id.id, line.metric): line.value for line in lines}
        for record in self:
            record.live_mase = values.get((record.id, "mase"), 0.0)
            record.live_wmape = values.get((record.id, "wmape"), 0.0)

    @api.depends("chosen_models_json")
    def _compute_chosen_models_summary(self):
        for record in self:
            try:
                chosen = json.loads(record.chosen_models_json or "{}")
            except ValueError:
                chosen = {}
            counts = {}
            for model in chosen.values():
                counts[model] = counts.get(model, 0) + 1
            record.chosen_models_summary = ", ".join(
                f"{model} ×{count}" for model, count in sorted(counts.items(), key=lambda item: -item[1])
            )

    @api.depends("chosen_models_json", "metric_ids", "metric")
    def _compute_chosen_models_html(self):
        """Per series: the chosen model and its backtest error by horizon."""
        metric_model = self.env["ai.model.metric"]
        for record in self:
            chosen = json_table.loads(record.chosen_models_json, {})
            if not isinstance(chosen, dict) or not chosen or not record.id:
                record.chosen_models_html = False
                continue
            lines = metric_model.search_read(
                [("version_id", "=", record.id), ("chosen", "=", True), ("metric", "=", record.metric)],
                ["unique_id", "bucket", "value"],
            )
            values = {}
            for line in lines:
                values.setdefault(line["unique_id"], {})[line["bucket"]] = line["value"]
            buckets = sorted(
                {line["bucket"] for line in lines}, key=self.env["ai.forecast.chart"]._bucket_key
            )
            label = dict(self.env["ai.training.job"]._METRICS).get(record.metric, record.metric or "")
            rows = [
                {"series": uid, "model": model, **values.get(uid, {})} for uid, model in sorted(chosen.items())
            ]
            headers = {"series": _("Series"), "model": _("Chosen Model")}
            headers.update({bucket: f"{label} {bucket}" for bucket in buckets})
            record.chosen_models_html = json_table.records_table(
                rows, ["series", "model", *buckets], headers, max_rows=500, more_label=_("%s more rows")
            )

    # ------------------------------------------------------------------ actions

    def _compute_prediction_count(self):
        counts = {
            version.id: count
            for version, count in self.env["ai.prediction"]._read_group(
                [("model_version_id", "in", self.ids)], ["model_version_id"], ["__count"]
            )
        }
        for record in self:
            record.prediction_count = counts.get(record.id, 0)

    def action_view_predictions(self):
        self.ensure_one()
        action = self.env["ir.actions.act_window"]._for_xml_id("ai_train_model.ai_prediction_action")
        action.update(domain=[("model_version_id", "=", self.id)], context={})
        return action

    def action_view_dataset(self):
        self.ensure_one()
        action = self.env["ir.actions.act_window"]._for_xml_id("ai_train_model.ai_dataset_action")
        action.update({"res_id": self.dataset_id.id, "view_mode": "form", "views": [(False, "form")]})
        return action

    def action_download(self):
        """Download the artifact through the access-checked controller."""
        self.ensure_one()
        return {
            "type": "ir.actions.act_url",
            "url": f"/ai_train_model/model/{self.id}/download",
            "target": "self",
        }

    def action_set_staging(self):
        """Move development versions to staging (ready to be evaluated)."""
        for record in self:
            if record.state not in ("development", "archived"):
                raise UserError(
                    _(
                        "Only development or archived versions go to staging (%(version)s is %(state)s).",
                        version=record.display_name,
                        state=selection_label(record, "state"),
                    )
                )
        self._set_state("staging")
        return True

    def action_promote(self, reason=None):
        """Make this version the champion of its target: its forecasts are
        served from the next prediction run; the former champion goes back to
        staging, ready for a rollback."""
        self.ensure_one()
        self._check_target()
        self.target_id._set_alias("champion", self, reason or _("Promoted by %s.", self.env.user.name))
        return True

    def action_set_challenger(self, reason=None):
        """Make this version the challenger: it predicts in shadow mode."""
        self.ensure_one()
        self._check_target()
        if self.alias == "champion":
            raise UserError(_("%s is the champion; promote another version first.", self.display_name))
        self.target_id._set_alias("challenger", self, reason or _("Challenger chosen by %s.", self.env.user.name))
        return True

    def action_remove_challenger(self, reason=None):
        self.ensure_one()
        if self.alias != "challenger":
            raise UserError(_("%s is not the challenger.", self.display_name))
        self.target_id._set_alias("challenger", self.browse(), reason or _("Challenger removed by %s.", self.env.user.name))
        return True

    def action_open_alias_wizard(self):
        """Promote / Set as Challenger from the form: ask for the reason first
        (button context ``alias_action``)."""
        self.ensure_one()
        self._check_target()
        action = self.env.context.get("alias_action")
        if action not in ("promote", "challenger"):
            raise UserError(_("Unknown alias change: %s.", action))
        return self.target_id._alias_wizard_action(action, self)

    def action_open_rollback_wizard(self):
        """Roll Back from the form: ask for the reason first."""
        self.ensure_one()
        self._check_target()
        return self.target_id._alias_wizard_action("rollback")

    def action_rollback(self):
        """One click: give the champion alias back to the previous champion."""
        self.ensure_one()
        self._check_target()
        return self.target_id.action_rollback()

    def action_archive_version(self):
        """Retire versions. A champion cannot be archived (promote or roll
        back first); a challenger loses its alias. History lines stay."""
        for record in self:
            if record.alias == "champion":
                raise UserError(
                    _("%s is the champion of its target: promote another version or roll back first.", record.display_name)
                )
            if record.alias == "challenger":
                record.target_id._set_alias("challenger", self.browse(), _("Challenger archived."))
        self._set_state("archived")
        return True

    def action_compare(self):
        """Backtest and live metrics of the selected versions side by side."""
        action = self.env["ir.actions.act_window"]._for_xml_id("ai_train_model.ai_model_comparison_action")
        action["domain"] = [("version_id", "in", self.ids)]
        return action

    def _join_target(self, target):
        """A version trained for a target: champion when the target has none
        (nothing would be served otherwise), else the new challenger,
        predicting in shadow mode until promoted."""
        self.ensure_one()
        self._engine().write({"target_id": target.id})
        if not target.champion_id:
            target.sudo()._set_alias("champion", self, _("First version of the target."))
        else:
            target.sudo()._set_alias("challenger", self, _("Retrained by the nightly run."))

    def _set_state(self, state):
        """Lifecycle moves are allowed to whoever may write the versions (the
        status field itself is engine-owned, so no RPC write can skip them)."""
        self.check_access_rights("write")
        self.check_access_rule("write")
        self._engine().write({"state": state})

    def _check_target(self):
        for record in self:
            if not record.artifact_sha256:
                raise UserError(_("%s has no artifact to predict with.", record.display_name))
            # A version whose artifact fails its SHA-256 or signature check is
            # refused before any alias moves.
            record._get_artifact_bytes()
            if not record.target_id:
                raise UserError(_("Attach %s to a forecast target first.", record.display_name))

    def action_verify_artifact(self):
        self.ensure_one()
        self.verify_artifact()
        return {
            "type": "ir.actions.client",
            "tag": "display_notification",
            "params": {
                "type": "success",
                "message": _("The artifact of %s is intact and signed by this database.", self.display_name),
                "sticky": False,
            },
        }

    # ------------------------------------------------------------------ artifact

    def _get_artifact_attachment(self):
        """The field attachment holding the zip (sudo: callers checked access
        to ``self``; the attachment has no access of its own)."""
        self.ensure_one()
        return self._engine_file_attachment("artifact_file")[:1]

    def _get_artifact_bytes(self):
        """The artifact's bytes, once their SHA-256 and signature are checked
        (every reader goes through here: download, activation, predictions).
        Raises ``AiIntegrityError`` (a ``UserError``) saying what is wrong."""
        self.ensure_one()
        raw = self._engine_file_bytes("artifact_file")
        self._verify_signature(raw)
        return raw

    def _get_checked_artifact(self):
        """The artifact's attachment and its source (filestore path or
        bytes) once its SHA-256 and signature are checked, reading it in
        chunks: the download route sends the file without loading it.
        Raises ``AiIntegrityError`` (a ``UserError``) saying what is wrong."""
        self.ensure_one()
        attachment, source = self._engine_file_source("artifact_file")
        try:
            model_artifact.check_artifact(source, self._get_signing_key())
        except errors.ArtifactError as exc:
            raise AiIntegrityError(
                _("The artifact of %(version)s failed verification: %(reason)s", version=self.display_name, reason=exc)
            ) from None
        return attachment

    def _verify_signature(self, raw):
        """The verified member bytes of the zip ``raw``."""
        try:
            return model_artifact.verify_artifact(raw, self._get_signing_key())
        except errors.ArtifactError as exc:
            raise AiIntegrityError(
                _("The artifact of %(version)s failed verification: %(reason)s", version=self.display_name, reason=exc)
            ) from None

    def verify_artifact(self):
        """Check the artifact's SHA-256 and signature with this database's
        key. Returns the verified member bytes; raises ``UserError`` saying
        what is wrong."""
        self.ensure_one()
        return self._verify_signature(self._engine_file_bytes("artifact_file"))

    @api.model
    def _get_signing_key(self):
        """This database's artifact signing key, created once on first need.

        sudo: the key lives in a system parameter that only administrators may
        read; the engine and verification need it whoever triggers them, and it
        never leaves the server (no field, no log, no export)."""
        key = self.env["ir.config_parameter"].sudo()._ai_get_or_create_param(
            SIGNING_KEY_PARAM, lambda: secrets.token_hex(32)
        )
        return key.encode("utf-8")

    # ------------------------------------------------------------------ creation

    @api.model
    def _next_version(self, company, name):
        """Next version number of a model family; an advisory lock serialises
        concurrent jobs finishing for the same family."""
        self.env.cr.execute(
            "SELECT pg_advisory_xact_lock(hashtext(%s))", (f"ai.model.version:{company.id}:{name}",)
        )
        self.flush_model(["company_id", "name", "version"])
        self.env.cr.execute(
            "SELECT COALESCE(MAX(version), 0) + 1 FROM ai_model_version WHERE company_id = %s AND name = %s",
            (company.id, name),
        )
        return self.env.cr.fetchone()[0]

    @api.model
    def _create_from_training(self, job, summary, artifact):
        """Create the version of a finished training job from the core's
        ``TrainSummary`` and the zip bytes, with its metric lines."""
        company = job.company_id
        name = job.model_name or job.name
        number = self._next_version(company, name)
        chosen = self._chosen_models(summary)
        metadata = summary.metadata or {}
        safe = re.sub(r"[^A-Za-z0-9._-]+", "_", name).strip("._") or "model"
        version = self._engine().create(
            {
                "name": name,
                "version": number,
                "company_id": company.id,
                "job_id": job.id,
                "dataset_id": job.dataset_id.id,
                "artifact_file": base64.b64encode(artifact),
                "artifact_filename": f"{safe}-v{number}.zip",
                "artifact_sha256": hashlib.sha256(artifact).hexdigest(),
                "artifact_size": len(artifact),
                "data_sha256": job.data_sha256 or (metadata.get("data") or {}).get("sha256"),
                "horizon": job.horizon,
                "metric": job.metric,
                "series_count": len(chosen),
                "chosen_models_json": json.dumps(chosen, indent=1, sort_keys=True),
                "metadata_json": json.dumps(metadata, indent=1, sort_keys=True, default=str),
                "date_trained": fields.Datetime.now(),
            }
        )
        self.env["ai.model.metric"]._import_frame(version, summary.metrics)
        version._update_score()
        if "target_id" in job._fields and job.target_id:
            version._join_target(job.target_id)
        # Hand back the record without the engine's context flag.
        return self.browse(version.id)

    @api.model
    def _chosen_models(self, summary):
        series = summary.series
        if series is None or not len(series):
            return {}
        model_col = next((c for c in ("model", "chosen_model", "chosen") if c in series.columns), None)
        if model_col is None:
            return {}
        return {str(uid): str(model) for uid, model in zip(series["unique_id"], series[model_col])}

    def _update_score(self):
        """Store the mean over series of the chosen models' selection metric
        over the whole horizon (the widest bucket)."""
        metric_model = self.env["ai.model.metric"]
        for record in self:
            lines = metric_model.search(
                [("version_id", "=", record.id), ("chosen", "=", True), ("metric", "=", record.metric)]
            )
            if not lines:
                score = 0.0
            else:
                overall = lines.filtered(lambda line: "-" in line.bucket) or lines
                widest = max(overall.mapped("bucket"), key=metric_model._bucket_width)
                values = overall.filtered(lambda line, b=widest: line.bucket == b).mapped("value")
                score = sum(values) / len(values) if values else 0.0
            record._engine().write({"score": score})

    def _regressor_names(self):
        """The known-future columns this version was trained with (its
        metadata's training parameters): what its nightly forecast and its
        retraining must be given, whatever the job that made it says now."""
        self.ensure_one()
        metadata = json_table.loads(self.sudo().metadata_json, {})
        params = metadata.get("params") if isinstance(metadata, dict) else None
        names = params.get("regressors") if isinstance(params, dict) else None
        return tuple(str(name) for name in names or ())
