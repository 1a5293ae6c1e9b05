import hashlib
import os

from odoo import _, api, models
from odoo.exceptions import AccessError, UserError

#: Context value that unlocks the protected fields. It is a Python object, so it
#: cannot travel through JSON-RPC / XML-RPC: only server code can present it
#: (the idea of OCA queue_job's ``EDIT_SENTINEL``).
ENGINE_SENTINEL = object()
_CONTEXT_KEY = "_ai_train_model_engine"


def as_engine(records):
    """``records`` in the engine's environment (for models without the mixin,
    e.g. the ``ir.attachment`` behind an engine file)."""
    return records.with_context(**{_CONTEXT_KEY: ENGINE_SENTINEL})


def is_engine(env):
    """True when ``env`` carries the engine's sentinel (server code only)."""
    return env.context.get(_CONTEXT_KEY) is ENGINE_SENTINEL


class AiIntegrityError(UserError):
    """A stored engine file does not match its recorded SHA-256 (or its
    signature): it was changed outside the engine and is not used."""


def _command_ids(field, value):
    """The ids a many2one / many2many value links (creation commands excluded)."""
    if field.type == "many2one":
        if isinstance(value, models.BaseModel):
            return list(value.ids)
        return [value] if isinstance(value, int) and value else []
    ids = []
    for command in value or ():
        if isinstance(command, int):
            ids.append(command)
        elif isinstance(command, (list, tuple)) and command:
            if command[0] == 6 and len(command) > 2:
                ids.extend(command[2] or ())
            elif command[0] in (1, 4) and len(command) > 1:
                ids.append(command[1])
    return [i for i in ids if isinstance(i, int) and i]


