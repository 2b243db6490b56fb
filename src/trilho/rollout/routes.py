"""What the routing table must say for a rollout's state (pure): which versions, roles, weights, shadow share.

``desired(current, ...)`` returns the deployment the gateway should obey; the service writes it in the same
transaction as the state change and its audit entry. Versions other than the baseline and the candidate are
left alone (another shadow, say); a finished rollout leaves exactly one stable route.
"""

from __future__ import annotations

from dataclasses import replace

from trilho.rollout.machine import Phase, RolloutState
from trilho.rollout.plan import Plan
from trilho.store.routing import Deployment, Route


def desired(
    current: Deployment, state: RolloutState, plan: Plan, *, baseline: str, candidate: str
) -> Deployment:
    """The deployment for ``state`` derived from ``current`` (unchanged before gates pass)."""
    phase = state.effective_phase
    others = tuple(r for r in current.routes if r.version not in (baseline, candidate) and r.role == "shadow")
    keep_fraction = current.shadow_fraction if others else 0.0
    if phase in (Phase.PENDING, Phase.GATES):
        return current
    if phase is Phase.SHADOW:
        traffic = plan.steps[state.step].body.traffic  # type: ignore[union-attr]
        routes = (Route(baseline, "stable", 1.0), Route(candidate, "shadow", 0.0), *others)
        return replace(current, routes=routes, shadow_fraction=traffic)
    if phase is Phase.CANARY:
        w = plan.steps[state.step].body.weight / 100.0  # type: ignore[union-attr]
        routes = (Route(baseline, "stable", 1.0 - w), Route(candidate, "canary", w), *others)
        return replace(current, routes=routes, shadow_fraction=keep_fraction)
    if phase is Phase.PROMOTED:
        return replace(
            current, routes=(Route(candidate, "stable", 1.0), *others), shadow_fraction=keep_fraction
        )
    # rolled back, killed, aborted: every request to the baseline (or the version rolled back to)
    target = state.rollback_to or baseline
    others = tuple(r for r in others if r.version != target)
    return replace(current, routes=(Route(target, "stable", 1.0), *others), shadow_fraction=keep_fraction)


def candidate_share(deployment: Deployment, candidate: str) -> float:
    """The live share of traffic the candidate answers (0 under a kill switch or when it is only a shadow)."""
    if deployment.kill != "off":
        return 0.0
    return sum(
        r.weight for r in deployment.routes if r.version == candidate and r.role in ("stable", "canary")
    )
