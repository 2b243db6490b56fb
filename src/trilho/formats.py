"""The JSON Schemas of trilho's YAML formats, built from the code that parses each one, and the page that
documents them (docs/formats.md).

| format | parsed by | schema from |
|---|---|---|
| rollout plan | ``trilho.rollout.plan.load_plan`` (pydantic ``Plan``) | ``Plan.model_json_schema()`` |
| deployment | ``trilho.rollout.deployfile.load_deployment_file`` (pydantic) | ``deployfile.json_schema()`` |
| golden suite | ``trilho.golden.suite.load_suite`` | its key sets and ``golden.comparators.KINDS`` |
| eval suite | ``trilho.evals.suites.Suite.from_dict`` | its key sets, the check registry, rubric ``KINDS`` |

The two hand-parsed formats take their key lists from their loaders' own sets, so a key added to a loader
appears here; ``tests/test_formats.py`` checks that the committed files equal what this module generates and
that schemas and loaders accept and refuse the same documents. ``python -m trilho.formats --write``
regenerates ``docs/schemas/*.schema.json`` and ``docs/formats.md``.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

SCHEMA_DRAFT = "https://json-schema.org/draft/2020-12/schema"
BASE_ID = "https://trilho.dev/schemas/"

_NUMBER = {"type": "number"}
_STRING = {"type": "string"}


def _doc(name: str, title: str, description: str, body: dict[str, Any]) -> dict[str, Any]:
    return {
        "$schema": SCHEMA_DRAFT,
        "$id": f"{BASE_ID}{name}.schema.json",
        "title": title,
        "description": description,
        **body,
    }


def plan_schema() -> dict[str, Any]:
    """A rollout plan (``trilho rollout start --plan``), from the pydantic model that loads it."""
    from trilho.rollout.plan import Plan

    body = Plan.model_json_schema()
    _durations(Plan, body)
    body.pop("title", None)
    body.pop("description", None)
    return _doc(
        "plan",
        "trilho rollout plan",
        "Shadow → canary steps, the analysis per step, what to do on "
        "insufficient or missing data, runbooks (trilho.rollout.plan.Plan).",
        body,
    )


def _durations(model: type, schema: dict[str, Any]) -> None:
    """Fields typed ``Duration`` take seconds or ``"30s"``/``"5m"``: pydantic only sees the float after
    ``parse_duration``, so their schema is widened here, found from the models' own field metadata."""
    from pydantic import BaseModel
    from pydantic.functional_validators import BeforeValidator

    from trilho.rollout.plan import _DURATION, parse_duration

    seen: set[type] = set()

    def walk(cls: type) -> None:
        if cls in seen:
            return
        seen.add(cls)
        where = schema if cls is model else schema["$defs"][cls.__name__]
        for name, info in cls.model_fields.items():
            if any(isinstance(m, BeforeValidator) and m.func is parse_duration for m in info.metadata):
                prop = where["properties"][name]
                number = {k: prop.pop(k) for k in ("type", "minimum") if k in prop}
                if "ge" in prop:  # pydantic leaves Field(ge=…) of an Annotated-with-validator type as "ge"
                    number["minimum"] = prop.pop("ge")
                prop["anyOf"] = [number, {"type": "string", "pattern": f"^{_DURATION.pattern}$"}]
            for arg in _classes(info.annotation):
                if isinstance(arg, type) and issubclass(arg, BaseModel):
                    walk(arg)

    walk(model)


def _classes(annotation: Any) -> list[Any]:
    from typing import get_args

    args = get_args(annotation)
    return [annotation] if not args else [c for a in args for c in _classes(a)]


def deployment_schema() -> dict[str, Any]:
    """A deployment file (``trilho deploy apply``), the schema ``trilho deploy schema`` prints."""
    from trilho.rollout.deployfile import json_schema

    return json_schema()


