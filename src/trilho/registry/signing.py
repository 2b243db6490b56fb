"""Signed gate records: HMAC-SHA256 over canonical JSON, with a key from the environment or a key file.

The key comes from ``TRILHO_SIGNING_KEY`` or, failing that, ``<TRILHO_HOME>/signing.key`` (generated once,
readable only by its owner). Records carry the key's id (a hash prefix, never the key) so a verifier knows
which key to use.
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

from trilho.errors import ConfigError

KEY_ENV = "TRILHO_SIGNING_KEY"
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
    """The key from ``TRILHO_SIGNING_KEY``, else ``<home>/signing.key`` (created on first use)."""
    env = os.environ.get(KEY_ENV)
    if env:
        return SigningKey(env.encode())
    if home is None:
        raise ConfigError(
            "no signing key: TRILHO_SIGNING_KEY is unset and no home folder was given",
            fix="set TRILHO_SIGNING_KEY or run with --home / TRILHO_HOME",
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
    secret = path.read_text().strip()
    if not secret:
        raise ConfigError(f"signing key file {str(path)!r} is empty", fix="delete it to generate a new one")
    return SigningKey(secret.encode())


def existing_signing_key(home: str | os.PathLike[str] | None = None) -> SigningKey | None:
    """The key from the environment or an existing key file, without creating one (None if there is none)."""
    env = os.environ.get(KEY_ENV)
    if env:
        return SigningKey(env.encode())
    path = Path(home) / KEY_FILE if home is not None else None
    if path is None or not path.is_file():
        return None
    secret = path.read_text().strip()
    return SigningKey(secret.encode()) if secret else None


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
