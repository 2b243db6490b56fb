"""The control API over a real socket: roles, audit of every call, no secret in logs, OpenAPI document."""

from __future__ import annotations

import json
import threading
import time

import httpx
import pytest
import uvicorn

from trilho.clock import ManualClock
from trilho.net import free_port
from trilho.rollout.api import OPENAPI, create_app
from trilho.rollout.auth import create_token
from trilho.rollout.gates import skip_gates
from trilho.rollout.plan import DEFAULT_PLAN_YAML
from trilho.rollout.service import RolloutService
from trilho.store import Store
from trilho.store.routing import Deployment, Route, get_deployment, set_deployment


@pytest.fixture
def api(tmp_path):
    store = Store(f"sqlite:///{tmp_path / 'api.db'}")
    store.migrate()
    set_deployment(store, Deployment("iris", routes=(Route("1"),)))
    svc = RolloutService(store, clock=ManualClock(), gates=skip_gates("api-test", "no registry in this test"))
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(create_app(svc), host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.time() + 10
    while not server.started and time.time() < deadline:
        time.sleep(0.02)
    tokens = {
        role: create_token(store, role, role, actor="setup") for role in ("viewer", "deployer", "admin")
    }
    with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=10) as client:
        yield client, tokens, svc, store
    server.should_exit = True
    thread.join(5)
    store.dispose()


def auth(token):
    return {"Authorization": f"Bearer {token}"}


def test_roles_and_flow(api):
    client, tokens, svc, store = api
    assert client.get("/v1/rollouts").status_code == 401
    assert client.get("/v1/rollouts", headers=auth("trl_wrong")).status_code == 401
    body = {"model": "iris", "candidate": "2", "plan": DEFAULT_PLAN_YAML}
    assert client.post("/v1/rollouts", json=body, headers=auth(tokens["viewer"])).status_code == 403
    r = client.post("/v1/rollouts", json=body, headers=auth(tokens["deployer"]))
    assert r.status_code == 201 and r.json()["phase"] == "shadow"
    assert (r.json()["shadow_pct"], r.json()["weight_pct"], r.json()["plan_source"]) == (20.0, 0.0, "inline")
    assert r.json()["created_by"] == "token:deployer"
    assert client.get("/v1/rollouts/iris", headers=auth(tokens["viewer"])).json()["phase"] == "shadow"
    assert (
        client.post("/v1/rollouts/iris/pause", json={}, headers=auth(tokens["deployer"])).json()["phase"]
        == "paused"
    )
    again = client.post("/v1/rollouts", json=body, headers=auth(tokens["deployer"]))
    assert again.status_code == 409 and again.json()["field"] == "model"
    k = client.post("/v1/rollouts/iris/kill", json={"reason": "pager"}, headers=auth(tokens["deployer"]))
    assert k.status_code == 200 and get_deployment(store, "iris").kill == "candidates"
    assert client.get("/v1/rollouts/nope", headers=auth(tokens["viewer"])).status_code == 404
    assert (
        client.post("/v1/rollouts/iris/pause", content=b"{", headers=auth(tokens["deployer"])).status_code
        == 400
    )
    odd = client.post(
        "/v1/rollouts/iris/rollback", json={"reason": {"x": 1}}, headers=auth(tokens["deployer"])
    )
    assert odd.status_code == 400
    bad = client.post("/v1/rollouts/iris/pause", content=b"\xb1", headers=auth(tokens["deployer"]))
    assert bad.status_code == 400 and bad.json()["field"] == "body"
    assert client.get("/v1/audit/verify", headers=auth(tokens["viewer"])).json()["ok"] is True


def test_tokens_need_admin_and_every_call_is_audited_without_secrets(api):
    client, tokens, svc, store = api
    assert (
        client.post("/v1/tokens", json={"name": "bot"}, headers=auth(tokens["deployer"])).status_code == 403
    )
    r = client.post("/v1/tokens", json={"name": "bot", "role": "viewer"}, headers=auth(tokens["admin"]))
    assert r.status_code == 201
    secret = r.json()["token"]
    assert client.get("/v1/rollouts", headers=auth(secret)).status_code == 200
    assert client.delete("/v1/tokens/bot", headers=auth(tokens["admin"])).json() == {"revoked": True}
    assert client.get("/v1/rollouts", headers=auth(secret)).status_code == 401
    calls = [e for e in svc.history() if e["action"] == "api"]
    assert [c["actor"] for c in calls] == [
        "token:deployer",
        "token:admin",
        "token:bot",
        "token:admin",
        "anonymous",
    ]
    assert {c["evidence"]["status"] for c in calls} == {403, 201, 200, 401}
    everything = json.dumps(svc.history())
    for s in (*tokens.values(), secret):
        assert s not in everything


def test_plans_are_admin_managed(api):
    client, tokens, svc, store = api
    body = {"plan": DEFAULT_PLAN_YAML}
    assert client.put("/v1/plans/careful", json=body, headers=auth(tokens["deployer"])).status_code == 403
    r = client.put("/v1/plans/careful", json=body, headers=auth(tokens["admin"]))
    assert r.status_code == 200 and len(r.json()["steps"]) == 4
    bad = client.put("/v1/plans/bad", json={"plan": {"steps": []}}, headers=auth(tokens["admin"]))
    assert bad.status_code == 400 and bad.json()["field"] == "steps"
    assert list(client.get("/v1/plans", headers=auth(tokens["viewer"])).json()) == ["careful"]
    start = {"model": "iris", "candidate": "2", "plan": "careful"}
    assert client.post("/v1/rollouts", json=start, headers=auth(tokens["deployer"])).status_code == 201


def test_openapi_document(api):
    client, *_ = api
    doc = client.get("/openapi.json").json()
    assert doc == json.loads(json.dumps(OPENAPI))
    assert doc["openapi"].startswith("3.") and "/v1/rollouts/{model}/kill" in doc["paths"]
    for path, ops in doc["paths"].items():
        for op in ops.values():
            assert op["summary"] and "200" in op["responses"] or "201" in op["responses"], path
            if path.startswith("/v1/"):
                assert op["security"] == [{"bearer": []}] and "401" in op["responses"]


@pytest.mark.slow
def test_fuzzing_the_control_api_finds_no_5xx(api):
    """schemathesis against the served document, as an admin (every route reachable): never a server error."""
    import subprocess
    import sys
    from pathlib import Path

    client, tokens, svc, store = api
    st = Path(sys.executable).parent / "st"
    proc = subprocess.run(
        [str(st), "run", f"{client.base_url}/openapi.json", "--checks", "not_a_server_error",
         "-H", f"Authorization: Bearer {tokens['admin']}", "--max-examples", "10", "--seed", "3",
         "--workers", "1", "--phases", "examples,coverage,fuzzing", "--no-color"],
        capture_output=True, text=True, timeout=240,
    )  # fmt: skip
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out[-4000:]
    assert svc.verify_audit().ok  # every fuzzed call was audited and the chain is intact
