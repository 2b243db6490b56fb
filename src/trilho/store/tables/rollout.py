"""Tables of the rollout control plane: rollouts, the hash-chained audit log, API tokens, kill switches and
the controller lease."""

from __future__ import annotations

from sqlalchemy import JSON, Boolean, Column, Float, Index, Integer, String, Table, Text

from trilho.store.tables import metadata

# One row per rollout; ``state`` is the machine's state (phase, step, seq …); ``phase`` a copy to query.
rollouts = Table(
    "rollouts",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("model", String(200), nullable=False),
    Column("candidate", String(100), nullable=False),
    Column("baseline", String(100), nullable=False),
    Column("plan", Text, nullable=False),
    Column("plan_source", Text, nullable=True),  # the file path, "saved:NAME" or "inline"
    Column("state", JSON, nullable=False),
    Column("phase", String(20), nullable=False),
    Column("missing_intervals", Integer, nullable=False, server_default="0"),
    Column("rollback_generation", Integer, nullable=True),
    Column("rollback_decided_at", Float, nullable=True),
    Column("rollback_seconds", Float, nullable=True),
    Column("created_at", String(40), nullable=False),
    Column("updated_at", String(40), nullable=False),
    Column("created_by", String(200), nullable=False),
    Index("ix_rollouts_model_phase", "model", "phase"),
)

# Append-only, hash-chained: seq is the previous seq + 1 (a racing writer fails on the primary key instead of
# forking the chain); ``hash`` = sha256(prev_hash + canonical JSON of the row's content).
rollout_audit = Table(
    "rollout_audit",
    metadata,
    Column("seq", Integer, primary_key=True, autoincrement=False),
    Column("at", String(40), nullable=False),
    Column("actor", String(200), nullable=False),
    Column("action", String(50), nullable=False),
    Column("model", String(200), nullable=True),
    Column("rollout_id", Integer, nullable=True),
    Column("reason", Text, nullable=False),
    Column("event", JSON, nullable=True),
    Column("state", JSON, nullable=True),
    Column("evidence", JSON, nullable=False),
    Column("prev_hash", String(64), nullable=False),
    Column("hash", String(64), nullable=False),
    Column("mac", String(64), nullable=True),  # HMAC of hash, key kept outside the store (NULL: legacy)
    Index("ix_rollout_audit_rollout", "rollout_id"),
)

# Control-API tokens: only the sha256 of the secret is stored.
rollout_tokens = Table(
    "rollout_tokens",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("name", String(200), nullable=False, unique=True),
    Column("role", String(20), nullable=False),
    Column("token_hash", String(64), nullable=False, unique=True),
    Column("created_at", String(40), nullable=False),
    Column("created_by", String(200), nullable=False),
    Column("revoked", Boolean, nullable=False, server_default="0"),
)

# Kill switches per model, persisted independently of analysis so they survive restarts and outages.
rollout_kills = Table(
    "rollout_kills",
    metadata,
    Column("model", String(200), primary_key=True),
    Column("mode", String(20), nullable=False),
    Column("at", String(40), nullable=False),
    Column("actor", String(200), nullable=False),
    Column("reason", Text, nullable=False),
)

# Named plans, managed by admins; a rollout copies the plan it started with (later edits never change it).
rollout_plans = Table(
    "rollout_plans",
    metadata,
    Column("name", String(200), primary_key=True),
    Column("plan", Text, nullable=False),
    Column("updated_at", String(40), nullable=False),
    Column("updated_by", String(200), nullable=False),
)

# The controller lease: one holder acts at a time, on SQLite and PostgreSQL alike.
rollout_leases = Table(
    "rollout_leases",
    metadata,
    Column("name", String(50), primary_key=True),
    Column("holder", String(200), nullable=False),
    Column("expires_at", Float, nullable=False),
)

# What the business-metric checks read at every controller tick (the audit log keeps decisions only): the
# dashboard's lift-over-time chart. One row per rollout, tick and metric that had an interval.
rollout_business_readings = Table(
    "rollout_business_readings",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("rollout_id", Integer, nullable=False),
    Column("step", Integer, nullable=False),
    Column("at", String(40), nullable=False),
    Column("metric", String(200), nullable=False),
    Column("status", String(20), nullable=False),
    Column("relative", Float, nullable=True),
    Column("lower", Float, nullable=False),
    Column("upper", Float, nullable=False),
    Column("n_base", Integer, nullable=False),
    Column("n_cand", Integer, nullable=False),
    Index("ix_rollout_business_readings_rollout_at", "rollout_id", "at"),
)

__all__ = [
    "rollout_audit",
    "rollout_business_readings",
    "rollout_kills",
    "rollout_leases",
    "rollout_plans",
    "rollout_tokens",
    "rollouts",
]
