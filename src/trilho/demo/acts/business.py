"""Act 7 — business metrics gate a rollout: simulated shoppers order 3 % more on v2's recommendations and 5 %
fewer on v3's. Each candidate runs a canary step whose plan names orders per exposed user as a guardrail and
a goal; every interval the controller joins the exposure log to the orders table (CUPED on the week before)
and judges the lift's always-valid interval: v2 is promoted once its lower bound clears 0, v3 — fast and
error-free — is rolled back on the guardrail. Simulated on a manual clock (minutes of traffic in seconds);
the rollouts and their intervals are in the store the dashboard reads."""

from __future__ import annotations

from datetime import UTC, datetime

from trilho.demo.runner import ActResult, DemoContext

MODEL = "shop-recs"


def _plan(sim, planned_units: int) -> dict:
    metric = {"metric": "orders", "covariate": "orders_pre", "min_units": 500}
    return {
        "interval": 5,
        "steps": [{"canary": {"weight": 50, "min_requests": 100, "min_duration": "1m"}}],
        "on_insufficient_data": {"action": "extend", "extend_by": "1m", "max_extensions": 10},
        "analysis": {
            "business": {
                "outcomes": str(sim.outcomes),
                "exposures": str(sim.root),
                "planned_units": planned_units,
                "metrics": [
                    {**metric, "name": "orders", "role": "guardrail"},
                    {**metric, "name": "orders (goal)", "role": "goal"},
                ],
            }
        },
    }


def act(ctx: DemoContext) -> ActResult:
    """Run act 7 and report what it saw."""
    from trilho.clock import ManualClock
    from trilho.rollout.controller import Controller
    from trilho.rollout.gates import skip_gates
    from trilho.rollout.plan import load_plan
    from trilho.store.routing import Deployment, Route, get_deployment, set_deployment
    from trilho.testing.exposures import Exposures, write_live_windows

    store = ctx.store
    set_deployment(store, Deployment(MODEL, routes=(Route("1"),)), actor="demo")
    clock = ManualClock(datetime.now(UTC).replace(microsecond=0))
    gates = skip_gates("demo", "simulated shoppers: the act is about the business-metric gate")
    outcome: dict[str, tuple[str, dict]] = {}
    for candidate, lift in (("2", 0.03), ("3", -0.05)):
        ctl = Controller(store, clock=clock, gates=gates, holder="demo-business")
        sim = Exposures(
            store, clock, ctx.workdir / "business" / f"v{candidate}", model=MODEL, seed=int(candidate)
        )
        sim.lift = {candidate: lift}
        ro = ctl.service.start(MODEL, candidate, load_plan(_plan(sim, 20_000)), actor="demo")
        last = [clock.now()]

        def tick(_c=None, sim=sim, ro=ro, last=last) -> None:
            sim()
            write_live_windows(
                store, MODEL, last[0], clock.now(), {ro.baseline: "stable", ro.candidate: "canary"}
            )
            last[0] = clock.now()

        with ctx.console.status(
            f"v{candidate}: simulated shoppers ({lift:+.0%} orders), controller every 5 s"
        ):
            ctl.run(seconds=900, tick_every=5, on_tick=tick)
        ctl.close()
        done = ctl.service.latest(MODEL)
        decided = [
            e
            for e in ctl.service.history(MODEL, rollout_id=done.id)
            if e["action"] in ("advance", "rollback")
        ]
        checks = {c["name"]: c for c in (decided[-1]["evidence"]["decision"]["checks"] if decided else [])}
        outcome[candidate] = (done.state.phase.value, checks)
        ctx.console.print(
            f"v{candidate}: {done.state.phase.value} — {decided[-1]['reason'] if decided else 'no decision'}"
        )

    def shown(candidate: str, name: str) -> str:
        ev = outcome[candidate][1].get(name, {}).get("evidence", {})
        if ev.get("lower") is None:
            return "no interval"
        return f"{ev['relative']:+.2%} [{ev['lower']:+.2%}, {ev['upper']:+.2%}]"

    routes = {r.version: r.weight for r in get_deployment(store, MODEL).routes}
    ok = outcome["2"][0] == "promoted" and outcome["3"][0] == "rolled_back" and routes == {"2": 1.0}
    return ActResult(
        title="business metrics gate rollouts: v2 (+3 % orders) promoted, v3 (−5 %) rolled back",
        ok=ok,
        figures=[
            ("v2 orders lift (true +3%)", f"{shown('2', 'business:orders (goal)')} → {outcome['2'][0]}"),
            ("v3 orders lift (true −5%)", f"{shown('3', 'business:orders')} → {outcome['3'][0]}"),
            ("serving now", ", ".join(f"v{v} {w:.0%}" for v, w in routes.items())),
        ],
    )
