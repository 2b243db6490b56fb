"""Golden suites on disk: a YAML file (name, default comparators, gate thresholds) plus JSONL cases.

```yaml
name: iris-golden
model: iris@champion          # optional default for `trilho golden run`
cases: iris_cases.jsonl       # relative to this file
fields: {label: exact, proba: {abs: 0.05}}
gate: {metrics: [pass_rate], delta: 0.02, confidence: 0.95, resamples: 2000, seed: 0}
```

Each JSONL line:
``{"id": ..., "input": {...}, "expected": {...}, "compare": {field: comparator}, "tags": [...]}``.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from trilho.errors import GoldenError
from trilho.golden.comparators import Comparator, parse_comparator
from trilho.names import check_name

DEFAULT_COMPARATOR = Comparator("exact")
_SUITE_KEYS = {"name", "description", "model", "cases", "fields", "gate"}
_GATE_KEYS = {"metrics", "delta", "confidence", "resamples", "seed"}
_CASE_KEYS = {"id", "input", "expected", "compare", "tags"}


@dataclass(frozen=True)
class GateSpec:
    """How ``golden compare`` decides: which metrics, the margin δ, and the bootstrap settings."""

    metrics: tuple[str, ...] = ("pass_rate",)
    delta: float = 0.01
    confidence: float = 0.95
    resamples: int = 2000
    seed: int = 0

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready fields."""
        return {
            "metrics": list(self.metrics),
            "delta": self.delta,
            "confidence": self.confidence,
            "resamples": self.resamples,
            "seed": self.seed,
        }


@dataclass(frozen=True)
class Case:
    """One golden case: an input record, the expected output fields, per-field comparators and tags."""

    id: str
    input: dict[str, Any]
    expected: dict[str, Any]
    compare: dict[str, Comparator] = field(default_factory=dict)
    tags: tuple[str, ...] = ()
    line: int = 0
    raw: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)


@dataclass(frozen=True)
class Suite:
    """A loaded golden suite."""

    name: str
    path: Path
    cases_path: Path
    cases: tuple[Case, ...]
    fields: dict[str, Comparator]
    gate: GateSpec
    model: str | None
    content_hash: str
    description: str = ""

    def comparator(self, case: Case, name: str, defaults: dict[str, Comparator] | None = None) -> Comparator:
        """The comparator for a field of a case: the case's, the suite's, the contract's, else exact."""
        return (
            case.compare.get(name)
            or self.fields.get(name)
            or (defaults or {}).get(name)
            or DEFAULT_COMPARATOR
        )

    def filter(self, tags: list[str] | None) -> Suite:
        """Only the cases carrying any of ``tags`` (all cases when ``tags`` is empty)."""
        if not tags:
            return self
        chosen = tuple(c for c in self.cases if set(c.tags) & set(tags))
        return Suite(
            self.name,
            self.path,
            self.cases_path,
            chosen,
            self.fields,
            self.gate,
            self.model,
            self.content_hash,
            self.description,
        )


def _yaml_error(path: Path, exc: yaml.YAMLError) -> GoldenError:
    mark = getattr(exc, "problem_mark", None)
    where = f"{path}:{mark.line + 1}:{mark.column + 1}" if mark is not None else str(path)
    problem = getattr(exc, "problem", None) or str(exc)
    return GoldenError(
        f"{where}: malformed YAML: {problem}",
        fix="fix the YAML at that line and column",
        file=str(path),
        line=mark.line + 1 if mark else None,
        column=mark.column + 1 if mark else None,
    )


def _number(value: Any, name: str, where: str, lo: float, hi: float) -> float:
    if not isinstance(value, int | float) or isinstance(value, bool) or not lo <= value <= hi:
        raise GoldenError(f"{where}: gate.{name} = {value!r} must be a number in [{lo}, {hi}]", field=name)
    return float(value)


def _gate(raw: Any, where: str) -> GateSpec:
    if raw is None:
        return GateSpec()
    if not isinstance(raw, dict) or set(raw) - _GATE_KEYS:
        raise GoldenError(
            f"{where}: gate must be a mapping with keys from {sorted(_GATE_KEYS)}",
            fix="e.g. gate: {metrics: [pass_rate], delta: 0.02, confidence: 0.95}",
            field="gate",
        )
    metrics = raw.get("metrics", ["pass_rate"])
    if isinstance(metrics, str):
        metrics = [metrics]
    if not isinstance(metrics, list) or not metrics or not all(isinstance(m, str) for m in metrics):
        raise GoldenError(f"{where}: gate.metrics must be a list of metric names", field="metrics")
    resamples = raw.get("resamples", 2000)
    seed = raw.get("seed", 0)
    if not isinstance(resamples, int) or resamples < 100:
        raise GoldenError(f"{where}: gate.resamples must be an integer ≥ 100", field="resamples")
    if not isinstance(seed, int):
        raise GoldenError(f"{where}: gate.seed must be an integer", field="seed")
    return GateSpec(
        metrics=tuple(metrics),
        delta=_number(raw.get("delta", 0.01), "delta", where, 0.0, 1.0),
        confidence=_number(raw.get("confidence", 0.95), "confidence", where, 0.5, 0.999),
        resamples=resamples,
        seed=seed,
    )


