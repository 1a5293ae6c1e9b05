import re

from odoo import http
from odoo.exceptions import AccessError, MissingError, UserError
from odoo.http import content_disposition, request


def _safe_filename(version):
    """``<name>-v<version>.zip`` restricted to ASCII letters, digits, dot,
    dash and underscore: nothing a browser or a shell could misread."""
    stem = re.sub(r"[^A-Za-z0-9._-]+", "_", version.name or "").strip("._-")[:100] or "model"
    return f"{stem}-v{version.version}.zip"


class DownloadModelController(http.Controller):
    @http.route(
        "/ai_train_model/model/<int:version_id>/download",
        type="http",
        auth="user",
        methods=["GET"],
    )
    def download_model(self, version_id, **kwargs):
        """Stream a model version's signed zip to a user allowed to read the
        version (an archived version: Analysts and Managers only). Anything
        else (unknown id, other company, missing group) answers 404, so the
        answer never tells whether the version exists."""
        version = request.env["ai.model.version"].browse(version_id).exists()
        if not version:
            raise request.not_found()
        try:
            version.check_access_rights("read")
            version.check_access_rule("read")
            # A retired model is for those who work on models, not for every reader.
            archived_hidden = version.state == "archived" and not request.env.user.has_group(
                "ai_train_model.group_ai_analyst"
            )
            filename = _safe_filename(version)
        except (AccessError, MissingError):
            raise request.not_found() from None
        if archived_hidden:
            raise request.not_found()
        # sudo: the requesting user may read this version (checked above); the
        # artifact is a field attachment with no access rules of its own.
        try:
            stream = request.env["ir.binary"].sudo()._get_stream_from(
                version.sudo(), "artifact_file", filename=filename, mimetype="application/zip"
            )
        except (MissingError, UserError):
            raise request.not_found() from None
        response = stream.get_response(as_attachment=True)
        response.headers["Content-Type"] = "application/zip"
        response.headers["Content-Disposition"] = content_disposition(filename)
        response.headers["X-Content-Type-Options"] = "nosniff"
        response.headers["Cache-Control"] = "private, no-store"
        if "Content-Length" not in response.headers and stream.size is not None:
            response.headers["Content-Length"] = str(stream.size)
        return response
