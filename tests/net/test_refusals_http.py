"""A flood of anonymous calls over real sockets (issue 18, item 3): every refusal is counted in metrics, the
audit log gets one summary row, and the dashboard's timeline still shows the rollout's own events."""

from __future__ import annotations

import re

import httpx

from trilho.clock import ManualClock
from trilho.net.server import serve_in_thread
from trilho.registry import Registry
from trilho.rollout.api import create_app as control_api
from trilho.rollout.auth import create_token
from trilho.rollout.gates import skip_gates
from trilho.rollout.plan import DEFAULT_PLAN_YAML
from trilho.rollout.service import RolloutService
from trilho.store import Store
from trilho.store.routing import Deployment, Route, get_deployment, set_deployment
from trilho.web import create_app as dashboard

from .conftest import LIMITS


def _refused(metrics: str, server: str, reason: str) -> float:
    m = re.search(rf'trilho_http_refused_total{{reason="{reason}",server="{server}"}} (\S+)', metrics)
    return float(m.group(1)) if m else 0.0


def test_a_flood_of_anonymous_kills_are_counted_summarised_once_and_leave_the_timeline_alone(tmp_path):
    store = Store(f"sqlite:///{tmp_path / 'flood.db'}")
    store.migrate()
    set_deployment(store, Deployment("scorer", routes=(Route("1"),)))
    svc = RolloutService(store, clock=ManualClock(), gates=skip_gates("flood-test", "no registry here"))
    svc.start("scorer", "2", DEFAULT_PLAN_YAML, actor="user:ops")
    viewer = create_token(store, "watcher", "viewer", actor="setup")
    web = dashboard(
        store, registry=Registry(store, tmp_path / "a"), reports_dir=tmp_path / "r", limits=LIMITS
    )
    try:
        with (
            serve_in_thread(control_api(svc, limits=LIMITS), limits=LIMITS) as api,
            serve_in_thread(web, limits=LIMITS) as ui,
            httpx.Client(base_url=api, timeout=10) as c,
        ):
            before_rows = len(svc.history())
            before = _refused(c.get("/metrics").text, "control_api", "Unauthorized")
            for i in range(200):
                token = {} if i % 2 else {"Authorization": "Bearer trl_guessed"}
                assert c.post("/v1/rollouts/scorer/kill", headers=token).status_code == 401
            after = _refused(c.get("/metrics").text, "control_api", "Unauthorized")
            assert after - before == 200
            rows = svc.history()[before_rows:]
            assert len(rows) == 1 and rows[0]["actor"] == "anonymous"
            assert rows[0]["evidence"]["refused"] == "Unauthorized" and rows[0]["evidence"]["status"] == 401
            assert get_deployment(store, "scorer").kill == "off"
            page = httpx.get(f"{ui}/ui/rollouts/scorer", cookies={"trilho_token": viewer}, timeout=10).text
            assert "No rollout events yet" not in page and 'id="timeline"' in page
            assert svc.verify_audit().ok
    finally:
        store.dispose()


def test_even_a_flood_of_authenticated_api_calls_cannot_push_the_timeline_out(tmp_path):
    store = Store(f"sqlite:///{tmp_path / 'calls.db'}")
    store.migrate()
    set_deployment(store, Deployment("scorer", routes=(Route("1"),)))
    svc = RolloutService(store, clock=ManualClock(), gates=skip_gates("flood-test", "no registry here"))
    svc.start("scorer", "2", DEFAULT_PLAN_YAML, actor="user:ops")
    for _ in range(450):  # what 450 allowed GETs leave in the audit log
        svc.record(actor="token:watcher", action="api", model="scorer", reason="GET → 200", evidence={})
    from trilho.web.data import rollout_detail

    timeline = rollout_detail(svc, "scorer")["timeline"]
    assert timeline and all(e["action"] != "api" for e in timeline)
    store.dispose()
