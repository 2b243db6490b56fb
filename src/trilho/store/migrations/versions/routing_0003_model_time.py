"""Routing area: each serving window also holds the version's model time per record (its micro-batches' call
time over their records, as a histogram), the unit a shadow step compares with the shadow's calls. Nullable:
windows written before it have none, and a shadow step reads them as no observation."""

import sqlalchemy as sa
from alembic import op

revision = "routing_0003_model_time"
down_revision = "routing_0002_history"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("serving_windows") as batch:
        batch.add_column(sa.Column("model_latency_sum_s", sa.Float(), nullable=True))
        batch.add_column(sa.Column("model_latency_histogram", sa.JSON(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("serving_windows") as batch:
        batch.drop_column("model_latency_histogram")
        batch.drop_column("model_latency_sum_s")
