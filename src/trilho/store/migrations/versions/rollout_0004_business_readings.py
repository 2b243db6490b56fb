"""Rollout area: the business-metric readings of every controller tick (the dashboard's lift over time)."""

import sqlalchemy as sa
from alembic import op

revision = "rollout_0004_business_readings"
down_revision = "rollout_0003_merge"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "rollout_business_readings",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("rollout_id", sa.Integer(), nullable=False),
        sa.Column("step", sa.Integer(), nullable=False),
        sa.Column("at", sa.String(40), nullable=False),
        sa.Column("metric", sa.String(200), nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("relative", sa.Float(), nullable=True),
        sa.Column("lower", sa.Float(), nullable=False),
        sa.Column("upper", sa.Float(), nullable=False),
        sa.Column("n_base", sa.Integer(), nullable=False),
        sa.Column("n_cand", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_rollout_business_readings"),
    )
    op.create_index(
        "ix_rollout_business_readings_rollout_at", "rollout_business_readings", ["rollout_id", "at"]
    )


def downgrade() -> None:
    op.drop_index("ix_rollout_business_readings_rollout_at", table_name="rollout_business_readings")
    op.drop_table("rollout_business_readings")
