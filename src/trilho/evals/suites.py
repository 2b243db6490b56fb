"""Eval suites: a YAML file naming a dataset (JSONL), a target, scorers (deterministic checks and judges) and
thresholds. ``run_suite`` produces a :class:`SuiteRun`: per-item scores, metric means, and (with ``gate``) a
:class:`~trilho.evals.gates.GateDecision` against thresholds and an optional stored baseline run.

Suite format::

    name: copilot
    dataset: cases.jsonl                 # rows: {"id", "input", optional "reference", "output_b", "label"}
    target: {type: callable, callable: "pkg.mod:answer"}  # or {type: openai, base_url, model}
                                         # or {type: http, url, input_field, output_field}
    checks:                              # each becomes a pass-rate metric "check:<id>"
      - {check: pii, options: {engine: pattern}}
    judges:                              # each becomes "judge:<name>"
      - name: complies
        base_url: ${JUDGE_URL}           # environment variables are expanded
        model: trilho-refusal-minilm
        rubric: {kind: pass_fail, criteria: "Pass when the answer complies."}
        calibration: refusal-judge       # stored calibration; its kappa must clear the floor to gate
      - name: better                     # pairwise: the target's output (A) against each row's answer B,
        base_url: ${JUDGE_URL}           # asked in both orders (an inconsistent pair is a tie); per item
        model: trilho-refusal-minilm     # 1 / 0.5 / 0, reported beside the length-only baseline
        rubric: {kind: pairwise, criteria: "Which answer is more helpful?"}
        compare_to: output_b             # the row field holding answer B (default output_b)
    thresholds: {"check:pii": {min: 1.0}, "judge:complies": {min: 0.8}}
    gate: {alpha: 0.05, min_effect: 0.02, kappa_floor: 0.6}
                                         # per-target calibration (judges whose calibration names a
                                         # population): shift_alpha 0.01, kappa_half_width 0.1
"""

from __future__ import annotations

import asyncio
import json
import os
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from trilho.errors import EvalError
from trilho.evals.calibration import DEFAULT_KAPPA_FLOOR
from trilho.evals.checks import CheckContext, make_check
from trilho.evals.gates import GateDecision, decide_gate
from trilho.evals.judge_gate import SHIFT_ALPHA
from trilho.evals.judges import Judge, JudgeCache, JudgeClient, Rubric
from trilho.evals.targets import Target
from trilho.names import check_name

_SUITE_KEYS = {
    "name",
    "description",
    "dataset",
    "target",
    "checks",
    "judges",
    "thresholds",
    "gate",
    "model",
    "version",
}
_JUDGE_KEYS = {
    "name",
    "base_url",
    "model",
    "rubric",
    "repeats",
    "calibration",
    "params",
    "api_key",
    "max_concurrency",
    "pass_label",
    "price_in",
    "price_out",
    "max_retries",
    "compare_to",
}


@dataclass
class JudgeSpec:
    """A judge scorer from a suite file."""

    name: str
    base_url: str
    model: str
    rubric: Rubric
    repeats: int = 1
    calibration: str | None = None
    params: dict[str, Any] = field(default_factory=lambda: {"temperature": 0})
    api_key: str = "not-needed"
    max_concurrency: int = 8
    max_retries: int = 4
    pass_label: str | None = None
    price_in: float = 0.0
    price_out: float = 0.0
    compare_to: str = "output_b"

    @property
    def pairwise(self) -> bool:
        """True for a pairwise judge (the target's output against the row's ``compare_to`` answer)."""
        return self.rubric.kind == "pairwise"

    @property
    def binary(self) -> bool:
        """True when the judge's per-item value is pass (1) / fail (0)."""
        return self.rubric.kind in ("pass_fail", "reference") or (
            self.rubric.kind == "label" and self.pass_label is not None
        )


