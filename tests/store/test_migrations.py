"""The migration history: every area (branch label) has exactly one head, so ``alembic heads`` lists one
revision per area and ``<area>@head`` is unambiguous (the rollout area had two, plan_source and audit_mac,
until ``rollout_0003_merge``); a store upgraded along the old two heads moves to the merge as a no-op, on
SQLite and PostgreSQL."""

from __future__ import annotations

import pytest
from alembic.config import Config
from alembic.script import ScriptDirectory
from sqlalchemy import column, inspect, select, table

from trilho.store import Store
from trilho.store.engine import MIGRATIONS_DIR

AREAS = ("evals", "registry", "rollout", "routing")


def _script() -> ScriptDirectory:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    cfg.set_main_option("path_separator", "os")
    return ScriptDirectory.from_config(cfg)


def test_every_area_has_a_single_head():
    script = _script()
    heads = set(script.get_heads())
    labels = {}
    for area in AREAS:
        (head,) = script.get_revisions(f"{area}@head")  # raises MultipleHeads when an area has two
        labels[area] = head.revision
    assert heads == set(labels.values()), f"a head outside the areas {AREAS}: {heads - set(labels.values())}"
    assert labels["rollout"] == "rollout_0004_business_readings"
    # every revision has a labelled area (no head can hide without one)
    for rev in script.walk_revisions():
        if rev.revision != "0000_base":
            assert any(rev.revision in {r.revision for r in script.iterate_revisions(f"{a}@head", "base")}
                       for a in AREAS), rev.revision  # fmt: skip


def _versions(store: Store) -> set[str]:
    version = table("alembic_version", column("version_num"), schema=store.schema)
    with store.connect() as conn:
        return {r[0] for r in conn.execute(select(version.c.version_num))}


@pytest.mark.parametrize("backend", ["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def test_a_store_at_the_old_two_rollout_heads_upgrades_to_one(tmp_path, request, backend):
    if backend == "sqlite":
        store = Store(f"sqlite:///{tmp_path / 'old.db'}")
    else:
        url, schema = request.getfixturevalue("pg_schema")
        store = Store(url, schema=schema)
    try:
        for rev in ("rollout_0002_audit_mac", "rollout_0002_plan_source", "evals@head", "registry@head",
                    "routing@head"):  # fmt: skip
            store.migrate(rev)  # what the previous release left: both rollout heads applied
        assert {"rollout_0002_audit_mac", "rollout_0002_plan_source"} <= _versions(store)
        store.migrate()
        rollout_head = next(v for v in _versions(store) if v.startswith("rollout_"))
        assert _versions(store) == set(_script().get_heads())
        assert rollout_head in {
            r.revision for r in _script().iterate_revisions(rollout_head, "rollout_0003_merge")
        }
        columns = {c["name"] for c in inspect(store.engine).get_columns("rollouts", schema=store.schema)}
        audit = {c["name"] for c in inspect(store.engine).get_columns("rollout_audit", schema=store.schema)}
        assert "plan_source" in columns and "mac" in audit
        store.migrate()  # idempotent
        assert _versions(store) == set(_script().get_heads())
    finally:
        store.dispose()


def test_a_fresh_store_is_at_one_revision_per_area(store):
    assert _versions(store) == set(_script().get_heads())
    assert len(_versions(store)) == len(AREAS)
