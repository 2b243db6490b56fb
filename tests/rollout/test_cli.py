"""`trilho rollout …`, `trilho audit verify` and `trilho controller` through the CLI (SQLite home)."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import update

from trilho.config import resolve_settings
from trilho.rollout.plan import DEFAULT_PLAN_YAML
from trilho.store import open_store
from trilho.store.routing import Deployment, Route, get_deployment, set_deployment
from trilho.store.tables.rollout import rollout_audit


@pytest.fixture
def deployed(home, tmp_path):
    store = open_store(resolve_settings())
    set_deployment(store, Deployment("iris", routes=(Route("1"),)))
    plan = tmp_path / "plan.yaml"
    plan.write_text(DEFAULT_PLAN_YAML)
    yield store, str(plan)
    store.dispose()


def j(result):
    return json.loads(result.stdout)


def test_lifecycle(cli, deployed):
    store, plan = deployed
    r = cli(
        "rollout",
        "start",
        "iris",
        "--candidate",
        "2",
        "--plan",
        plan,
        "--skip-gates",
        "demo",
        "--actor",
        "alice",
        "--json",
    )
    assert r.exit_code == 0, r.output
    assert j(r)["phase"] == "shadow" and j(r)["created_by"] == "user:alice"
    assert j(cli("rollout", "status", "iris", "--json"))["step_kind"] == "shadow"
    assert j(cli("rollout", "pause", "iris", "--json"))["phase"] == "paused"
    assert j(cli("rollout", "resume", "iris", "--json"))["phase"] == "shadow"
    assert j(cli("rollout", "promote", "iris", "--json"))["phase"] == "promoted"
    assert [r.version for r in get_deployment(store, "iris").routes] == ["2"]
    out = j(cli("rollout", "rollback", "iris", "--to", "1", "--json"))
    assert out["changed"] and [r.version for r in get_deployment(store, "iris").routes] == ["1"]
    hist = j(cli("rollout", "history", "iris", "--json"))
    assert [h["action"] for h in hist][:3] == ["create", "gates_started", "gates_passed"]
    assert "skipped by user:alice" in hist[2]["reason"]
    assert cli("rollout", "history", "iris").exit_code == 0
    assert j(cli("audit", "verify", "--json"))["ok"] is True


def test_kill_and_release(cli, deployed):
    store, plan = deployed
    cli("rollout", "start", "iris", "--candidate", "2", "--plan", plan, "--skip-gates", "x")
    out = j(cli("rollout", "kill", "iris", "--reason", "pager", "--json"))
    assert out["mode"] == "candidates" and out["rollout"]["phase"] == "killed"
    assert get_deployment(store, "iris").kill == "candidates"
    assert j(cli("rollout", "status", "--json"))["kills"][0]["reason"] == "pager"
    r = cli("rollout", "start", "iris", "--candidate", "3", "--plan", plan, "--skip-gates", "x", "--json")
    assert r.exit_code == 2 and j(r)["field"] == "kill"
    assert j(cli("rollout", "kill", "iris", "--release", "--json"))["mode"] == "off"


def test_exit_codes(cli, deployed):
    store, plan = deployed
    bad = cli("rollout", "start", "iris", "--candidate", "2", "--plan", "missing.yaml", "--json")
    assert bad.exit_code == 2 and j(bad)["field"] == "plan"
    # Real gates against the registry: version 2 is not registered, so it fails closed (exit 1, no traffic).
    gated = cli("rollout", "start", "iris", "--candidate", "2", "--plan", plan, "--json")
    assert gated.exit_code == 1 and j(gated)["error"] == "GateFailed"
    assert [r.version for r in get_deployment(store, "iris").routes] == ["1"]
    assert j(cli("rollout", "history", "iris", "--json"))[-1]["action"] == "gates_failed"
    assert cli("rollout", "status", "nope", "--json").exit_code == 2


def test_audit_verify_fails_on_tampering(cli, deployed):
    store, plan = deployed
    cli("rollout", "start", "iris", "--candidate", "2", "--plan", plan, "--skip-gates", "x")
    with store.transaction() as conn:
        conn.execute(update(rollout_audit).where(rollout_audit.c.seq == 1).values(reason="nothing to see"))
    r = cli("audit", "verify", "--json")
    assert r.exit_code == 1 and j(r)["problems"][0]["seq"] == 1


def test_controller_command_runs_ticks(cli, deployed):
    store, plan = deployed
    cli("rollout", "start", "iris", "--candidate", "2", "--plan", plan, "--skip-gates", "x")
    r = cli("controller", "--iterations", "2", "--tick", "0.05", "--json")
    assert r.exit_code == 0, r.output
    assert j(r)["iterations"] == 2


def test_token_create_shows_secret_once_and_stores_hash(cli, deployed):
    store, _ = deployed
    out = j(cli("rollout", "token", "create", "ci", "--role", "deployer", "--json"))
    assert out["token"].startswith("trl_")
    from sqlalchemy import select

    from trilho.store.tables.rollout import rollout_tokens

    with store.connect() as conn:
        stored = conn.execute(select(rollout_tokens.c.token_hash)).scalar()
    assert stored != out["token"] and out["token"] not in json.dumps(
        cli("rollout", "history", "iris", "--json").stdout
    )
    assert cli("rollout", "token", "create", "x", "--role", "root").exit_code == 2


def test_named_plans(cli, deployed):
    store, plan = deployed
    assert cli("rollout", "plan", "save", "careful", plan, "--json").exit_code == 0
    assert list(j(cli("rollout", "plan", "list", "--json"))) == ["careful"]
    assert cli("rollout", "plan", "list").exit_code == 0
    r = cli(
        "rollout", "start", "iris", "--candidate", "2", "--plan", "careful", "--skip-gates", "x", "--json"
    )
    assert r.exit_code == 0 and j(r)["plan"] == "default" and j(r)["steps"] == 4
    bad = cli("rollout", "plan", "save", "broken", plan + ".missing.yaml", "--json")
    assert bad.exit_code == 2


def test_token_list_and_revoke_take_effect_on_the_control_api_at_once(cli, deployed):
    """Tokens made and revoked with the CLI, used over a real socket against a running control API."""
    import threading
    import time

    import httpx
    import uvicorn

    from trilho.net import free_port
    from trilho.rollout.api import create_app
    from trilho.rollout.service import RolloutService

    store, _ = deployed
    secret = j(cli("rollout", "token", "create", "ci-bot", "--role", "viewer", "--json"))["token"]
    cli("rollout", "token", "create", "ops", "--role", "admin", "--actor", "alice")
    listed = j(cli("rollout", "token", "list", "--json"))
    assert [(t["name"], t["role"], t["revoked"]) for t in listed] == [
        ("ci-bot", "viewer", False),
        ("ops", "admin", False),
    ]
    assert listed[1]["created_by"] == "user:alice" and secret not in json.dumps(listed)
    assert "ci-bot" in cli("rollout", "token", "list").stdout
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(create_app(RolloutService(store)), host="127.0.0.1", port=port, log_level="warning")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        while not server.started and thread.is_alive():
            time.sleep(0.02)
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=10) as client:
            headers = {"Authorization": f"Bearer {secret}"}
            assert client.get("/v1/rollouts", headers=headers).status_code == 200
            r = cli("rollout", "token", "revoke", "ci-bot", "--json")
            assert r.exit_code == 0 and j(r) == {"name": "ci-bot", "revoked": True}
            assert client.get("/v1/rollouts", headers=headers).status_code == 401
    finally:
        server.should_exit = True
        thread.join(5)
    assert [t["revoked"] for t in j(cli("rollout", "token", "list", "--json"))] == [True, False]
    again = cli("rollout", "token", "revoke", "ci-bot", "--json")
    assert again.exit_code == 2 and j(again)["field"] == "name" and "already revoked" in j(again)["message"]
    unknown = cli("rollout", "token", "revoke", "nobody", "--json")
    assert unknown.exit_code == 2 and "no token is named 'nobody'" in j(unknown)["message"]


def test_history_shows_whole_reasons_wrapped_at_words(cli, deployed, monkeypatch):
    store, plan = deployed
    reason = " ".join(f"word{i:03d}" for i in range(60)) + " [red]markup[/red] last-word-of-it"
    cli("rollout", "start", "iris", "--candidate", "2", "--plan", plan, "--skip-gates", "x")
    assert cli("rollout", "pause", "iris", "--reason", reason).exit_code == 0
    piped = cli("rollout", "history", "iris").stdout
    assert reason in piped  # a pipe gets each reason whole, on one line
    monkeypatch.setenv("TTY_COMPATIBLE", "1")  # an 80-column terminal: wrapped at words, never cut
    monkeypatch.setenv("NO_COLOR", "1")
    monkeypatch.setenv("COLUMNS", "80")
    out = cli("rollout", "history", "iris").stdout
    cells = out.replace("│", " ").replace("┃", " ").split()
    missing = [w for w in reason.split() if w not in cells]
    assert not missing, out
    assert max(len(line) for line in out.splitlines()) <= 80
    assert j(cli("rollout", "history", "iris", "--json"))[-1]["reason"] == reason


def test_status_names_the_plan_and_where_the_rollout_stands_in_percent(cli, deployed, tmp_path):
    store, plan = deployed
    r = cli("rollout", "start", "iris", "--candidate", "2", "--plan", plan, "--skip-gates", "x", "--json")
    assert j(r)["plan_source"] == str(tmp_path / "plan.yaml")
    shadow = j(cli("rollout", "status", "iris", "--json"))
    assert (shadow["step"], shadow["step_kind"], shadow["weight_pct"], shadow["shadow_pct"]) == (
        0,
        "shadow",
        0.0,
        20.0,
    )
    assert "weight" not in shadow and "shadow_traffic" not in shadow  # one unit: percent
    text = cli("rollout", "status", "iris").stdout
    assert "step 1/4 shadow 20%" in text and f"plan {tmp_path / 'plan.yaml'}" in text
    assert shadow["minimums"]["checks"]["error_rate"] == {"min": 200, "of": "requests per arm"}
    assert "waits for ≥ 30 s and ≥ 200 candidate requests; checks: error_rate 200 requests per arm" in text
    svc_id = shadow["id"]
    from trilho.rollout.service import RolloutService

    RolloutService(store).transition(svc_id, "advance", actor="c", reason="ok", from_step=0)
    canary = j(cli("rollout", "status", "iris", "--json"))
    assert (canary["position"], canary["weight_pct"], canary["shadow_pct"]) == (
        "step 2/4 canary 1%",
        1.0,
        0.0,
    )
    assert j(cli("rollout", "promote", "iris", "--json"))["position"] == "full 100%"
    done = j(cli("rollout", "status", "iris", "--json"))
    assert (done["phase"], done["step"], done["step_kind"], done["weight_pct"]) == (
        "promoted",
        None,
        "full",
        100,
    )
    text = cli("rollout", "status", "iris").stdout
    assert "promoted full 100%" in text and "step 2/4" not in text and "canary" not in text
    assert done["minimums"] is None and "waits for" not in text
    cli("rollout", "plan", "save", "careful", plan)
    cli("rollout", "start", "iris", "--candidate", "3", "--plan", "careful", "--skip-gates", "x")
    assert j(cli("rollout", "status", "iris", "--json"))["plan_source"] == "saved:careful"
    assert "saved plan 'careful'" in cli("rollout", "status", "iris").stdout
