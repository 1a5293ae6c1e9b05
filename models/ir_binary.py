from odoo import _, models
from odoo.exceptions import AccessError, MissingError


class IrBinary(models.AbstractModel):
    """``/web/content`` and ``/web/image`` serve engine files only to users
    who may read their record, and only once their SHA-256 is checked.

    An access token or the ``public`` flag on such an attachment (which
    ``ir.attachment`` refuses to set, but a database restored from elsewhere
    may hold) is ignored; a user without access gets 404. Any record of the
    addon's models (``ai.*``) the user may not read answers 404, not 403.
    """

    _inherit = "ir.binary"

    def _find_record_check_access(self, record, access_token):
        if record._name == "ir.attachment":
            rows = record._ai_engine_file_rows()
            if rows:
                _id, res_model, res_id, res_field = rows[0]
                owner = self.env[res_model].browse(res_id)
                try:
                    allowed = self.env.user._is_internal() and bool(owner._engine_file_bytes(res_field) is not None)
                except (AccessError, MissingError):
                    allowed = False
                if not allowed:
                    raise MissingError(_("This file does not exist or you may not read it."))
                return record.sudo()
        if record._name.startswith("ai."):
            # Another company's record (or no access at all): 404, not 403.
            try:
                return super()._find_record_check_access(record, access_token)
            except AccessError:
                raise MissingError(_("This file does not exist or you may not read it.")) from None
        return super()._find_record_check_access(record, access_token)

    def _record_to_stream(self, record, field_name):
        if field_name in (getattr(record, "_engine_files", None) or {}):
            # Raises AiIntegrityError (a UserError: 400 with its message) for a
            # file changed outside the engine.
            record._engine_file_bytes(field_name)
        return super()._record_to_stream(record, field_name)
