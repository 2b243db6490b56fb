"""Routing area: every deployment a model had, per routing generation (the weights units were routed by)."""

import sqlalchemy as sa
from alembic import op

revision = "routing_0002_history"
down_revision = "routing_0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "routing_history",
        sa.Column("model", sa.String(200), nullable=False),
        sa.Column("generation", sa.BigInteger(), nullable=False),
        sa.Column("spec", sa.JSON(), nullable=False),
        sa.Column("kill", sa.String(20), server_default="off", nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("model", "generation", name="pk_routing_history"),
    )


def downgrade() -> None:
    op.drop_table("routing_history")
