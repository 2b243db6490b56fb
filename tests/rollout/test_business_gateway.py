"""End to end over a real gateway: the controller gates a canary on orders per exposed user read from the
gateway's own exposure log (Parquet parts it closes every half second) joined to the shop's events, and rolls
back a candidate whose users order far less — while its errors and latency look fine. The statistics are
calibrated elsewhere (test_business.py); this checks the plumbing with a large effect and real sockets."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

import httpx
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from tests.serving.conftest import register_versions

from trilho.registry import Registry
from trilho.rollout.controller import Controller
from trilho.rollout.gates import skip_gates
from trilho.rollout.machine import Phase
from trilho.rollout.plan import load_plan
from trilho.serving import GatewaySettings, RegistryProvider, run_in_thread
from trilho.store.routing import Deployment, Route, get_deployment, set_deployment

X = {"x1": 1.0, "x2": 2.0}
DONE = (Phase.ROLLED_BACK, Phase.PROMOTED, Phase.ABORTED)


def shop(client: httpx.Client, events, batch: int, rng, lift: dict[str, float], users: int = 40) -> None:
    """``users`` new shoppers: one request each (the gateway routes and logs them), then their orders — the
    week before (a covariate) and after the answer, ``Poisson(λ (1 + lift[version]))``."""
    served = []
    for i in range(users):
        unit = f"b{batch}-{i}"
        r = client.post("/v1/models/scorer:predict", json={"instances": [X]}, headers={"X-Trilho-Unit": unit})
        r.raise_for_status()
        served.append((unit, r.headers["x-trilho-model-version"]))
    now = datetime.now(UTC)
    lam = rng.gamma(4.0, 1.0, size=len(served))
    factor = np.array([1 + lift.get(v, 0.0) for _, v in served])
    units = [u for u, _ in served]
    table = pa.table(
        {
            "unit": units * 2,
            "ts": pa.array(
                [now - timedelta(days=7)] * len(units) + [now] * len(units), pa.timestamp("us", tz="UTC")
            ),
            "orders": np.concatenate([rng.poisson(lam), rng.poisson(lam * factor)]),
        }
    )
    tmp = events / f".batch-{batch:05d}.tmp"  # renamed into place: the controller never reads half a file
    pq.write_table(table, tmp)
    tmp.rename(events / f"batch-{batch:05d}.parquet")


@pytest.mark.slow  # ~30-60 s of real time: a gateway, the controller and a shop loop
def test_a_canary_that_costs_orders_is_rolled_back_from_the_gateways_own_exposure_log(sqlite_store, tmp_path):
    root = tmp_path / "artifacts"
    register_versions(Registry(sqlite_store, root), tmp_path)
    set_deployment(sqlite_store, Deployment("scorer", routes=(Route("1"),)))
    folder, events = tmp_path / "exposures", tmp_path / "events"
    events.mkdir()
    gs = GatewaySettings(
        port=0, poll_interval_s=0.1, window_interval_s=0.3, access_log_sample=0.0,
        exposures_dir=str(folder), exposures_rotate_s=0.5,
    )  # fmt: skip
    gw = run_in_thread(provider=RegistryProvider(sqlite_store, root), store=sqlite_store, settings=gs)
    plan = {
        "interval": 1,
        "steps": [{"canary": {"weight": 50, "min_requests": 20, "min_duration": "3s"}}],
        "on_insufficient_data": {"action": "extend", "extend_by": "3s", "max_extensions": 40},
        "missing_metrics": {"intervals": 30},
        "analysis": {
            "error_rate": None,
            "latency": None,
            "business": {
                "outcomes": str(events),
                "exposures": str(folder),
                "planned_units": 1000,
                "metrics": [{"metric": "orders", "covariate": "orders_pre", "min_units": 100}],
            },
        },
    }
    ctl = Controller(sqlite_store, gates=skip_gates("test", "business e2e"), holder="c1", gateways=[gw.url])
    ctl.service.start("scorer", "2", load_plan(plan), actor="alice")
    halt = ctl.start_in_thread(tick_every=0.5)
    rng = np.random.default_rng(11)
    try:
        with httpx.Client(base_url=gw.url, timeout=30) as client:
            deadline = time.monotonic() + 240  # a bound on a broken run, never a timed assertion
            batch = 0
            while time.monotonic() < deadline and ctl.service.latest("scorer").state.phase not in DONE:
                batch += 1
                shop(client, events, batch, rng, {"2": -0.4})
                time.sleep(0.1)
    finally:
        halt()
        gw.stop()
    ro = ctl.service.latest("scorer")
    history = ctl.service.history("scorer")
    assert ro.state.phase is Phase.ROLLED_BACK, [e["reason"] for e in history]
    entry = [e for e in history if e["action"] == "rollback"][-1]
    assert entry["reason"].startswith("business:orders: lift -"), entry["reason"]
    check = {c["name"]: c for c in entry["evidence"]["decision"]["checks"]}["business:orders"]
    assert (
        check["evidence"]["upper"] < 0
        and min(check["evidence"]["n_base"], check["evidence"]["n_cand"]) >= 100
    )
    assert [r.version for r in get_deployment(sqlite_store, "scorer").routes] == ["1"]
    assert sorted(folder.rglob("part-*.parquet"))  # the gateway's own log, read in place