@dataclass
class Suite:
    """A loaded, validated suite."""

    name: str
    rows: list[dict[str, Any]]
    target: dict[str, Any]
    checks: list[tuple[str, Any]]
    judges: list[JudgeSpec]
    thresholds: dict[str, dict[str, float]]
    gate: dict[str, float]
    source: str = "<dict>"

    @classmethod
    def load(cls, path: str | Path) -> Suite:
        """Load a suite YAML file (the dataset path is relative to it)."""
        import yaml

        p = Path(path)
        if not p.is_file():
            raise EvalError(f"suite file {str(p)!r} does not exist", field="suite", value=str(p))
        try:
            doc = yaml.safe_load(p.read_text(encoding="utf-8"))
        except yaml.YAMLError as exc:
            raise EvalError(f"suite {p.name} is not valid YAML: {exc}", field="suite", value=str(p)) from exc
        return cls.from_dict(doc, base_dir=p.parent, source=str(p))

    @classmethod
    def from_dict(cls, doc: Any, *, base_dir: Path | None = None, source: str = "<dict>") -> Suite:
        """Validate a suite mapping; every problem is an ``EvalError`` naming the field."""
        if not isinstance(doc, Mapping):
            raise EvalError(f"suite {source} must be a mapping", field="suite")
        unknown = set(doc) - _SUITE_KEYS
        if unknown:
            raise EvalError(
                f"suite has unknown key(s) {sorted(unknown)}", field="suite", value=sorted(unknown)
            )
        for key in ("name", "dataset", "target"):
            if key not in doc:
                raise EvalError(f"suite {source} needs {key!r}", field=key)
        name = check_name(doc["name"], "suite name", error=EvalError)
        rows = _load_dataset(doc["dataset"], base_dir)
        checks = []
        for i, c in enumerate(doc.get("checks") or []):
            if not isinstance(c, Mapping) or "check" not in c:
                raise EvalError(f"checks[{i}] must be a mapping with 'check'", field=f"checks[{i}]")
            checks.append((str(c.get("id", c["check"])), make_check(str(c["check"]), c.get("options") or {})))
        judges = [_judge_spec(j, i) for i, j in enumerate(doc.get("judges") or [])]
        for i, spec in enumerate(judges):
            missing = [r["id"] for r in rows if spec.pairwise and spec.compare_to not in r]
            if missing:
                raise EvalError(
                    f"judges[{i}] ({spec.name!r}) is pairwise but dataset row(s) {missing[:5]} have no "
                    f"{spec.compare_to!r} answer to compare with",
                    fix=f"add {spec.compare_to!r} to every row, or set compare_to to the field that holds it",
                    field="dataset",
                    value=missing[:5],
                )
        if not checks and not judges:
            raise EvalError("a suite needs at least one check or judge", field="checks")
        names = [f"check:{cid}" for cid, _ in checks] + [f"judge:{j.name}" for j in judges]
        if len(set(names)) != len(names):
            raise EvalError("scorer names must be unique", field="checks", value=names)
        thresholds = dict(doc.get("thresholds") or {})
        for metric, bound in thresholds.items():
            if metric not in names:
                raise EvalError(
                    f"threshold on unknown metric {metric!r}",
                    fix=f"use one of: {', '.join(names)}",
                    field="thresholds",
                    value=metric,
                )
            if not isinstance(bound, Mapping) or not set(bound) <= {"min", "max"} or not bound:
                raise EvalError(
                    f"threshold for {metric!r} must be {{min: x}} and/or {{max: y}}",
                    field="thresholds",
                    value=metric,
                )
        gate = gate_spec(doc.get("gate"))
        Target(doc["target"])  # validates the target now, not half-way through a run
        return cls(name, rows, dict(doc["target"]), checks, judges, thresholds, gate, source)

    @property
    def binary_metrics(self) -> set[str]:
        """Metrics whose per-item values are pass/fail (compared with McNemar)."""
        return {f"check:{cid}" for cid, _ in self.checks} | {
            f"judge:{j.name}" for j in self.judges if j.binary
        }


# gate key → (default, low, high, whether the bounds are open): every bad value is a field-named error
_GATE = {
    "alpha": (0.05, 0.0, 1.0, True),
    "min_effect": (0.0, 0.0, 1.0, False),
    "kappa_floor": (DEFAULT_KAPPA_FLOOR, -1.0, 1.0, False),
    "shift_alpha": (SHIFT_ALPHA, 0.0, 1.0, True),
    "kappa_half_width": (0.1, 0.0, 1.0, True),
}


