import re

from odoo import http
from odoo.exceptions import AccessError, MissingError, UserError
from odoo.http import content_disposition, request

from ..project import importar_datos
from ..models.ai_protected_fields_mixin import AiIntegrityError
from .download_model_controller import integrity_response

XLSX_MIMETYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
_MIMETYPES = {"csv": "text/csv; charset=utf-8", "xlsx": XLSX_MIMETYPE}


def _bytes_response(data, filename, mimetype):
    return request.make_response(
        data,
        headers=[
            ("Content-Type", mimetype),
            ("Content-Length", str(len(data))),
            ("Content-Disposition", content_disposition(filename)),
            ("X-Content-Type-Options", "nosniff"),
            ("Cache-Control", "private, no-store"),
        ],
    )


class DatasetController(http.Controller):
    @http.route("/ai_train_model/dataset/<int:dataset_id>/report.xlsx", type="http", auth="user", methods=["GET"])
    def dataset_report(self, dataset_id, **kwargs):
        """The dataset's Excel report, generated on demand for a user allowed to
        read the dataset; anything else answers 404."""
        dataset = request.env["ai.dataset"].browse(dataset_id)
        try:
            dataset = dataset.exists()
            if not dataset:
                raise request.not_found()
            dataset.check_access_rights("read")
            dataset.check_access_rule("read")
            data = dataset._excel_report_bytes()
        except AiIntegrityError as exc:
            return integrity_response(exc)
        except (AccessError, MissingError, UserError):
            raise request.not_found() from None
        stem = re.sub(r"[^A-Za-z0-9._-]+", "_", dataset.name or "").strip("._-")[:100] or "dataset"
        return _bytes_response(data, f"{stem}-v{dataset.version}-report.xlsx", XLSX_MIMETYPE)

    @http.route(
        "/ai_train_model/import/template/<string:template>.<string:fmt>", type="http", auth="user", methods=["GET"]
    )
    def import_template(self, template, fmt, **kwargs):
        """Import template (columns, types, an example row) as CSV or XLSX."""
        if fmt not in _MIMETYPES or template not in ("sales", "ga4"):
            raise request.not_found()
        if not request.env.user.has_group("ai_train_model.group_ai_user"):
            raise request.not_found()
        data = importar_datos.template_file(template, fmt)
        return _bytes_response(data, f"{template}_template.{fmt}", _MIMETYPES[fmt])