def _comparator_schema() -> dict[str, Any]:
    from trilho.golden.comparators import KINDS

    named = [k for k in KINDS if k in ("exact", "class", "set")]
    return {
        "description": f"A comparator: one of {', '.join(named)}, or a mapping "
        "{abs: a}, {rel: r}, {abs: a, rel: r} (the contract's tolerance rule) or {topk: k, min_overlap: m}.",
        "anyOf": [
            {"type": "string", "enum": named},
            {
                "type": "object",
                "properties": {
                    "abs": {"type": "number", "minimum": 0},
                    "rel": {"type": "number", "minimum": 0},
                    "topk": {"type": "integer", "minimum": 1},
                    "min_overlap": {"type": "number", "minimum": 0, "maximum": 1},
                },
                "additionalProperties": False,
                "minProperties": 1,
            },
        ],
    }


def golden_suite_schema() -> dict[str, Any]:
    """A golden suite YAML (``trilho golden run|compare|snapshot``); its cases are a JSONL file beside it."""
    from trilho.golden import suite

    described = {
        "name": (_STRING, "Suite name (letters, digits, . _ -; default: the file's name)."),
        "description": (_STRING, "Free text."),
        "model": (_STRING, "Default model reference for `trilho golden run` (NAME@VERSION or NAME@alias)."),
        "cases": (_STRING, "JSONL file of cases, relative to the suite file."),
        "fields": (
            {"type": "object", "additionalProperties": {"$ref": "#/$defs/comparator"}},
            "Default comparator per output field (a case's `compare` overrides it; the contract's tolerance "
            "applies to fields named nowhere; else exact).",
        ),
        "gate": ({"$ref": "#/$defs/gate"}, "How `golden compare` decides (bootstrap lower bound > −delta)."),
    }
    gate = {
        "metrics": (
            {"anyOf": [_STRING, {"type": "array", "items": _STRING, "minItems": 1}]},
            "Metrics judged (default [pass_rate]).",
        ),
        "delta": (
            {"type": "number", "minimum": 0, "maximum": 1},
            "Margin δ: candidate − baseline > −δ (0.01).",
        ),
        "confidence": ({"type": "number", "minimum": 0.5, "maximum": 0.999}, "Bootstrap confidence (0.95)."),
        "resamples": ({"type": "integer", "minimum": 100}, "Bootstrap resamples (2000)."),
        "seed": ({"type": "integer"}, "Bootstrap seed (0)."),
    }
    case = {
        "id": (_STRING, "Case id (unique; the line number when absent)."),
        "input": ({"type": "object"}, "The input record sent to the model."),
        "expected": ({"type": "object"}, "Expected output fields."),
        "compare": (
            {"type": "object", "additionalProperties": {"$ref": "#/$defs/comparator"}},
            "Comparators for this case only.",
        ),
        "tags": ({"type": "array", "items": _STRING}, "Tags (`--tag` runs a subset)."),
    }
    _same_keys("golden suite", described, suite._SUITE_KEYS)
    _same_keys("golden gate", gate, suite._GATE_KEYS)
    _same_keys("golden case", case, suite._CASE_KEYS)
    return _doc(
        "golden-suite",
        "trilho golden suite",
        "Golden cases every candidate must keep passing (trilho.golden.suite.load_suite).",
        {
            **_object(described, required=["cases"]),
            "$defs": {
                "comparator": _comparator_schema(),
                "gate": _object(gate),
                "case": {
                    **_object(case, required=["input"]),
                    "description": "One line of the cases JSONL file.",
                },
            },
        },
    )


