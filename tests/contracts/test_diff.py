"""The breaking-change diff: each rule, direction awareness, the version rule, formats, and soundness."""

from __future__ import annotations

import copy
from collections import Counter
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from trilho.contracts import RULES, diff_contracts, load_contract
from trilho.contracts.strategies import records
from trilho.errors import ContractError


def doc(
    fields: list[dict[str, Any]],
    *,
    role: str = "input",
    version: str = "1.0.0",
    extra: str | None = None,
    out_fields: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    ext: dict[str, Any] = {"role": role}
    if extra:
        ext["extra"] = extra
    schema = [{"name": role, "x-trilho": ext, "properties": fields}]
    if out_fields is not None:
        schema.append({"name": "out", "x-trilho": {"role": "output"}, "properties": out_fields})
    return {
        "apiVersion": "v3.0.2",
        "kind": "DataContract",
        "id": "c",
        "name": "c",
        "version": version,
        "schema": schema,
    }


def rules(old: dict, new: dict) -> dict[str, str]:
    return {c.rule_id: c.severity for c in diff_contracts(old, new).changes}


def f(name: str = "x", t: str = "int32", **kw: Any) -> dict[str, Any]:
    return {"name": name, "physicalType": t, **kw}


@pytest.mark.parametrize(
    ("old_field", "new_field", "rule", "input_sev", "output_sev"),
    [
        (f(t="int32"), f(t="int64"), "TC111-type-widened", "info", "error"),
        (f(t="int64"), f(t="int32"), "TC112-type-narrowed", "error", "info"),
        (f(t="int32"), f(t="float64"), "TC111-type-widened", "info", "error"),
        (f(t="float32"), f(t="float64"), "TC111-type-widened", "info", "error"),
        (f(t="int32"), f(t="string"), "TC110-type-changed", "error", "error"),
        (f(t="uint32"), f(t="int32"), "TC110-type-changed", "error", "error"),
        (f(required=True), f(required=False), "TC121-required-removed", "info", "error"),
        (f(required=False), f(required=True), "TC120-required-added", "error", "info"),
        (
            f(logicalTypeOptions={"maximum": 10}),
            f(logicalTypeOptions={"maximum": 20}),
            "TC131-range-widened",
            "info",
            "error",
        ),
        (
            f(logicalTypeOptions={"minimum": 0}),
            f(logicalTypeOptions={"minimum": 1}),
            "TC130-range-narrowed",
            "error",
            "info",
        ),
        (
            f(logicalTypeOptions={"maximum": 10}),
            f(logicalTypeOptions={"maximum": 10, "exclusiveMaximum": True}),
            "TC130-range-narrowed",
            "error",
            "info",
        ),
        (f(), f(logicalTypeOptions={"minimum": 0}), "TC130-range-narrowed", "error", "info"),
        (
            f(t="string", logicalTypeOptions={"maxLength": 5}),
            f(t="string", logicalTypeOptions={"maxLength": 9}),
            "TC133-length-widened",
            "info",
            "error",
        ),
        (
            f(t="string", logicalTypeOptions={"minLength": 1}),
            f(t="string", logicalTypeOptions={"minLength": 2}),
            "TC132-length-narrowed",
            "error",
            "info",
        ),
        (
            f(t="string"),
            f(t="string", logicalTypeOptions={"pattern": "^a"}),
            "TC134-pattern-changed",
            "error",
            "info",
        ),
        (
            f(t="string", logicalTypeOptions={"pattern": "^a"}),
            f(t="string", logicalTypeOptions={"pattern": "^b"}),
            "TC134-pattern-changed",
            "error",
            "error",
        ),
        (
            f(t="string", logicalTypeOptions={"format": "email"}),
            f(t="string"),
            "TC135-format-changed",
            "info",
            "error",
        ),
        (
            f(t="string", quality=[{"rule": "validValues", "validValues": ["a"]}]),
            f(t="string", quality=[{"rule": "validValues", "validValues": ["a", "b"]}]),
            "TC141-enum-widened",
            "info",
            "error",
        ),
        (
            f(t="string", quality=[{"rule": "validValues", "validValues": ["a", "b"]}]),
            f(t="string", quality=[{"rule": "validValues", "validValues": ["a"]}]),
            "TC140-enum-narrowed",
            "error",
            "info",
        ),
        (
            f(t="string", quality=[{"rule": "validValues", "validValues": ["a", "b"]}]),
            f(t="string", quality=[{"rule": "validValues", "validValues": ["a", "c"]}]),
            "TC142-enum-changed",
            "error",
            "error",
        ),
        (f(), f(unique=True), "TC150-unique-added", "error", "info"),
        (f(unique=True), f(), "TC151-unique-removed", "info", "error"),
        (
            f(quality=[{"metric": "nullValues", "mustBeLessThan": 5, "unit": "percent"}]),
            f(quality=[{"metric": "nullValues", "mustBeLessThan": 10, "unit": "percent"}]),
            "TC153-dataset-rule-loosened",
            "info",
            "error",
        ),
        (
            f(),
            f(quality=[{"metric": "nullValues", "mustBe": 0}]),
            "TC152-dataset-rule-tightened",
            "error",
            "info",
        ),
    ],
)
def test_field_rules_are_direction_aware(old_field, new_field, rule, input_sev, output_sev):
    assert rules(doc([old_field]), doc([new_field], version="1.1.0"))[rule] == input_sev
    assert (
        rules(doc([old_field], role="output"), doc([new_field], role="output", version="1.1.0"))[rule]
        == output_sev
    )


def test_array_shape_and_item_changes():
    vec = {
        "name": "v",
        "logicalType": "array",
        "items": {"physicalType": "float32"},
        "x-trilho": {"shape": [3]},
    }
    longer = copy.deepcopy(vec)
    longer["x-trilho"]["shape"] = [4]
    assert rules(doc([vec]), doc([longer], version="2.0.0"))["TC113-shape-changed"] == "error"
    wider_items = copy.deepcopy(vec)
    wider_items["items"]["physicalType"] = "float64"
    assert rules(doc([vec]), doc([wider_items], version="1.1.0")) == {"TC111-type-widened": "info"}


def test_field_added_and_removed():
    base = [f("a"), f("b")]
    # inputs: removing a field breaks callers that send it (extra fields are forbidden by default)
    assert rules(doc(base), doc([f("a")], version="2.0.0")) == {"TC101-field-removed": "error"}
    assert rules(doc(base, extra="ignore"), doc([f("a")], extra="ignore", version="1.1.0")) == {
        "TC101-field-removed": "warning"
    }
    assert (
        rules(doc(base), doc([*base, f("c", required=True)], version="2.0.0"))["TC102-field-added"] == "error"
    )
    assert rules(doc(base), doc([*base, f("c")], version="1.1.0")) == {"TC102-field-added": "info"}
    # outputs: a new field is fine for consumers that ignore unknown fields (the default for outputs)
    out = {"role": "output"}
    assert rules(doc(base, **out), doc([*base, f("c")], version="1.1.0", **out)) == {
        "TC102-field-added": "info"
    }
    assert rules(doc([f("a", required=True), f("b")], **out), doc([f("b")], version="2.0.0", **out)) == {
        "TC101-field-removed": "error"
    }
    assert rules(doc(base, **out), doc([f("a")], version="1.1.0", **out)) == {
        "TC101-field-removed": "warning"
    }


def test_object_removed_and_added():
    old = doc([f()], out_fields=[f("y")])
    new = doc([f()], version="2.0.0")
    assert rules(old, new) == {"TC100-object-removed": "error"}
    assert rules(new, dict(old, version="2.1.0")) == {"TC103-object-added": "info"}


def test_breaking_change_needs_a_major_bump():
    old, new = doc([f(t="int64")]), doc([f(t="int32")], version="1.1.0")
    report = diff_contracts(old, new)
    assert report.has_errors and not report.compatible
    assert {c.rule_id for c in report.changes} == {"TC112-type-narrowed", "TC190-major-version-required"}
    bumped = diff_contracts(old, doc([f(t="int32")], version="2.0.0"))
    assert [c.rule_id for c in bumped.changes] == ["TC112-type-narrowed"]
    assert bumped.has_errors  # still error-level: consumers must be told, even with the bump


def test_compatible_change_has_no_errors_and_version_must_increase():
    old = doc([f()])
    assert not diff_contracts(old, doc([f(t="int64")], version="1.1.0")).has_errors
    same_version = diff_contracts(old, doc([f(t="int64")]))
    assert [c.rule_id for c in same_version.changes] == ["TC111-type-widened", "TC191-version-not-increased"]
    assert not same_version.has_errors
    assert diff_contracts(old, old).changes == []


def test_report_formats():
    report = diff_contracts(doc([f(t="int64")]), doc([f(t="int32")], version="1.0.1"))
    d = report.to_dict()
    assert d["has_errors"] is True and d["counts"]["error"] == 2
    assert {"rule_id", "severity", "path", "old", "new", "message"} <= set(d["changes"][0])
    gh = report.to_github(file="contracts/new.yaml").splitlines()
    assert gh[0].startswith(
        "::error file=contracts/new.yaml,title=TC112-type-narrowed::input.x.physicalType: "
    )
    assert "TC112-type-narrowed" in report.to_text()
    assert all(c.rule_id in RULES for c in report.changes)


def test_github_annotation_escapes():
    report = diff_contracts(doc([f(t="int64")]), doc([f(t="int32")], version="2.0.0"))
    assert "%2C" in report.to_github(file="a,b.yaml").splitlines()[0]


def test_diff_accepts_paths_and_contracts(tmp_path):
    import yaml

    p = tmp_path / "c.yaml"
    p.write_text(yaml.safe_dump(doc([f()])))
    assert diff_contracts(p, load_contract(doc([f()]))).changes == []
    with pytest.raises(ContractError):
        diff_contracts(tmp_path / "missing.yaml", p)


# --- soundness --------------------------------------------------------------------------------------------
TYPES = [
    "int8",
    "int16",
    "int32",
    "int64",
    "uint8",
    "uint16",
    "uint32",
    "uint64",
    "float32",
    "float64",
    "bool",
    "string",
    "date",
    "timestamp",
]
PATTERNS = ["^[a-c]*$", "^[a-z]+$", "b", "^x", "[0-9]"]
ENUM_STR = ["a", "b", "c", "ab", "x1"]
ENUM_INT = [0, 1, 2, 5, 100]


@st.composite
def field_specs(draw: Any, name: str) -> dict[str, Any]:
    t = draw(st.sampled_from(TYPES))
    spec: dict[str, Any] = {"name": name, "physicalType": t, "required": draw(st.booleans())}
    opts: dict[str, Any] = {}
    if t.startswith(("int", "uint", "float")):
        bound = (
            st.one_of(st.integers(-100, 100), st.sampled_from([0.5, -0.5, 2.5]))
            if t.startswith("float")
            else st.integers(-100, 100)
        )
        lo, hi = draw(st.one_of(st.none(), bound)), draw(st.one_of(st.none(), bound))
        if lo is not None and hi is not None and lo > hi:
            lo, hi = hi, lo
        if lo is not None:
            opts["minimum"] = lo
            if draw(st.booleans()) and (hi is None or hi > lo):
                opts["exclusiveMinimum"] = True
        if hi is not None:
            opts["maximum"] = hi
            if draw(st.booleans()) and (lo is None or hi > lo) and not opts.get("exclusiveMinimum"):
                opts["exclusiveMaximum"] = True
        if not t.startswith("float") and draw(st.integers(0, 3)) == 0:
            spec["quality"] = [
                {
                    "rule": "validValues",
                    "validValues": draw(st.lists(st.sampled_from(ENUM_INT), min_size=1, unique=True)),
                }
            ]
    elif t == "string":
        if draw(st.booleans()):
            opts["minLength"] = draw(st.integers(0, 2))
        if draw(st.booleans()):
            opts["maxLength"] = draw(st.integers(opts.get("minLength", 0), 4))
        if draw(st.integers(0, 2)) == 0:
            opts["pattern"] = draw(st.sampled_from(PATTERNS))
        if draw(st.integers(0, 2)) == 0:
            spec["quality"] = [
                {
                    "rule": "validValues",
                    "validValues": draw(st.lists(st.sampled_from(ENUM_STR), min_size=1, unique=True)),
                }
            ]
    if opts:
        spec["logicalTypeOptions"] = opts
    return spec


@st.composite
def mutate(draw: Any, spec: dict[str, Any]) -> dict[str, Any]:
    new = copy.deepcopy(spec)
    op = draw(st.sampled_from(["keep", "keep", "type", "required", "bounds", "enum", "string", "replace"]))
    if op == "type":
        t = new["physicalType"]
        if t.startswith(("int", "uint", "float")):
            new["physicalType"] = draw(st.sampled_from([x for x in TYPES[:10]]))
            if not new["physicalType"].startswith("float"):
                opts = new.get("logicalTypeOptions", {})
                for k in ("minimum", "maximum"):
                    if isinstance(opts.get(k), float):
                        opts[k] = int(opts[k])
    elif op == "required":
        new["required"] = not new["required"]
    elif op == "bounds" and "logicalTypeOptions" in new:
        opts = new["logicalTypeOptions"]
        for k in ("minimum", "maximum"):
            if k in opts and draw(st.booleans()):
                opts[k] = opts[k] + draw(st.integers(-3, 3))
            elif k in opts and draw(st.booleans()):
                del opts[k]
                opts.pop("exclusiveMinimum" if k == "minimum" else "exclusiveMaximum", None)
        if "minimum" in opts and "maximum" in opts and opts["minimum"] >= opts["maximum"]:
            opts.pop("exclusiveMinimum", None)
            opts.pop("exclusiveMaximum", None)
            opts["maximum"] = opts["minimum"]
    elif op == "enum" and "quality" in new:
        values = new["quality"][0]["validValues"]
        pool = ENUM_INT if isinstance(values[0], int) else ENUM_STR
        if draw(st.booleans()):
            new["quality"][0]["validValues"] = sorted(set(values) | {draw(st.sampled_from(pool))}, key=str)
        elif len(values) > 1:
            new["quality"][0]["validValues"] = values[:-1]
        else:
            del new["quality"]
    elif op == "string" and new["physicalType"] == "string":
        opts = new.setdefault("logicalTypeOptions", {})
        which = draw(st.sampled_from(["minLength", "maxLength", "pattern"]))
        if which == "pattern":
            choice = draw(st.one_of(st.none(), st.sampled_from(PATTERNS)))
            opts.pop("pattern", None) if choice is None else opts.__setitem__("pattern", choice)
        elif which in opts:
            opts[which] = max(0, opts[which] + draw(st.integers(-1, 1)))
            if opts.get("minLength", 0) > opts.get("maxLength", 99):
                opts["maxLength"] = opts["minLength"]
        if not opts:
            del new["logicalTypeOptions"]
    elif op == "replace":
        new = draw(field_specs(spec["name"]))
    return new


@st.composite
def contract_pairs(draw: Any) -> tuple[dict, dict, str]:
    role = draw(st.sampled_from(["input", "output"]))
    n = draw(st.integers(1, 3))
    old_fields = [draw(field_specs(f"f{i}")) for i in range(n)]
    new_fields = [draw(mutate(s)) for s in old_fields]
    if draw(st.integers(0, 4)) == 0:
        new_fields.pop(draw(st.integers(0, len(new_fields) - 1)))
    if draw(st.integers(0, 4)) == 0:
        new_fields.append(draw(field_specs("added")))
    if not new_fields:
        new_fields = [draw(field_specs("added"))]
    extra_old = draw(st.sampled_from([None, "forbid", "ignore"]))
    extra_new = draw(st.sampled_from([extra_old, extra_old, "forbid", "ignore"]))
    return (
        doc(old_fields, role=role, extra=extra_old),
        doc(new_fields, role=role, extra=extra_new, version="2.0.0"),
        role,
    )


def _soundness(max_examples: int, samples: int) -> Counter:
    stats: Counter = Counter()

    @settings(
        max_examples=max_examples,
        deadline=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much, HealthCheck.data_too_large],
    )
    @given(contract_pairs(), st.data())
    def check(pair: tuple[dict, dict, str], data: Any) -> None:
        old_doc, new_doc, role = pair
        try:
            old, new = load_contract(old_doc), load_contract(new_doc)
        except ContractError:
            stats["unloadable"] += 1
            return
        report = diff_contracts(old, new)
        stats["pairs"] += 1
        if not report.compatible:
            return
        stats["compatible"] += 1
        # inputs: whatever OLD accepted, NEW accepts; outputs: whatever NEW may emit, OLD accepts
        source, target = (old, new) if role == "input" else (new, old)
        validator = target.request_validator(role)
        schema = target.json_schema_validator(role)
        for _ in range(samples):
            record = data.draw(records(source.object(role)))
            stats["samples"] += 1
            assert validator.is_valid(record), (report.to_text(), record, validator.errors(record))
            assert schema.is_valid(record)

    check()
    return stats


def test_diff_is_sound_for_inputs_and_outputs():
    stats = _soundness(max_examples=250, samples=3)
    assert stats["compatible"] >= 40, stats  # the property is not vacuous
    assert stats["samples"] >= 100, stats


@pytest.mark.slow
def test_diff_is_sound_long_run():
    stats = _soundness(max_examples=3000, samples=5)
    assert stats["compatible"] >= 500, stats
