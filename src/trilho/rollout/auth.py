"""Control-API tokens: random secrets shown once, stored as sha256, with roles annotator < viewer < deployer <
admin (an annotator may only label items in the annotation app)."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from typing import Any

from sqlalchemy import insert, select, update
from sqlalchemy.exc import IntegrityError

from trilho.clock import Clock, SystemClock
from trilho.errors import InputError
from trilho.names import check_name
from trilho.rollout import audit
from trilho.store.tables.rollout import rollout_tokens

ROLES = ("annotator", "viewer", "deployer", "admin")
PREFIX = "trl_"


@dataclass(frozen=True)
class Principal:
    """Who a token belongs to and what it may do."""

    name: str
    role: str

    @property
    def actor(self) -> str:
        return f"token:{self.name}"

    def allows(self, role: str) -> bool:
        """True when this principal's role is at least ``role``."""
        return ROLES.index(self.role) >= ROLES.index(role)


def token_hash(secret: str) -> str:
    """The stored form of a token (sha256 of a 32-byte random secret needs no slow KDF)."""
    return hashlib.sha256(secret.encode()).hexdigest()


def create_token(store, name: str, role: str, *, actor: str, clock: Clock | None = None) -> str:
    """Create a token and return its secret (the only time it exists outside the caller's hands)."""
    check_name(name, "token name")
    if role not in ROLES:
        raise InputError(
            f"role {role!r} is not one of {', '.join(ROLES)}",
            fix="use --role annotator|viewer|deployer|admin",
            field="role",
            value=role,
        )
    secret = PREFIX + secrets.token_urlsafe(32)
    now = (clock or SystemClock()).now()
    try:
        with store.transaction() as conn:
            conn.execute(
                insert(rollout_tokens).values(
                    name=name,
                    role=role,
                    token_hash=token_hash(secret),
                    created_at=now.isoformat(),
                    created_by=actor,
                )
            )
            audit.append(
                conn,
                at=now,
                actor=actor,
                action="token_create",
                reason=f"token {name!r} ({role})",
                evidence={"name": name, "role": role},
            )
    except IntegrityError as exc:
        raise InputError(
            f"a token named {name!r} already exists",
            fix="pick another name or revoke it first",
            field="name",
            value=name,
        ) from exc
    return secret


def revoke_token(store, name: str, *, actor: str, clock: Clock | None = None) -> bool:
    """Revoke a token by name; True if one was revoked."""
    now = (clock or SystemClock()).now()
    with store.transaction() as conn:
        res = conn.execute(
            update(rollout_tokens)
            .where(rollout_tokens.c.name == name, ~rollout_tokens.c.revoked)
            .values(revoked=True)
        )
        if res.rowcount:
            audit.append(
                conn,
                at=now,
                actor=actor,
                action="token_revoke",
                reason=f"token {name!r} revoked",
                evidence={"name": name},
            )
        return bool(res.rowcount)


def list_tokens(store) -> list[dict[str, Any]]:
    """Every token by name: role, who created it and when, whether it is revoked (never its hash)."""
    t = rollout_tokens
    cols = (t.c.name, t.c.role, t.c.created_at, t.c.created_by, t.c.revoked)
    with store.connect() as conn:
        rows = conn.execute(select(*cols).order_by(t.c.name)).mappings().all()
    return [{**r, "revoked": bool(r["revoked"])} for r in rows]


def authenticate(store, secret: str | None) -> Principal | None:
    """The principal of a presented secret, or None (unknown, revoked or malformed)."""
    if not secret or not secret.startswith(PREFIX) or len(secret) > 200:
        return None
    with store.connect() as conn:
        row = (
            conn.execute(select(rollout_tokens).where(rollout_tokens.c.token_hash == token_hash(secret)))
            .mappings()
            .first()
        )
    if row is None or row["revoked"]:
        return None
    return Principal(row["name"], row["role"])
