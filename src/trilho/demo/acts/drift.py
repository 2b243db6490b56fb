"""Act 6 — continuous training: a project rendered from the tabular template ships v1 through its pipeline;
a stream of fresh data windows is watched for drift; a planted shift triggers a retrain that goes through the
same gates (contract, golden) and starts a canary."""

from __future__ import annotations

import numpy as np
import pandas as pd

from trilho.demo.runner import ActResult, DemoContext


def churn_window(rng: np.random.Generator, n: int = 600, spend_shift: float = 0.0) -> pd.DataFrame:
    """One window of fresh churn data; ``spend_shift`` moves monthly spend (a planted drift)."""
    tenure = rng.integers(1, 72, n)
    spend = np.round(rng.uniform(10, 120, n) + spend_shift, 2)
    logit = 2.5 - 0.12 * tenure + 0.03 * (spend - 60)
    churn = (rng.random(n) < 1 / (1 + np.exp(-logit))).astype(int)
    return pd.DataFrame({"tenure_months": tenure, "monthly_spend": spend, "churn": churn})


def act(ctx: DemoContext) -> ActResult:
    """Run act 6 and report what it saw."""
    from trilho.clock import ManualClock
    from trilho.ct import Watcher, watch_frames
    from trilho.pipeline import run_pipeline
    from trilho.templates import init_project

    with ctx.console.status("rendering a project from the tabular template and running its pipeline"):
        project = init_project(
            "churn-ct",
            template="tabular",
            dest=ctx.workdir / "churn-ct",
            data={"model_name": "churn_ct"},
            home=ctx.settings.home,
        ).dest
        first = run_pipeline(project, store=ctx.store, settings=ctx.settings, console=ctx.console)
    ctx.console.print(f"pipeline: churn_ct@{first.version} trained, gated, registered and deployed")
    rng = np.random.default_rng(5)
    windows = [churn_window(rng), churn_window(rng)] + [churn_window(rng, spend_shift=60.0) for _ in range(3)]
    clock = ManualClock()
    watcher = Watcher(
        project,
        consecutive=2,
        cooldown_s=3600,
        store=ctx.store,
        settings=ctx.settings,
        clock=clock,
        console=ctx.console,
    )
    summary = watch_frames(watcher, _ticking(windows, clock))
    for w in summary.windows:
        mark = "[red]drift[/]" if w.report.drifted else "quiet"
        extra = f" → retrain fired: {w.decision.reason}" if w.decision.fire else ""
        ctx.console.print(f"window {w.index}: {mark} {', '.join(w.report.drifted_features)}{extra}")
    retrain = summary.retrains[0] if summary.retrains else {}
    rollout = (retrain.get("rollout") or {}).get("action")
    ok = summary.first_fire is not None and retrain.get("ok") and rollout == "rollout_started"
    return ActResult(
        title="planted drift detected; retrained model went through the same gates into a canary",
        ok=bool(ok),
        figures=[
            ("windows (quiet, then shifted)", str(len(summary.windows))),
            ("retrain fired at window", str(summary.first_fire)),
            ("retrained version", f"churn_ct@{retrain.get('version')}"),
            ("next step", str(rollout)),
        ],
    )


def _ticking(windows, clock):
    for frame in windows:
        yield frame
        clock.advance(60)
