"""The ``trilho eval run`` operation as one Python call: load the suite, look up judge calibrations, load the
baseline, run, check that each gating judge is calibrated for this model version (:mod:`.per_target`), store
the run, record the gate against the model version in the registry, write the reports."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from trilho.errors import EvalError
from trilho.evals.records import latest_calibration
from trilho.evals.report import write_report
from trilho.evals.runs import load_run, save_run
from trilho.evals.suites import Suite, SuiteRun, run_suite


@dataclass(frozen=True)
class EvalOutcome:
    """What ``evaluate_suite`` did: the run, report paths and the registry gate record id (if any)."""

    run: SuiteRun
    json_report: Path
    html_report: Path
    gate_record: int | None = None

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form (items left out; they are in the JSON report)."""
        d = {k: v for k, v in self.run.to_dict().items() if k != "items"}
        d.update(
            {
                "report_json": str(self.json_report),
                "report_html": str(self.html_report),
                "gate_record": self.gate_record,
            }
        )
        return d


def evaluate_suite(
    suite_path: str | Path,
    *,
    store,
    reports_dir: str | Path,
    artifacts_dir: str | Path | None = None,
    gate: bool = False,
    baseline: str | None = None,
    model_ref: str | None = None,
) -> EvalOutcome:
    """Run a suite end to end. Input problems raise before anything is written."""
    suite = Suite.load(suite_path)
    registry = mv = None
    if model_ref is not None:
        from trilho.registry import Registry

        registry = Registry(store, artifacts_dir)
        mv = registry.get(model_ref)  # raises RegistryError (exit 2) before the run
    target = f"{mv.name}@{mv.version}" if mv is not None else None
    kappas = {}
    for spec in suite.judges:
        if spec.calibration:
            rec = latest_calibration(store, spec.calibration, other_than=target)
            if rec is not None:
                kappas[spec.name] = float(rec["kappa"])
    base = load_run(store, baseline, suite=suite.name) if baseline else None
    if base is not None and base.suite != suite.name:
        raise EvalError(
            f"baseline run {base.run_id} is of suite {base.suite!r}, not {suite.name!r}",
            field="baseline",
            value=baseline,
        )
    run = run_suite(
        suite,
        store=store,
        gate=gate,
        baseline=base,
        model=mv.name if mv else None,
        version=str(mv.version) if mv else None,
        judge_kappas=kappas,
    )
    if gate and run.gate is not None:
        from trilho.evals.judge_gate import Population
        from trilho.evals.per_target import fail_unusable
        from trilho.evals.per_target import judge_gates as decide_judges

        candidate = (
            Population(mv.name, str(mv.version), suite.name)
            if mv is not None
            else Population(suite.name, f"run-{run.run_id}", suite.name)
        )
        run.judge_gates = decide_judges(store, suite, run, candidate)
        run.gate = fail_unusable(run.gate, run.judge_gates)
    save_run(store, run)
    record_id = None
    if gate and registry is not None and run.gate is not None:
        evidence = {
            "run_id": run.run_id,
            "suite": run.suite,
            "metrics": run.metrics,
            "gate": run.gate.to_dict(),
            "judge_kappas": kappas,
            "judge_gates": run.judge_gates,
        }
        record_id = registry.record_gate(f"{mv.name}@{mv.version}", "eval", run.gate.decision, evidence).id
    jpath, hpath = write_report(run, reports_dir)
    return EvalOutcome(run, jpath, hpath, record_id)
