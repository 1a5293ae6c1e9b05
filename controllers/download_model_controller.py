"""``/ai_train_model/model/<id>/download``: the signed zip of an ``ai.model.version``."""

import re

from odoo import http
from odoo.exceptions import AccessError, MissingError, UserError
from odoo.http import Stream, request

from ..models.ai_protected_fields_mixin import AiIntegrityError


def _safe_filename(version):
    """``<name>-v<version>.zip`` restricted to ASCII letters, digits, dot,
    dash and underscore: nothing a browser or a shell could misread."""
    stem = re.sub(r"[^A-Za-z0-9._-]+", "_", version.name or "").strip("._-")[:100] or "model"
    return f"{stem}-v{version.version}.zip"


def integrity_response(exc):
    """409 with the reason, as plain text, for a stored file that failed its
    SHA-256 or signature check (the user may read the record: the reason is
    theirs to know)."""
    message = str(exc.args[0]) if exc.args else str(exc)
    return request.make_response(
        message.encode("utf-8"),
        headers=[
            ("Content-Type", "text/plain; charset=utf-8"),
            ("X-Content-Type-Options", "nosniff"),
            ("Cache-Control", "private, no-store"),
        ],
        status=409,
    )


class DownloadModelController(http.Controller):
    @http.route(
        "/ai_train_model/model/<int:version_id>/download",
        type="http",
        auth="user",
        methods=["GET"],
    )
    def download_model(self, version_id, **kwargs):
        """Stream a model version's signed zip to a user allowed to read the
        version, once its SHA-256 and signature are checked; an archived
        version to Analysts and Managers only. Anything else (unknown id, other
        company, missing group) answers 404, so the answer never tells whether
        the version exists; a tampered artifact 409."""
        # Odoo's own lookup, as the requesting user: read access and record
        # rules of the version.
        binary = request.env["ir.binary"]
        try:
            version = binary._find_record(res_model="ai.model.version", res_id=version_id)
            # A retired model is for those who work on models, not for every reader.
            if version.state == "archived" and not request.env.user.has_group("ai_train_model.group_ai_analyst"):
                raise AccessError(version._description)
            filename = _safe_filename(version)
            attachment = version._get_checked_artifact()
        except AiIntegrityError as exc:
            return integrity_response(exc)
        except (AccessError, MissingError, UserError):
            raise request.not_found() from None
        # Sent from the filestore in chunks (or by the proxy with
        # --x-sendfile): the server never holds the whole zip.
        stream = Stream.from_attachment(attachment)
        stream.mimetype = "application/zip"
        stream.download_name = filename
        stream.conditional = False
        stream.etag = False
        response = stream.get_response(as_attachment=True)
        response.headers["X-Content-Type-Options"] = "nosniff"
        response.headers["Cache-Control"] = "private, no-store"
        return response