def eval_suite_schema() -> dict[str, Any]:
    """An eval suite YAML (``trilho eval run``), from the key sets its loader checks."""
    from trilho.evals import suites
    from trilho.evals.checks.base import builtin_check_names
    from trilho.evals.judges.rubric import KINDS as RUBRICS

    target = {
        "type": "object",
        "description": "What answers each row: a Python callable, an OpenAI-compatible chat endpoint, a "
        "trilho-served model or any JSON HTTP endpoint (trilho.evals.targets.Target).",
        "properties": {
            "type": {"enum": ["callable", "openai", "trilho", "http"]},
            "callable": {
                "type": "string",
                "description": "module:function (the current folder is importable).",
            },
            "base_url": _STRING,
            "model": _STRING,
            "url": _STRING,
            "input_field": _STRING,
            "output_field": _STRING,
        },
        "required": ["type"],
        "allOf": [
            {"if": {"properties": {"type": {"const": "callable"}}}, "then": {"required": ["callable"]}},
            {
                "if": {"properties": {"type": {"const": "openai"}}},
                "then": {"required": ["base_url", "model"]},
            },
            {"if": {"properties": {"type": {"enum": ["http", "trilho"]}}}, "then": {"required": ["url"]}},
        ],
    }
    described = {
        "name": (_STRING, "Suite name (letters, digits, . _ -)."),
        "description": (_STRING, "Free text."),
        "dataset": (
            {"anyOf": [_STRING, {"type": "array", "items": {"$ref": "#/$defs/row"}, "minItems": 1}]},
            "JSONL file (relative to the suite; environment variables expanded) or the rows inline.",
        ),
        "target": ({"$ref": "#/$defs/target"}, "What produces the answer for each row."),
        "checks": (
            {"type": "array", "items": {"$ref": "#/$defs/check"}},
            "Deterministic checks; each is the pass-rate metric check:<id>.",
        ),
        "judges": (
            {"type": "array", "items": {"$ref": "#/$defs/judge"}},
            "LLM judges (OpenAI-compatible); each is the metric judge:<name>.",
        ),
        "thresholds": (
            {
                "type": "object",
                "additionalProperties": {
                    "type": "object",
                    "properties": {"min": _NUMBER, "max": _NUMBER},
                    "additionalProperties": False,
                    "minProperties": 1,
                },
            },
            "Per metric (check:<id> or judge:<name>): {min: x} and/or {max: y}.",
        ),
        "gate": (
            {
                "type": "object",
                "properties": {"alpha": _NUMBER, "min_effect": _NUMBER, "kappa_floor": _NUMBER},
            },
            "Paired regression test against --baseline: alpha (0.05), min_effect (0), kappa_floor.",
        ),
        "model": (_STRING, "Model the suite is about (recorded with the run)."),
        "version": ({"type": ["string", "integer"]}, "Version of that model (recorded with the run)."),
    }
    judge = {
        "name": (_STRING, "Judge name; the metric is judge:<name>."),
        "base_url": (
            _STRING,
            "OpenAI-compatible base URL (environment variables expanded; none may stay unset).",
        ),
        "model": (_STRING, "The judge model's name at that endpoint."),
        "rubric": ({"$ref": "#/$defs/rubric"}, "What and how to judge."),
        "repeats": ({"type": "integer", "minimum": 1}, "Calls per item (1)."),
        "calibration": (_STRING, "A stored calibration whose κ must clear the floor for the judge to gate."),
        "params": ({"type": "object"}, "Request parameters (default {temperature: 0})."),
        "api_key": (_STRING, "API key or ${ENV_VAR} (default none)."),
        "max_concurrency": ({"type": "integer", "minimum": 1}, "Concurrent calls (8)."),
        "pass_label": (_STRING, "The label that counts as a pass for a label rubric."),
        "price_in": (_NUMBER, "Price per input token, for cost accounting."),
        "price_out": (_NUMBER, "Price per output token."),
        "max_retries": ({"type": "integer", "minimum": 0}, "Retries with backoff (4)."),
        "compare_to": (_STRING, "Pairwise judges: the row field holding answer B (output_b)."),
    }
    _same_keys("eval suite", described, suites._SUITE_KEYS)
    _same_keys("eval judge", judge, suites._JUDGE_KEYS)
    return _doc(
        "eval-suite",
        "trilho eval suite",
        "A dataset, a target, checks and judges, thresholds and a gate (trilho.evals.suites.Suite).",
        {
            **_object(described, required=["name", "dataset", "target"]),
            "anyOf": [{"required": ["checks"]}, {"required": ["judges"]}],
            "$defs": {
                "target": target,
                "row": {
                    "type": "object",
                    "required": ["input"],
                    "properties": {
                        "id": {"type": ["string", "integer"]},
                        "input": {},
                        "reference": {},
                        "output_b": {},
                        "label": {},
                        "preferred": {"enum": ["A", "B", "tie"]},
                    },
                },
                "check": {
                    "type": "object",
                    "required": ["check"],
                    "properties": {
                        "check": {"enum": builtin_check_names()},
                        "id": _STRING,
                        "options": {"type": "object"},
                    },
                    "additionalProperties": False,
                },
                "judge": _object(judge, required=["name", "base_url", "model", "rubric"]),
                "rubric": {
                    "type": "object",
                    "required": ["kind", "criteria"],
                    "properties": {
                        "kind": {"enum": list(RUBRICS)},
                        "criteria": _STRING,
                        "version": _STRING,
                        "scale": {
                            "type": "array",
                            "items": {"type": "integer"},
                            "minItems": 2,
                            "maxItems": 2,
                        },
                        "labels": {"type": "array", "items": _STRING},
                        "name": _STRING,
                    },
                    "additionalProperties": False,
                },
            },
        },
    )


