from odoo import _, api, models
from odoo.exceptions import AccessError

#: Context value that unlocks the protected fields. It is a Python object, so it
#: cannot travel through JSON-RPC / XML-RPC: only server code can present it
#: (the idea of OCA queue_job's ``EDIT_SENTINEL``).
ENGINE_SENTINEL = object()
_CONTEXT_KEY = "_ai_train_model_engine"


class AiProtectedFieldsMixin(models.AbstractModel):
    """Refuse RPC writes on fields only the engine may set.

    Inherit it and list the engine-owned fields in ``_protected_fields``; the
    engine writes them through ``record._engine()``. With
    ``_protected_create = True`` the records themselves can only be created by
    the engine (model versions, metric lines).
    """

    _name = "ai.protected.fields.mixin"
    _description = "AI engine-owned fields protection"

    _protected_fields = ()
    _protected_create = False

    def _engine(self):
        """Return ``self`` in an environment allowed to write protected fields."""
        return self.with_context(**{_CONTEXT_KEY: ENGINE_SENTINEL})

    def _is_engine(self):
        return self.env.context.get(_CONTEXT_KEY) is ENGINE_SENTINEL

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

    @api.model_create_multi
    def create(self, vals_list):
        if self._protected_create and not self._is_engine():
            raise AccessError(
                _("%(model)s records are created by the training engine only.", model=self._description)
            )
        for vals in vals_list:
            self._check_protected_fields(vals)
        if not self._is_engine():
            # A ``default_<field>`` context key would set a protected field
            # after the check above: drop those keys.
            protected = self._protected_field_names()
            context = {
                key: value
                for key, value in self.env.context.items()
                if not (key.startswith("default_") and key[len("default_") :] in protected)
            }
            self = self.with_env(self.env(context=context))  # noqa: PLW0642
        return super().create(vals_list)

    def write(self, vals):
        self._check_protected_fields(vals)
        return super().write(vals)
