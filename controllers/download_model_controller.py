"""``/ai_train_model/model/<id>/download``: the signed zip of an ``ai.model.version``."""

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
        version. Anything else (unknown id, other company, missing group)
        answers 404, so the answer never tells whether the version exists."""
        # Odoo's own lookup, as the requesting user: read access and record
        # rules of the version, field access of the artifact.
        binary = request.env["ir.binary"]
        try:
            version = binary._find_record(res_model="ai.model.version", res_id=version_id)
            filename = _safe_filename(version)
            stream = binary._get_stream_from(version, "artifact_file", filename=filename, mimetype="application/zip")
        except (AccessError, MissingError, UserError):
            raise request.not_found() from None
        response = stream.get_response(as_attachment=True)
        response.headers["Content-Type"] = "application/zip"
        response.headers["Content-Disposition"] = content_disposition(filename)
        response.headers["X-Content-Type-Options"] = "nosniff"
        response.headers["Cache-Control"] = "private, no-store"
        if "Content-Length" not in response.headers and stream.size is not None:
            response.headers["Content-Length"] = str(stream.size)
        return response
