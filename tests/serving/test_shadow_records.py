"""A record the shadow version fails on costs only its own pair, over real sockets: stable (v1) answers every
record, the candidate (v4, raises on ``x1 == 666``) is mirrored in shadow; one poisoned record among N in a
shadow chunk leaves N-1 compared pairs and one candidate error in the windows the controller reads (the old
shadow step failed the whole chunk: N errors, 0 pairs). Both isolation modes: the child process (default)
and the shadow thread."""

from __future__ import annotations

import time
from datetime import UTC, datetime

import httpx
import pytest

from trilho.rollout.windows import read_step
from trilho.store import routing as rt
from trilho.store.routing import Deployment, Route


def _totals(store):
    rows = rt.read_shadow_windows(store, "scorer")
    return tuple(sum(r[k] for r in rows) for k in ("compared", "agreed", "shadow_errors"))


@pytest.mark.parametrize("isolation", ["process", "thread"])
def test_one_poisoned_record_among_n_leaves_n_minus_1_compared_pairs(registered, start_gateway, isolation):
    store, root = registered
    since = datetime.now(UTC)
    rt.set_deployment(
        store, Deployment("scorer", routes=(Route("1"), Route("4", "shadow", 0.0)), shadow_fraction=1.0)
    )
    gw = start_gateway(store, root, shadow_isolation=isolation)
    n, poisoned = 12, 5
    records = [{"x1": 666.0 if i == poisoned else float(i), "x2": 1.0} for i in range(n)]
    r = httpx.post(f"{gw.url}/v1/models/scorer:predict", json={"instances": records}, timeout=30)
    assert r.status_code == 200 and len(r.json()["predictions"]) == n  # stable answers all of them
    until = time.monotonic() + 90  # the shadow runs at background priority: a busy machine delays it
    while time.monotonic() < until and sum(_totals(store)[::2]) < n:
        time.sleep(0.05)
    assert _totals(store) == (n - 1, n - 1, 1)
    step = read_step(store, "scorer", "1", "4", since=since, shadow=True, comparator="exact")
    assert (step.cand.requests, step.cand.errors, step.cand.shadow_pairs) == (n, 1, n - 1)
