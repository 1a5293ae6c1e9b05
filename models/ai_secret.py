"""Secrets encrypted at rest with a key that lives outside the database.

The key comes from Odoo's server configuration (``ai_train_model_secret_key``
in odoo.conf) or the environment (``AI_TRAIN_MODEL_SECRET_KEY``); older keys
still accepted for decryption are listed, comma separated, in
``ai_train_model_secret_old_keys`` / ``AI_TRAIN_MODEL_SECRET_OLD_KEYS``. A
key is a Fernet key (``python3 -c "from cryptography.fernet import Fernet;
print(Fernet.generate_key().decode())"``) or any passphrase, stretched with
SHA-256. Stored values start with ``aitm-enc:v1:`` followed by a Fernet token
(AES-128-CBC + HMAC-SHA256); without a configured key secrets are stored as
they always were, in plain text, and the server log and the Settings say so.
A database dump alone therefore reveals no secret once a key is set.
"""

import base64
import binascii
import hashlib
import logging
import os

from odoo import _, api, models
from odoo.exceptions import UserError
from odoo.tools import config

_logger = logging.getLogger(__name__)

PREFIX = "aitm-enc:v1:"
CONFIG_KEY = "ai_train_model_secret_key"
CONFIG_OLD_KEYS = "ai_train_model_secret_old_keys"
ENV_KEY = "AI_TRAIN_MODEL_SECRET_KEY"
ENV_OLD_KEYS = "AI_TRAIN_MODEL_SECRET_OLD_KEYS"
S3_SECRET_PARAM = "ai_train_model.s3_secret_access_key"


def _fernet_key(text):
    """A Fernet key from a configured value: used as is when it is one,
    otherwise derived from the passphrase with SHA-256."""
    text = text.strip()
    try:
        is_fernet_key = len(base64.urlsafe_b64decode(text.encode("ascii"))) == 32
    except (binascii.Error, ValueError, UnicodeEncodeError):
        is_fernet_key = False
    if is_fernet_key:
        return text.encode("ascii")
    return base64.urlsafe_b64encode(hashlib.sha256(text.encode("utf-8")).digest())


def configured_keys():
    """``(current key or "", [old keys])`` from odoo.conf, else the environment."""
    current = config.get(CONFIG_KEY) or os.environ.get(ENV_KEY) or ""
    old = config.get(CONFIG_OLD_KEYS) or os.environ.get(ENV_OLD_KEYS) or ""
    return str(current).strip(), [key.strip() for key in str(old).split(",") if key.strip()]


class AiSecret(models.AbstractModel):
    """Encryption of the addon's secrets (GA4 service-account keys, the S3
    secret access key). Holders store ``_ai_encrypt(text)`` and read
    ``_ai_decrypt(stored)``; ``_ai_rotate_secrets`` (daily cron, Settings
    button) encrypts plain values and re-encrypts those under an old key."""

    _name = "ai.secret"
    _description = "AI Forecasting secrets encryption"

    @api.model
    def _ai_key_configured(self):
        return bool(configured_keys()[0])

    @api.model
    def _ai_fernet(self, with_old=True):
        from cryptography.fernet import Fernet, MultiFernet

        current, old = configured_keys()
        keys = ([current] if current else []) + (old if with_old else [])
        if not keys:
            return None
        return MultiFernet([Fernet(_fernet_key(key)) for key in keys])

    @api.model
    def _ai_warn_plain(self):
        _logger.warning(
            "ai_train_model: no secret key configured (%s in the server configuration or %s in the "
            "environment): GA4 service-account keys and the S3 secret are stored in plain text in the database.",
            CONFIG_KEY,
            ENV_KEY,
        )

    @api.model
    def _ai_encrypt(self, text):
        """The value to store for the secret ``text`` (False for none)."""
        if not text:
            return False
        fernet = self._ai_fernet(with_old=False)
        if fernet is None:
            self._ai_warn_plain()
            return text
        return PREFIX + fernet.encrypt(text.encode("utf-8")).decode("ascii")

    @api.model
    def _ai_decrypt(self, stored):
        """The secret behind a stored value (plain values are returned as
        they are). Raises ``UserError`` when the keys cannot open it."""
        from cryptography.fernet import InvalidToken

        if not stored or not stored.startswith(PREFIX):
            return stored or False
        fernet = self._ai_fernet()
        if fernet is None:
            raise UserError(
                _(
                    "A secret is stored encrypted but the server has no secret key: set %(option)s in the "
                    "server configuration (or %(env)s in its environment) to the key it was encrypted with.",
                    option=CONFIG_KEY,
                    env=ENV_KEY,
                )
            )
        try:
            return fernet.decrypt(stored[len(PREFIX) :].encode("ascii")).decode("utf-8")
        except (InvalidToken, UnicodeError):
            raise UserError(
                _(
                    "A stored secret cannot be decrypted with the configured keys: add the key it was "
                    "encrypted with to %(option)s.",
                    option=CONFIG_OLD_KEYS,
                )
            ) from None

    @api.model
    def _ai_reencrypt(self, stored):
        """``stored`` under the current key (unchanged when it already is, or
        when no key is configured)."""
        from cryptography.fernet import InvalidToken

        current = self._ai_fernet(with_old=False)
        if not stored or current is None:
            return stored
        if not stored.startswith(PREFIX):
            return self._ai_encrypt(stored)
        token = stored[len(PREFIX) :].encode("ascii")
        try:
            current.decrypt(token)
            return stored
        except InvalidToken:
            try:
                return PREFIX + self._ai_fernet().rotate(token).decode("ascii")
            except InvalidToken:
                _logger.warning("ai_train_model: a stored secret cannot be decrypted with any configured key")
                return stored

    @api.model
    def _ai_rotate_secrets(self):
        """Encrypt every secret under the current key. Called by the daily
        cron ``ir_cron_ai_secret_rotate`` and the Settings button; returns
        the number of values changed. sudo: secrets are admin/manager-only
        fields and system parameters; nothing is returned but a count."""
        if not self._ai_key_configured():
            self._ai_warn_plain()
            return 0
        changed = 0
        # SQL: the credential model refuses search domains on its key.
        self.env["ai.ga4.credential"].flush_model(["key_secret"])
        self.env.cr.execute("SELECT id FROM ai_ga4_credential WHERE key_secret IS NOT NULL ORDER BY id")
        ids = [row[0] for row in self.env.cr.fetchall()]
        for credential in self.env["ai.ga4.credential"].sudo().browse(ids):
            new = self._ai_reencrypt(credential.key_secret)
            if new != credential.key_secret:
                credential._engine().write({"key_secret": new})
                changed += 1
        params = self.env["ir.config_parameter"].sudo()
        stored = params.get_param(S3_SECRET_PARAM)
        new = self._ai_reencrypt(stored)
        if new != stored:
            params.set_param(S3_SECRET_PARAM, new)
            changed += 1
        if changed:
            _logger.info("ai_train_model: %d secret(s) encrypted under the current key", changed)
        return changed

    def _register_hook(self):
        super()._register_hook()
        if not self._ai_key_configured():
            self._ai_warn_plain()
