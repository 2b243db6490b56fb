"""Two controllers on one PostgreSQL: never both act; concurrent audit appends never fork the chain."""

from __future__ import annotations

import threading

import pytest

from trilho.clock import ManualClock
from trilho.rollout.controller import Controller
from trilho.rollout.gates import skip_gates
from trilho.rollout.machine import Phase
from trilho.rollout.plan import load_plan
from trilho.rollout.service import RolloutService
from trilho.store import Store
from trilho.store.routing import Deployment, Route, set_deployment

from .helpers import Traffic
from .test_controller import PLAN

pytestmark = pytest.mark.postgres


@pytest.fixture
def pg_stores(pg_schema):
    url, schema = pg_schema
    a, b = Store(url, schema=schema), Store(url, schema=schema)
    a.migrate()
    yield a, b
    a.dispose()
    b.dispose()


def test_two_controllers_never_both_act(pg_stores):
    a, b = pg_stores
    set_deployment(a, Deployment("iris", routes=(Route("1"),)))
    clock = ManualClock()
    c1 = Controller(a, clock=clock, gates=skip_gates("t", "t"), holder="c1", lease_ttl=12)
    c2 = Controller(b, clock=clock, gates=skip_gates("t", "t"), holder="c2", lease_ttl=12)
    c1.service.start("iris", "2", load_plan(PLAN), actor="alice")
    traffic = Traffic(a, clock)
    leaders_per_round = []
    for round_ in range(60):
        traffic()
        barrier = threading.Barrier(2)
        out: dict[str, bool] = {}

        def tick(name, ctl, barrier=barrier, out=out):
            barrier.wait()
            out[name] = ctl.tick().leader

        threads = [threading.Thread(target=tick, args=(n, c)) for n, c in (("c1", c1), ("c2", c2))]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        leaders_per_round.append(sum(out.values()))
        if round_ == 20:  # the leader stops (crash): after its lease expires the other takes over
            clock.advance(13)
            c1, dead = Controller(a, clock=clock, gates=skip_gates("t", "t"), holder="c3", lease_ttl=12), c1
            dead.http.close()
        clock.advance(5)
    assert all(n == 1 for n in leaders_per_round[:20]) and max(leaders_per_round) == 1
    ro = RolloutService(a, clock=clock).latest("iris")
    assert ro.state.phase is Phase.PROMOTED
    advances = [
        e["event"]["from_step"] for e in RolloutService(a).history("iris") if e["action"] == "advance"
    ]
    assert advances == [0, 1, 2, 3]
    assert RolloutService(a).verify_audit().ok


def test_concurrent_audit_appends_keep_one_chain(pg_stores):
    a, b = pg_stores
    errors = []

    def write(store, who):
        svc = RolloutService(store)
        for i in range(15):
            try:
                svc.record(actor=who, action="api", reason=f"call {i}")
            except Exception as exc:  # pragma: no cover - reported below
                errors.append(exc)

    threads = [threading.Thread(target=write, args=(s, n)) for s, n in ((a, "x"), (b, "y"))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    report = RolloutService(a).verify_audit()
    assert report.ok and report.entries == 30