def _object(
    fields: dict[str, tuple[dict[str, Any], str]], required: list[str] | None = None
) -> dict[str, Any]:
    out: dict[str, Any] = {
        "type": "object",
        "properties": {k: {**schema, "description": text} for k, (schema, text) in fields.items()},
        "additionalProperties": False,
    }
    if required:
        out["required"] = required
    return out


def _same_keys(what: str, described: dict[str, Any], parsed: set[str]) -> None:
    if set(described) != set(parsed):
        raise AssertionError(
            f"{what}: the loader reads {sorted(parsed)}, the schema describes {sorted(described)}; "
            "describe the new key in trilho.formats"
        )


SCHEMAS: dict[str, Callable[[], dict[str, Any]]] = {
    "plan": plan_schema,
    "deployment": deployment_schema,
    "golden-suite": golden_suite_schema,
    "eval-suite": eval_suite_schema,
}

# Full examples: each one is rendered into docs/formats.md and checked against its schema and its loader.
EXAMPLES: dict[str, str] = {
    "plan": """\
name: careful
interval: 5s
analysis:
  error_rate: {alpha: 0.05, min_requests: 400}
  latency: {quantile: 0.99, max_ratio: 1.5}
  shadow_agreement: {threshold: 0.95, confidence: 0.95}
steps:
  - shadow: {percent: 20, min_requests: 200, min_duration: 30s}
  - canary: {weight: 1, min_requests: 100, min_duration: 1m}
  - canary: {weight: 10, min_requests: 500, min_duration: 1m}
  - canary: {weight: 50, min_requests: 1000, min_duration: 2m}
on_insufficient_data: {action: extend, max_extensions: 3}
missing_metrics: {intervals: 3, action: hold}
""",
    "deployment": """\
model: churn
routes:
  - {version: 3, role: stable, weight: 90}
  - {version: 4, role: canary, weight: 10}
  - {version: champion, role: shadow}
shadow_percent: 20
comparators: ["label:churn"]
deadline_ms: 250
slo: {latency_ms: 50, target: 0.99}
""",
    "golden-suite": """\
name: churn-golden
model: churn@champion
cases: cases.jsonl            # {"id": "c1", "input": {...}, "expected": {"churn": 1}, "tags": ["new"]}
fields: {churn: class, score: {abs: 0.05}}
gate: {metrics: [pass_rate], delta: 0.02, confidence: 0.95, resamples: 2000, seed: 0}
""",
    "eval-suite": """\
name: copilot
dataset: cases.jsonl          # {"id": "q1", "input": "How do I reset my password?"}
target: {type: callable, callable: "eval_target:answer"}
checks:
  - {check: pii, options: {engine: pattern, entities: [EMAIL_ADDRESS, PHONE_NUMBER, CREDIT_CARD]}}
  - {check: secrets}
judges:
  - name: helpful
    base_url: http://127.0.0.1:9000/v1
    model: trilho-refusal-minilm
    rubric: {kind: pass_fail, criteria: "Pass when the answer helps the user."}
thresholds: {"check:pii": {min: 1.0}, "judge:helpful": {min: 0.8}}
gate: {alpha: 0.05, min_effect: 0.02}
""",
}

