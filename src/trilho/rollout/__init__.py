"""trilho.rollout — the control plane: plans, statistics against the baseline, decisions, automatic rollback,
kill switch, hash-chained audit log, the controller loop and the control API.

    from trilho.rollout import Controller, load_plan

    ctl = Controller(store)                                   # or clock=ManualClock() in tests
    ctl.service.start("iris", "3", load_plan("plan.yaml"), actor="user:alice")
    report = ctl.run(seconds=600)                             # or iterations=N
    report.timeline, report.time_to_recover
"""

from trilho.rollout.analysis import CheckResult, StepDecision, VersionWindow, decide, run_checks
from trilho.rollout.controller import Controller, RunReport
from trilho.rollout.gates import GateReport, registry_gates, skip_gates
from trilho.rollout.machine import Event, Phase, RolloutState
from trilho.rollout.plan import DEFAULT_PLAN_YAML, Plan, load_plan
from trilho.rollout.service import Rollout, RolloutService


def run_rollout(
    store,
    model: str,
    candidate: str,
    plan,
    *,
    actor: str = "user:demo",
    seconds: float | None = None,
    iterations: int | None = None,
    on_tick=None,
    **controller_options,
) -> tuple[Rollout, RunReport]:
    """Start a rollout and run the controller on it; returns the final rollout and the run's report.

    ``controller_options`` go to :class:`Controller` (``clock``, ``gateways``, ``gates``, ``interval`` …);
    stop after ``seconds`` of clock time or ``iterations`` ticks, or as soon as the rollout has finished.
    ``on_tick(controller)`` runs before every tick (a demo or test can play traffic there).
    """
    ctl = Controller(store, **controller_options)
    try:
        ro = ctl.service.start(model, candidate, plan, actor=actor)
        ticks = 0
        start = ctl.clock.monotonic()
        while ctl.service.get(ro.id).active:
            if iterations is not None and ticks >= iterations:
                break
            if seconds is not None and ctl.clock.monotonic() - start >= seconds:
                break
            ctl.run(iterations=1, tick_every=controller_options.get("interval") or 1.0, on_tick=on_tick)
            ticks += 1
        report = RunReport(ticks, list(ctl.timeline), list(ctl.rollback_seconds), list(ctl.recoveries))
        return ctl.service.get(ro.id), report
    finally:
        ctl.close()


__all__ = [
    "DEFAULT_PLAN_YAML",
    "CheckResult",
    "Controller",
    "Event",
    "GateReport",
    "Phase",
    "Plan",
    "Rollout",
    "RolloutService",
    "RolloutState",
    "RunReport",
    "StepDecision",
    "VersionWindow",
    "decide",
    "load_plan",
    "registry_gates",
    "run_checks",
    "run_rollout",
    "skip_gates",
]
