"""Rollout end to end with real processes: two gateway processes, the controller, open-loop load, one store.

Measures (``python -m benchmarks.bench_rollout [--quick]``): 1. MTTR: a candidate failing on 10 % of its
requests enters a 10 % canary (analysis every 5 s); detection time (canary start → rollback decision),
propagation (decision → every gateway applied), time to 0 % canary traffic seen by the load generator, and
user-visible errors — over repeated runs. 2. A/A: a good candidate (same answers) goes shadow → 10 % → 50
% → full; rollbacks counted (target 0). 3. Three injected regressions (exceptions on a slice, 5× latency,
shifted outputs) with a shadow first step: each must be rolled back in shadow, before any user request
reaches the candidate. Plus the statistical calibration (simulation, many rollouts) of the error-rate
test. Writes ``benchmarks/results/rollout.json``."""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

from rich.console import Console
from sqlalchemy import create_engine, text

from benchmarks._results import print_table, print_targets, target, write_results
from trilho.rollout.calibration import simulate_error_check
from trilho.rollout.controller import Controller
from trilho.rollout.machine import Phase
from trilho.rollout.plan import load_plan
from trilho.rollout.scenario import (
    OpenLoopLoad,
    deploy,
    pg_url_with_schema,
    register_models,
    spawn_gateway,
    wait_ready,
)
from trilho.store import Store
from trilho.store.routing import get_deployment

console = Console()
PG_URL = "postgresql+psycopg://127.0.0.1:5432/test"
MODEL = "scorer"

MTTR_PLAN = {
    "name": "mttr", "interval": 5,
    "steps": [{"canary": {"weight": 10, "min_requests": 100, "min_duration": "10m"}}],
    "analysis": {"error_rate": {"alpha": 0.05, "min_requests": 20}, "latency": None},
    "missing_metrics": {"intervals": 12},
}  # fmt: skip


def aa_plan(step_s: float) -> dict[str, Any]:
    """Shadow → 10 % → 50 % → full, each step ``step_s`` long, analysis every 5 s."""
    return {
        "name": "aa", "interval": 5,
        "steps": [{"shadow": {"percent": 100, "min_requests": 50, "min_duration": step_s}},
                  {"canary": {"weight": 10, "min_requests": 30, "min_duration": step_s}},
                  {"canary": {"weight": 50, "min_requests": 100, "min_duration": step_s}}],
        "analysis": {"error_rate": {"min_requests": 20},
                     "latency": {"quantile": 0.9, "max_ratio": 2.0, "min_requests": 50},
                     "shadow_agreement": {"threshold": 0.95, "min_pairs": 73}},
        "on_insufficient_data": {"action": "extend", "extend_by": 10, "max_extensions": 6},
        "missing_metrics": {"intervals": 12},
    }  # fmt: skip


SHADOW_PLAN = {
    "name": "shadow-first", "interval": 2,
    "steps": [{"shadow": {"percent": 100, "min_requests": 100000, "min_duration": "10m"}},
              {"canary": {"weight": 10, "min_requests": 50, "min_duration": "10m"}}],
    "analysis": {"error_rate": {"min_requests": 20},
                 "latency": {"quantile": 0.9, "max_ratio": 2.0, "min_requests": 50},
                 "shadow_agreement": {"threshold": 0.95, "min_pairs": 73}},
    "missing_metrics": {"intervals": 30},
}  # fmt: skip


def _run_until_done(ctl: Controller, rollout_id: int, limit_s: float, tick: float = 0.25) -> float:
    deadline = time.monotonic() + limit_s
    while time.monotonic() < deadline:
        ctl.tick()
        if not ctl.service.get(rollout_id).active:
            break
        time.sleep(tick)
    return time.monotonic()


def mttr_run(
    ctl: Controller, versions: dict[str, str], urls: list[str], rate: float, i: int
) -> dict[str, Any]:
    """One run: the erroring candidate enters a 10 % canary under load; time its way back out."""
    load = OpenLoopLoad(urls, MODEL, rate, seed=i).start()
    time.sleep(2.0)  # steady state before the canary
    entered = time.monotonic()
    ro = ctl.service.start(MODEL, versions["errors10"], MTTR_PLAN, actor="bench")
    _run_until_done(ctl, ro.id, 90)
    decided = time.monotonic()
    time.sleep(2.0)
    stats = load.stop()
    after = ctl.service.get(ro.id)
    rec = ctl.recoveries[-1] if ctl.recoveries and ctl.recoveries[-1]["rollout"] == ro.id else {}
    last_canary = stats.last_seen.get("variant:canary")
    return {
        "run": i + 1,
        "phase": after.state.phase.value,
        "detection_s": round(rec.get("detected_after_s", float("nan")), 2),
        "propagation_s": round(rec["applied_s"], 3) if rec.get("applied_s") is not None else None,
        # start() (gates included) → the tick that decided returns, which is after every gateway applied it
        "mttr_s": round(decided - entered, 2) if rec.get("applied_s") is not None else None,
        "last_canary_answer_s": round(last_canary - entered, 2) if last_canary else None,
        "requests": stats.sent,
        "canary_answers": stats.by_variant.get("canary", 0),
        "fallbacks": stats.fallbacks,
        "user_errors": stats.user_errors,
    }