class AiProtectedFieldsMixin(models.AbstractModel):
    """Engine-owned data of the addon's models, declared by class attributes.

    A model inherits this mixin and opts in with:

    - ``_protected_fields``: fields only the engine writes (RPC ``create``,
      ``write`` and ``default_<field>`` context keys are refused). Workflow
      ``state`` fields belong here: they move through their buttons only,
      which write them with ``record._engine()``.
    - ``_protected_create = True``: the records themselves are created by the
      engine only (model versions, metric lines, GA4 runs).
    - ``_engine_files = {"binary_field": "sha256_field"}``: attachment-stored
      binary fields whose ``ir.attachment`` only the engine may write, delete,
      publish or share by token (see ``models/ir_attachment.py``), and whose
      bytes are read through :meth:`_engine_file_bytes`, which checks them
      against the stored SHA-256 first.
    - ``_company_locked`` (default True): a stored ``company_id`` cannot change
      after creation (a record never moves to another company).
    - ``_check_references`` (default True): many2one / many2many values that
      point to ``ai.*`` records must be readable by the writer; otherwise a
      generic error that names nothing is raised (neither Odoo's company
      check nor a display name leaks another company's record).

    The engine writes through ``record._engine()``; the sentinel it puts in the
    context cannot travel through RPC.
    """

    _name = "ai.protected.fields.mixin"
    _description = "AI engine-owned fields protection"

    _protected_fields = ()
    _protected_create = False
    _engine_files = {}
    _company_locked = True
    _check_references = True

    def _engine(self):
        """Return ``self`` in an environment allowed to write protected fields."""
        return as_engine(self)

    def _is_engine(self):
        return is_engine(self.env)

    # ------------------------------------------------------------------ checks

    def _protected_field_names(self):
        """The engine-owned field names (a mixin may add its own)."""
        return set(self._protected_fields)

    def _check_protected_fields(self, fnames):
        if self._is_engine():
            return
        forbidden = sorted(set(fnames) & self._protected_field_names())
        if forbidden:
            raise AccessError(
                _(
                    "The field(s) %(fields)s of %(model)s are set by the training "
                    "engine and cannot be changed by hand.",
                    fields=", ".join(forbidden),
                    model=self._description,
                )
            )

    def _check_company_move(self, vals):
        """Refuse a change of ``company_id`` on existing records."""
        field = self._fields.get("company_id")
        if (
            self._is_engine()
            or not self._company_locked
            or "company_id" not in vals
            or field is None
            or not field.store
            or field.related
        ):
            return
        new = vals["company_id"]
        new = new.id if isinstance(new, models.BaseModel) else (new or False)
        # sudo: compare with the stored company whatever the record rules say.
        if any(record.company_id.id != new for record in self.sudo()):
            raise AccessError(
                _(
                    "The company of a record of %(model)s cannot be changed after its creation; "
                    "create a new one in the other company instead.",
                    model=self._description,
                )
            )

    def _reference_fields(self):
        return [
            field
            for field in self._fields.values()
            if field.type in ("many2one", "many2many")
            and field.comodel_name.startswith("ai.")
            and not (field.compute and not field.store and not field.inverse)
        ]

    def _check_reference_values(self, vals):
        """Refuse ``vals`` linking ``ai.*`` records the user may not read,
        with a message that names no record."""
        if self._is_engine() or self.env.su or not self._check_references:
            return
        for field in self._reference_fields():
            if field.name in vals:
                self._check_readable_references(field, _command_ids(field, vals[field.name]))

    def _check_stored_references(self):
        """The same check on what was stored (defaults, computed values)."""
        if self._is_engine() or self.env.su or not self._check_references or not self:
            return
        for field in self._reference_fields():
            if field.related:
                continue
            ids = self.sudo().mapped(field.name).ids
            self._check_readable_references(field, ids)

    def _check_readable_references(self, field, ids):
        if not ids:
            return
        records = self.env[field.comodel_name].browse(set(ids))
        try:
            readable = len(records.exists()) == len(records)
            if readable:
                records.check_access_rights("read")
                records.check_access_rule("read")
        except AccessError:
            readable = False
        if not readable:
            raise AccessError(
                _(
                    "%(field)s: the chosen record does not exist or is not available to you.",
                    field=field.string,
                )
            )

    def _check_user_vals(self, vals):
        """Every check of a write by a user (not the engine); also for models
        whose ``write`` adds engine values before calling ``super``."""
        if self._is_engine():
            return
        self._check_protected_fields(vals)
        self._check_company_move(vals)
        self._check_reference_values(vals)

    def _without_protected_defaults(self):
        """``self`` without ``default_<protected field>`` context keys (they
        would set a protected field after the checks)."""
        protected = self._protected_field_names()
        context = {
            key: value
            for key, value in self.env.context.items()
            if not (key.startswith("default_") and key[len("default_") :] in protected)
        }
        return self.with_env(self.env(context=context))

    # ------------------------------------------------------------------ CRUD

    @api.model_create_multi
    def create(self, vals_list):
        if self._is_engine():
            return super().create(vals_list)
        if self._protected_create:
            raise AccessError(
                _("%(model)s records are created by the training engine only.", model=self._description)
            )
        for vals in vals_list:
            self._check_protected_fields(vals)
        self = self._without_protected_defaults()  # noqa: PLW0642
        defaults = {
            key[len("default_") :]: value
            for key, value in self.env.context.items()
            if key.startswith("default_") and key[len("default_") :] in self._fields
        }
        for vals in vals_list:
            self._check_reference_values({**defaults, **vals})
        records = super().create(vals_list)
        records._check_stored_references()
        return records

    def write(self, vals):
        self._check_user_vals(vals)
        return super().write(vals)

    def onchange(self, values, field_names, fields_spec):
        # The form's values go back with display names read as superuser:
        # refuse references the user may not read before anything is read.
        if not self._is_engine() and not self.env.su:
            self._check_reference_values(values)
        return super().onchange(values, field_names, fields_spec)

    def unlink(self):
        # The engine's files go with their record: unlinking a record deletes
        # its field attachments, which only the engine may do.
        if self._engine_files:
            return super(AiProtectedFieldsMixin, self._engine()).unlink()
        return super().unlink()

    # ------------------------------------------------------------------ files

    def _engine_file_attachment(self, field_name):
        """The attachments holding ``field_name`` (sudo: callers checked
        access to ``self``; field attachments have no access of their own)."""
        self.ensure_one()
        return (
            self.env["ir.attachment"]
            .sudo()
            .search([("res_model", "=", self._name), ("res_id", "=", self.id), ("res_field", "=", field_name)])
        )

    def _engine_file_single(self, field_name):
        """The one attachment holding ``field_name``, once read access to
        ``self`` is checked; none or several is refused."""
        self.ensure_one()
        self.check_access_rights("read")
        self.check_access_rule("read")
        label = self._fields[field_name].string
        attachments = self._engine_file_attachment(field_name)
        if not attachments:
            raise UserError(_("%(record)s has no %(file)s.", record=self.display_name, file=label))
        if len(attachments) > 1:
            raise AiIntegrityError(
                _(
                    "%(record)s has %(count)s stored copies of its %(file)s instead of one: it was changed "
                    "outside the engine and will not be used.",
                    record=self.display_name,
                    count=len(attachments),
                    file=label,
                )
            )
        return attachments

    def _engine_file_check_digest(self, field_name, digest):
        """Refuse the engine file ``field_name`` unless ``digest`` is the
        SHA-256 the engine recorded when it stored it."""
        expected = self.sudo()[self._engine_files[field_name]]
        if not expected or digest != expected:
            raise AiIntegrityError(
                _(
                    "The %(file)s of %(record)s does not match its recorded SHA-256: it was changed outside "
                    "the engine and will not be used.",
                    file=self._fields[field_name].string,
                    record=self.display_name,
                )
            )

    def _engine_file_bytes(self, field_name):
        """The bytes of the engine file ``field_name`` once checked against
        the SHA-256 recorded when the engine stored them. Raises
        ``AiIntegrityError`` (a ``UserError``) saying what is wrong."""
        raw = self._engine_file_single(field_name).raw or b""
        self._engine_file_check_digest(field_name, hashlib.sha256(raw).hexdigest())
        return raw

    def _engine_file_source(self, field_name):
        """``(attachment, source)`` of the engine file ``field_name`` once
        checked against its recorded SHA-256, where ``source`` is the
        filestore path (hashed in chunks, so a large file is never held in
        memory) or, for a file kept in the database, its bytes. Filestore
        files are named after their content: the checked path cannot change
        under the caller."""
        attachment = self._engine_file_single(field_name)
        path = attachment.store_fname and attachment._full_path(attachment.store_fname)
        if not path or not os.path.isfile(path):
            raw = attachment.raw or b""
            self._engine_file_check_digest(field_name, hashlib.sha256(raw).hexdigest())
            return attachment, raw
        digest = hashlib.sha256()
        with open(path, "rb") as handle:
            while chunk := handle.read(1 << 20):
                digest.update(chunk)
        self._engine_file_check_digest(field_name, digest.hexdigest())
        return attachment, path
