"""Tamper evidence of the audit log: a keyed chain (MAC per entry, key outside the store) plus signed
checkpoints catch what the public hash chain alone could not — an attacker who writes the database but holds
neither the key nor the checkpoint file."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import delete, insert, select

from trilho.clock import ManualClock
from trilho.rollout import audit
from trilho.rollout.auth import create_token
from trilho.rollout.gates import skip_gates
from trilho.rollout.plan import DEFAULT_PLAN_YAML
from trilho.rollout.service import RolloutService
from trilho.store import Store
from trilho.store.routing import Deployment, Route, set_deployment
from trilho.store.tables.rollout import rollout_audit

KEY = b"k" * 32


def _store(url: str, key: bytes | None = KEY) -> Store:
    s = Store(url, audit_key=key)
    s.migrate()
    return s


@pytest.fixture
def keyed(tmp_path):
    """A store with an audit key and a few entries: a rollout started and paused, then a token created."""
    store = _store(f"sqlite:///{tmp_path / 'trilho.db'}")
    set_deployment(store, Deployment("iris", routes=(Route("1"),)))
    svc = RolloutService(store, clock=ManualClock(), gates=skip_gates("test", "unit test"))
    svc.start("iris", "2", DEFAULT_PLAN_YAML, actor="alice")
    svc.pause("iris", actor="alice")
    create_token(store, "ci", "viewer", actor="user:admin")  # the last entry belongs to no rollout
    yield store, svc
    store.dispose()


def _rows(store) -> list[dict]:
    with store.connect() as conn:
        return [dict(r) for r in conn.execute(select(rollout_audit).order_by(rollout_audit.c.seq)).mappings()]


def _rewrite(store, rows: list[dict]) -> None:
    """What a writer of the database can do: renumber and rehash with the public row_hash (keeping MACs)."""
    prev = audit.GENESIS
    out = []
    for seq, row in enumerate(rows, start=1):
        row = {**row, "seq": seq, "prev_hash": prev}
        row["hash"] = audit.row_hash(prev, row)
        prev = row["hash"]
        out.append(row)
    with store.transaction() as conn:
        conn.execute(delete(rollout_audit))
        conn.execute(insert(rollout_audit), out)


def _problems(svc, checkpoints=()) -> list[str]:
    return [p["problem"] for p in svc.verify_audit(checkpoints).problems]


def test_untouched_log_verifies_with_its_checkpoint(keyed):
    store, svc = keyed
    cp = svc.audit_checkpoint()
    report = svc.verify_audit([cp])
    assert report.ok and report.keyed == report.entries == cp["seq"] == 5 and report.checkpoints == 1


def test_delete_last_is_caught_by_the_checkpoint(keyed):
    store, svc = keyed
    cp = svc.audit_checkpoint()
    with store.transaction() as conn:
        conn.execute(delete(rollout_audit).where(rollout_audit.c.seq == cp["seq"]))
    assert _problems(svc) == []  # a truncated tail is a valid shorter chain: only a checkpoint can tell
    assert any("tail truncated" in p for p in _problems(svc, [cp]))


def test_delete_middle_renumbered_and_rehashed_is_caught_by_the_mac(keyed):
    store, svc = keyed
    rows = _rows(store)
    _rewrite(store, rows[:1] + rows[2:])
    assert any("MAC does not match" in p for p in _problems(svc))


def test_edit_and_rehash_with_the_public_row_hash_is_caught(keyed):
    store, svc = keyed
    cp = svc.audit_checkpoint()
    rows = _rows(store)
    rows[0]["actor"] = "user:mallory"
    _rewrite(store, rows)
    assert any("MAC does not match" in p for p in _problems(svc))
    # stripping every MAC makes the log look legacy; the checkpoint still pins it
    _rewrite(store, [{**r, "mac": None} for r in rows])
    problems = _problems(svc, [cp])
    assert any("differs from the checkpoint" in p for p in problems)


def test_reorder_is_caught(keyed):
    store, svc = keyed
    rows = _rows(store)
    rows[2], rows[3] = rows[3], rows[2]
    _rewrite(store, rows)
    assert any("MAC does not match" in p for p in _problems(svc))


def test_a_forged_or_foreign_checkpoint_is_refused(keyed, tmp_path):
    store, svc = keyed
    cp = svc.audit_checkpoint()
    assert any("signature" in p for p in _problems(svc, [{**cp, "seq": cp["seq"] - 1}]))
    other = RolloutService(_store(f"sqlite:///{tmp_path / 'other.db'}", key=b"x" * 32))
    assert any("signature" in p for p in _problems(other, [cp]))


def test_legacy_entries_verify_as_before_and_keyed_ones_follow(tmp_path):
    url = f"sqlite:///{tmp_path / 'trilho.db'}"
    legacy = _store(url, key=None)  # entries written before the MAC existed
    create_token(legacy, "a", "viewer", actor="user:admin")
    create_token(legacy, "b", "viewer", actor="user:admin")
    keyed = _store(url)
    create_token(keyed, "c", "viewer", actor="user:admin")
    svc = RolloutService(keyed)
    cp = svc.audit_checkpoint()
    report = svc.verify_audit([cp])
    assert report.ok and (report.legacy, report.keyed) == (2, 1)
    create_token(legacy, "d", "viewer", actor="user:admin")  # written without the key after keyed ones
    assert any("no MAC" in p for p in _problems(svc))


def test_cli_checkpoint_then_verify_catches_a_deleted_last_row(cli, home, tmp_path):
    from trilho.config import resolve_settings
    from trilho.store import open_store

    assert cli("rollout", "token", "create", "a", "--role", "viewer").exit_code == 0
    assert cli("rollout", "token", "create", "b", "--role", "viewer").exit_code == 0
    out = tmp_path / "elsewhere" / "checkpoints.jsonl"
    r = cli("audit", "checkpoint", "--out", str(out), "--json")
    assert r.exit_code == 0 and json.loads(r.stdout)["seq"] == 2
    ok = cli("audit", "verify", "--checkpoint", str(out), "--json")
    assert ok.exit_code == 0 and json.loads(ok.stdout)["keyed"] == 2
    store = open_store(resolve_settings())
    with store.transaction() as conn:
        conn.execute(delete(rollout_audit).where(rollout_audit.c.seq == 2))
    store.dispose()
    assert cli("audit", "verify", "--json").exit_code == 0  # the chain alone cannot see a cut tail
    r = cli("audit", "verify", "--checkpoint", str(out), "--json")
    assert r.exit_code == 1 and "tail truncated" in r.stdout


def test_the_audit_key_comes_from_outside_the_store(tmp_path, monkeypatch):
    from trilho.errors import ConfigError
    from trilho.registry.signing import audit_key, signing_key

    for name in (
        "TRILHO_AUDIT_KEY",
        "TRILHO_AUDIT_KEY_FILE",
        "TRILHO_SIGNING_KEY",
        "TRILHO_SIGNING_KEY_FILE",
    ):
        monkeypatch.delenv(name, raising=False)
    assert audit_key(tmp_path) == signing_key(tmp_path)  # default: the home's signing key
    (tmp_path / "audit.key").write_text("from-a-file\n")
    monkeypatch.setenv("TRILHO_AUDIT_KEY_FILE", str(tmp_path / "audit.key"))
    assert audit_key(tmp_path).secret == b"from-a-file"
    monkeypatch.setenv("TRILHO_AUDIT_KEY", "from-the-env")
    assert audit_key(tmp_path).secret == b"from-the-env"
    monkeypatch.delenv("TRILHO_AUDIT_KEY")
    monkeypatch.setenv("TRILHO_AUDIT_KEY_FILE", str(tmp_path / "missing.key"))
    with pytest.raises(ConfigError, match="TRILHO_AUDIT_KEY_FILE"):
        audit_key(tmp_path)
