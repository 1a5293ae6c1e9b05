from odoo import fields, models


class AiModelAliasHistory(models.Model):
    """Which version held which alias of a target, from when to when, who
    gave it and why. Written by the registry only (``_set_alias``); a line
    keeps the version's name, so it still reads right after the version is
    archived or deleted."""

    _name = "ai.model.alias.history"
    _description = "AI Model Alias History"
    _inherit = ["ai.protected.fields.mixin"]
    _order = "date_from desc, id desc"
    _rec_name = "version_name"

    _protected_create = True
    _protected_fields = (
        "company_id",
        "target_id",
        "version_id",
        "version_name",
        "alias",
        "date_from",
        "date_to",
        "user_id",
        "reason",
        "end_user_id",
        "end_reason",
    )

    company_id = fields.Many2one(comodel_name="res.company", required=True, readonly=True, index=True)
    target_id = fields.Many2one(
        comodel_name="ai.forecast.target", required=True, readonly=True, ondelete="cascade", index=True
    )
    version_id = fields.Many2one(
        comodel_name="ai.model.version", readonly=True, ondelete="set null", index="btree_not_null"
    )
    version_name = fields.Char(string="Version", required=True, readonly=True)
    alias = fields.Selection(
        selection=[("champion", "Champion"), ("challenger", "Challenger")], required=True, readonly=True
    )
    date_from = fields.Datetime(string="From", required=True, readonly=True)
    date_to = fields.Datetime(string="To", readonly=True, help="Empty while the version holds the alias.")
    user_id = fields.Many2one(comodel_name="res.users", string="Given By", readonly=True, ondelete="set null")
    reason = fields.Char(readonly=True)
    end_user_id = fields.Many2one(comodel_name="res.users", string="Ended By", readonly=True, ondelete="set null")
    end_reason = fields.Char(readonly=True)
    is_current = fields.Boolean(compute="_compute_is_current")

    def _compute_is_current(self):
        for line in self:
            line.is_current = not line.date_to
