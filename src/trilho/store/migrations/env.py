"""Alembic environment: runs on the connection ``Store.migrate`` hands over (no ini file needed)."""

from alembic import context

from trilho.store.tables import metadata

config = context.config
connection = config.attributes.get("connection")
if connection is None:  # pragma: no cover - only via Store.migrate
    raise RuntimeError("trilho migrations run through trilho.store.Store.migrate()")

context.configure(
    connection=connection,
    target_metadata=metadata,
    render_as_batch=connection.dialect.name == "sqlite",
)
with context.begin_transaction():
    context.run_migrations()
