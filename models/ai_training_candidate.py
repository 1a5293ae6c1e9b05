"""``ai.training.candidate``: the candidate models a training job picks from."""

from odoo import _, api, fields, models

from ..project.training import KNOWN_CANDIDATES


class AiTrainingCandidate(models.Model):
    """One candidate model the training core knows (``KNOWN_CANDIDATES``).

    The records mirror the core's list (:meth:`_sync_known`, run at install
    and update by ``data/ai_training_candidate_data.xml``), so training jobs pick
    candidates instead of typing their names.
    """

    _name = "ai.training.candidate"
    _description = "AI Training Candidate Model"
    _order = "sequence, id"
    _rec_name = "code"

    code = fields.Char(required=True, readonly=True, index=True)
    sequence = fields.Integer(readonly=True)
    description = fields.Char(compute="_compute_description")

    _sql_constraints = [("code_uniq", "unique(code)", "This candidate model already exists.")]

    def _compute_description(self):
        descriptions = {
            "naive": _("Repeats the last value."),
            "snaive": _("Repeats the same day of last week (seasonal naive, the baseline)."),
            "ets": _("Exponential smoothing with trend and weekly season."),
            "sarimax": _("Seasonal ARIMA; uses known-future columns."),
            "prophet": _("Prophet (trend, seasons, holidays); uses known-future columns."),
            "gbm": _("Gradient boosting on calendar and lag features; uses known-future columns."),
            "theta": _("Theta method."),
            "auto_ets": _("AutoETS (statsforecast)."),
            "auto_theta": _("AutoTheta (statsforecast)."),
            "auto_arima": _("AutoARIMA (statsforecast)."),
            "auto_ces": _("AutoCES (statsforecast)."),
            "croston": _("Croston, for intermittent demand."),
            "tsb": _("TSB, for intermittent demand that fades."),
            "adida": _("ADIDA, for intermittent demand."),
            "imapa": _("IMAPA, for intermittent demand."),
        }
        for candidate in self:
            candidate.description = descriptions.get(candidate.code, "")

    @api.depends("code")
    def _compute_display_name(self):
        for candidate in self:
            candidate.display_name = candidate.code

    @api.model
    def _sync_known(self):
        """Create the records of the core's candidates that are missing."""
        existing = set(self.sudo().with_context(active_test=False).search([]).mapped("code"))
        missing = [code for code in KNOWN_CANDIDATES if code not in existing]
        if missing:
            self.sudo().create(
                [{"code": code, "sequence": KNOWN_CANDIDATES.index(code)} for code in missing]
            )
        return self.sudo().search([])
