"""The registry's tables: models, immutable versions (lineage as JSON), aliases and gate records."""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    Column,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    String,
    Table,
    Text,
    UniqueConstraint,
)

from trilho.store.tables import metadata

models = Table(
    "models",
    metadata,
    Column("name", String(200), primary_key=True),
    Column("created_at", DateTime(timezone=True), nullable=False),
)

model_versions = Table(
    "model_versions",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("model", String(200), ForeignKey("models.name"), nullable=False),
    Column("version", Integer, nullable=False),
    Column("flavor", String(32), nullable=False),
    Column("artifact_sha256", String(64), nullable=False),
    Column("artifact_kind", String(8), nullable=False),
    Column("artifact_name", String(500), nullable=False),
    Column("entry", String(500), nullable=True),
    Column("contract_name", String(200), nullable=False),
    Column("contract_version", String(64), nullable=False),
    Column("contract_hash", String(128), nullable=False),
    Column("contract_text", Text, nullable=False),
    Column("examples", JSON, nullable=False),
    Column("params", JSON, nullable=False),
    Column("metrics", JSON, nullable=False),
    Column("lineage", JSON, nullable=False),
    Column("options", JSON, nullable=False),
    Column("breaking_reason", Text, nullable=True),
    Column("created_at", DateTime(timezone=True), nullable=False),
    UniqueConstraint("model", "version", name="uq_model_versions_model_version"),
)

aliases = Table(
    "aliases",
    metadata,
    Column("model", String(200), ForeignKey("models.name"), primary_key=True),
    Column("alias", String(64), primary_key=True),
    Column("version", Integer, nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
)

gate_records = Table(
    "gate_records",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("model", String(200), ForeignKey("models.name"), nullable=False),
    Column("version", Integer, nullable=False),
    Column("kind", String(64), nullable=False),
    Column("decision", String(32), nullable=False),
    Column("evidence", JSON, nullable=False),
    Column("signature", String(128), nullable=True),
    Column("key_id", String(64), nullable=True),
    Column("created_at", DateTime(timezone=True), nullable=False),
)

Index("ix_gate_records_model", gate_records.c.model, gate_records.c.version)
