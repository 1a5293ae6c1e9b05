import base64
import binascii
import hashlib
import io
import json
import re

from odoo import _, fields, models
from odoo.exceptions import UserError

from ..models.ai_core import core


class AiModelImportWizard(models.TransientModel):
    """Import a model zip trained elsewhere (the standalone training CLI).

    The zip is accepted only when its signature verifies against this
    database's signing key (the CLI was given the same key): anything else,
    a tampered member, another key, not a zip, is refused with the reason and
    nothing is created. Only then is it read, and it becomes a development
    version of the chosen target."""

    _name = "ai.model.import.wizard"
    _description = "Import a Model Artifact"

    target_id = fields.Many2one(comodel_name="ai.forecast.target", required=True)
    artifact_file = fields.Binary(string="Model Zip", required=True)
    artifact_filename = fields.Char()

    def action_import(self):
        self.ensure_one()
        self.target_id.check_access_rights("write")
        self.target_id.check_access_rule("write")
        Version = self.env["ai.model.version"]
        try:
            raw = base64.b64decode(self.artifact_file or b"", validate=True)
        except (binascii.Error, ValueError):
            raw = b""
        if not raw:
            raise UserError(_("The uploaded file is empty."))
        errors = core("errors")
        try:
            members = core("model_artifact").verify_artifact(raw, Version._get_signing_key())
        except errors.ArtifactError as exc:
            raise UserError(
                _(
                    "%(file)s was refused: %(reason)s. Only models signed with this database's key can be "
                    "imported (train them here, or give the training tool this database's key).",
                    file=self.artifact_filename or _("The file"),
                    reason=exc,
                )
            ) from None
        try:
            metadata = json.loads(members.get("metadata.json", b"{}"))
        except ValueError:
            raise UserError(_("The artifact's metadata.json is not valid JSON.")) from None
        version = self._create_version(raw, metadata, members)
        action = self.env["ir.actions.act_window"]._for_xml_id("ai_train_model.ai_model_version_action")
        action.update({"res_id": version.id, "view_mode": "form", "views": [(False, "form")]})
        return action

    def _create_version(self, raw, metadata, members):
        import pandas as pd

        target = self.target_id
        Version = self.env["ai.model.version"]
        name = target.name
        number = Version._next_version(target.company_id, name)
        chosen = {str(k): str(v) for k, v in (metadata.get("chosen_models") or {}).items()}
        params = metadata.get("params") or {}
        metric = str(params.get("metric") or "mase")
        if metric not in dict(self.env["ai.training.job"]._METRICS):
            metric = "mase"
        safe = re.sub(r"[^A-Za-z0-9._-]+", "_", name).strip("._") or "model"
        version = Version._engine().create(
            {
                "name": name,
                "version": number,
                "company_id": target.company_id.id,
                "target_id": target.id,
                "artifact_file": base64.b64encode(raw),
                "artifact_filename": f"{safe}-v{number}.zip",
                "artifact_sha256": hashlib.sha256(raw).hexdigest(),
                "artifact_size": len(raw),
                "data_sha256": (metadata.get("data") or {}).get("sha256"),
                "horizon": int(metadata.get("horizon") or params.get("horizon") or target.horizon),
                "metric": metric,
                "series_count": len(chosen),
                "chosen_models_json": json.dumps(chosen, indent=1, sort_keys=True),
                "metadata_json": json.dumps(metadata, indent=1, sort_keys=True, default=str),
                "date_trained": fields.Datetime.now(),
            }
        )
        metrics = members.get("metrics.csv", b"")
        if metrics.strip():
            self.env["ai.model.metric"]._import_frame(version, pd.read_csv(io.BytesIO(metrics)))
            version._update_score()
        version.message_post(
            body=_("Imported from %s (signature verified).", self.artifact_filename or _("an uploaded zip"))
        )
        return Version.browse(version.id)
