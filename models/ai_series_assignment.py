"""``ai.series.assignment``: which series of a forecast target a store-level
AI User may see, and the record-rule hook that applies it to predictions and
live accuracy."""

from odoo import _, api, fields, models
from odoo.exceptions import ValidationError
from odoo.osv import expression

#: Group whose members see every series of their companies.
ANALYST_GROUP = "ai_train_model.group_ai_analyst"


class AiSeriesAssignment(models.Model):
    """Series of one forecast target assigned to users and/or groups.

    A plain AI User (a store or category manager, not an Analyst) reads only
    the predictions and live accuracy lines of the series assigned to them
    or to one of their groups; Analysts and Managers read every series of
    their companies. The record rules on ``ai.prediction`` and
    ``ai.prediction.accuracy`` call :meth:`_allowed_domain`, which turns the
    caller's assignments (a small table) into a plain domain on the target
    and the stored series key: no per-prediction access rows, nothing to
    recompute when predictions are written.
    """

    _name = "ai.series.assignment"
    _description = "AI Series Assignment"
    _order = "target_id, id"
    _check_company_auto = True

    target_id = fields.Many2one(
        comodel_name="ai.forecast.target", required=True, index=True, ondelete="cascade", check_company=True
    )
    company_id = fields.Many2one(related="target_id.company_id", store=True, index=True)
    series_keys = fields.Text(
        string="Series",
        required=True,
        help="One series key per line, exactly as the predictions show it (the key columns' values "
        "joined with ' | ', e.g. 'Store 12 | Bread').",
    )
    series_count = fields.Integer(compute="_compute_series_count")
    user_ids = fields.Many2many(
        comodel_name="res.users",
        relation="ai_series_assignment_res_users_rel",
        string="Users",
        domain="[('share', '=', False)]",
    )
    group_ids = fields.Many2many(
        comodel_name="res.groups",
        relation="ai_series_assignment_res_groups_rel",
        string="Groups",
        help="Every member of these groups sees the series.",
    )
    active = fields.Boolean(default=True)

    @api.depends("series_keys")
    def _compute_series_count(self):
        for assignment in self:
            assignment.series_count = len(assignment._series_key_list())

    @api.constrains("series_keys", "user_ids", "group_ids")
    def _check_assignment(self):
        for assignment in self:
            if not assignment._series_key_list():
                raise ValidationError(_("Give at least one series key, one per line."))
            if not assignment.user_ids and not assignment.group_ids:
                raise ValidationError(
                    _("Assign the series of %s to at least one user or group.", assignment.target_id.display_name)
                )

    def _series_key_list(self):
        self.ensure_one()
        return [line.strip() for line in (self.series_keys or "").splitlines() if line.strip()]

    # ------------------------------------------------------------------ access

    @api.model
    def _is_restricted(self):
        """Whether the current user sees only assigned series (a plain AI
        User); superuser and Analysts see everything their companies hold."""
        return not self.env.su and not self.env.user.has_group(ANALYST_GROUP)

    @api.model
    def _allowed_keys_by_target(self):
        """``{target id: set of series keys}`` assigned to the current user
        or to one of their groups (sudo: the assignments are configuration
        the user need not read; only their own are looked at)."""
        user = self.env.user
        assignments = self.sudo().search(
            ["|", ("user_ids", "in", user.ids), ("group_ids", "in", user.groups_id.ids)]
        )
        allowed = {}
        for assignment in assignments:
            allowed.setdefault(assignment.target_id.id, set()).update(assignment._series_key_list())
        return allowed

    @api.model
    def _allowed_domain(self, target_field="target_id", key_field="series_key"):
        """Domain on a model with a target and a series key (``target_field``,
        ``key_field``) selecting the series assigned to the current user: one
        ``(target, key in keys)`` pair per assigned target, nothing when none
        is assigned."""
        domains = [
            [(target_field, "=", target_id), (key_field, "in", sorted(keys))]
            for target_id, keys in self._allowed_keys_by_target().items()
        ]
        return expression.OR(domains) if domains else expression.FALSE_DOMAIN

    @api.model
    def _allowed_series(self, target):
        """Series keys of ``target`` the current user may see, or ``None``
        when they may see all of them (used where series are listed from
        elsewhere than the stored predictions, e.g. the chart's picker)."""
        if not self._is_restricted():
            return None
        return self._allowed_keys_by_target().get(target.id, set()) if target else set()


