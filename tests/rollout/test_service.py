"""The rollout service on SQLite and PostgreSQL: start, transitions with routing, kill switch, audit chain."""

from __future__ import annotations

import pytest
from sqlalchemy import update

from trilho.clock import ManualClock
from trilho.errors import GateFailed, RolloutError
from trilho.rollout.gates import Gate, GateReport, skip_gates
from trilho.rollout.machine import Phase
from trilho.rollout.plan import DEFAULT_PLAN_YAML
from trilho.rollout.service import RolloutService
from trilho.store.routing import Deployment, Route, get_deployment, set_deployment, set_kill
from trilho.store.tables.rollout import rollout_audit


@pytest.fixture
def svc(store):
    set_deployment(store, Deployment("iris", routes=(Route("1"),)))
    return RolloutService(store, clock=ManualClock(), gates=skip_gates("test", "unit test"))


def routes(store, model="iris"):
    dep = get_deployment(store, model)
    return {r.version: (r.role, round(r.weight, 4)) for r in dep.routes}, dep.shadow_fraction, dep.kill


def test_start_enters_shadow_and_writes_routing(svc, store):
    ro = svc.start("iris", "2", DEFAULT_PLAN_YAML, actor="alice")
    assert ro.state.phase is Phase.SHADOW and ro.baseline == "1"
    assert routes(store) == ({"1": ("stable", 1.0), "2": ("shadow", 0.0)}, 0.2, "off")
    res = svc.transition(ro.id, "advance", actor="controller", reason="ok", from_step=0)
    assert res.changed and res.generation
    assert routes(store)[0] == {"1": ("stable", 0.99), "2": ("canary", 0.01)}
    # The same decision applied twice (a restarted controller) is a no-op: no new audit entry, same routing.
    again = svc.transition(ro.id, "advance", actor="controller", reason="ok", from_step=0)
    assert not again.changed and again.rollout.state.step == 1
    svc.promote("iris", actor="alice")
    assert routes(store)[0] == {"2": ("stable", 1.0)}
    assert svc.verify_audit().ok
    actions = [e["action"] for e in svc.history("iris")]
    assert actions == ["create", "gates_started", "gates_passed", "advance", "promote"]


def test_failing_gates_never_route_and_are_audited(store):
    set_deployment(store, Deployment("iris", routes=(Route("1"),)))
    bad = GateReport((Gate("golden", "fail", "accuracy dropped 4 points", {"accuracy": 0.91}),))
    svc = RolloutService(store, clock=ManualClock(), gates=lambda m, c, b: bad)
    with pytest.raises(GateFailed) as info:
        svc.start("iris", "2", DEFAULT_PLAN_YAML, actor="alice")
    assert info.value.exit_code == 1
    assert routes(store)[0] == {"1": ("stable", 1.0)}
    last = svc.history("iris")[-1]
    assert last["action"] == "gates_failed" and last["evidence"]["gates"][0]["evidence"] == {"accuracy": 0.91}
    assert svc.latest("iris").state.phase is Phase.ABORTED


def test_bad_input_changes_nothing(svc, store):
    before = routes(store)
    with pytest.raises(RolloutError):
        svc.start("iris", "1", DEFAULT_PLAN_YAML, actor="a")  # the stable version itself
    with pytest.raises(RolloutError):
        svc.start("nope", "2", DEFAULT_PLAN_YAML, actor="a")
    with pytest.raises(RolloutError):
        svc.start("iris", "2", {"steps": []}, actor="a")
    assert routes(store) == before and svc.history() == [] and svc.list() == []
    svc.start("iris", "2", DEFAULT_PLAN_YAML, actor="a")
    with pytest.raises(RolloutError, match="already has rollout"):
        svc.start("iris", "3", DEFAULT_PLAN_YAML, actor="a")
    assert svc.resume("iris", actor="a").state.phase is Phase.SHADOW  # resuming a running rollout: no-op
    svc.rollback("iris", actor="a")
    with pytest.raises(RolloutError, match="cannot pause"):
        svc.pause("iris", actor="a")


