"""Online evaluation scores feed the rollout analysis: a canary whose online judge score or guardrail
violation rate regresses against the stable version fails its step and is rolled back; equal scores are
promoted; no online data never passes. The statistic is always valid: an A/A canary looked at every interval
is falsely failed at most α of the time."""

from __future__ import annotations

import math

import numpy as np
import pytest

from trilho.clock import ManualClock
from trilho.rollout.analysis import VersionWindow, check_online_score, check_online_violations, run_checks
from trilho.rollout.controller import Controller
from trilho.rollout.gates import skip_gates
from trilho.rollout.machine import Phase
from trilho.rollout.plan import OnlineScoreCheck, OnlineViolationCheck, load_plan
from trilho.rollout.statistics import msprt_mean_p_value
from trilho.store.routing import Deployment, Route, get_deployment, set_deployment

from .helpers import Traffic

PLAN = {
    "interval": 5,
    "steps": [
        {"canary": {"weight": 10, "min_requests": 200, "min_duration": "1m"}},
        {"canary": {"weight": 50, "min_requests": 500, "min_duration": "1m"}},
    ],
    "analysis": {
        "error_rate": {"min_requests": 20},
        "latency": {"min_requests": 50},
        "online_eval": {"judge_score": {"min_judged": 30}, "violations": {"min_checked": 100}},
    },
}


def rollout(store, online, plan=PLAN, seconds=600):
    set_deployment(store, Deployment("copilot", routes=(Route("1"),)))
    clock = ManualClock()
    ctl = Controller(store, clock=clock, gates=skip_gates("test", "online eval test"), holder="c1")
    ctl.service.start("copilot", "2", load_plan(plan), actor="alice")
    traffic = Traffic(store, clock, model="copilot", seed=3)
    traffic.online = online
    ctl.run(seconds=seconds, tick_every=5, on_tick=traffic)
    return ctl, ctl.service.latest("copilot"), ctl.service.history("copilot")


def test_canary_with_a_lower_online_judge_score_is_rolled_back(sqlite_store):
    ctl, ro, history = rollout(sqlite_store, {"1": (0.85, 0.01), "2": (0.60, 0.01)})
    assert ro.state.phase is Phase.ROLLED_BACK
    assert [r.version for r in get_deployment(sqlite_store, "copilot").routes] == ["1"]
    entry = [e for e in history if e["action"] == "rollback"][-1]
    assert "online:judge_score" in entry["reason"]
    check = {c["name"]: c for c in entry["evidence"]["decision"]["checks"]}["online:judge_score"]
    assert check["status"] == "fail" and check["evidence"]["mean_cand"] < check["evidence"]["mean_base"]
    assert entry["evidence"]["candidate"]["online"]["judged"] >= 30  # the summary is kept as evidence
    assert ctl.service.verify_audit().ok


def test_canary_with_more_guardrail_violations_is_rolled_back(sqlite_store):
    _, ro, history = rollout(sqlite_store, {"1": (0.85, 0.005), "2": (0.85, 0.05)})
    assert ro.state.phase is Phase.ROLLED_BACK
    reason = [e for e in history if e["action"] == "rollback"][-1]["reason"]
    assert "online:violations" in reason and "judge_score" not in reason


def test_equal_online_scores_are_promoted_with_the_checks_as_evidence(sqlite_store):
    _, ro, history = rollout(sqlite_store, {"1": (0.85, 0.01), "2": (0.85, 0.01)})
    assert ro.state.phase is Phase.PROMOTED, [e["reason"] for e in history]
    checks = [e for e in history if e["action"] == "advance"][0]["evidence"]["decision"]["checks"]
    statuses = {c["name"]: c["status"] for c in checks}
    assert statuses["online:judge_score"] == "pass" and statuses["online:violations"] == "pass"


def test_no_online_windows_never_pass(sqlite_store):
    _, ro, history = rollout(sqlite_store, None, seconds=900)
    assert ro.state.phase is not Phase.PROMOTED
    assert not any(e["action"] == "advance" for e in history)
    assert "online:judge_score" in history[-1]["reason"]


def window(version, *, n=0, mean=math.nan, se=math.nan, checked=0, violating=0, violations=None):
    online = {
        "checked": checked,
        "violating": violating,
        "violations": violations or {},
        "judged": n,
        "judge_score": {"n": n, "mean": mean, "se": se},
    }
    return VersionWindow(version, online=online)


