"""Act 4 — an LLM feature and its eval gate: the offline judge is fitted on human labels and calibrated, the
template copilot passes its suite's gate, a regressed variant fails it and never reaches canary."""

from __future__ import annotations

from pathlib import Path

from trilho.demo.runner import ActResult, DemoContext

DATA_DIR = Path(__file__).resolve().parents[1] / "data"


def act(ctx: DemoContext) -> ActResult:
    """Run act 4 and report what it saw."""
    from trilho.evals.demo import demo_act

    with ctx.console.status("evaluating the copilot (offline judge on loopback, checks on every answer)"):
        out = demo_act(
            ctx.workdir / "llm",
            store=ctx.store,
            reports_dir=ctx.settings.reports_dir,
            data_dir=DATA_DIR,
            say=ctx.console.print,
        )
    champion, candidate = out["champion"], out["candidate"]
    good = _decision(champion)
    bad = _decision(candidate)
    return ActResult(
        title="copilot passes its eval gate; a regressed variant fails and never reaches canary",
        ok=good == "pass" and bad == "fail",
        figures=[
            ("judge κ vs humans", f"{out['kappa']:.3f}"),
            ("champion gate", good),
            ("regressed gate", bad),
        ],
        artifacts=[str(p) for p in (champion.get("report_html"), candidate.get("report_html")) if p],
    )


def _decision(result: dict) -> str:
    gate = result.get("gate") or {}
    return str(gate.get("decision", "unknown"))
