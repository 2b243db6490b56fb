"""Registry tables: models, model_versions, aliases, gate_records."""

import sqlalchemy as sa
from alembic import op

revision = "registry_0001"
down_revision = "0000_base"
branch_labels = ("registry",)
depends_on = None


def upgrade() -> None:
    op.create_table(
        "models",
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("name", name="pk_models"),
    )
    op.create_table(
        "model_versions",
        sa.Column("id", sa.Integer, autoincrement=True, nullable=False),
        sa.Column("model", sa.String(200), nullable=False),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("flavor", sa.String(32), nullable=False),
        sa.Column("artifact_sha256", sa.String(64), nullable=False),
        sa.Column("artifact_kind", sa.String(8), nullable=False),
        sa.Column("artifact_name", sa.String(500), nullable=False),
        sa.Column("entry", sa.String(500), nullable=True),
        sa.Column("contract_name", sa.String(200), nullable=False),
        sa.Column("contract_version", sa.String(64), nullable=False),
        sa.Column("contract_hash", sa.String(128), nullable=False),
        sa.Column("contract_text", sa.Text, nullable=False),
        sa.Column("examples", sa.JSON, nullable=False),
        sa.Column("params", sa.JSON, nullable=False),
        sa.Column("metrics", sa.JSON, nullable=False),
        sa.Column("lineage", sa.JSON, nullable=False),
        sa.Column("options", sa.JSON, nullable=False),
        sa.Column("breaking_reason", sa.Text, nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_model_versions"),
        sa.ForeignKeyConstraint(["model"], ["models.name"], name="fk_model_versions_model_models"),
        sa.UniqueConstraint("model", "version", name="uq_model_versions_model_version"),
    )
    op.create_table(
        "aliases",
        sa.Column("model", sa.String(200), nullable=False),
        sa.Column("alias", sa.String(64), nullable=False),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("model", "alias", name="pk_aliases"),
        sa.ForeignKeyConstraint(["model"], ["models.name"], name="fk_aliases_model_models"),
    )
    op.create_table(
        "gate_records",
        sa.Column("id", sa.Integer, autoincrement=True, nullable=False),
        sa.Column("model", sa.String(200), nullable=False),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("kind", sa.String(64), nullable=False),
        sa.Column("decision", sa.String(32), nullable=False),
        sa.Column("evidence", sa.JSON, nullable=False),
        sa.Column("signature", sa.String(128), nullable=True),
        sa.Column("key_id", sa.String(64), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_gate_records"),
        sa.ForeignKeyConstraint(["model"], ["models.name"], name="fk_gate_records_model_models"),
    )
    op.create_index("ix_gate_records_model", "gate_records", ["model", "version"])


def downgrade() -> None:
    op.drop_index("ix_gate_records_model", table_name="gate_records")
    op.drop_table("gate_records")
    op.drop_table("aliases")
    op.drop_table("model_versions")
    op.drop_table("models")