def test_score_check_statuses():
    cfg = OnlineScoreCheck(min_judged=30, min_effect=0.02)
    base = window("1", n=400, mean=0.85, se=0.018)
    assert check_online_score(base, window("2", n=10, mean=0.1, se=0.1), cfg, 0.05).status == "insufficient"
    assert check_online_score(base, window("2", n=400, mean=0.70, se=0.023), cfg, 0.05).status == "fail"
    assert check_online_score(base, window("2", n=400, mean=0.95, se=0.011), cfg, 0.05).status == "pass"
    # significant but smaller than min_effect: not a regression worth a rollback
    big = window("1", n=10**6, mean=0.85, se=0.0001)
    tiny = check_online_score(big, window("2", n=10**6, mean=0.835, se=0.0001), cfg, 0.05)
    assert tiny.status == "pass" and tiny.evidence["p_value"] < 0.05
    assert check_online_score(base, window("2", n=400, mean=0.8, se=math.nan), cfg, 0.05).status == "error"


def test_violation_check_per_listed_check_splits_alpha():
    cfg = OnlineViolationCheck(checks=("pii", "secrets"), min_checked=100)
    base = window("1", checked=2000, violations={"pii": 10, "secrets": 2})
    cand = window("2", checked=2000, violations={"pii": 60, "secrets": 2})
    res = {r.name: r for r in check_online_violations(base, cand, cfg, 0.05)}
    assert res["online:violations:pii"].status == "fail" and res["online:violations:secrets"].status == "pass"
    assert res["online:violations:pii"].evidence["alpha"] == pytest.approx(0.025)
    guard = OnlineViolationCheck(max_rate=0.01)
    worse = check_online_violations(base, window("2", checked=2000, violating=80), guard, 0.05)[0]
    assert worse.status == "fail" and "above 1.00%" in worse.message


def test_online_checks_run_on_canary_steps_only_and_round_trip():
    plan = load_plan(
        {
            "steps": [{"shadow": {"traffic": 0.5}}, {"canary": {"weight": 10}}],
            "analysis": {"online_eval": {"judge_score": None}},
        }
    )
    base, cand = window("1", checked=500, violating=5), window("2", checked=500, violating=5)
    assert not [r for r in run_checks(plan, 0, base, cand) if r.name.startswith("online")]
    names = [r.name for r in run_checks(plan, 1, base, cand) if r.name.startswith("online")]
    assert names == ["online:violations"]  # the judge score check was switched off
    again = load_plan(plan.to_yaml())
    assert again.analysis.online_eval.judge_score is None and again == plan
    assert load_plan({"steps": [{"canary": {"weight": 1}}]}).analysis.online_eval is None  # off by default


def test_mean_mixture_is_always_valid_under_peeking():
    """A/A: 2000 canaries, 24 looks each at a growing sample of pass/fail judge scores (p = 0.8 in both arms);
    the share ever failed stays ≤ α although the test is applied at every look."""
    rng = np.random.default_rng(7)
    alpha, runs, looks, per_look = 0.05, 2000, 24, 25
    a = rng.binomial(1, 0.8, size=(runs, looks * per_look)).cumsum(axis=1)
    b = rng.binomial(1, 0.8, size=(runs, looks * per_look)).cumsum(axis=1)
    failed = np.zeros(runs, dtype=bool)
    for k in range(1, looks + 1):
        n = k * per_look
        ma, mb = a[:, n - 1] / n, b[:, n - 1] / n
        var = (ma * (1 - ma) + mb * (1 - mb)) / (n - 1)
        for i in np.flatnonzero(~failed):
            diff = mb[i] - ma[i]
            failed[i] = diff < 0 and msprt_mean_p_value(diff, var[i], 0.1) <= alpha
    assert failed.mean() <= alpha
    assert msprt_mean_p_value(0.0, 0.001, 0.1) == 1.0 and msprt_mean_p_value(-0.2, 0.0001, 0.1) < 1e-6
    assert msprt_mean_p_value(math.nan, 0.01, 0.1) == 1.0 and msprt_mean_p_value(0.1, 0.0, 0.1) == 0.0