def _comparators(raw: Any, where: str) -> dict[str, Comparator]:
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        raise GoldenError(f"{where} must map field names to comparators", field="fields")
    return {str(k): parse_comparator(v, f"{where}.{k}") for k, v in raw.items()}


def read_cases(path: Path) -> list[Case]:
    """Parse a JSONL cases file; errors name the file, line and column."""
    if not path.is_file():
        raise GoldenError(
            f"cases file {str(path)!r} does not exist",
            fix="point the suite's `cases:` at a JSONL file next to it",
            file=str(path),
        )
    cases: list[Case] = []
    seen: set[str] = set()
    for lineno, line in enumerate(path.read_text().splitlines(), start=1):
        if not line.strip():
            continue
        where = f"{path}:{lineno}"
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as exc:
            raise GoldenError(
                f"{where}:{exc.colno}: not valid JSON: {exc.msg}",
                fix="write one JSON object per line",
                file=str(path),
                line=lineno,
                column=exc.colno,
            ) from exc
        if not isinstance(obj, dict) or not isinstance(obj.get("input"), dict):
            raise GoldenError(
                f"{where}: a case needs an `input` object",
                fix='{"input": {...}, "expected": {...}}',
                file=str(path),
                line=lineno,
            )
        unknown = set(obj) - _CASE_KEYS
        if unknown:
            raise GoldenError(
                f"{where}: unknown case keys {sorted(unknown)}",
                fix=f"use only {sorted(_CASE_KEYS)}",
                file=str(path),
                line=lineno,
            )
        expected = obj.get("expected", {})
        if not isinstance(expected, dict):
            raise GoldenError(f"{where}: `expected` must be an object", file=str(path), line=lineno)
        tags = obj.get("tags", [])
        if not isinstance(tags, list) or not all(isinstance(t, str) for t in tags):
            raise GoldenError(f"{where}: `tags` must be a list of strings", file=str(path), line=lineno)
        case_id = str(obj.get("id", f"case-{lineno}"))
        if case_id in seen:
            raise GoldenError(f"{where}: duplicate case id {case_id!r}", file=str(path), line=lineno)
        seen.add(case_id)
        cases.append(
            Case(
                id=case_id,
                input=obj["input"],
                expected=expected,
                compare=_comparators(obj.get("compare"), f"{where}: compare"),
                tags=tuple(tags),
                line=lineno,
                raw=obj,
            )
        )
    return cases


def load_suite(path: str | os.PathLike[str]) -> Suite:
    """Load a suite YAML and its cases; bad input raises ``GoldenError`` naming file, line and column."""
    p = Path(path)
    if not p.is_file():
        raise GoldenError(
            f"golden suite {str(p)!r} does not exist", fix="pass the path of a suite YAML file", file=str(p)
        )
    text = p.read_bytes()
    try:
        raw = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise _yaml_error(p, exc) from exc
    if not isinstance(raw, dict):
        raise GoldenError(
            f"{p}: a suite must be a YAML mapping", fix="start with `name:` and `cases:`", file=str(p)
        )
    unknown = set(raw) - _SUITE_KEYS
    if unknown:
        raise GoldenError(
            f"{p}: unknown keys {sorted(unknown)}", fix=f"use only {sorted(_SUITE_KEYS)}", file=str(p)
        )
    cases_rel = raw.get("cases")
    if not isinstance(cases_rel, str):
        raise GoldenError(f"{p}: `cases` must name a JSONL file", fix="cases: my_cases.jsonl", file=str(p))
    cases_path = (p.parent / cases_rel).resolve()
    cases = read_cases(cases_path)
    digest = hashlib.sha256(text + b"\0" + cases_path.read_bytes()).hexdigest()
    model = raw.get("model")
    return Suite(
        name=check_name(str(raw.get("name") or p.stem), f"{p}: suite name", error=GoldenError),
        path=p.resolve(),
        cases_path=cases_path,
        cases=tuple(cases),
        fields=_comparators(raw.get("fields"), f"{p}: fields"),
        gate=_gate(raw.get("gate"), str(p)),
        model=str(model) if model else None,
        content_hash=f"sha256:{digest}",
        description=str(raw.get("description") or ""),
    )
