"""Two gateway processes and a controller on one PostgreSQL: a bad canary is rolled back and both gateways
apply the new routing table within 1 s of the decision (real processes, sockets and registry)."""

from __future__ import annotations

import time

import pytest

from trilho.rollout.controller import Controller
from trilho.rollout.machine import Phase
from trilho.rollout.scenario import (
    OpenLoopLoad,
    deploy,
    pg_url_with_schema,
    register_models,
    spawn_gateway,
    wait_ready,
)
from trilho.store import Store

pytestmark = [pytest.mark.postgres, pytest.mark.slow]

PLAN = {
    "interval": 1,
    "steps": [{"canary": {"weight": 50, "min_requests": 50, "min_duration": "10m"}}],
    "analysis": {"error_rate": {"min_requests": 20}, "latency": None},
    "missing_metrics": {"intervals": 60},
}


def test_bad_canary_rolled_back_and_both_gateways_apply_within_1s(pg_schema, tmp_path):
    url, schema = pg_schema
    store = Store(url, schema=schema)
    store.migrate()
    home = tmp_path / "home"
    versions = register_models(store, home / "artifacts", tmp_path / "models", kinds=("stable", "errors10"))
    deploy(store, "scorer", versions["stable"])
    gateways = [
        spawn_gateway(pg_url_with_schema(url, schema), home, window=0.5, log=tmp_path / f"gw{i}.log")
        for i in range(2)
    ]
    load = None
    ctl = Controller(store, interval=1, gateways=[g.url for g in gateways], propagation_timeout=5)
    try:
        wait_ready(gateways)
        ro = ctl.service.start("scorer", versions["errors10"], PLAN, actor="test")  # real registry gates
        assert ro.state.phase is Phase.CANARY
        load = OpenLoopLoad([g.url for g in gateways], "scorer", rate=40).start()
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and ctl.service.get(ro.id).state.phase is Phase.CANARY:
            ctl.tick()
            time.sleep(0.25)
        decided = time.monotonic()
        time.sleep(1.5)
        stats = load.stop()
        load = None
        after = ctl.service.get(ro.id)
        assert after.state.phase is Phase.ROLLED_BACK, ctl.timeline
        assert after.rollback_seconds is not None and after.rollback_seconds <= 1.0
        from trilho.rollout.controller import gateway_generations

        gens = gateway_generations([g.url for g in gateways], ctl.http)
        assert all(g >= after.rollback_generation for g in gens)
        # No user got a canary answer more than 1 s after the decision (plus one request's time).
        assert stats.last_seen.get("variant:canary", 0) <= decided + 1.2
        assert stats.by_variant["canary"] > 0
        gates = [e for e in ctl.service.history("scorer") if e["action"] == "gates_passed"][0]
        assert {g["name"]: g["status"] for g in gates["evidence"]["gates"]}["golden"] == "pass"
    finally:
        if load is not None:
            load.stop()
        ctl.close()
        for g in gateways:
            g.stop()
        store.dispose()
