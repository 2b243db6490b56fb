"""Candidate versus baseline on one suite: per-case deltas, metric deltas with bootstrap intervals, a verdict.

The verdict uses the lower confidence bound, never the point estimate: a gated metric passes when the lower
bound of (candidate − baseline) is above −δ.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from trilho.errors import GoldenError
from trilho.golden.runner import RunResult
from trilho.golden.stats import bootstrap_ci, gate_passes
from trilho.golden.suite import GateSpec


@dataclass(frozen=True)
class MetricDelta:
    """One metric compared: both means, their difference and its confidence interval, and the verdict."""

    name: str
    candidate: float
    baseline: float
    delta: float
    ci_low: float
    ci_high: float
    threshold: float
    gated: bool
    passed: bool

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready fields."""
        return dict(self.__dict__)


@dataclass(frozen=True)
class Comparison:
    """The whole comparison: per-case changes, metric deltas, the thresholds used and the decision."""

    suite: str
    suite_hash: str
    candidate: str
    baseline: str
    contract_hash: str
    cases: tuple[dict[str, Any], ...]
    metrics: tuple[MetricDelta, ...]
    gate: GateSpec

    @property
    def passed(self) -> bool:
        """True when every gated metric passes."""
        return all(m.passed for m in self.metrics if m.gated)

    @property
    def decision(self) -> str:
        """``pass`` or ``fail``."""
        return "pass" if self.passed else "fail"

    def evidence(self) -> dict[str, Any]:
        """What a signed gate record keeps: hashes, metrics, thresholds and the decision."""
        return {
            "suite": self.suite,
            "suite_hash": self.suite_hash,
            "contract_hash": self.contract_hash,
            "candidate": self.candidate,
            "baseline": self.baseline,
            "metrics": {m.name: m.to_dict() for m in self.metrics},
            "thresholds": self.gate.to_dict(),
            "decision": self.decision,
            "regressions": [c["id"] for c in self.cases if c["change"] == "regressed"],
        }

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready fields."""
        out = self.evidence()
        out["passed"] = self.passed
        out["cases"] = list(self.cases)
        return out


def compare_runs(candidate: RunResult, baseline: RunResult, gate: GateSpec) -> Comparison:
    """Compare two runs of the same suite case by case (pure; seeded bootstrap)."""
    if candidate.suite_hash != baseline.suite_hash:
        raise GoldenError("the two runs are of different suites", fix="run both versions on the same suite")
    base_by_id = {r.case_id: r for r in baseline.results}
    pairs = [(c, base_by_id[c.case_id]) for c in candidate.results if c.case_id in base_by_id]
    names = list(dict.fromkeys([*candidate.metric_names, *gate.metrics]))
    unknown = [m for m in gate.metrics if m not in candidate.metric_names]
    if unknown:
        raise GoldenError(
            f"gate metrics {unknown} are not produced by this suite",
            fix=f"use some of: {', '.join(candidate.metric_names)}",
            field="gate.metrics",
        )
    cases = []
    for c, b in pairs:
        change = "same" if c.passed == b.passed else ("regressed" if b.passed else "fixed")
        cases.append(
            {
                "id": c.case_id,
                "candidate_passed": c.passed,
                "baseline_passed": b.passed,
                "change": change,
                "deltas": {m: c.score(m) - b.score(m) for m in names},
            }
        )
    metrics = []
    for m in names:
        cand = [c.score(m) for c, _ in pairs]
        base = [b.score(m) for _, b in pairs]
        diffs = [x - y for x, y in zip(cand, base, strict=True)]
        lo, hi = bootstrap_ci(diffs, confidence=gate.confidence, resamples=gate.resamples, seed=gate.seed)
        n = len(pairs) or 1
        gated = m in gate.metrics
        metrics.append(
            MetricDelta(
                name=m,
                candidate=sum(cand) / n,
                baseline=sum(base) / n,
                delta=sum(diffs) / n,
                ci_low=lo,
                ci_high=hi,
                threshold=-gate.delta,
                gated=gated,
                passed=gate_passes(lo, gate.delta),
            )
        )
    return Comparison(
        suite=candidate.suite,
        suite_hash=candidate.suite_hash,
        candidate=candidate.model,
        baseline=baseline.model,
        contract_hash=candidate.contract_hash,
        cases=tuple(cases),
        metrics=tuple(metrics),
        gate=gate,
    )
