"""Checks and step decisions: statuses, guardrails, and zero traffic never passing."""

from __future__ import annotations

import math

from hypothesis import given, settings
from hypothesis import strategies as st

from trilho.rollout.analysis import (
    CheckResult,
    VersionWindow,
    check_agreement,
    check_error_rate,
    check_latency,
    check_user_metric,
    decide,
    run_checks,
)
from trilho.rollout.plan import AgreementCheck, ErrorRateCheck, LatencyCheck, UserMetricCheck, load_plan

BOUNDS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, math.inf)
PLAN = load_plan(
    {
        "interval": 5,
        "steps": [
            {"shadow": {"traffic": 0.5, "min_requests": 50, "min_duration": 10}},
            {"canary": {"weight": 10, "min_requests": 50, "min_duration": 10}},
        ],
        "analysis": {
            "error_rate": {"min_requests": 50},
            "latency": {"min_requests": 50},
            "shadow_agreement": {"min_pairs": 73},
        },
    }
)


def win(version="v", n=0, e=0, lat=None, pairs=0, agree=0, metrics=None):
    lat = lat if lat is not None else (0, n, 0, 0, 0, 0, 0)
    return VersionWindow(version, n, e, BOUNDS, tuple(lat), pairs, agree, metrics or {})


def test_error_rate_statuses():
    cfg = ErrorRateCheck(min_requests=100)
    assert check_error_rate(win(n=0), win(n=0), cfg, 0.05).status == "insufficient"
    assert check_error_rate(win(n=1000, e=10), win(n=50, e=0), cfg, 0.05).status == "insufficient"
    assert check_error_rate(win(n=1000, e=10), win(n=500, e=6), cfg, 0.05).status == "pass"
    bad = check_error_rate(win(n=1000, e=10), win(n=500, e=60), cfg, 0.05)
    assert bad.status == "fail" and bad.evidence["p_value"] < 0.05
    assert check_error_rate(win(n=10, e=20), win(n=500, e=6), cfg, 0.05).status == "error"
    # A candidate that is *better* never fails the two-sided test.
    assert check_error_rate(win(n=1000, e=100), win(n=1000, e=0), cfg, 0.05).status == "pass"


def test_error_rate_guardrail_uses_a_lower_bound():
    cfg = ErrorRateCheck(max_rate=0.2, min_requests=10_000)
    assert check_error_rate(win(n=5, e=0), win(n=5, e=2), cfg, 0.05).status == "insufficient"
    assert check_error_rate(win(n=5, e=0), win(n=200, e=120), cfg, 1e-12).status == "fail"


def test_latency_statuses():
    cfg = LatencyCheck(min_requests=100, max_ratio=1.5, alpha=0.01)
    same = check_latency(win(n=500), win(n=500), cfg, 0.01)
    assert same.status == "pass"
    slow = check_latency(
        win(n=500, lat=(0, 500, 0, 0, 0, 0, 0)), win(n=500, lat=(0, 0, 0, 0, 500, 0, 0)), cfg, 0.01
    )
    assert slow.status == "fail" and slow.evidence["ratio"] > 1.5
    assert check_latency(win(n=500), win(n=20), cfg, 0.01).status == "insufficient"
    odd = VersionWindow("c", 10, 0, (0.1, math.inf), (5, 5))
    assert check_latency(win(n=500), odd, cfg, 0.01).status == "error"
    guard = LatencyCheck(min_requests=100, max_seconds=0.02)
    assert (
        check_latency(
            win(n=500, lat=(0, 0, 0, 0, 500, 0, 0)), win(n=500, lat=(0, 0, 0, 0, 500, 0, 0)), guard, 0.01
        ).status
        == "fail"
    )


def test_agreement_statuses():
    cfg = AgreementCheck(threshold=0.9, min_pairs=20)
    assert check_agreement(win(pairs=0), cfg).status == "insufficient"
    assert check_agreement(win(pairs=500, agree=495), cfg).status == "pass"
    assert check_agreement(win(pairs=500, agree=300), cfg).status == "fail"
    assert check_agreement(win(pairs=10, agree=9), cfg).status == "insufficient"
    assert check_agreement(win(pairs=10, agree=11), cfg).status == "error"


FR = "fallback_rate"