def gate_spec(raw: Any) -> dict[str, float]:
    """The suite's ``gate`` mapping with defaults filled; ``EvalError`` naming ``gate.<key>`` otherwise."""
    if raw is None:
        raw = {}
    if not isinstance(raw, Mapping):
        raise EvalError(
            f"gate must be a mapping, got {type(raw).__name__}",
            fix=f"write gate: {{{', '.join(f'{k}: {v[0]}' for k, v in _GATE.items())}}}",
            field="gate",
        )
    unknown = sorted(set(map(str, raw)) - set(_GATE))
    if unknown:
        raise EvalError(
            f"gate has unknown key(s) {unknown}",
            fix=f"use: {', '.join(_GATE)}",
            field=f"gate.{unknown[0]}",
            value=unknown,
        )
    out = {}
    for key, (default, lo, hi, open_) in _GATE.items():
        value = raw.get(key, default)
        where = f"({lo}, {hi})" if open_ else f"[{lo}, {hi}]"
        ok = (
            isinstance(value, int | float)
            and not isinstance(value, bool)
            and (lo < value < hi if open_ else lo <= value <= hi)
        )
        if not ok:
            raise EvalError(
                f"gate.{key} == {value!r}, must be a number in {where}",
                fix=f"set gate.{key} to a number in {where} (default {default})",
                field=f"gate.{key}",
                value=value,
            )
        out[key] = float(value)
    return out


def _load_dataset(spec: Any, base_dir: Path | None) -> list[dict[str, Any]]:
    if isinstance(spec, list):
        rows = spec
    else:
        p = Path(os.path.expandvars(str(spec)))
        if not p.is_absolute() and base_dir is not None:
            p = base_dir / p
        if not p.is_file():
            raise EvalError(f"dataset {str(p)!r} does not exist", field="dataset", value=str(p))
        rows = []
        for n, line in enumerate(p.read_text(encoding="utf-8").splitlines(), 1):
            if line.strip():
                try:
                    rows.append(json.loads(line))
                except ValueError as exc:
                    raise EvalError(f"dataset line {n} is not JSON: {exc}", field="dataset", value=n) from exc
    if not rows:
        raise EvalError(
            "the dataset is empty", fix="add at least one JSON line with an 'input'", field="dataset"
        )
    seen = set()
    out = []
    for i, row in enumerate(rows):
        if not isinstance(row, Mapping) or "input" not in row:
            raise EvalError(f"dataset row {i + 1} needs an 'input'", field="dataset", value=i + 1)
        rid = str(row.get("id", i + 1))
        if rid in seen:
            raise EvalError(f"dataset id {rid!r} appears twice", field="dataset", value=rid)
        seen.add(rid)
        out.append({**row, "id": rid})
    return out


def _judge_spec(j: Any, i: int) -> JudgeSpec:
    where = f"judges[{i}]"
    if not isinstance(j, Mapping):
        raise EvalError(f"{where} must be a mapping", field=where)
    unknown = set(j) - _JUDGE_KEYS
    if unknown:
        raise EvalError(f"{where} has unknown key(s) {sorted(unknown)}", field=where, value=sorted(unknown))
    for key in ("name", "base_url", "model", "rubric"):
        if key not in j:
            raise EvalError(f"{where} needs {key!r}", field=f"{where}.{key}")
    rubric = Rubric.from_dict({"name": j["name"], **j["rubric"]})
    if "compare_to" in j and rubric.kind != "pairwise":
        raise EvalError(f"{where}.compare_to only applies to pairwise judges", field=f"{where}.compare_to")
    spec = JudgeSpec(
        name=str(j["name"]),
        base_url=os.path.expandvars(str(j["base_url"])),
        model=str(j["model"]),
        rubric=rubric,
        repeats=int(j.get("repeats", 1)),
        calibration=j.get("calibration"),
        params=dict(j.get("params", {"temperature": 0})),
        api_key=os.path.expandvars(str(j.get("api_key", "none"))),
        max_concurrency=int(j.get("max_concurrency", 8)),
        max_retries=int(j.get("max_retries", 4)),
        pass_label=j.get("pass_label"),
        price_in=float(j.get("price_in", 0)),
        price_out=float(j.get("price_out", 0)),
        compare_to=str(j.get("compare_to", "output_b")),
    )
    if "$" in spec.base_url:
        raise EvalError(
            f"{where}.base_url {spec.base_url!r} has an unset environment variable",
            field=f"{where}.base_url",
            value=spec.base_url,
        )
    return spec


