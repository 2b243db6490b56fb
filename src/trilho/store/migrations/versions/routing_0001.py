"""Routing area: the routing table (state + deployments) and the serving windows gateways write back."""

from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op

revision = "routing_0001"
down_revision = "0000_base"
branch_labels = ("routing",)
depends_on = None


def upgrade() -> None:
    op.create_table(
        "routing_state",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("generation", sa.BigInteger(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_routing_state"),
    )
    state = sa.table("routing_state", sa.column("id"), sa.column("generation"), sa.column("updated_at"))
    op.bulk_insert(state, [{"id": 1, "generation": 0, "updated_at": datetime.now(UTC)}])
    op.create_table(
        "routing_deployments",
        sa.Column("model", sa.String(200), nullable=False),
        sa.Column("spec", sa.JSON(), nullable=False),
        sa.Column("kill", sa.String(20), server_default="off", nullable=False),
        sa.Column("generation", sa.BigInteger(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_by", sa.String(200), server_default="unknown", nullable=False),
        sa.PrimaryKeyConstraint("model", name="pk_routing_deployments"),
    )
    op.create_table(
        "serving_windows",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("gateway", sa.String(100), nullable=False),
        sa.Column("model", sa.String(200), nullable=False),
        sa.Column("version", sa.String(100), nullable=False),
        sa.Column("variant", sa.String(20), nullable=False),
        sa.Column("window_start", sa.DateTime(timezone=True), nullable=False),
        sa.Column("window_end", sa.DateTime(timezone=True), nullable=False),
        sa.Column("requests", sa.Integer(), nullable=False),
        sa.Column("errors", sa.Integer(), nullable=False),
        sa.Column("fallbacks", sa.Integer(), nullable=False),
        sa.Column("shed", sa.Integer(), nullable=False),
        sa.Column("latency_sum_s", sa.Float(), nullable=False),
        sa.Column("latency_histogram", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_serving_windows"),
    )
    op.create_index("ix_serving_windows_model_end", "serving_windows", ["model", "window_end"])
    op.create_table(
        "serving_shadow_windows",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("gateway", sa.String(100), nullable=False),
        sa.Column("model", sa.String(200), nullable=False),
        sa.Column("primary_version", sa.String(100), nullable=False),
        sa.Column("shadow_version", sa.String(100), nullable=False),
        sa.Column("comparator", sa.String(50), nullable=False),
        sa.Column("window_start", sa.DateTime(timezone=True), nullable=False),
        sa.Column("window_end", sa.DateTime(timezone=True), nullable=False),
        sa.Column("compared", sa.Integer(), nullable=False),
        sa.Column("agreed", sa.Integer(), nullable=False),
        sa.Column("score_sum", sa.Float(), nullable=False),
        sa.Column("shadow_errors", sa.Integer(), nullable=False),
        sa.Column("dropped", sa.Integer(), nullable=False),
        sa.Column("shadow_latency_sum_s", sa.Float(), nullable=False),
        sa.Column("shadow_latency_histogram", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_serving_shadow_windows"),
    )
    op.create_index("ix_serving_shadow_windows_model_end", "serving_shadow_windows", ["model", "window_end"])


def downgrade() -> None:
    op.drop_index("ix_serving_shadow_windows_model_end", table_name="serving_shadow_windows")
    op.drop_table("serving_shadow_windows")
    op.drop_index("ix_serving_windows_model_end", table_name="serving_windows")
    op.drop_table("serving_windows")
    op.drop_table("routing_deployments")
    op.drop_table("routing_state")
