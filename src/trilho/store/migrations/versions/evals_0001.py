"""evals tables: judge cache, runs and items, calibrations, gate records, online windows, annotations."""

import sqlalchemy as sa
from alembic import op

revision = "evals_0001"
down_revision = "0000_base"
branch_labels = ("evals",)
depends_on = None


def upgrade() -> None:
    op.create_table(
        "evals_judge_cache",
        sa.Column("key", sa.String(64), nullable=False),
        sa.Column("judge_model", sa.String(200), nullable=False),
        sa.Column("template_hash", sa.String(64), nullable=False),
        sa.Column("rubric_version", sa.String(64), nullable=False),
        sa.Column("verdict_json", sa.Text(), nullable=False),
        sa.Column("prompt_tokens", sa.Integer(), nullable=False),
        sa.Column("completion_tokens", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("key", name="pk_evals_judge_cache"),
    )
    op.create_table(
        "evals_runs",
        sa.Column("run_id", sa.String(64), nullable=False),
        sa.Column("suite", sa.String(200), nullable=False),
        sa.Column("model", sa.String(200), nullable=True),
        sa.Column("version", sa.String(200), nullable=True),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("summary_json", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("run_id", name="pk_evals_runs"),
    )
    op.create_table(
        "evals_run_items",
        sa.Column("run_id", sa.String(64), nullable=False),
        sa.Column("item_id", sa.String(200), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("scores_json", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(
            ["run_id"], ["evals_runs.run_id"], ondelete="CASCADE", name="fk_evals_run_items_run_id_evals_runs"
        ),
        sa.PrimaryKeyConstraint("run_id", "item_id", name="pk_evals_run_items"),
    )
    op.create_table(
        "evals_calibrations",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("judge", sa.String(200), nullable=False),
        sa.Column("source", sa.String(500), nullable=False),
        sa.Column("n", sa.Integer(), nullable=False),
        sa.Column("kappa", sa.Float(), nullable=False),
        sa.Column("kappa_low", sa.Float(), nullable=False),
        sa.Column("kappa_high", sa.Float(), nullable=False),
        sa.Column("report_json", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_evals_calibrations"),
    )
    op.create_index("ix_evals_calibrations_judge", "evals_calibrations", ["judge"])
    op.create_table(
        "evals_gates",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("model", sa.String(200), nullable=False),
        sa.Column("version", sa.String(200), nullable=False),
        sa.Column("run_id", sa.String(64), nullable=False),
        sa.Column("decision", sa.String(20), nullable=False),
        sa.Column("evidence_json", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_evals_gates"),
    )
    op.create_index("ix_evals_gates_model_version", "evals_gates", ["model", "version"])
    op.create_table(
        "evals_online_windows",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("model", sa.String(200), nullable=False),
        sa.Column("version", sa.String(200), nullable=False),
        sa.Column("window_end", sa.DateTime(timezone=True), nullable=False),
        sa.Column("seen", sa.Integer(), nullable=False),
        sa.Column("checked", sa.Integer(), nullable=False),
        sa.Column("violations_json", sa.Text(), nullable=False),
        sa.Column("sampled", sa.Integer(), nullable=False),
        sa.Column("drops", sa.Integer(), nullable=False),
        sa.Column("judged", sa.Integer(), nullable=False),
        sa.Column("sum_w", sa.Float(), nullable=False),
        sa.Column("sum_wy", sa.Float(), nullable=False),
        sa.Column("sum_w2", sa.Float(), nullable=False),
        sa.Column("sum_w2y", sa.Float(), nullable=False),
        sa.Column("sum_w2y2", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_evals_online_windows"),
    )
    op.create_index("ix_evals_online_windows_model_version", "evals_online_windows", ["model", "version"])
    op.create_table(
        "evals_annotation_items",
        sa.Column("item_id", sa.String(64), nullable=False),
        sa.Column("queue", sa.String(100), nullable=False),
        sa.Column("payload_json", sa.Text(), nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("final_label", sa.String(100), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("item_id", name="pk_evals_annotation_items"),
    )
    op.create_index("ix_evals_annotation_items_queue_status", "evals_annotation_items", ["queue", "status"])
    op.create_table(
        "evals_annotation_labels",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("item_id", sa.String(64), nullable=False),
        sa.Column("annotator", sa.String(100), nullable=False),
        sa.Column("label", sa.String(100), nullable=False),
        sa.Column("stage", sa.String(20), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["item_id"],
            ["evals_annotation_items.item_id"],
            ondelete="CASCADE",
            name="fk_evals_annotation_labels_item_id_evals_annotation_items",
        ),
        sa.PrimaryKeyConstraint("id", name="pk_evals_annotation_labels"),
    )
    op.create_index("ix_evals_annotation_labels_item", "evals_annotation_labels", ["item_id"])


def downgrade() -> None:
    for name in (
        "evals_annotation_labels",
        "evals_annotation_items",
        "evals_gates",
        "evals_online_windows",
        "evals_calibrations",
        "evals_run_items",
        "evals_runs",
        "evals_judge_cache",
    ):
        op.drop_table(name)
