"""Running a suite: predict every case in batches, check outputs against the contract, judge each field."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from trilho.errors import SchemaViolation, TrilhoError
from trilho.golden.comparators import Comparator, FieldResult, json_safe
from trilho.golden.suite import Case, Suite
from trilho.obs import counter

_cases = counter(
    "trilho_golden_cases_total", "Golden cases judged, by outcome.", ["model", "version", "outcome"]
)


@dataclass(frozen=True)
class CaseResult:
    """One case's verdict: its field results, an error if the model or contract failed, and the outputs."""

    case_id: str
    passed: bool
    fields: tuple[FieldResult, ...]
    tags: tuple[str, ...]
    actual: dict[str, Any] | None
    error: str | None = None

    @property
    def failures(self) -> list[str]:
        """Human-readable reasons this case failed (empty when it passed)."""
        out = [f"{f.field}: {f.detail}" for f in self.fields if not f.passed]
        return ([self.error] if self.error else []) + out

    def score(self, name: str) -> float:
        """Per-case value of a metric: ``pass_rate`` (1/0) or ``field:<name>`` (the field's score)."""
        if name == "pass_rate":
            return 1.0 if self.passed else 0.0
        wanted = name.removeprefix("field:")
        for f in self.fields:
            if f.field == wanted:
                return f.score
        return 0.0

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready fields."""
        return {
            "id": self.case_id,
            "passed": self.passed,
            "tags": list(self.tags),
            "error": self.error,
            "fields": [f.to_dict() for f in self.fields],
            "actual": json_safe(self.actual),
        }


@dataclass(frozen=True)
class RunResult:
    """A whole suite's run against one model version."""

    suite: str
    suite_hash: str
    model: str
    contract_hash: str
    results: tuple[CaseResult, ...]
    metric_names: tuple[str, ...] = field(default=("pass_rate",))

    @property
    def passed(self) -> bool:
        """True when every case passed."""
        return all(r.passed for r in self.results)

    @property
    def failed(self) -> list[CaseResult]:
        """The failing cases."""
        return [r for r in self.results if not r.passed]

    def metrics(self) -> dict[str, float]:
        """Mean of each metric over the cases (``pass_rate`` and ``field:<name>`` scores)."""
        n = len(self.results) or 1
        return {m: sum(r.score(m) for r in self.results) / n for m in self.metric_names}

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready summary plus per-case verdicts."""
        return {
            "suite": self.suite,
            "suite_hash": self.suite_hash,
            "model": self.model,
            "contract_hash": self.contract_hash,
            "passed": self.passed,
            "total": len(self.results),
            "failures": len(self.failed),
            "metrics": self.metrics(),
            "cases": [r.to_dict() for r in self.results],
        }


def judge_case(
    suite: Suite,
    case: Case,
    actual: dict[str, Any] | None,
    error: str | None = None,
    defaults: dict[str, Comparator] | None = None,
) -> CaseResult:
    """Compare one case's actual output with its expected fields (pure)."""
    if actual is None:
        return CaseResult(case.id, False, (), case.tags, None, error or "the model returned no output")
    results = []
    for name, expected in case.expected.items():
        comp = suite.comparator(case, name, defaults)
        if name not in actual:
            results.append(
                FieldResult(name, comp.describe(), False, 0.0, expected, None, "missing from the output")
            )
        else:
            results.append(comp.compare(name, expected, actual[name]))
    passed = error is None and all(r.passed for r in results)
    return CaseResult(case.id, passed, tuple(results), case.tags, actual, error)


def metric_names(suite: Suite) -> tuple[str, ...]:
    """``pass_rate`` plus one ``field:<name>`` metric per expected field, in first-seen order."""
    names: dict[str, None] = {"pass_rate": None}
    for case in suite.cases:
        for f in case.expected:
            names[f"field:{f}"] = None
    return tuple(names)


def evaluate(
    suite: Suite,
    predict: Callable[[list[dict[str, Any]]], list[dict[str, Any]]],
    *,
    validate: Callable[[dict[str, Any]], Any] | None = None,
    batch_size: int = 256,
    model: str = "",
    contract_hash: str = "",
    defaults: dict[str, Comparator] | None = None,
) -> RunResult:
    """Run ``predict`` on every case (batch-first; a failing batch is retried case by case) and judge it."""
    results: list[CaseResult] = []
    cases = list(suite.cases)
    for start in range(0, len(cases), batch_size):
        batch = cases[start : start + batch_size]
        outputs: Sequence[tuple[dict[str, Any] | None, str | None]]
        try:
            got = predict([c.input for c in batch])
            outputs = [(o, None) for o in got]
        except Exception:
            outputs = [_one(predict, c.input) for c in batch]
        for case, (actual, error) in zip(batch, outputs, strict=True):
            if actual is not None and error is None and validate is not None:
                try:
                    validate(actual)
                except SchemaViolation as exc:
                    error = f"output violates the contract: {exc.message}"
            results.append(judge_case(suite, case, actual, error, defaults))
    return RunResult(
        suite.name, suite.content_hash, model, contract_hash, tuple(results), metric_names(suite)
    )


def _one(predict: Callable, record: dict[str, Any]) -> tuple[dict[str, Any] | None, str | None]:
    try:
        return predict([record])[0], None
    except TrilhoError as exc:
        return None, f"the model failed: {exc.message}"
    except Exception as exc:
        return None, f"the model failed: {type(exc).__name__}: {exc}"


def contract_tolerances(contract: Any) -> dict[str, Comparator]:
    """Default comparators from the contract: output fields that declare a numeric tolerance."""
    try:
        fields = contract.fields("output")
    except Exception:  # a contract without an output role has no tolerances to offer
        return {}
    return {
        f.name: Comparator("tol", tolerance=f.tolerance.abs, rel_tolerance=f.tolerance.rel)
        for f in fields
        if getattr(f, "tolerance", None) is not None
    }


def run_suite(suite: Suite, predictor: Any, *, batch_size: int = 256) -> RunResult:
    """Run a suite against a loaded ``trilho.registry.Predictor``; outputs are checked by its contract."""
    validator = predictor.contract.request_validator("output")
    mv = predictor.model_version
    result = evaluate(
        suite,
        predictor.predict,
        validate=validator.validate,
        batch_size=batch_size,
        model=mv.ref,
        contract_hash=mv.contract_hash,
        defaults=contract_tolerances(predictor.contract),
    )
    for r in result.results:
        _cases.labels(model=mv.name, version=str(mv.version), outcome="pass" if r.passed else "fail").inc()
    return result