class AiForecastTargetSeriesAssignment(models.Model):
    _inherit = "ai.forecast.target"

    series_assignment_ids = fields.One2many(
        comodel_name="ai.series.assignment",
        inverse_name="target_id",
        string="Store Access",
        help="Series that store-level AI Users see; Analysts and Managers see every series.",
    )


class AiSeriesAccessMixin(models.AbstractModel):
    """The searchable ``series_allowed`` flag the record rules of series-level
    records (predictions, live accuracy) filter on."""

    _name = "ai.series.access.mixin"
    _description = "AI Series Access"

    series_allowed = fields.Boolean(
        string="Series Assigned to Me",
        compute="_compute_series_allowed",
        search="_search_series_allowed",
        help="The series is assigned to you (store access of the forecast target).",
    )

    #: Where the record's forecast target and series key are (a path for the
    #: target: backtest metric lines reach it through their version).
    _series_target_field = "target_id"
    _series_key_field = "series_key"

    def _compute_series_allowed(self):
        allowed = self.env["ai.series.assignment"]._allowed_keys_by_target()
        for record in self:
            target = record.mapped(self._series_target_field)
            record.series_allowed = record[self._series_key_field] in allowed.get(target.id, ())

    def _search_series_allowed(self, operator, value):
        if operator not in ("=", "!=") or not isinstance(value, bool):
            raise ValidationError(
                _("Unsupported search on the assigned series: %(operator)s %(value)s", operator=operator, value=value)
            )
        domain = self.env["ai.series.assignment"]._allowed_domain(self._series_target_field, self._series_key_field)
        return domain if (operator == "=") == value else ["!", *expression.normalize_domain(domain)]


class AiPredictionSeriesAccess(models.Model):
    _name = "ai.prediction"
    _inherit = ["ai.prediction", "ai.series.access.mixin"]


class AiPredictionAccuracySeriesAccess(models.Model):
    _name = "ai.prediction.accuracy"
    _inherit = ["ai.prediction.accuracy", "ai.series.access.mixin"]


class AiForecastAlertSeriesAccess(models.Model):
    """Store-level access to alerts: a plain AI User sees the target-level
    alerts (drift, accuracy) of the targets where series are assigned to
    them, and the anomaly alerts of their own series only (an anomaly
    alert's key is ``"<series key> @ <first day>"``)."""

    _inherit = "ai.forecast.alert"

    series_allowed = fields.Boolean(
        string="About My Series",
        compute="_compute_series_allowed",
        search="_search_series_allowed",
    )

    def _compute_series_allowed(self):
        allowed = self.env["ai.series.assignment"]._allowed_keys_by_target()
        for alert in self:
            keys = allowed.get(alert.target_id.id)
            alert.series_allowed = keys is not None and (
                alert.kind != "anomaly" or (alert.key or "").rsplit(" @ ", 1)[0] in keys
            )

    def _search_series_allowed(self, operator, value):
        if operator not in ("=", "!=") or not isinstance(value, bool):
            raise ValidationError(
                _("Unsupported search on the assigned series: %(operator)s %(value)s", operator=operator, value=value)
            )
        domains = []
        for target_id, keys in self.env["ai.series.assignment"]._allowed_keys_by_target().items():
            series = [("kind", "!=", "anomaly")] + [
                ("key", "=like", _like_escape(key) + " @ %") for key in sorted(keys)
            ]
            domains.append(expression.AND([[("target_id", "=", target_id)], expression.OR([[leaf] for leaf in series])]))
        domain = expression.OR(domains) if domains else expression.FALSE_DOMAIN
        return domain if (operator == "=") == value else ["!", *expression.normalize_domain(domain)]


def _like_escape(text):
    """``text`` as a literal LIKE pattern."""
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


class AiModelMetricSeriesAccess(models.Model):
    """Backtest metric lines are per series too: a store-level User reads the
    lines of their own series, so the metric list, the pivot and the chart's
    mean over series speak of those only."""

    _name = "ai.model.metric"
    _inherit = ["ai.model.metric", "ai.series.access.mixin"]
    _series_target_field = "version_id.target_id"
    _series_key_field = "unique_id"
