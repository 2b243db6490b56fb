"""The controller loop on a manual clock: plans of minutes run in well under a second per scenario."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer

import pytest

from trilho.clock import ManualClock
from trilho.rollout.controller import Controller
from trilho.rollout.gates import skip_gates
from trilho.rollout.machine import Phase
from trilho.rollout.plan import load_plan
from trilho.store.routing import Deployment, Route, get_deployment, set_deployment

from .helpers import Traffic

PLAN = {
    "interval": 5,
    "steps": [
        {"shadow": {"traffic": 0.5, "min_requests": 200, "min_duration": "30s"}},
        {"canary": {"weight": 1, "min_requests": 20, "min_duration": "1m"}},
        {"canary": {"weight": 10, "min_requests": 200, "min_duration": "1m"}},
        {"canary": {"weight": 50, "min_requests": 500, "min_duration": "1m"}},
    ],
    "analysis": {
        "error_rate": {"min_requests": 20},
        "latency": {"min_requests": 50},
        "shadow_agreement": {"threshold": 0.9, "min_pairs": 100},
    },
    "missing_metrics": {"intervals": 3, "action": "rollback"},
}


def _setup(store):
    set_deployment(store, Deployment("iris", routes=(Route("1"),)))
    clock = ManualClock()
    ctl = Controller(store, clock=clock, gates=skip_gates("test", "controller test"), holder="c1")
    ctl.service.start("iris", "2", load_plan(PLAN), actor="alice")
    traffic = Traffic(store, clock)
    return ctl, traffic, clock


@pytest.fixture
def setup(store):
    return _setup(store)


@pytest.fixture
def setup_lite(sqlite_store):
    return _setup(sqlite_store)


def test_good_candidate_is_promoted_through_every_step(setup, store):
    ctl, traffic, clock = setup
    report = ctl.run(seconds=600, tick_every=5, on_tick=traffic)
    ro = ctl.service.latest("iris")
    assert ro.state.phase is Phase.PROMOTED, ctl.timeline
    assert [e["event"] for e in report.timeline] == ["step_passed"] * 3 + ["promoted"]
    dep = get_deployment(store, "iris")
    assert [(r.version, r.role, r.weight) for r in dep.routes] == [("2", "stable", 1.0)]
    assert ctl.service.verify_audit().ok
    advance = [e for e in ctl.service.history("iris") if e["action"] == "advance"]
    assert len(advance) == 4 and all(e["actor"] == "controller" for e in advance)
    checks = advance[1]["evidence"]["decision"]["checks"]
    assert {c["name"] for c in checks} == {"error_rate", "latency"} and all(
        c["status"] == "pass" for c in checks
    )


def test_erroring_canary_is_rolled_back_with_evidence(setup, store):
    ctl, traffic, clock = setup
    traffic.error_rate["2"] = 0.11
    ctl.run(seconds=900, tick_every=5, on_tick=traffic)
    ro = ctl.service.latest("iris")
    assert ro.state.phase is Phase.ROLLED_BACK
    dep = get_deployment(store, "iris")
    assert [r.version for r in dep.routes] == ["1"]
    entry = [e for e in ctl.service.history("iris") if e["action"] == "rollback"][-1]
    check = {c["name"]: c for c in entry["evidence"]["decision"]["checks"]}["error_rate"]
    assert check["status"] == "fail" and check["evidence"]["p_value"] <= 0.05
    assert entry["evidence"]["candidate"]["requests"] > 0
    assert ro.rollback_seconds is not None and ctl.rollback_seconds
    assert ctl.service.verify_audit().ok


def test_diverging_shadow_is_caught_before_any_user_request(setup_lite):
    ctl, traffic, clock = setup_lite
    traffic.agreement["2"] = 0.7
    ctl.run(seconds=120, tick_every=5, on_tick=traffic)
    ro = ctl.service.latest("iris")
    assert ro.state.phase is Phase.ROLLED_BACK and ro.state.step == 0
    assert traffic.candidate_requests == 0
    reason = [e for e in ctl.service.history("iris") if e["action"] == "rollback"][-1]["reason"]
    assert "shadow_agreement" in reason


def test_slow_shadow_is_caught(setup_lite):
    ctl, traffic, clock = setup_lite
    traffic.latency["2"] = 0.02  # 5× the stable's 4 ms
    ctl.run(seconds=120, tick_every=5, on_tick=traffic)
    ro = ctl.service.latest("iris")
    assert ro.state.phase is Phase.ROLLED_BACK and traffic.candidate_requests == 0
    assert "latency" in [e for e in ctl.service.history("iris") if e["action"] == "rollback"][-1]["reason"]


def test_missing_metrics_fail_safe_rolls_back(setup_lite):
    ctl, traffic, clock = setup_lite
    traffic.enabled = False
    ctl.run(seconds=120, tick_every=5, on_tick=traffic)
    ro = ctl.service.latest("iris")
    assert ro.state.phase is Phase.ROLLED_BACK
    actions = [e["action"] for e in ctl.service.history("iris")]
    assert "metrics_missing" in actions and actions[-1] == "rollback"


def test_restart_mid_step_resumes_without_double_stepping(setup, store):
    ctl, traffic, clock = setup
    ctl.run(seconds=40, tick_every=5, on_tick=traffic)
    assert ctl.service.latest("iris").state.step == 1
    ctl.close()  # the process dies; a new one starts on the same store
    ctl2 = Controller(store, clock=clock, gates=skip_gates("test", "restart"), holder="c2")
    # The dead controller's decision replayed by the new one changes nothing.
    again = ctl2.service.transition(
        ctl.service.latest("iris").id, "advance", actor="controller", reason="dup", from_step=0
    )
    assert not again.changed
    ctl2.run(seconds=600, tick_every=5, on_tick=traffic)
    assert ctl2.service.latest("iris").state.phase is Phase.PROMOTED
    advances = [e["event"]["from_step"] for e in ctl2.service.history("iris") if e["action"] == "advance"]
    assert advances == [0, 1, 2, 3]
    assert ctl2.service.verify_audit().ok


def test_lease_lets_one_controller_act(setup_lite, sqlite_store):
    setup, store = setup_lite, sqlite_store
    ctl, traffic, clock = setup
    other = Controller(store, clock=clock, gates=skip_gates("t", "t"), holder="c2", lease_ttl=15)
    assert ctl.tick().leader is True
    assert other.tick().leader is False
    clock.advance(16)  # c1 stops renewing: its lease expires and c2 takes over
    assert other.tick().leader is True
    assert ctl.tick().leader is False


def _lease_logs(err: str) -> list[dict]:
    lines = [json.loads(x) for x in err.splitlines() if x.startswith("{")]
    return [x for x in lines if x.get("component") == "trilho.rollout.controller" and "lease" in x["event"]]


def test_a_standby_controller_logs_that_it_waits_for_the_lease(setup_lite, sqlite_store, capsys):
    """Once when it starts waiting, then at most once a minute; and once when it takes over."""
    ctl, traffic, clock = setup_lite
    other = Controller(sqlite_store, clock=clock, gates=skip_gates("t", "t"), holder="c2", lease_ttl=15)
    assert ctl.tick().leader is True
    capsys.readouterr()
    for _ in range(200):  # 200 s of ticks while c1 keeps renewing
        assert other.tick().leader is False
        assert ctl.tick().leader is True
        clock.advance(1)
    waits = _lease_logs(capsys.readouterr().err)
    assert [(w["holder"], w["leader"], w["waited_s"]) for w in waits] == [
        ("c2", "c1", 0.0),
        ("c2", "c1", 60.0),
        ("c2", "c1", 120.0),
        ("c2", "c1", 180.0),
    ]
    assert all(w["level"] == "info" and w["event"].startswith("standby") for w in waits)
    clock.advance(16)  # c1 stops renewing: c2 takes over and says so once
    assert other.tick().leader is True and other.tick().leader is True
    took = _lease_logs(capsys.readouterr().err)
    assert [(t["holder"], t["waited_s"]) for t in took] == [("c2", 216.0)]


class _Hook(BaseHTTPRequestHandler):
    bodies: list = []

    def do_POST(self):  # noqa: N802
        self.bodies.append(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
        self.send_response(200)
        self.end_headers()

    def log_message(self, *args):
        pass


def test_runbook_webhook_and_fallback_on_rollback(sqlite_store):
    store = sqlite_store
    server = HTTPServer(("127.0.0.1", 0), _Hook)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        url = f"http://127.0.0.1:{server.server_port}/services/T000/B000/very-secret-token"
        plan = {
            **PLAN,
            "runbooks": [
                {"on": "rolled_back", "actions": [{"webhook": {"url": url}}, {"route_to_fallback": "0"}]}
            ],
        }
        set_deployment(store, Deployment("iris", routes=(Route("1"),)))
        clock = ManualClock()
        ctl = Controller(store, clock=clock, gates=skip_gates("t", "t"), holder="c1")
        ctl.service.start("iris", "2", load_plan(plan), actor="alice")
        traffic = Traffic(store, clock)
        traffic.agreement["2"] = 0.5
        ctl.run(seconds=60, tick_every=5, on_tick=traffic)
    finally:
        server.shutdown()
    assert _Hook.bodies and "rolled_back" in _Hook.bodies[0]["text"] and _Hook.bodies[0]["blocks"]
    assert [r.version for r in get_deployment(store, "iris").routes] == ["0"]
    history = json.dumps(ctl.service.history("iris"))
    assert "very-secret-token" not in history and "127.0.0.1" in history


def test_python_api_for_the_demo(sqlite_store):
    """`run_rollout`: start, run the loop on a manual clock, get the timeline and the time to recover."""
    store = sqlite_store
    from trilho.rollout import run_rollout

    set_deployment(store, Deployment("iris", routes=(Route("1"),)))
    clock = ManualClock()
    traffic = Traffic(store, clock)
    traffic.error_rate["3"] = 0.2
    ro, report = run_rollout(
        store,
        "iris",
        "3",
        load_plan(PLAN),
        seconds=900,
        clock=clock,
        interval=5,
        gates=skip_gates("demo", "toy"),
        on_tick=traffic,
    )
    assert ro.state.phase is Phase.ROLLED_BACK
    assert report.timeline[-1]["event"] in ("rolled_back", "gateways_applied")
    rec = report.recoveries[0]
    assert rec["step"] == 0 and 0 < rec["detected_after_s"] <= 60  # caught in shadow, before any user saw it
    assert report.time_to_recover == pytest.approx(rec["detected_after_s"] + rec["applied_s"])


class _Prom(BaseHTTPRequestHandler):
    values = {"1": "0.11", "2": "0.02"}

    def do_GET(self):  # noqa: N802
        from urllib.parse import parse_qs, urlsplit

        query = parse_qs(urlsplit(self.path).query)["query"][0]
        version = query.split('version="')[1].split('"')[0]
        body = {
            "status": "success",
            "data": {"resultType": "vector", "result": [{"metric": {}, "value": [0, self.values[version]]}]},
        }
        raw = json.dumps(body).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(raw)))
        self.end_headers()
        self.wfile.write(raw)

    def log_message(self, *args):
        pass


def test_user_metric_from_prometheus_rolls_back(sqlite_store):
    store = sqlite_store
    server = HTTPServer(("127.0.0.1", 0), _Prom)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        query = 'sum(rate(clicks{model="{model}",version="{version}"}[1m]))'
        plan = {
            **PLAN,
            "steps": PLAN["steps"][1:],
            "analysis": {
                **PLAN["analysis"],
                "user_metrics": [
                    {
                        "name": "ctr",
                        "min": 0.05,
                        "prometheus": {"url": f"http://127.0.0.1:{server.server_port}", "query": query},
                    }
                ],
            },
        }
        set_deployment(store, Deployment("iris", routes=(Route("1"),)))
        clock = ManualClock()
        ctl = Controller(store, clock=clock, gates=skip_gates("t", "t"), holder="c1")
        ctl.service.start("iris", "2", load_plan(plan), actor="alice")
        ctl.run(seconds=30, tick_every=5, on_tick=Traffic(store, clock))
    finally:
        server.shutdown()
    ro = ctl.service.latest("iris")
    assert ro.state.phase is Phase.ROLLED_BACK
    assert "ctr mean 0.02 is below 0.05" in ctl.service.history("iris")[-1]["reason"]


def test_prometheus_down_is_an_error_then_the_fail_safe(sqlite_store):
    store = sqlite_store
    plan = {
        **PLAN,
        "steps": PLAN["steps"][1:2],
        "analysis": {
            **PLAN["analysis"],
            "user_metrics": [
                {
                    "name": "ctr",
                    "min": 0.05,
                    "prometheus": {"url": "http://127.0.0.1:9", "query": "q", "timeout": 0.2},
                }
            ],
        },
    }
    set_deployment(store, Deployment("iris", routes=(Route("1"),)))
    clock = ManualClock()
    ctl = Controller(store, clock=clock, gates=skip_gates("t", "t"), holder="c1")
    ctl.service.start("iris", "2", load_plan(plan), actor="alice")
    ctl.run(seconds=300, tick_every=5, on_tick=Traffic(store, clock))
    ro = ctl.service.latest("iris")
    # An error never passes: the step never advanced, and 3 intervals without the metric hit the fail-safe.
    assert ro.state.phase is Phase.ROLLED_BACK and ro.state.step == 0
    history = ctl.service.history("iris")
    assert [e["action"] for e in history][-2:] == ["metrics_missing", "rollback"]
    assert not any(e["action"] == "advance" for e in history)


def test_kill_switch_works_when_metrics_are_gone(setup_lite, sqlite_store):
    """Analysis and metrics down (the aggregates table is gone): the kill switch still flips."""
    setup, store = setup_lite, sqlite_store
    from sqlalchemy import text

    ctl, traffic, clock = setup
    ctl.run(seconds=40, tick_every=5, on_tick=traffic)
    with store.transaction() as conn:
        conn.execute(text("DROP TABLE serving_windows"))
    ctl.tick()  # analysis fails (logged), the loop survives
    out = ctl.service.kill("iris", actor="oncall", reason="metrics are down and users complain")
    dep = get_deployment(store, "iris")
    assert out["rollout"]["phase"] == "killed" and dep.kill == "candidates"
    assert [r.version for r in dep.routes] == ["1"]


def test_runbook_rollback_on_missing_metrics_with_hold_policy(sqlite_store):
    store = sqlite_store
    plan = {
        **PLAN,
        "missing_metrics": {"intervals": 2, "action": "hold"},
        "runbooks": [{"on": "metrics_missing", "actions": [{"rollback": True}]}],
    }
    set_deployment(store, Deployment("iris", routes=(Route("1"),)))
    clock = ManualClock()
    ctl = Controller(store, clock=clock, gates=skip_gates("t", "t"), holder="c1")
    ctl.service.start("iris", "2", load_plan(plan), actor="alice")
    ctl.run(seconds=60, tick_every=5)  # no traffic at all: no windows arrive
    actions = [e["action"] for e in ctl.service.history("iris")]
    assert actions[-3:] == ["metrics_missing", "rollback", "runbook"]
    assert ctl.service.latest("iris").state.phase is Phase.ROLLED_BACK


def test_embedded_controller_thread(sqlite_store):
    """`start_in_thread` (how `trilho serve` can embed the loop) acts in the background and stops cleanly."""
    store = sqlite_store
    import time

    set_deployment(store, Deployment("iris", routes=(Route("1"),)))
    ctl = Controller(store, gates=skip_gates("t", "t"), holder="embedded", interval=1)
    ctl.service.start("iris", "2", load_plan(PLAN), actor="alice")
    ctl.service.pause("iris", actor="alice")
    stop = ctl.start_in_thread(tick_every=0.05)
    try:
        deadline = time.monotonic() + 10
        while ctl.lease.holder_now() != "embedded" and time.monotonic() < deadline:
            time.sleep(0.05)
        assert ctl.lease.holder_now() == "embedded"
    finally:
        stop()
    assert ctl.lease.holder_now() is None  # released on stop
