"""Signed gate records: HMAC-SHA256 over canonical JSON, with a key from the environment or a key file.

The key comes from ``TRILHO_SIGNING_KEY``, else the file ``TRILHO_SIGNING_KEY_FILE`` names (it must exist:
hosts that share a key must never each generate their own), else ``<TRILHO_HOME>/signing.key`` (generated
once, readable only by its owner: one host's key). Records carry the key's id (a hash prefix, never the key)
so a verifier knows which key to use.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import math
import os
import secrets
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from trilho.config import AUDIT_KEY_ENV, AUDIT_KEY_FILE_ENV
from trilho.config import SIGNING_KEY_ENV as KEY_ENV
from trilho.config import SIGNING_KEY_FILE_ENV as KEY_FILE_ENV
from trilho.errors import ConfigError

KEY_FILE = "signing.key"


@dataclass(frozen=True)
class SigningKey:
    """A secret for signing gate records and its public id."""

    secret: bytes

    @property
    def key_id(self) -> str:
        """A stable, non-secret id for the key: the first 16 hex digits of its sha256."""
        return hashlib.sha256(self.secret).hexdigest()[:16]


def signing_key(home: str | os.PathLike[str] | None = None) -> SigningKey:
    """The key from ``TRILHO_SIGNING_KEY``, else ``TRILHO_SIGNING_KEY_FILE``, else ``<home>/signing.key``
    (created on first use)."""
    given = _configured_key()
    if given is not None:
        return given
    if home is None:
        raise ConfigError(
            "no signing key: TRILHO_SIGNING_KEY and TRILHO_SIGNING_KEY_FILE are unset and no home was given",
            fix="set TRILHO_SIGNING_KEY (or TRILHO_SIGNING_KEY_FILE) or run with --home / TRILHO_HOME",
            field="signing_key",
        )
    path = Path(home) / KEY_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        pass
    else:
        with os.fdopen(fd, "w") as fh:
            fh.write(secrets.token_hex(32) + "\n")
    return _read_key_file(path, KEY_FILE)


def existing_signing_key(home: str | os.PathLike[str] | None = None) -> SigningKey | None:
    """The key from the environment, the key file it names or an existing home key file, without creating one
    (None if there is none)."""
    given = _configured_key()
    if given is not None:
        return given
    path = Path(home) / KEY_FILE if home is not None else None
    if path is None or not path.is_file():
        return None
    secret = path.read_text().strip()
    return SigningKey(secret.encode()) if secret else None


def audit_key(home: str | os.PathLike[str] | None = None) -> SigningKey:
    """The audit chain's HMAC key: ``TRILHO_AUDIT_KEY``, else the file ``TRILHO_AUDIT_KEY_FILE`` names, else
    the signing key (kept outside the store either way: whoever only writes the database cannot forge)."""
    configured = _key_from_env(AUDIT_KEY_ENV, AUDIT_KEY_FILE_ENV, "audit_key_file", "the audit key file")
    return configured or signing_key(home)


def _configured_key() -> SigningKey | None:
    """The signing key the environment configures (the value, else the file it names), or None."""
    return _key_from_env(KEY_ENV, KEY_FILE_ENV, "signing_key_file", "the key file every host shares")


def _key_from_env(value_env: str, file_env: str, field: str, what: str) -> SigningKey | None:
    """The key in ``value_env``, else in the file ``file_env`` names (which must exist), else None."""
    env = os.environ.get(value_env)
    if env:
        return SigningKey(env.encode())
    file = os.environ.get(file_env)
    if file:
        path = Path(file).expanduser()
        if not path.is_file():
            raise ConfigError(
                f"{file_env} names {str(path)!r}, which is not a file",
                fix=f"point it at {what} (e.g. a mounted secret), or unset it",
                field=field,
                value=str(path),
            )
        return _read_key_file(path, file_env)
    return None


def _read_key_file(path: Path, field: str) -> SigningKey:
    secret = path.read_text().strip()
    if not secret:
        raise ConfigError(
            f"signing key file {str(path)!r} is empty",
            fix="write the shared key into it (or delete a generated one to make a new one)",
            field=field,
            value=str(path),
        )
    return SigningKey(secret.encode())


def _clean(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {str(k): _clean(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_clean(v) for v in value]
    return value


def canonical_json(payload: Any) -> bytes:
    """Sorted keys, no whitespace, ASCII only, non-finite floats as null: the same bytes on every machine."""
    return json.dumps(_clean(payload), sort_keys=True, separators=(",", ":"), ensure_ascii=True).encode()


def sign(payload: Any, key: SigningKey) -> str:
    """The hex HMAC-SHA256 of ``payload``'s canonical JSON."""
    return hmac.new(key.secret, canonical_json(payload), hashlib.sha256).hexdigest()


def verify_signature(payload: Any, signature: str | None, key: SigningKey) -> bool:
    """True if ``signature`` is ``payload``'s HMAC under ``key`` (constant-time comparison)."""
    if not signature:
        return False
    return hmac.compare_digest(sign(payload, key), signature)