def test_user_metric():
    cfg = UserMetricCheck(name="fallback_rate", min=0.1, max_ratio_to_baseline=2.0, min_count=10)
    assert check_user_metric(win(), win(metrics={"fallback_rate": (1.0, 5)}), cfg).status == "insufficient"
    assert check_user_metric(win(metrics={FR: (2.0, 10)}), win(metrics={FR: (0.5, 10)}), cfg).status == "fail"
    assert check_user_metric(win(metrics={FR: (2.0, 10)}), win(metrics={FR: (2.5, 10)}), cfg).status == "pass"
    assert check_user_metric(win(metrics={FR: (1.0, 10)}), win(metrics={FR: (5.0, 10)}), cfg).status == "fail"


def test_run_checks_per_step_kind_and_broken_check_is_an_error():
    shadow = run_checks(PLAN, 0, win(n=100), win(n=100, pairs=100, agree=100))
    assert [r.name for r in shadow] == ["error_rate", "latency", "shadow_agreement"]
    canary = run_checks(PLAN, 1, win(n=100), win(n=100))
    assert [r.name for r in canary] == ["error_rate", "latency"]
    broken = VersionWindow("x", 10, 0, BOUNDS, ("a",) * 7)  # type: ignore[arg-type]
    assert {r.status for r in run_checks(PLAN, 1, win(n=100), broken) if r.name == "latency"} == {"error"}


windows = st.builds(
    win,
    n=st.integers(0, 5000),
    e=st.integers(0, 5000),
    pairs=st.integers(0, 5000),
    agree=st.integers(0, 5000),
)


@given(base=windows, step=st.sampled_from([0, 1]), elapsed=st.floats(0, 1000), ext=st.integers(0, 5))
def test_zero_traffic_never_passes(base, step, elapsed, ext):
    cand = win(n=0, e=0, lat=(0,) * 7, pairs=0, agree=0)
    results = run_checks(PLAN, step, base, cand)
    assert all(r.status != "pass" for r in results)
    decision = decide(PLAN, step, results, elapsed=elapsed, cand_requests=0, extensions=ext)
    assert decision.action != "advance"


def test_decide():
    ok = [CheckResult("a", "pass", "")]
    assert decide(PLAN, 1, ok, elapsed=1, cand_requests=100, extensions=0).action == "hold"
    assert decide(PLAN, 1, ok, elapsed=11, cand_requests=100, extensions=0).action == "advance"
    fail = [CheckResult("a", "pass", ""), CheckResult("b", "fail", "boom")]
    d = decide(PLAN, 1, fail, elapsed=0, cand_requests=0, extensions=0)
    assert d.action == "rollback" and "boom" in d.reason
    waiting = [CheckResult("a", "insufficient", "few")]
    assert decide(PLAN, 1, waiting, elapsed=11, cand_requests=100, extensions=0).action == "extend"
    assert decide(PLAN, 1, waiting, elapsed=10_000, cand_requests=100, extensions=3).action == "abort"
    assert (
        decide(PLAN, 1, [CheckResult("a", "error", "x")], elapsed=11, cand_requests=100, extensions=0).action
        == "hold"
    )
    hold_plan = load_plan({"steps": [{"canary": {"weight": 1}}], "on_insufficient_data": {"action": "hold"}})
    assert decide(hold_plan, 0, waiting, elapsed=1e6, cand_requests=0, extensions=0).action == "hold"
    abort_plan = load_plan(
        {"steps": [{"canary": {"weight": 1}}], "on_insufficient_data": {"action": "abort"}}
    )
    assert decide(abort_plan, 0, waiting, elapsed=1e6, cand_requests=0, extensions=0).action == "abort"


def test_a_step_with_min_requests_50_advances_on_66_requests_per_arm():
    """The reported case: no per-check minimum in the plan, so the step's 50 governs (it waited for 100)."""
    plan = load_plan({"steps": [{"canary": {"weight": 50, "min_requests": 50, "min_duration": "1m"}}]})
    results = run_checks(plan, 0, win(n=66), win(n=66))
    assert {r.name: r.status for r in results} == {"error_rate": "pass", "latency": "pass"}
    assert decide(plan, 0, results, elapsed=60, cand_requests=66, extensions=0).action == "advance"


@settings(max_examples=60, deadline=None)
@given(floor=st.integers(1, 2000), n=st.integers(0, 4000))
def test_the_steps_min_requests_is_exactly_the_checks_floor(floor, n):
    """With no per-check minimum, error rate and latency wait for exactly the step's min_requests per arm."""
    plan = load_plan({"steps": [{"canary": {"weight": 10, "min_requests": floor}}]})
    statuses = {r.status for r in run_checks(plan, 0, win(n=n), win(n=n))}
    assert statuses == ({"pass"} if n >= floor else {"insufficient"})
