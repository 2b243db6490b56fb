"""Evals area: the population a judge calibration was measured on (model, version, suite, window columns on
``evals_calibrations``) and its labelled items (``evals_calibration_items``), so a gate decision that used the
calibration can be reproduced and audited later."""

import sqlalchemy as sa
from alembic import op

revision = "evals_0002_population"
down_revision = "evals_0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("evals_calibrations") as batch:
        batch.add_column(sa.Column("population_model", sa.String(200), nullable=True))
        batch.add_column(sa.Column("population_version", sa.String(200), nullable=True))
        batch.add_column(sa.Column("population_suite", sa.String(200), nullable=True))
        batch.add_column(sa.Column("window_start", sa.String(40), nullable=True))
        batch.add_column(sa.Column("window_end", sa.String(40), nullable=True))
    op.create_table(
        "evals_calibration_items",
        sa.Column("calibration_id", sa.Integer(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("item_id", sa.String(200), nullable=True),
        sa.Column("input", sa.Text(), nullable=True),
        sa.Column("output", sa.Text(), nullable=False),
        sa.Column("human", sa.String(100), nullable=False),
        sa.Column("judge", sa.String(100), nullable=False),
        sa.Column("agree", sa.Boolean(), nullable=False),
        sa.ForeignKeyConstraint(
            ["calibration_id"],
            ["evals_calibrations.id"],
            name="fk_evals_calibration_items_calibration_id_evals_calibrations",
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("calibration_id", "position", name="pk_evals_calibration_items"),
    )


def downgrade() -> None:
    op.drop_table("evals_calibration_items")
    with op.batch_alter_table("evals_calibrations") as batch:
        for col in ("window_end", "window_start", "population_suite", "population_version"):
            batch.drop_column(col)
        batch.drop_column("population_model")