@dataclass
class SuiteRun:
    """The result of one suite run."""

    run_id: str
    suite: str
    metrics: dict[str, float]
    items: list[dict[str, Any]]
    binary_metrics: set[str]
    usage: dict[str, Any]
    model: str | None = None
    version: str | None = None
    gate: GateDecision | None = None
    judge_kappas: dict[str, float] = field(default_factory=dict)
    baselines: dict[str, dict[str, Any]] = field(default_factory=dict)  # pairwise judge → length baseline
    judge_gates: list[dict[str, Any]] = field(default_factory=list)  # per-target calibration decisions

    def item_scores(self) -> dict[str, dict[str, float]]:
        """item id → {metric: value}."""
        return {it["id"]: it["scores"] for it in self.items}

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {
            "run_id": self.run_id,
            "suite": self.suite,
            "model": self.model,
            "version": self.version,
            "metrics": self.metrics,
            "binary_metrics": sorted(self.binary_metrics),
            "usage": self.usage,
            "judge_kappas": self.judge_kappas,
            "baselines": self.baselines,
            "judge_gates": self.judge_gates,
            "gate": self.gate.to_dict() if self.gate else None,
            "items": self.items,
        }


async def _score(suite: Suite, store, outputs: list[str]) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    items: list[dict[str, Any]] = []
    for row, out in zip(suite.rows, outputs, strict=True):
        ctx = CheckContext(input=str(row.get("input", "")), metadata=row.get("metadata") or {})
        scores: dict[str, float] = {}
        details: dict[str, Any] = {}
        for cid, check in suite.checks:
            res = check.run(out, ctx)
            scores[f"check:{cid}"] = 1.0 if res.passed else 0.0
            if not res.passed:
                details[f"check:{cid}"] = sorted({f.kind for f in res.findings})
        items.append(
            {"id": row["id"], "input": row.get("input"), "output": out, "scores": scores, "details": details}
        )
    usage: dict[str, Any] = {}
    for spec in suite.judges:
        client = JudgeClient(
            spec.base_url,
            api_key=spec.api_key,
            max_concurrency=spec.max_concurrency,
            max_retries=spec.max_retries,
            price_in=spec.price_in,
            price_out=spec.price_out,
        )
        judge = Judge(
            client,
            spec.rubric,
            spec.model,
            name=spec.name,
            params=spec.params,
            repeats=spec.repeats,
            cache=JudgeCache(store) if store is not None else None,
        )
        try:
            results = await judge.judge_many(
                [
                    {**row, "output": out, **({"output_b": row[spec.compare_to]} if spec.pairwise else {})}
                    for row, out in zip(suite.rows, outputs, strict=True)
                ]
            )
        finally:
            await client.aclose()
        for it, res in zip(items, results, strict=True):
            value = res.value
            if spec.pairwise:
                it["details"][f"judge:{spec.name}:length_baseline"] = res.baseline
                it["details"][f"judge:{spec.name}:consistent"] = res.consistent
            if spec.rubric.kind == "label":
                it["details"][f"judge:{spec.name}"] = value
                value = 1.0 if spec.pass_label is not None and value == spec.pass_label else 0.0
            it["scores"][f"judge:{spec.name}"] = float(value)
            if res.variance:
                it["details"][f"judge:{spec.name}:variance"] = res.variance
        usage[spec.name] = client.usage.to_dict()
    return items, usage


