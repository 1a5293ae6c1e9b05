"""Service-account key files: validation and google-auth credentials.

A key file is checked before any network call so a user learns exactly what is
wrong with it (not JSON, wrong ``type``, a private key that does not parse, a
missing ``client_email``) instead of an opaque authentication failure later.
The private key never appears in a message, a ``repr`` or a report.
"""

from __future__ import annotations

import json
import logging
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import InputError

__all__ = ["CredentialsError", "ServiceAccountKey", "load_service_account", "SCOPES"]

logger = logging.getLogger(__name__)

#: Read-only scope: enough for the Data API and the Admin API listings.
SCOPES = ("https://www.googleapis.com/auth/analytics.readonly",)

_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


class CredentialsError(InputError):
    """The service-account key cannot be used; the message says which part is wrong."""


@dataclass(frozen=True)
class ServiceAccountKey:
    """A validated service-account key. ``info`` is the key dict (secret)."""

    client_email: str
    private_key_id: str
    project_id: str
    info: Mapping[str, Any] = field(repr=False, compare=False)

    def public_summary(self) -> dict[str, str]:
        """What may be shown to any user: no private key."""
        return {
            "client_email": self.client_email,
            "private_key_id": self.private_key_id,
            "project_id": self.project_id,
        }

    def credentials(self, scopes: tuple[str, ...] = SCOPES) -> Any:
        """``google.oauth2.service_account.Credentials`` for this key."""
        from google.oauth2 import service_account

        try:
            return service_account.Credentials.from_service_account_info(
                dict(self.info), scopes=list(scopes)
            )
        except (ValueError, KeyError) as exc:  # google-auth names the missing field
            raise CredentialsError(f"service-account key rejected by google-auth: {exc}") from None


def load_service_account(
    source: str | os.PathLike[str] | bytes | Mapping[str, Any], *, name: str | None = None
) -> ServiceAccountKey:
    """Read and validate a service-account key.

    ``source`` is a path to the JSON key file, its bytes, or the parsed dict
    (what the Odoo credential record stores). ``name`` labels the source in
    messages (defaults to the path). Raises :class:`CredentialsError`.
    """
    if isinstance(source, Mapping):
        label = name or "service-account key"
        info: Any = dict(source)
    else:
        if isinstance(source, bytes):
            label, raw = name or "service-account key", source
        else:
            path = Path(source)
            label = name or str(path)
            try:
                raw = path.read_bytes()
            except FileNotFoundError:
                raise CredentialsError(f"{label}: key file not found") from None
            except OSError as exc:
                raise CredentialsError(f"{label}: cannot read key file ({exc.strerror})") from None
        try:
            info = json.loads(raw.decode("utf-8-sig"))
        except UnicodeDecodeError:
            raise CredentialsError(f"{label}: not a JSON key file (not UTF-8 text)") from None
        except json.JSONDecodeError as exc:
            raise CredentialsError(
                f"{label}: not valid JSON (line {exc.lineno}, column {exc.colno}: {exc.msg}); "
                "expected the JSON key downloaded from Google Cloud > IAM > Service accounts > Keys"
            ) from None
    if not isinstance(info, dict):
        raise CredentialsError(
            f"{label}: expected a JSON object, got {type(info).__name__}"
        )
    kind = info.get("type")
    if kind != "service_account":
        shown = "missing" if kind is None else repr(kind)
        raise CredentialsError(
            f"{label}: field 'type' is {shown}, expected 'service_account' "
            "(OAuth client secrets and user credentials are not supported)"
        )
    email = info.get("client_email")
    if not isinstance(email, str) or not email.strip():
        raise CredentialsError(f"{label}: field 'client_email' is missing or empty")
    if not _EMAIL.match(email):
        raise CredentialsError(f"{label}: field 'client_email' is not an e-mail address")
    _check_private_key(info.get("private_key"), label)
    token_uri = info.get("token_uri")
    if token_uri is not None and not isinstance(token_uri, str):
        raise CredentialsError(f"{label}: field 'token_uri' must be a string")
    info.setdefault("token_uri", "https://oauth2.googleapis.com/token")
    return ServiceAccountKey(
        client_email=email,
        private_key_id=str(info.get("private_key_id") or ""),
        project_id=str(info.get("project_id") or ""),
        info=info,
    )


def _check_private_key(pem: Any, label: str) -> None:
    if not isinstance(pem, str) or not pem.strip():
        raise CredentialsError(f"{label}: field 'private_key' is missing or empty")
    if "-----BEGIN" not in pem:
        raise CredentialsError(
            f"{label}: field 'private_key' is not a PEM block (no '-----BEGIN' line)"
        )
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    try:
        key = serialization.load_pem_private_key(pem.encode("utf-8"), password=None)
    except (ValueError, TypeError) as exc:
        # The cryptography message describes the structure, never the key bytes.
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise CredentialsError(
            f"{label}: field 'private_key' does not parse as an unencrypted PEM private key "
            f"({reason[:160]})"
        ) from None
    except Exception as exc:  # cryptography raises its own types for unsupported keys
        raise CredentialsError(
            f"{label}: field 'private_key' does not parse ({type(exc).__name__})"
        ) from None
    if not isinstance(key, rsa.RSAPrivateKey):
        raise CredentialsError(
            f"{label}: field 'private_key' is not an RSA key (Google service accounts sign with RS256)"
        )
