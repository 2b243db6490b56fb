"""Golden operations on registered models: run, compare two versions (and record a signed gate), snapshot."""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

from trilho.golden.compare import Comparison, compare_runs
from trilho.golden.runner import RunResult, run_suite
from trilho.golden.snapshot import Snapshot, build_snapshot
from trilho.golden.suite import Suite, load_suite
from trilho.registry import GateRecord, Registry, SigningKey

GATE_KIND = "golden"


def _suite(suite: Suite | str | os.PathLike[str]) -> Suite:
    return suite if isinstance(suite, Suite) else load_suite(suite)


def run(registry: Registry, suite: Suite | str | os.PathLike[str], ref: str) -> RunResult:
    """Run a suite against ``ref`` (``NAME@champion``, ``NAME@3``...)."""
    s = _suite(suite)
    return run_suite(s, registry.load_predictor(ref))


def record_run(registry: Registry, result: RunResult, key: SigningKey) -> GateRecord:
    """Store a signed ``golden`` gate record for a single run (decision: pass only if every case passed)."""
    evidence = {
        "mode": "run",
        "suite": result.suite,
        "suite_hash": result.suite_hash,
        "contract_hash": result.contract_hash,
        "metrics": result.metrics(),
        "thresholds": {"every_case_passes": True},
        "decision": "pass" if result.passed else "fail",
        "failures": [r.case_id for r in result.failed],
    }
    return registry.record_gate(result.model, GATE_KIND, evidence["decision"], evidence, key=key)


@dataclass(frozen=True)
class CompareOutcome:
    """A comparison and, when it was recorded, the signed gate record."""

    comparison: Comparison
    record: GateRecord | None = None

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready fields."""
        out = self.comparison.to_dict()
        out["record"] = self.record.to_dict() if self.record else None
        return out


def compare(
    registry: Registry,
    suite: Suite | str | os.PathLike[str],
    candidate: str,
    baseline: str,
    *,
    record: bool = False,
    key: SigningKey | None = None,
) -> CompareOutcome:
    """Compare ``candidate`` with ``baseline`` on a suite; with ``record``, store a signed gate record."""
    s = _suite(suite)
    cand = run_suite(s, registry.load_predictor(candidate))
    base = run_suite(s, registry.load_predictor(baseline))
    comparison = compare_runs(cand, base, s.gate)
    gate = None
    if record:
        if key is None:
            from trilho.errors import ConfigError

            raise ConfigError("recording a golden gate needs a signing key", fix="pass key=signing_key(home)")
        gate = registry.record_gate(
            cand.model, GATE_KIND, comparison.decision, comparison.evidence(), key=key
        )
    return CompareOutcome(comparison, gate)


def snapshot(registry: Registry, suite: Suite | str | os.PathLike[str], ref: str) -> Snapshot:
    """New expected outputs for every case from ``ref`` (nothing is written until ``Snapshot.write()``)."""
    s = _suite(suite)
    predictor = registry.load_predictor(ref)
    outputs: dict[str, dict[str, Any]] = {}
    cases = list(s.cases)
    for start in range(0, len(cases), 256):
        batch = cases[start : start + 256]
        for case, out in zip(batch, predictor.predict([c.input for c in batch]), strict=True):
            outputs[case.id] = out
    return build_snapshot(s, outputs)
