"""``ai.ga4.credential``: GA4 service-account keys and the properties they may read."""

import base64
import json
import logging
import re
import warnings

from odoo import _, api, fields, models
from odoo.exceptions import AccessError, UserError, ValidationError

from ..project import errors, ga4
from ..project.ga4 import access as ga4_access

_logger = logging.getLogger(__name__)

# google-api-core warns on import about Python versions it will stop
# supporting some day; through py.warnings it would become a WARNING line in
# every server log. Only that announcement is silenced.
warnings.filterwarnings("ignore", message=r".*Google will stop supporting.*", category=FutureWarning)

MANAGER_GROUP = "ai_train_model.group_ai_manager"
_ENDPOINT = re.compile(r"^(https?://[^\s/]+(/\S*)?|[A-Za-z0-9.-]+(:\d+)?)$")


class AiGa4Credential(models.Model):
    """A Google service-account key used to read GA4 properties.

    The key JSON is readable and writable by the Manager group only (field
    ``groups``); the methods below also keep it out of exports and search
    domains of other users, which field groups alone do not cover. Everyone
    else sees the client e-mail and key id, extracted when the key is written.
    The key is validated by ``project.ga4.load_service_account`` before
    anything is stored.
    """

    _name = "ai.ga4.credential"
    _description = "GA4 Service-Account Credential"
    _inherit = ["mail.thread", "mail.activity.mixin", "ai.protected.fields.mixin"]
    _order = "name, id"
    _check_company_auto = True

    #: Fields holding the secret: never tracked, exported or searched by
    #: users outside the Manager group (and never searched at all: stored
    #: encrypted, see ``ai.secret``).
    _secret_fields = ("key_json", "key_file", "key_secret")
    #: Derived from the key or written by Check Access: engine-owned.
    _protected_fields = (
        "key_secret",
        "has_key",
        "client_email",
        "private_key_id",
        "gcp_project",
        "check_state",
        "check_date",
        "check_message",
        "check_report",
        "properties_reached",
        "property_count",
    )

    name = fields.Char(required=True, tracking=True)
    active = fields.Boolean(default=True, tracking=True)
    company_id = fields.Many2one(
        "res.company", required=True, index=True, default=lambda self: self.env.company, tracking=True
    )
    key_json = fields.Text(
        string="Service-Account Key",
        compute="_compute_key_json",
        inverse="_inverse_key_json",
        groups=MANAGER_GROUP,
        copy=False,
        help="The JSON key file of the service account (Google Cloud > IAM > Service accounts > Keys). "
        "Only managers can read or change it.",
    )
    key_secret = fields.Text(
        string="Stored Key",
        groups=MANAGER_GROUP,
        copy=False,
        readonly=True,
        help="The key as stored: encrypted with the server's secret key when one is configured.",
    )
    key_file = fields.Binary(
        string="Upload Key File",
        compute="_compute_key_file",
        inverse="_inverse_key_file",
        groups=MANAGER_GROUP,
        help="Upload the JSON key file instead of pasting it.",
    )
    key_filename = fields.Char(compute="_compute_key_file", groups=MANAGER_GROUP)
    has_key = fields.Boolean(string="Key Stored", readonly=True, copy=False)
    client_email = fields.Char(readonly=True, copy=False, tracking=True, help="Taken from the key.")
    private_key_id = fields.Char(string="Key ID", readonly=True, copy=False, tracking=True, help="Taken from the key.")
    gcp_project = fields.Char(string="Cloud Project", readonly=True, copy=False, help="Taken from the key.")
    property_ids = fields.Char(
        string="Property IDs",
        tracking=True,
        help="GA4 property ids this key is meant to read, comma separated (e.g. 123456789). "
        "Check Access probes each of them.",
    )
    api_endpoint = fields.Char(
        string="API Endpoint",
        tracking=True,
        help="Leave empty for Google's global endpoint (gRPC). A host[:port] selects a regional "
        "endpoint; an http(s):// URL uses the REST transport (gateways, tests).",
    )
    check_state = fields.Selection(
        selection=[("unchecked", "Not Checked"), ("ok", "OK"), ("error", "Error")],
        string="Access",
        required=True,
        default="unchecked",
        readonly=True,
        copy=False,
        tracking=True,
    )
    check_date = fields.Datetime(string="Last Check", readonly=True, copy=False)
    check_message = fields.Text(readonly=True, copy=False)
    check_report = fields.Text(
        string="Access Report",
        readonly=True,
        copy=False,
        help="JSON report of the last access check: accounts and properties reached, the probed "
        "properties with their dimensions and metrics, errors. It never contains the private key.",
    )
    properties_reached = fields.Text(readonly=True, copy=False, help="Properties the key reached at the last check.")
    property_count = fields.Integer(string="Number of Properties", readonly=True, copy=False)
    download_ids = fields.One2many(
        comodel_name="ai.ga4.download",
        inverse_name="credential_id",
        string="Downloads",
        readonly=True,
    )
    download_count = fields.Integer(compute="_compute_download_count")

    _sql_constraints = [
        ("name_company_uniq", "unique(company_id, name)", "A GA4 credential with this name already exists."),
    ]

    # ------------------------------------------------------------------ computes

    @api.depends("key_secret")
    def _compute_key_json(self):
        Secret = self.env["ai.secret"]
        for credential in self:
            try:
                credential.key_json = Secret._ai_decrypt(credential.sudo().key_secret)
            except UserError:
                credential.key_json = False

    def _inverse_key_json(self):
        for credential in self:
            credential.write({"key_json": credential.key_json})

    def _compute_key_file(self):
        for credential in self:
            credential.key_file = False
            credential.key_filename = False

    def _inverse_key_file(self):
        for credential in self:
            if credential.key_file:
                raw = base64.b64decode(credential.key_file)
                credential.write({"key_json": raw.decode("utf-8-sig", errors="replace")})

    @api.depends("download_ids")
    def _compute_download_count(self):
        counts = {
            credential.id: count
            for credential, count in self.env["ai.ga4.download"]
            .with_context(active_test=False)
            ._read_group([("credential_id", "in", self.ids)], ["credential_id"], ["__count"])
        }
        for credential in self:
            credential.download_count = counts.get(credential.id, 0)

    # ------------------------------------------------------------------ constraints

    @api.constrains("property_ids")
    def _check_property_ids(self):
        for credential in self:
            credential._property_list()

    @api.constrains("api_endpoint")
    def _check_api_endpoint(self):
        for credential in self:
            endpoint = (credential.api_endpoint or "").strip()
            if endpoint and not _ENDPOINT.match(endpoint):
                raise ValidationError(
                    _(
                        "API endpoint %(endpoint)s must be host[:port] (e.g. "
                        "europe-west1-analyticsdata.googleapis.com) or an http(s):// URL.",
                        endpoint=endpoint,
                    )
                )

    # ------------------------------------------------------------------ CRUD

    @api.model_create_multi
    def create(self, vals_list):
        if not self._is_engine():
            self.check_access_rights("create")
            for vals in vals_list:
                self.check_field_access_rights("write", list(vals))
                self._check_protected_fields(vals)
            self = self._without_protected_defaults()  # noqa: PLW0642
        vals_list = [self._key_vals(vals) for vals in vals_list]
        # The engine context lets the derived values and the encrypted key
        # through; the records go back without it.
        records = super(AiGa4Credential, self._engine()).create(vals_list)
        return self.browse(records.ids)

    def write(self, vals):
        if not self._is_engine():
            self.check_access_rights("write")
            self.check_field_access_rights("write", list(vals))
            self._check_user_vals(vals)
        return super(AiGa4Credential, self._engine()).write(self._key_vals(vals))

    @api.model
    def _key_vals(self, vals):
        """``vals`` with the key replaced by its encrypted form and the public
        values taken from it (and the access check reset)."""
        if "key_json" not in vals:
            return vals
        vals = dict(vals)
        text = vals.pop("key_json")
        if text:
            vals.update(self._parse_key(text))
            vals["key_secret"] = self.env["ai.secret"]._ai_encrypt(text)
        else:
            vals.update(
                {"key_secret": False, "has_key": False, "client_email": False, "private_key_id": False, "gcp_project": False}
            )
        vals.update({"check_state": "unchecked", "check_message": False, "check_report": False})
        return vals

    def init(self):
        """Databases from before encryption kept the key in a ``key_json``
        column: move it to ``key_secret`` (encrypted by the next rotation,
        see ``ai.secret``) and drop the column."""
        cr = self.env.cr
        cr.execute(
            "SELECT 1 FROM information_schema.columns WHERE table_name = 'ai_ga4_credential' AND column_name = 'key_json'"
        )
        if cr.fetchone():
            cr.execute(
                "UPDATE ai_ga4_credential SET key_secret = key_json WHERE key_secret IS NULL AND key_json IS NOT NULL"
            )
            cr.execute("ALTER TABLE ai_ga4_credential DROP COLUMN key_json")
            _logger.info("moved the GA4 service-account keys to the key_secret column")

    def copy_data(self, default=None):
        default = dict(default or {})
        data = super().copy_data(default)
        for vals, credential in zip(data, self, strict=False):
            if "name" not in default:
                vals["name"] = _("%s (copy)", credential.name)
        return data

    def export_data(self, fields_to_export):
        """Refuse to export the key to users who may not read it (field
        ``groups`` alone does not stop ``export_data``)."""
        self._check_secret_access([path.split("/")[0].split(".")[0] for path in fields_to_export])
        return super().export_data(fields_to_export)

    @api.model
    def _search(self, domain, offset=0, limit=None, order=None, access_rights_uid=None):
        """Refuse search domains on the key: ``ilike`` probes would reveal it
        character by character to users who may not read it, and it is stored
        encrypted (nobody can search it)."""
        names = [leaf[0].split(".")[0] for leaf in domain or [] if isinstance(leaf, (list, tuple)) and leaf]
        names = [name for name in names if isinstance(name, str)]
        self._check_secret_access(names)
        if set(names) & set(self._secret_fields):
            raise UserError(_("The service-account key is stored encrypted and cannot be searched."))
        return super()._search(domain, offset=offset, limit=limit, order=order, access_rights_uid=access_rights_uid)

    # ------------------------------------------------------------------ actions

    def action_check_access(self):
        """Probe what the key reaches and store the report. Manager only
        (the key is read). Called by the Check Access button."""
        self._check_manager()
        for credential in self:
            key = credential._service_account()
            properties = credential._property_list() or [None]
            reports = []
            for property_id in properties:
                try:
                    reports.append(ga4_access.check_access(key, property_id, credential.api_endpoint or None))
                except errors.InputError as exc:
                    raise UserError(str(exc)) from None
            credential._store_check(reports)
        return True

    def action_view_downloads(self):
        self.ensure_one()
        action = self.env["ir.actions.act_window"]._for_xml_id("ai_train_model.ai_ga4_download_action")
        action["domain"] = [("credential_id", "=", self.id)]
        action["context"] = {"default_credential_id": self.id, "default_company_id": self.company_id.id}
        return action

    # ------------------------------------------------------------------ helpers

    def _check_manager(self):
        if not self.env.su and not self.env.user.has_group(MANAGER_GROUP):
            raise AccessError(_("Only AI Forecasting managers can use a service-account key."))

    def _check_secret_access(self, field_names):
        if self.env.su or not set(field_names) & set(self._secret_fields):
            return
        if not self.env.user.has_group(MANAGER_GROUP):
            raise AccessError(_("Only AI Forecasting managers can read or search the service-account key."))

    @api.model
    def _parse_key(self, text):
        """Validate the key and return the public values to store beside it.

        Raises ``UserError`` naming what is wrong (never the key's content)."""
        try:
            key = ga4.load_service_account(text.encode("utf-8") if isinstance(text, str) else text)
        except ga4.CredentialsError as exc:
            raise UserError(_("The service-account key cannot be used: %s", exc)) from None
        summary = key.public_summary()
        return {
            "has_key": True,
            "client_email": summary["client_email"],
            "private_key_id": summary["private_key_id"],
            "gcp_project": summary["project_id"] or False,
        }

    def _service_account(self):
        """The validated key (``project.ga4.ServiceAccountKey``) of this credential.

        Callers are the Check Access button (managers) and the download cron;
        the key is read with ``sudo`` because the cron user may lack the group."""
        self.ensure_one()
        # sudo: the field is restricted to managers; callers checked who asks.
        text = self.env["ai.secret"]._ai_decrypt(self.sudo().key_secret)
        if not text:
            raise UserError(_("Credential %s has no service-account key yet.", self.name))
        try:
            return ga4.load_service_account(text.encode("utf-8"), name=_("key of %s", self.name))
        except ga4.CredentialsError as exc:
            raise UserError(str(exc)) from None

    def _property_list(self):
        self.ensure_one()
        out = []
        for part in (self.property_ids or "").split(","):
            if part.strip():
                try:
                    out.append(ga4_access.normalize_property_id(part))
                except errors.InputError as exc:
                    raise ValidationError(_("Property IDs: %s", exc)) from None
        return out

    def _store_check(self, reports):
        """Fold the per-property reports of ``check_access`` into the record."""
        self.ensure_one()
        first = reports[0]
        reached = [
            f"{prop['property_id']} {prop['display_name']} ({account['display_name']})"
            for account in first.get("accounts") or []
            for prop in account.get("properties") or []
        ]
        combined = {
            "ok": all(report["ok"] for report in reports),
            "checked_at": first.get("checked_at"),
            "key": first.get("key"),
            "transport": first.get("transport"),
            "api_endpoint": first.get("api_endpoint"),
            "accounts": first.get("accounts"),
            "property_count": first.get("property_count"),
            "properties": [report["property"] for report in reports if report.get("property")],
            "errors": [error for report in reports for error in report.get("errors") or []],
            "message": "\n".join(report["message"] for report in reports if report.get("message")),
        }
        self._engine().write(
            {
                "check_state": "ok" if combined["ok"] else "error",
                "check_date": fields.Datetime.now(),
                "check_message": combined["message"],
                "check_report": json.dumps(combined, indent=1, default=str),
                "properties_reached": "\n".join(reached),
                "property_count": combined["property_count"] or 0,
            }
        )
        self._message_log(
            body=_("Access check: %(state)s. %(message)s", state=combined["ok"] and _("OK") or _("error"),
                   message=combined["message"]),
        )
