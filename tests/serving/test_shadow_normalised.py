"""A candidate whose artifact is byte-identical to stable agrees with it 100 % in shadow: both sides of every
comparison go through the same output contract (a float64 field compares as float64 whatever type the model
returned). Reproduces issue 17 item 1: an sklearn classifier (int labels) under a ``score: float64`` contract
was rolled back in shadow with 0 % agreement."""

from __future__ import annotations

import json
import time

import httpx
import numpy as np
import pytest
from tests.registry.conftest import EXAMPLES, write_contract

from trilho.registry import Registry
from trilho.rollout.controller import Controller
from trilho.rollout.machine import Phase
from trilho.rollout.scenario import OpenLoopLoad, spawn_gateway, wait_ready
from trilho.store import Store
from trilho.store import routing as rt
from trilho.store.routing import Deployment, Route


def _classifier(path):
    import skops.io as sio
    from sklearn.linear_model import LogisticRegression

    rng = np.random.default_rng(0)
    X = rng.normal(size=(200, 2))
    model = LogisticRegression().fit(X, (X[:, 0] + 0.5 * X[:, 1] > 0).astype(int))
    sio.dump(model, path)
    return path


def _agreement(store, comparator):
    rows = [r for r in rt.read_shadow_windows(store, "churn") if r["comparator"] == comparator]
    return (
        sum(r["compared"] for r in rows),
        sum(r["agreed"] for r in rows),
        sum(r["shadow_errors"] for r in rows),
    )


def test_an_identical_sklearn_classifier_agrees_with_stable_in_shadow(sqlite_store, tmp_path, start_gateway):
    root = tmp_path / "artifacts"
    reg = Registry(sqlite_store, root)
    contract = write_contract(
        tmp_path / "c.yaml", name="churn", outputs={"score": "float64"}, examples=EXAMPLES
    )
    art = _classifier(tmp_path / "model.skops")
    v1 = reg.register("churn", art, "sklearn", contract)
    v2 = reg.register("churn", art, "sklearn", contract)
    rt.set_deployment(
        sqlite_store,
        Deployment(
            "churn",
            routes=(Route(str(v1.version)), Route(str(v2.version), "shadow", 0.0)),
            shadow_fraction=1.0,
            comparators=("exact", "numeric", "label:score"),
        ),
    )
    gw = start_gateway(sqlite_store, root, shadow_isolation="thread")
    with httpx.Client(base_url=gw.url) as c:
        for i in range(30):
            r = c.post("/v1/models/churn:predict", json={"instances": [{"x1": i / 10 - 1.5, "x2": 0.3}]})
            assert r.status_code == 200 and isinstance(r.json()["predictions"][0]["score"], float)
    until = time.monotonic() + 60  # the shadow thread runs at background priority: a busy machine delays it
    while time.monotonic() < until and _agreement(sqlite_store, "exact")[0] < 30:
        time.sleep(0.05)
    for spec in ("exact", "numeric", "label:score"):
        assert _agreement(sqlite_store, spec) == (30, 30, 0), spec


PLAN = {
    "name": "shadow-canary-full",
    "interval": 1,
    "steps": [
        {"shadow": {"traffic": 1.0, "min_requests": 40, "min_duration": 2}},
        {"canary": {"weight": 50, "min_requests": 30, "min_duration": 2}},
    ],
    "analysis": {
        "error_rate": {"min_requests": 20},
        "latency": None,
        "shadow_agreement": {"threshold": 0.95, "min_pairs": 73},
    },
    "on_insufficient_data": {"action": "extend", "extend_by": 5, "max_extensions": 10},
    "missing_metrics": {"intervals": 20},
}


@pytest.mark.slow
def test_the_same_bytes_registered_twice_are_promoted_through_shadow_canary_full(tmp_path):
    """A gateway process (the `trilho serve` code path) under open-loop load, a controller, the plan shadow →
    canary → full: the candidate whose artifact is stable's own bytes is promoted."""
    home = tmp_path / "home"
    store = Store(f"sqlite:///{home / 'trilho.db'}")
    store.migrate()
    reg = Registry(store, home / "artifacts")
    contract = write_contract(
        tmp_path / "c.yaml", name="scorer", outputs={"score": "float64"}, examples=EXAMPLES
    )
    art = _classifier(tmp_path / "model.skops")
    stable, candidate = (reg.register("scorer", art, "sklearn", contract) for _ in range(2))
    reg.record_gate(candidate.ref, "golden", "pass", {"suite": "none", "note": "stable's own bytes"})
    rt.set_deployment(store, Deployment("scorer", routes=(Route(str(stable.version)),)), actor="test")
    gateway = spawn_gateway(f"sqlite:///{home / 'trilho.db'}", home, window=0.5, log=tmp_path / "gw.log")
    ctl = Controller(store, gateways=[gateway.url], propagation_timeout=5)
    load = None
    try:
        wait_ready([gateway])
        load = OpenLoopLoad([gateway.url], "scorer", rate=40.0, seed=3).start()
        ro = ctl.service.start("scorer", str(candidate.version), PLAN, actor="user:test")
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and ctl.service.get(ro.id).active:
            ctl.tick()
            time.sleep(0.25)
        stats = load.stop()
        load = None
        after = ctl.service.get(ro.id)
        history = ctl.service.history("scorer", rollout_id=ro.id)
        assert after.state.phase is Phase.PROMOTED, [h["reason"] for h in history]
        agreement = [h for h in history if "shadow_agreement" in json.dumps(h.get("evidence"))]
        assert agreement, history  # the shadow step was judged on agreement, not skipped
        assert rt.get_deployment(store, "scorer").stable.version == str(candidate.version)
        assert stats.user_errors == 0
    finally:
        if load is not None:
            load.stop()
        ctl.close()
        gateway.stop()
        store.dispose()