def test_rollback_and_rollback_to(svc, store):
    svc.start("iris", "2", DEFAULT_PLAN_YAML, actor="a")
    svc.transition(svc.latest("iris").id, "advance", actor="c", reason="", from_step=0)
    out = svc.rollback("iris", actor="bob")
    assert out["changed"] and routes(store)[0] == {"1": ("stable", 1.0)}
    assert svc.latest("iris").state.phase is Phase.ROLLED_BACK
    svc.start("iris", "3", DEFAULT_PLAN_YAML, actor="a")
    svc.promote("iris", actor="a")
    assert routes(store)[0] == {"3": ("stable", 1.0)}
    with pytest.raises(RolloutError, match="not among"):
        svc.rollback("iris", actor="bob", to="9")
    svc.rollback("iris", actor="bob", to="1")
    assert routes(store)[0] == {"1": ("stable", 1.0)}
    assert svc.verify_audit().ok


def test_kill_switch_persists_and_is_reasserted(svc, store):
    svc.start("iris", "2", DEFAULT_PLAN_YAML, actor="a")
    svc.transition(svc.latest("iris").id, "advance", actor="c", reason="", from_step=0)
    out = svc.kill("iris", actor="oncall", reason="pager")
    assert out["rollout"]["phase"] == "killed"
    r, fraction, kill = routes(store)
    assert r == {"1": ("stable", 1.0)} and fraction == 0.0 and kill == "candidates"
    # Someone flips the routing table's switch off behind our back; the persisted kill wins.
    set_kill(store, "iris", "off")
    assert RolloutService(store, clock=ManualClock()).enforce_kills() == ["iris"]
    assert routes(store)[2] == "candidates"
    svc.kill("iris", actor="oncall", mode="all", reason="stable is bad too")
    assert routes(store)[2] == "all"
    svc.release_kill("iris", actor="oncall")
    assert routes(store)[2] == "off" and svc.kills() == {}


def test_one_kill_writes_one_audit_entry(svc, store):
    svc.start("iris", "2", DEFAULT_PLAN_YAML, actor="a")
    before = len(svc.history("iris"))
    out = svc.kill("iris", actor="oncall", reason="pager")
    after = svc.history("iris")[before:]
    assert [(e["action"], e["rollout_id"], e["reason"]) for e in after] == [
        ("kill", out["rollout"]["id"], "pager")
    ]
    assert after[0]["evidence"] == {"mode": "candidates", "routing_generation": out["generation"]}
    assert after[0]["state"]["phase"] == "killed" and after[0]["event"]["kind"] == "kill"
    assert get_deployment(store, "iris").generation == out["generation"]
    assert svc.verify_audit().ok
    # with no rollout running, a kill is still one entry (for the model)
    svc.release_kill("iris", actor="oncall")
    n = len(svc.history("iris"))
    svc.kill("iris", actor="oncall", mode="all", reason="stable bad")
    assert [(e["action"], e["rollout_id"]) for e in svc.history("iris")[n:]] == [("kill", None)]


def test_audit_verify_detects_tampering_and_replay_reproduces_state(svc, store):
    svc.start("iris", "2", DEFAULT_PLAN_YAML, actor="a")
    svc.transition(svc.latest("iris").id, "advance", actor="c", reason="fine", from_step=0)
    svc.pause("iris", actor="a")
    assert svc.verify_audit().ok
    with store.transaction() as conn:
        conn.execute(update(rollout_audit).where(rollout_audit.c.seq == 2).values(actor="mallory"))
    report = svc.verify_audit()
    assert not report.ok and report.problems[0]["seq"] == 2 and "edited" in report.problems[0]["problem"]


def test_audit_verify_detects_a_deleted_row(svc, store):
    from sqlalchemy import delete

    svc.start("iris", "2", DEFAULT_PLAN_YAML, actor="a")
    svc.pause("iris", actor="a")
    with store.transaction() as conn:
        conn.execute(delete(rollout_audit).where(rollout_audit.c.seq == 3))
    problems = [p["problem"] for p in svc.verify_audit().problems]
    assert any("gap" in p for p in problems) and any("prev_hash" in p for p in problems)
    assert any("replay" in p for p in problems)
