"""The evals migration creates exactly the tables declared in ``trilho.store.tables.evals``."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import MetaData

from trilho.store.tables import evals as t


def test_migration_matches_tables(store):
    ours = MetaData()
    for table in (
        t.judge_cache,
        t.runs,
        t.run_items,
        t.calibrations,
        t.calibration_items,
        t.gates,
        t.online_windows,
        t.annotation_items,
        t.annotation_labels,
    ):
        table.to_metadata(ours)
    with store.connect() as conn:
        ctx = MigrationContext.configure(conn, opts={"compare_type": True})
        diff = [d for d in compare_metadata(ctx, ours) if _ours(d)]
    assert diff == []


def _ours(d) -> bool:
    item = d[0] if isinstance(d, list) else d
    obj = item[1] if len(item) > 1 else None
    name = getattr(obj, "name", "") or ""
    table = getattr(getattr(obj, "table", None), "name", "") or (
        item[2] if len(item) > 2 and isinstance(item[2], str) else ""
    )
    if item[0] in ("remove_table", "remove_index", "remove_column"):
        return str(name).startswith("evals_") or str(table).startswith("evals_")
    return True