_INTRO = {
    "plan": (
        "Rollout plans",
        "`trilho rollout start NAME --candidate V --plan plan.yaml`; the templates' "
        "`rollout/plan.yaml`. Durations are seconds or `30s`, `1m`, `2h`; weights and shadow shares are %.",
    ),
    "deployment": (
        "Deployments",
        "`trilho deploy apply deployment.yaml`; every field is explained in [deployment.md](deployment.md).",
    ),
    "golden-suite": (
        "Golden suites",
        "`trilho golden run|compare|snapshot suite.yaml`; the cases are a JSONL "
        "file beside the suite (`$defs.case`).",
    ),
    "eval-suite": (
        "Eval suites",
        "`trilho eval run suite.yaml [--gate --baseline latest]`; the templates' `evals/suite.yaml`.",
    ),
}


def _type(schema: dict[str, Any]) -> str:
    if "$ref" in schema:
        return f"`{schema['$ref'].rsplit('/', 1)[-1]}`"
    if "enum" in schema:
        return " \\| ".join(f"`{v}`" for v in schema["enum"])
    for key in ("anyOf", "oneOf"):
        if key in schema:
            return " or ".join(_type(s) for s in schema[key] if s.get("type") != "null")
    kind = schema.get("type", "any")
    if kind == "array":
        return f"list of {_type(schema.get('items', {}))}"
    return " or ".join(kind) if isinstance(kind, list) else str(kind)


def _table(schema: dict[str, Any]) -> list[str]:
    required = set(schema.get("required", ()))
    rows = ["| field | type | required | meaning |", "|---|---|---|---|"]
    for name, prop in schema.get("properties", {}).items():
        text = str(prop.get("description", "")).replace("\n", " ").replace("|", "\\|")
        if "default" in prop and prop["default"] not in (None, [], {}):
            text += f" Default: `{json.dumps(prop['default'])}`."
        rows.append(f"| `{name}` | {_type(prop)} | {'yes' if name in required else ''} | {text.strip()} |")
    return rows


def render_markdown() -> str:
    """docs/formats.md: per format, how it is used, a full example and its fields, from the schemas above."""
    out = [
        "# YAML formats",
        "",
        "<!-- generated by `python -m trilho.formats --write` from the code that parses each format; "
        "tests/test_formats.py fails when this page or docs/schemas/ drift -->",
        "",
        "Each format has a JSON Schema in [schemas/](schemas/) generated from the code that parses it "
        "(for editors: `# yaml-language-server: $schema=<path>/docs/schemas/<format>.schema.json`). "
        "The loaders give the same verdicts and name the field and the fix when a file is wrong.",
        "",
    ]
    for name, build in SCHEMAS.items():
        schema = build()
        title, usage = _INTRO[name]
        out += [
            f"## {title}",
            "",
            f"{usage} Schema: [schemas/{name}.schema.json](schemas/{name}.schema.json).",
            "",
            "```yaml",
            EXAMPLES[name].rstrip(),
            "```",
            "",
            *_table(schema),
            "",
        ]
        for ref, sub in schema.get("$defs", {}).items():
            if sub.get("properties"):
                out += [f"`{ref}`:", "", *_table(sub), ""]
    return "\n".join(out).rstrip() + "\n"


def generated_files(docs: Path) -> dict[Path, str]:
    """Every generated file under ``docs`` with its content."""
    files = {
        docs / "schemas" / f"{n}.schema.json": json.dumps(b(), indent=2, sort_keys=True) + "\n"
        for n, b in SCHEMAS.items()
    }
    files[docs / "formats.md"] = render_markdown()
    return files


def main(argv: list[str] | None = None) -> int:
    """Write (``--write``) or check (default) docs/schemas/*.schema.json and docs/formats.md."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--docs", type=Path, default=Path("docs"))
    parser.add_argument("--write", action="store_true", help="write the files instead of checking them")
    args = parser.parse_args(argv)
    stale = []
    for path, text in generated_files(args.docs).items():
        if args.write:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text, encoding="utf-8")
        elif not path.is_file() or path.read_text(encoding="utf-8") != text:
            stale.append(str(path))
    if stale:
        print(f"out of date: {', '.join(stale)} (run: python -m trilho.formats --write)")
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
