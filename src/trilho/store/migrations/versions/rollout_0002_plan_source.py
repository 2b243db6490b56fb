"""Rollout area: where a rollout's plan came from (the file path, the saved plan's name, or inline)."""

import sqlalchemy as sa
from alembic import op

revision = "rollout_0002_plan_source"
down_revision = "rollout_0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("rollouts") as batch:
        batch.add_column(sa.Column("plan_source", sa.Text(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("rollouts") as batch:
        batch.drop_column("plan_source")
