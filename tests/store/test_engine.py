"""The store opens, migrates idempotently, rolls back failed writes, and says clearly when it is down."""

import pytest
from sqlalchemy import Column, Integer, MetaData, String, Table, insert, select

from trilho.config import resolve_settings
from trilho.errors import StoreError
from trilho.store import Store, open_store


def test_migrate_is_idempotent(store):
    store.migrate()
    store.migrate()
    store.ping()


def test_failed_transaction_writes_nothing(store):
    md = MetaData()
    t = Table("scratch_rows", md, Column("id", Integer, primary_key=True), Column("v", String(10)))
    md.create_all(store.engine)
    with pytest.raises(RuntimeError), store.transaction() as conn:
        conn.execute(insert(t).values(id=1, v="a"))
        raise RuntimeError("crash mid-write")
    with store.connect() as conn:
        assert conn.execute(select(t)).fetchall() == []


def test_unreachable_postgres_is_one_clear_error():
    s = Store("postgresql+psycopg://nobody@127.0.0.1:1/none")
    with pytest.raises(StoreError) as info:
        s.ping()
    assert "unreachable" in str(info.value)
    assert "TRILHO_DATABASE_URL" in str(info.value)


def test_open_store_embedded_default_uses_sqlite_wal(tmp_path):
    store = open_store(resolve_settings(home=tmp_path / "h"))
    assert store.dialect == "sqlite"
    with store.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
    assert (tmp_path / "h" / "trilho.db").exists()
