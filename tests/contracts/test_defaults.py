"""Declared defaults (``x-trilho: {default: ...}`` on an optional property): the request validator (both
engines), the frame validator and the JSON Schema validator fill them in where a value is missing or null,
the loader checks them, export keeps them, and the diff knows that changing one changes callers' results."""

from __future__ import annotations

import copy

import pandas as pd
import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from trilho.contracts import diff_contracts, load_contract
from trilho.errors import ContractError

DOC = {
    "apiVersion": "v3.0.2",
    "kind": "DataContract",
    "id": "recs-io",
    "name": "recs",
    "version": "1.0.0",
    "schema": [
        {
            "name": "request",
            "x-trilho": {"role": "input"},
            "properties": [
                {"name": "user_id", "logicalType": "integer", "physicalType": "int64", "required": True},
                {
                    "name": "k",
                    "logicalType": "integer",
                    "physicalType": "int64",
                    "description": "how many items (default 20)",
                    "logicalTypeOptions": {"minimum": 1, "maximum": 100},
                    "x-trilho": {"default": 20},
                },
                {"name": "region", "logicalType": "string", "physicalType": "string",
                 "x-trilho": {"default": "eu"}},
                {"name": "boost", "logicalType": "number", "physicalType": "float64",
                 "x-trilho": {"default": 1}},
                {"name": "note", "logicalType": "string", "physicalType": "string"},
            ],
        },
        {
            "name": "response",
            "x-trilho": {"role": "output"},
            "properties": [{"name": "items", "logicalType": "array", "required": True,
                            "items": {"logicalType": "integer", "physicalType": "int64"}}],
        },
    ],
}  # fmt: skip
FILLED = {"k": 20, "region": "eu", "boost": 1.0, "note": None}


def contract(doc=DOC):
    return load_contract(copy.deepcopy(doc))


SHARED = contract()  # compiled validators are cached on the contract: the property test reuses them


def with_input_property(name, **changes):
    doc = copy.deepcopy(DOC)
    for p in doc["schema"][0]["properties"]:
        if p["name"] == name:
            p.update(changes)
    return doc


@pytest.mark.parametrize("engine", ["pydantic-core", "msgspec"])
def test_the_request_validator_fills_missing_and_null_values(engine):
    v = contract().request_validator("input", engine=engine)
    assert v.validate({"user_id": 0}) == {"user_id": 0, **FILLED}
    assert v.validate({"user_id": 0, "k": None, "region": None}) == {"user_id": 0, **FILLED}
    assert v.validate({"user_id": 0, "k": 5, "region": "br", "boost": 2.5}) == {
        "user_id": 0, "k": 5, "region": "br", "boost": 2.5, "note": None,
    }  # fmt: skip
    assert v.validate({"user_id": 0, "boost": float("nan")})["boost"] == 1.0  # NaN is missing
    with pytest.raises(Exception, match="k"):  # a given value is still checked
        v.validate({"user_id": 0, "k": 0})


def test_the_json_schema_declares_and_its_validator_fills_the_default():
    c = contract()
    props = c.json_schema("input")["properties"]
    assert props["k"]["default"] == 20 and props["region"]["default"] == "eu"
    assert "default" not in props["note"]
    record = {"user_id": 0, "k": None}
    assert c.json_schema_validator("input").is_valid(record)
    assert record == {"user_id": 0, "k": 20, "region": "eu", "boost": 1.0}


@pytest.mark.parametrize("lib", ["pandas", "polars"])
def test_the_frame_validator_judges_and_fills_the_frame_as_the_model_will_see_it(lib):
    doc = with_input_property("k", quality=[{"metric": "nullValues", "mustBe": 0}])
    c = contract(doc)
    rows = {"user_id": [1, 2, 3], "k": [5, None, 7]}
    df = pd.DataFrame(rows) if lib == "pandas" else pl.DataFrame(rows)
    assert c.validate_frame(df, role="input").ok  # the null k is the default, not a null
    filled = c.fill_defaults(df, role="input")
    assert type(filled) is type(df)
    got = filled.to_dict("list") if lib == "pandas" else filled.to_dict(as_series=False)
    assert [int(k) for k in got["k"]] == [5, 20, 7]
    assert got["region"] == ["eu"] * 3 and [float(b) for b in got["boost"]] == [1.0] * 3


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"required": True}, "is required, so its default would never apply"),
        ({"x-trilho": {"default": 0}}, "default 0 is not a valid 'k'"),
        ({"x-trilho": {"default": "twenty"}}, "default 'twenty' is not a valid 'k'"),
        ({"x-trilho": {"default": None}}, "a default must not be null"),
    ],
)
def test_a_default_the_field_would_reject_is_a_load_error_naming_it(changes, message):
    with pytest.raises(ContractError, match=message) as info:
        contract(with_input_property("k", **changes))
    assert "default" in str(info.value) and info.value.fix


def test_a_default_on_an_array_is_refused():
    doc = copy.deepcopy(DOC)
    doc["schema"][1]["properties"][0]["x-trilho"] = {"default": [1]}
    doc["schema"][1]["properties"][0]["required"] = False
    with pytest.raises(ContractError, match="a default applies to numbers"):
        contract(doc)


def test_export_keeps_the_default():
    c = contract()
    again = load_contract(c.to_yaml())
    assert again.object("input").field("k").default == 20
    assert again.content_hash == c.content_hash


def _changes(old_doc, new_doc):
    return {(ch.rule_id, ch.severity, ch.path) for ch in diff_contracts(old_doc, new_doc).changes}


def test_the_diff_says_a_changed_or_removed_default_changes_callers_results():
    base = with_input_property("k", **{"x-trilho": {}})
    added = with_input_property("k", **{"x-trilho": {"default": 20}})
    changed = with_input_property("k", **{"x-trilho": {"default": 10}})
    assert ("TC180-default-added", "warning", "input.k.default") in _changes(base, added)
    changed_report = diff_contracts(added, changed)
    assert {(c.rule_id, c.severity) for c in changed_report.changes} >= {
        ("TC181-default-changed", "error"),
        ("TC190-major-version-required", "error"),
    }
    assert "now carry 10 instead of 20" in changed_report.changes[0].message
    assert ("TC182-default-removed", "error", "input.k.default") in _changes(added, base)
    bumped = copy.deepcopy(changed)
    bumped["version"] = "2.0.0"
    assert "TC190-major-version-required" not in {c.rule_id for c in diff_contracts(added, bumped).changes}


@settings(deadline=None)  # the first example compiles the validators
@given(
    st.one_of(st.none(), st.integers(1, 100)),
    st.one_of(st.none(), st.just("br")),
    st.one_of(st.none(), st.floats(-5, 5, allow_nan=False)),
    st.sets(st.sampled_from(["k", "region", "boost"])),
)
def test_every_validator_fills_the_same_values(k, region, boost, absent):
    record = {"user_id": 1, "k": k, "region": region, "boost": boost}
    for name in absent:
        del record[name]
    c = SHARED
    want = {
        name: (record.get(name) if record.get(name) is not None else FILLED[name])
        for name in ("k", "region", "boost")
    }
    for engine in ("pydantic-core", "msgspec"):
        out = c.request_validator("input", engine=engine).validate(record)
        assert {n: out[n] for n in want} == want
    filled = dict(record)
    assert c.json_schema_validator("input").is_valid(filled)
    assert {n: filled[n] for n in want} == want
    frame = c.fill_defaults(pl.DataFrame([record], schema_overrides={"k": pl.Int64, "boost": pl.Float64}))
    assert {n: frame[n][0] for n in want} == want
