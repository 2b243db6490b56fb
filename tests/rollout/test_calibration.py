"""Calibration of the error-rate check: A/A false rollbacks ≤ α, and +5 points caught with power ≥ 0.9."""

from __future__ import annotations

import pytest

from trilho.rollout.calibration import simulate_error_check
from trilho.rollout.plan import load_plan

PLAN = load_plan(
    {
        "interval": 5,
        "analysis": {"error_rate": {"alpha": 0.05, "mde": 0.02}},
        "steps": [
            {"shadow": {"traffic": 0.2, "min_duration": "1m"}},
            {"canary": {"weight": 1, "min_duration": "2m"}},
            {"canary": {"weight": 10, "min_duration": "2m"}},
            {"canary": {"weight": 50, "min_duration": "2m"}},
        ],
    }
)


def _plan(method):
    return load_plan(
        {**PLAN.model_dump(mode="json"), "analysis": {"error_rate": {"alpha": 0.05, "method": method}}}
    )


@pytest.mark.parametrize(
    ("method", "rate"),
    [
        ("beta_mixture", 0.0005),
        ("beta_mixture", 0.01),
        ("beta_mixture", 0.05),
        ("msprt", 0.01),
        ("msprt", 0.05),
    ],
)
def test_aa_false_rollback_rate_is_at_most_alpha(method, rate):
    """Checked every 5 s through four steps (~84 looks), A/A rollouts roll back ≤ α of the time."""
    res = simulate_error_check(
        _plan(method), base_rate=rate, cand_rate=rate, requests_per_second=50, rollouts=2000, seed=7
    )
    # 2000 rollouts: the binomial standard error at α = 0.05 is 0.005, so 0.05 is a real bound, not noise.
    assert res.rollback_rate <= 0.05, res


@pytest.mark.parametrize("method", ["beta_mixture", "msprt"])
def test_five_point_regression_is_caught_with_power_at_least_0_9(method):
    plan = load_plan(
        {
            "interval": 5,
            "analysis": {"error_rate": {"alpha": 0.05, "method": method}},
            "steps": [{"canary": {"weight": 10, "min_duration": "5m"}}],
        }
    )
    budget = 1000
    res = simulate_error_check(
        plan,
        base_rate=0.01,
        cand_rate=0.06,
        requests_per_second=50,
        rollouts=2000,
        seed=11,
        request_budget=budget,
    )
    assert res.power_within_budget >= 0.9, res
    assert res.detection_requests_p90 <= budget
    print(
        f"\n{method}: +5 points caught in ≤ {budget} candidate requests "
        f"with power {res.power_within_budget:.3f}; "
        f"median {res.detection_requests_median:.0f}, p90 {res.detection_requests_p90:.0f} requests"
    )
