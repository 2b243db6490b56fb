"""Tables for the routing table (written by the rollout control plane, read by every gateway) and the
per-version serving windows the gateways write back for analysis."""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    BigInteger,
    Column,
    DateTime,
    Float,
    Index,
    Integer,
    String,
    Table,
)

from trilho.store.tables import metadata

# One row (id = 1): the generation every write bumps, so a gateway polls one integer to see a change.
routing_state = Table(
    "routing_state",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("generation", BigInteger, nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
)

# One row per model: the whole deployment document (routes, weights, budgets, batching …) as JSON.
routing_deployments = Table(
    "routing_deployments",
    metadata,
    Column("model", String(200), primary_key=True),
    Column("spec", JSON, nullable=False),
    Column("kill", String(20), nullable=False, server_default="off"),
    Column("generation", BigInteger, nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
    Column("updated_by", String(200), nullable=False, server_default="unknown"),
)

# Every deployment a model ever had, one row per routing generation that wrote it: the weights in force for
# units the exposure log says were first routed under that generation (the sample-ratio check reads it).
routing_history = Table(
    "routing_history",
    metadata,
    Column("model", String(200), primary_key=True),
    Column("generation", BigInteger, primary_key=True),
    Column("spec", JSON, nullable=False),
    Column("kill", String(20), nullable=False, server_default="off"),
    Column("at", DateTime(timezone=True), nullable=False),
)

# Windowed aggregates per (gateway, model, version, variant): what the rollout analysis reads.
serving_windows = Table(
    "serving_windows",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("gateway", String(100), nullable=False),
    Column("model", String(200), nullable=False),
    Column("version", String(100), nullable=False),
    Column("variant", String(20), nullable=False),
    Column("window_start", DateTime(timezone=True), nullable=False),
    Column("window_end", DateTime(timezone=True), nullable=False),
    Column("requests", Integer, nullable=False),
    Column("errors", Integer, nullable=False),
    Column("fallbacks", Integer, nullable=False),
    Column("shed", Integer, nullable=False),
    Column("latency_sum_s", Float, nullable=False),
    # {"bounds": [...upper bounds in s...], "counts": [...same length + 1 for +Inf...]}
    Column("latency_histogram", JSON, nullable=False),
    # model time per record of the version's micro-batches, same shape (routing_0003_model_time; None before)
    Column("model_latency_sum_s", Float, nullable=True),
    Column("model_latency_histogram", JSON, nullable=True),
    Index("ix_serving_windows_model_end", "model", "window_end"),
)

# Windowed shadow comparisons per (gateway, model, primary version, shadow version, comparator).
serving_shadow_windows = Table(
    "serving_shadow_windows",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("gateway", String(100), nullable=False),
    Column("model", String(200), nullable=False),
    Column("primary_version", String(100), nullable=False),
    Column("shadow_version", String(100), nullable=False),
    Column("comparator", String(50), nullable=False),
    Column("window_start", DateTime(timezone=True), nullable=False),
    Column("window_end", DateTime(timezone=True), nullable=False),
    Column("compared", Integer, nullable=False),
    Column("agreed", Integer, nullable=False),
    Column("score_sum", Float, nullable=False),
    Column("shadow_errors", Integer, nullable=False),
    Column("dropped", Integer, nullable=False),
    # model time per record of the shadow's calls that answered a whole chunk (see serving.aggregates)
    Column("shadow_latency_sum_s", Float, nullable=False),
    Column("shadow_latency_histogram", JSON, nullable=False),
    Index("ix_serving_shadow_windows_model_end", "model", "window_end"),
)

__all__ = [
    "routing_deployments",
    "routing_history",
    "routing_state",
    "serving_shadow_windows",
    "serving_windows",
]