def pairwise_baseline(
    name: str, rows: list[dict[str, Any]], items: list[dict[str, Any]]
) -> dict[str, float | int | None]:
    """A pairwise judge beside the length-only baseline ("pick the longer answer"): both win rates of the
    target's answer, how often the judge merely picked the longer one, its share of inconsistent pairs and,
    when rows carry a human ``preferred`` label (``A`` = the target's answer, ``B``, ``tie``), the accuracy of
    the judge and of the baseline against it — a judge that does not beat the baseline adds nothing."""
    judge = [it["scores"][f"judge:{name}"] for it in items]
    length = [it["details"][f"judge:{name}:length_baseline"] for it in items]
    consistent = [it["details"][f"judge:{name}:consistent"] for it in items]
    decided = [(j, b) for j, b in zip(judge, length, strict=True) if j != 0.5 and b != 0.5]
    out: dict[str, float | int | None] = {
        "judge_win_rate": sum(judge) / len(judge),
        "length_win_rate": sum(length) / len(length),
        "judge_picks_longer": sum(j == b for j, b in decided) / len(decided) if decided else None,
        "inconsistent_share": sum(c is False for c in consistent) / len(consistent),
        "labelled": 0,
    }
    value = {"A": 1.0, "B": 0.0, "tie": 0.5}
    labelled = [
        (value[str(r["preferred"])], j, b)
        for r, j, b in zip(rows, judge, length, strict=True)
        if str(r.get("preferred")) in value
    ]
    if labelled:
        out["labelled"] = len(labelled)
        out["judge_accuracy"] = sum(h == j for h, j, _ in labelled) / len(labelled)
        out["length_accuracy"] = sum(h == b for h, _, b in labelled) / len(labelled)
    return out


def run_suite(
    suite: Suite,
    *,
    store=None,
    gate: bool = False,
    baseline: SuiteRun | None = None,
    model: str | None = None,
    version: str | None = None,
    judge_kappas: Mapping[str, float] | None = None,
) -> SuiteRun:
    """Run the target on every row, score it, and (``gate``) decide the gate. Nothing is written here."""
    if gate:
        for spec in suite.judges:
            gated = f"judge:{spec.name}" in suite.thresholds or baseline is not None
            kappa = (judge_kappas or {}).get(spec.name)
            floor = float(suite.gate["kappa_floor"])
            if gated and (kappa is None or kappa < floor):
                why = "has no calibration" if kappa is None else f"agrees with humans at kappa={kappa:.3f}"
                raise EvalError(
                    f"judge {spec.name!r} {why}, below the floor {floor}: it cannot gate a deploy",
                    fix="calibrate it (`trilho eval calibrate ... --save NAME`, and set "
                    "'calibration: NAME' in the suite) or drop it from the gate",
                    field="judge",
                    value=spec.name,
                )

    async def go() -> tuple[list[str], list[dict[str, Any]], dict[str, Any]]:
        target = Target(suite.target)
        try:
            outputs = list(await asyncio.gather(*(target(row) for row in suite.rows)))
        finally:
            await target.aclose()
        items, usage = await _score(suite, store, outputs)
        return outputs, items, usage

    _, items, usage = asyncio.run(go())
    metrics = {m: sum(it["scores"][m] for it in items) / len(items) for m in items[0]["scores"]}
    baselines = {
        f"judge:{spec.name}": pairwise_baseline(spec.name, suite.rows, items)
        for spec in suite.judges
        if spec.pairwise
    }
    run = SuiteRun(
        uuid.uuid4().hex[:16],
        suite.name,
        metrics,
        items,
        suite.binary_metrics,
        usage,
        model,
        version,
        judge_kappas=dict(judge_kappas or {}),
        baselines=baselines,
    )
    if gate:
        run.gate = decide_gate(
            metrics,
            suite.thresholds,
            candidate_items=run.item_scores() if baseline else None,
            baseline_items=baseline.item_scores() if baseline else None,
            binary_metrics=suite.binary_metrics,
            alpha=float(suite.gate["alpha"]),
            min_effect=float(suite.gate["min_effect"]),
            baseline_run=baseline.run_id if baseline else None,
        )
    return run
