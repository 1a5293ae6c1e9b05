from odoo import _, api, models
from odoo.exceptions import AccessError
from odoo.addons.base.models.ir_model import MODULE_UNINSTALL_FLAG

from .ai_protected_fields_mixin import is_engine


class IrAttachment(models.Model):
    """Engine files cannot be swapped through ``ir.attachment``.

    Odoo lets anyone who may write a record create, write, delete, publish or
    tokenise the attachments behind its binary fields. For the fields a model
    lists in ``_engine_files`` (see ``ai.protected.fields.mixin``) only the
    engine may create, write or delete them, and nobody, the engine included,
    may make them public or give them an access token: they are served by
    the addon's access-checked routes only. Every other attachment is left
    to Odoo's rules.
    """

    _inherit = "ir.attachment"

    @api.model
    def _ai_is_engine_file(self, res_model, res_field):
        if not res_model or not res_field or res_model not in self.env.registry:
            return False
        return res_field in (getattr(self.env.registry[res_model], "_engine_files", None) or {})

    def _ai_engine_file_rows(self):
        """``(id, res_model, res_id, res_field)`` of the engine files in ``self``."""
        if not self.ids:
            return []
        self.flush_model(["res_model", "res_id", "res_field"])
        self.env.cr.execute(
            "SELECT id, res_model, res_id, res_field FROM ir_attachment WHERE id IN %s AND res_field IS NOT NULL",
            [tuple(self.ids)],
        )
        return [row for row in self.env.cr.fetchall() if self._ai_is_engine_file(row[1], row[3])]

    @api.model
    def _ai_refuse(self):
        raise AccessError(
            _(
                "This file is stored by the training engine: it cannot be changed, deleted, "
                "made public or shared by link."
            )
        )

    @api.model
    def _ai_check_sharing(self, vals):
        if vals.get("public") or vals.get("access_token"):
            self._ai_refuse()

    @api.model_create_multi
    def create(self, vals_list):
        for vals in vals_list:
            if self._ai_is_engine_file(vals.get("res_model"), vals.get("res_field")):
                if not is_engine(self.env):
                    self._ai_refuse()
                self._ai_check_sharing(vals)
        return super().create(vals_list)

    def write(self, vals):
        if self._ai_engine_file_rows():
            if not is_engine(self.env):
                self._ai_refuse()
            self._ai_check_sharing(vals)
        if {"res_model", "res_field"} & set(vals):
            # Re-pointing an attachment at an engine file is creating one.
            for attachment in self.sudo():
                target = (vals.get("res_model", attachment.res_model), vals.get("res_field", attachment.res_field))
                if self._ai_is_engine_file(*target):
                    if not is_engine(self.env):
                        self._ai_refuse()
                    self._ai_check_sharing({**attachment.read(["public", "access_token"])[0], **vals})
        return super().write(vals)

    def unlink(self):
        if self._ai_engine_file_rows() and not (is_engine(self.env) or self.env.context.get(MODULE_UNINSTALL_FLAG)):
            self._ai_refuse()
        return super().unlink()

    def generate_access_token(self):
        if self._ai_engine_file_rows():
            self._ai_refuse()
        return super().generate_access_token()
