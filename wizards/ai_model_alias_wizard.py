from odoo import _, api, fields, models
from odoo.exceptions import UserError


class AiModelAliasWizard(models.TransientModel):
    """Asks why before the registry moves an alias: promote a version to
    champion, make it the challenger, or roll the champion back. The reason
    is stored on the alias history line and posted on the chatters (see
    ``ai.forecast.target._set_alias``); a rollback needs one, because it
    undoes a decision someone made."""

    _name = "ai.model.alias.wizard"
    _description = "AI Model Alias Change"

    action = fields.Selection(
        selection=[("promote", "Promote to Champion"), ("challenger", "Set as Challenger"), ("rollback", "Roll Back")],
        required=True,
        readonly=True,
    )
    target_id = fields.Many2one(comodel_name="ai.forecast.target", required=True, readonly=True, ondelete="cascade")
    version_id = fields.Many2one(
        comodel_name="ai.model.version",
        readonly=True,
        ondelete="cascade",
        help="The version to promote or to make the challenger (empty for a rollback).",
    )
    summary = fields.Text(compute="_compute_summary")
    reason = fields.Text(help="Why: kept in the alias history and posted on the chatter.")
    reason_required = fields.Boolean(compute="_compute_summary")

    @api.depends("action", "target_id", "version_id")
    def _compute_summary(self):
        for wizard in self:
            wizard.reason_required = wizard.action == "rollback"
            if wizard.action == "rollback":
                previous = wizard.target_id._previous_champion() if wizard.target_id else False
                wizard.summary = _(
                    "%(previous)s becomes the champion of %(target)s again, instead of %(current)s.",
                    previous=previous.display_name if previous else _("(none)"),
                    target=wizard.target_id.name,
                    current=wizard.target_id.champion_id.display_name or _("(none)"),
                )
            elif wizard.action == "promote":
                wizard.summary = _(
                    "%(version)s becomes the champion of %(target)s: its forecasts are served from the next "
                    "prediction run.",
                    version=wizard.version_id.display_name,
                    target=wizard.target_id.name,
                ) + wizard._comparison_with_champion()
            else:
                wizard.summary = _(
                    "%(version)s becomes the challenger of %(target)s: it predicts in shadow mode.",
                    version=wizard.version_id.display_name,
                    target=wizard.target_id.name,
                )

    def _comparison_with_champion(self):
        """One line comparing the version with the champion it replaces:
        backtest score (same selection metric only) and the champion's live
        accuracy, so a promotion is decided on figures."""
        champion, version = self.target_id.champion_id, self.version_id
        if not champion or champion == version:
            return ""
        metric_label = dict(version._fields["metric"]._description_selection(self.env)).get(version.metric, "")
        if version.metric and version.metric == champion.metric and version.score and champion.score:
            line = _(
                "Backtest %(metric)s (lower is better): %(score).3f against %(champion_score).3f for the "
                "champion %(champion)s.",
                metric=metric_label,
                score=version.score,
                champion_score=champion.score,
                champion=champion.display_name,
            )
        else:
            line = _(
                "The backtest scores of %(version)s and of the champion %(champion)s are not comparable "
                "(different selection metrics): see Compare Versions.",
                version=version.display_name,
                champion=champion.display_name,
            )
        if champion.live_mase:
            line += " " + _(
                "Live accuracy of the champion: MASE %(mase).3f, wMAPE %(wmape).1f%%.",
                mase=champion.live_mase,
                wmape=champion.live_wmape,
            )
        return "\n" + line

    def action_confirm(self):
        self.ensure_one()
        reason = (self.reason or "").strip()
        if self.action == "rollback":
            if not reason:
                raise UserError(_("Say why the champion is rolled back: the reason is kept in the alias history."))
            self.target_id.action_rollback(reason=reason)
        elif self.action == "promote":
            self.version_id.action_promote(reason=reason or None)
        else:
            self.version_id.action_set_challenger(reason=reason or None)
        return {"type": "ir.actions.act_window_close"}
