"""Rollout area: a keyed MAC on each audit entry (NULL on entries written before: they verify as before)."""

import sqlalchemy as sa
from alembic import op

revision = "rollout_0002_audit_mac"
down_revision = "rollout_0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("rollout_audit") as batch:
        batch.add_column(sa.Column("mac", sa.String(64), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("rollout_audit") as batch:
        batch.drop_column("mac")
