"""Rollout area: rollouts, the hash-chained audit log, API tokens, kill switches and the controller lease."""

import sqlalchemy as sa
from alembic import op

revision = "rollout_0001"
down_revision = "0000_base"
branch_labels = ("rollout",)
depends_on = None


def upgrade() -> None:
    op.create_table(
        "rollouts",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("model", sa.String(200), nullable=False),
        sa.Column("candidate", sa.String(100), nullable=False),
        sa.Column("baseline", sa.String(100), nullable=False),
        sa.Column("plan", sa.Text(), nullable=False),
        sa.Column("state", sa.JSON(), nullable=False),
        sa.Column("phase", sa.String(20), nullable=False),
        sa.Column("missing_intervals", sa.Integer(), server_default="0", nullable=False),
        sa.Column("rollback_generation", sa.Integer(), nullable=True),
        sa.Column("rollback_decided_at", sa.Float(), nullable=True),
        sa.Column("rollback_seconds", sa.Float(), nullable=True),
        sa.Column("created_at", sa.String(40), nullable=False),
        sa.Column("updated_at", sa.String(40), nullable=False),
        sa.Column("created_by", sa.String(200), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_rollouts"),
    )
    op.create_index("ix_rollouts_model_phase", "rollouts", ["model", "phase"])
    op.create_table(
        "rollout_audit",
        sa.Column("seq", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("at", sa.String(40), nullable=False),
        sa.Column("actor", sa.String(200), nullable=False),
        sa.Column("action", sa.String(50), nullable=False),
        sa.Column("model", sa.String(200), nullable=True),
        sa.Column("rollout_id", sa.Integer(), nullable=True),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("event", sa.JSON(), nullable=True),
        sa.Column("state", sa.JSON(), nullable=True),
        sa.Column("evidence", sa.JSON(), nullable=False),
        sa.Column("prev_hash", sa.String(64), nullable=False),
        sa.Column("hash", sa.String(64), nullable=False),
        sa.PrimaryKeyConstraint("seq", name="pk_rollout_audit"),
    )
    op.create_index("ix_rollout_audit_rollout", "rollout_audit", ["rollout_id"])
    op.create_table(
        "rollout_tokens",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("role", sa.String(20), nullable=False),
        sa.Column("token_hash", sa.String(64), nullable=False),
        sa.Column("created_at", sa.String(40), nullable=False),
        sa.Column("created_by", sa.String(200), nullable=False),
        sa.Column("revoked", sa.Boolean(), server_default="0", nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_rollout_tokens"),
        sa.UniqueConstraint("name", name="uq_rollout_tokens_name"),
        sa.UniqueConstraint("token_hash", name="uq_rollout_tokens_token_hash"),
    )
    op.create_table(
        "rollout_kills",
        sa.Column("model", sa.String(200), nullable=False),
        sa.Column("mode", sa.String(20), nullable=False),
        sa.Column("at", sa.String(40), nullable=False),
        sa.Column("actor", sa.String(200), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("model", name="pk_rollout_kills"),
    )
    op.create_table(
        "rollout_plans",
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("plan", sa.Text(), nullable=False),
        sa.Column("updated_at", sa.String(40), nullable=False),
        sa.Column("updated_by", sa.String(200), nullable=False),
        sa.PrimaryKeyConstraint("name", name="pk_rollout_plans"),
    )
    op.create_table(
        "rollout_leases",
        sa.Column("name", sa.String(50), nullable=False),
        sa.Column("holder", sa.String(200), nullable=False),
        sa.Column("expires_at", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("name", name="pk_rollout_leases"),
    )


def downgrade() -> None:
    for name in (
        "rollout_leases",
        "rollout_plans",
        "rollout_kills",
        "rollout_tokens",
        "rollout_audit",
        "rollouts",
    ):
        op.drop_table(name)