def aa_run(
    ctl: Controller, versions: dict[str, str], urls: list[str], rate: float, step_s: float, i: int
) -> dict[str, Any]:
    """A good candidate through every step under load; then put the stable back for the next run."""
    load = OpenLoopLoad(urls, MODEL, rate, seed=100 + i).start()
    time.sleep(1.0)
    t0 = time.monotonic()
    ro = ctl.service.start(MODEL, versions["good"], aa_plan(step_s), actor="bench")
    _run_until_done(ctl, ro.id, 3 * step_s + 120)
    stats = load.stop()
    after = ctl.service.get(ro.id)
    row = {
        "run": i + 1,
        "phase": after.state.phase.value,
        "seconds": round(time.monotonic() - t0, 1),
        "requests": stats.sent,
        "user_errors": stats.user_errors,
        "reason": ctl.service.history(MODEL, rollout_id=ro.id)[-1]["reason"][:80],
    }
    if after.state.phase is Phase.PROMOTED:  # restore the stable version for the next scenario
        ctl.service.route_to(MODEL, versions["stable"], actor="bench", reason="reset after A/A run")
    return row


def shadow_run(ctl: Controller, versions: dict[str, str], urls: list[str], rate: float, kind: str) -> dict:
    """An injected regression with a shadow first step: it must be caught before any user request."""
    load = OpenLoopLoad(urls, MODEL, rate, seed=7).start()
    time.sleep(1.0)
    t0 = time.monotonic()
    ro = ctl.service.start(MODEL, versions[kind], SHADOW_PLAN, actor="bench")
    _run_until_done(ctl, ro.id, 60)
    stats = load.stop()
    after = ctl.service.get(ro.id)
    last = ctl.service.history(MODEL, rollout_id=ro.id)[-1]
    return {
        "regression": kind,
        "phase": after.state.phase.value,
        "step": after.state.step,
        "caught_after_s": round(time.monotonic() - t0, 1),
        "user_requests_to_candidate": stats.by_version.get(versions[kind], 0),
        "reason": last["reason"][:90],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="one run of each, short steps (≤ ~1.5 min)")
    parser.add_argument("--rate", type=float, default=60.0, help="offered load, requests per second")
    args = parser.parse_args()
    quick = args.quick
    mttr_runs, aa_runs, step_s = (1, 1, 10.0) if quick else (5, 2, 20.0)

    schema = f"bench_{uuid.uuid4().hex[:8]}"
    admin = create_engine(PG_URL)
    with admin.begin() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    tmp = Path(tempfile.mkdtemp(prefix="trilho-bench-rollout-"))
    store = Store(PG_URL, schema=schema)
    gateways = []
    ctl = None
    try:
        store.migrate()
        home = tmp / "home"
        with console.status("registering models and starting two gateway processes"):
            versions = register_models(store, home / "artifacts", tmp / "models")
            deploy(store, MODEL, versions["stable"])
            gateways = [
                spawn_gateway(pg_url_with_schema(PG_URL, schema), home, window=1.0, log=tmp / f"gw{i}.log")
                for i in range(2)
            ]
            wait_ready(gateways)
        urls = [g.url for g in gateways]
        ctl = Controller(store, gateways=urls, propagation_timeout=5)

        mttr = []
        for i in range(mttr_runs):
            with console.status(f"MTTR run {i + 1}/{mttr_runs}"):
                mttr.append(mttr_run(ctl, versions, urls, args.rate, i))
        print_table("10 % canary failing on 10 % of its requests (analysis every 5 s)", mttr, console)

        shadow = []
        for kind in ("errors10", "slow5x", "shifted"):
            with console.status(f"shadow regression {kind}"):
                shadow.append(shadow_run(ctl, versions, urls, args.rate, kind))
        print_table("injected regressions with a shadow first step", shadow, console)

        aa = []
        for i in range(aa_runs):
            with console.status(f"A/A run {i + 1}/{aa_runs}"):
                aa.append(aa_run(ctl, versions, urls, args.rate, step_s, i))
        print_table("A/A: a good candidate through shadow → 10 % → 50 % → full", aa, console)

        with console.status("calibration simulation"):
            plan = load_plan(aa_plan(60))
            sims = []
            for rate in (0.001, 0.01, 0.05):
                res = simulate_error_check(
                    plan,
                    base_rate=rate,
                    cand_rate=rate,
                    requests_per_second=args.rate,
                    rollouts=2000 if quick else 20000,
                    seed=1,
                )
                sims.append(
                    {
                        "kind": "A/A",
                        "base_rate": rate,
                        "cand_rate": rate,
                        "alpha": res.alpha,
                        "rollback_rate": res.rollback_rate,
                        "power_within_300_requests": None,
                        "median_requests": None,
                    }
                )
            canary = load_plan({**MTTR_PLAN, "steps": [{"canary": {"weight": 10, "min_duration": "5m"}}]})
            res = simulate_error_check(
                canary,
                base_rate=0.01,
                cand_rate=0.06,
                requests_per_second=args.rate,
                rollouts=2000 if quick else 20000,
                seed=2,
                request_budget=300,
            )
            sims.append(
                {
                    "kind": "+5 points",
                    "base_rate": 0.01,
                    "cand_rate": 0.06,
                    "alpha": res.alpha,
                    "rollback_rate": res.rollback_rate,
                    "power_within_300_requests": res.power_within_budget,
                    "median_requests": res.detection_requests_median,
                }
            )
        print_table("calibration (simulated rollouts)", sims, console)

        mttrs = [r["mttr_s"] for r in mttr if r["mttr_s"] is not None]
        props = [r["propagation_s"] for r in mttr if r["propagation_s"] is not None]
        worst_mttr = max(mttrs) if len(mttrs) == len(mttr) else None
        canary_share = [r["fallbacks"] / max(1, r["requests"]) for r in mttr]
        targets = [
            target(
                "MTTR (canary start → every gateway at 0 % canary), worst run",
                "≤ 30 s at a 5 s interval",
                worst_mttr,
                worst_mttr is not None and worst_mttr <= 30,
            ),
            target(
                "rollback propagation (decision → both gateways applied), worst",
                "≤ 1 s",
                max(props) if props else None,
                bool(props) and max(props) <= 1.0,
            ),
            target(
                "user-visible errors in MTTR runs, at most the canary's own answers in each run",
                "≤ canary answers per run",
                [f"{r['user_errors']} ≤ {r['canary_answers']}" for r in mttr],
                all(r["user_errors"] <= r["canary_answers"] for r in mttr),
            ),
            target(
                "candidate failures answered by the fallback, share of all requests",
                "≈ 10 % canary × 10 % slice = 1 % (≤ 2 %)",
                round(max(canary_share), 4),
                max(canary_share) <= 0.02,
            ),
            target(
                "A/A candidate promoted through every step (no false rollback)",
                f"{len(aa)} of {len(aa)} promoted",
                sum(r["phase"] == "promoted" for r in aa),
                all(r["phase"] == "promoted" for r in aa),
            ),
            target(
                "regressions caught in shadow before any user request",
                "3 of 3",
                sum(
                    r["phase"] == "rolled_back" and r["step"] == 0 and r["user_requests_to_candidate"] == 0
                    for r in shadow
                ),
                all(
                    r["phase"] == "rolled_back" and r["step"] == 0 and r["user_requests_to_candidate"] == 0
                    for r in shadow
                ),
            ),
            target(
                "simulated A/A false-rollback rate",
                "≤ α = 0.05",
                max(s["rollback_rate"] for s in sims[:3]),
                all(s["rollback_rate"] <= 0.05 for s in sims[:3]),
            ),
            target(
                "simulated power for +5 points within 300 candidate requests",
                "≥ 0.9",
                sims[3]["power_within_300_requests"],
                sims[3]["power_within_300_requests"] >= 0.9,
            ),
        ]
        print_targets(targets, console)
        table = (
            [{"scenario": "mttr", **r} for r in mttr]
            + [{"scenario": "shadow", **r} for r in shadow]
            + [{"scenario": "aa", **r} for r in aa]
        )
        path = write_results(
            "rollout",
            table,
            targets,
            quick=quick,
            extra={
                "calibration": sims,
                "settings": {
                    "rate_rps": args.rate,
                    "gateways": 2,
                    "gateway_window_s": 1.0,
                    "analysis_interval_s": 5,
                    "store": "postgresql",
                },
                "mttr_median_s": statistics.median(mttrs) if mttrs else None,
            },
        )
        console.print(f"wrote {path}")
        console.print(f"final routing: {get_deployment(store, MODEL).routes}")
    finally:
        if ctl is not None:
            ctl.close()
        for g in gateways:
            g.stop()
        store.dispose()
        with admin.begin() as conn:
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


if __name__ == "__main__":
    main()
