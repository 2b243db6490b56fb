"""Act 3 — rollback first, deploy second.

A gateway process serves a scorer under open-loop load; a good v2 goes shadow → canary → full on its own; a
v3 with shifted outputs is caught in shadow and a v4 that errors on a slice of inputs is caught in canary —
both rolled back automatically, with the measured time to recover.
"""

from __future__ import annotations

import time
from typing import Any

from trilho.demo.runner import ActResult, DemoContext

MODEL = "scorer"


def _plan(step_s: float, *, shadow_only: bool = False) -> dict[str, Any]:
    steps: list[dict[str, Any]] = [{"shadow": {"percent": 100, "min_requests": 40, "min_duration": step_s}}]
    if not shadow_only:
        steps += [
            {"canary": {"weight": 10, "min_requests": 20, "min_duration": step_s}},
            {"canary": {"weight": 50, "min_requests": 40, "min_duration": step_s}},
        ]
    return {
        "name": "demo",
        "interval": 1,
        "steps": steps,
        "analysis": {
            "error_rate": {"min_requests": 20},
            "latency": {"quantile": 0.9, "max_ratio": 3.0, "min_requests": 40},
            "shadow_agreement": {"threshold": 0.95, "min_pairs": 73},
        },
        "on_insufficient_data": {"action": "extend", "extend_by": 5, "max_extensions": 10},
        "missing_metrics": {"intervals": 20},
    }


CANARY_PLAN = {
    "name": "demo-canary",
    "interval": 1,
    "steps": [{"canary": {"weight": 20, "min_requests": 200, "min_duration": 120}}],
    "analysis": {"error_rate": {"alpha": 0.05, "min_requests": 20}, "latency": None},
    "missing_metrics": {"intervals": 20},
}


def _drive(ctl, rollout_id: int, limit_s: float) -> None:
    deadline = time.monotonic() + limit_s
    while time.monotonic() < deadline:
        ctl.tick()
        if not ctl.service.get(rollout_id).active:
            return
        time.sleep(0.25)


def act(ctx: DemoContext) -> ActResult:
    """Run act 3 and report what it saw."""
    from trilho.rollout.controller import Controller
    from trilho.rollout.scenario import OpenLoopLoad, deploy, register_models, spawn_gateway, wait_ready

    home = ctx.settings.home
    step_s = 3.0 if ctx.quick else 6.0
    with ctx.console.status("registering scorer v1 (stable), v2 (good), v3 (shifted), v4 (errors on 10 %)"):
        versions = register_models(
            ctx.store, ctx.settings.artifacts_url, ctx.workdir / "scorer",
            kinds=("stable", "good", "shifted", "errors10"),
        )  # fmt: skip
        deploy(ctx.store, MODEL, versions["stable"])
    with ctx.console.status("starting a gateway process on the demo store"):
        gateway = spawn_gateway(ctx.settings.database_url, home, window=0.5, log=ctx.workdir / "gateway.log")
        wait_ready([gateway])
    ctl = Controller(ctx.store, gateways=[gateway.url], propagation_timeout=5)
    load = OpenLoopLoad([gateway.url], MODEL, rate=80.0, seed=1).start()
    try:
        time.sleep(1.0)
        outcomes = {}
        for kind, plan, limit in (
            ("good", _plan(step_s), 120),
            ("shifted", _plan(step_s, shadow_only=True), 60),
            ("errors10", CANARY_PLAN, 60),
        ):
            started = time.monotonic()
            ro = ctl.service.start(MODEL, versions[kind], plan, actor="user:demo")
            _drive(ctl, ro.id, limit)
            after = ctl.service.get(ro.id)
            last = ctl.service.history(MODEL, rollout_id=ro.id)[-1]
            outcomes[kind] = (after, time.monotonic() - started, last["reason"])
            ctx.console.print(
                f"v{versions[kind]} ({kind}): [bold]{after.state.phase.value}[/] after "
                f"{time.monotonic() - started:.1f} s — {last['reason'][:100]}"
            )
    finally:
        stats = load.stop()
        gateway.stop()
        ctl.close()
    _print_timeline(ctx, ctl.timeline, versions)
    recoveries = [r for r in ctl.recoveries if r.get("applied_s") is not None]
    good, shifted, errors = outcomes["good"], outcomes["shifted"], outcomes["errors10"]
    ok = (
        good[0].state.phase.value == "promoted"
        and shifted[0].state.phase.value == "rolled_back"
        and errors[0].state.phase.value == "rolled_back"
    )
    ttr = [r["time_to_recover_s"] for r in recoveries]
    rows = [
        ("v2 good", f"{good[0].state.phase.value} in {good[1]:.1f} s"),
        ("v3 shifted outputs", f"{shifted[0].state.phase.value} in shadow after {shifted[1]:.1f} s"),
        ("v4 errors on 10 %", f"{errors[0].state.phase.value} from canary after {errors[1]:.1f} s"),
        ("time to recover (detect + apply)", ", ".join(f"{t:.1f} s" for t in ttr) or "n/a"),
        ("rollback applied on gateway", ", ".join(f"{r['applied_s'] * 1000:.0f} ms" for r in recoveries)),
        ("requests / user-visible errors", f"{stats.sent} / {stats.user_errors}"),
    ]
    ctx.shared["rollout_time_to_recover"] = ttr
    return ActResult(
        title="good v2 promoted on its own; bad v3 (shadow) and v4 (canary) rolled back automatically",
        ok=ok,
        figures=rows,
    )


def _print_timeline(ctx: DemoContext, timeline: list[dict[str, Any]], versions: dict[str, str]) -> None:
    from rich.table import Table

    by_rollout = {i + 1: f"v{versions[k]} {k}" for i, k in enumerate(("good", "shifted", "errors10"))}
    table = Table(title="rollout timeline", show_lines=False)
    for col in ("t (s)", "rollout", "event", "detail"):
        table.add_column(col)
    for e in timeline:
        table.add_row(
            f"{e.get('t', 0):.1f}", by_rollout.get(e.get("rollout"), str(e.get("rollout"))),
            str(e.get("event")), str(e.get("detail", ""))[:90],
        )  # fmt: skip
    ctx.console.print(table)
