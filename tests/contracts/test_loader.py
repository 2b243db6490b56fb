"""Loading contracts: ODCS core, the trilho extension, precise errors, export round trips, content hash."""

from __future__ import annotations

import copy

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st
from tests.contracts._helpers import IO_CONTRACT, PLAIN_ODCS

from trilho.contracts import TYPES, load_contract
from trilho.errors import ContractError

MINIMAL = """\
apiVersion: v3.0.2
kind: DataContract
id: m
version: "1.0.0"
schema:
  - name: t
    properties:
      - {name: a, physicalType: int32, required: true}
"""


def test_load_from_path_text_and_mapping_agree():
    c1 = load_contract(IO_CONTRACT)
    c2 = load_contract(IO_CONTRACT.read_text())
    c3 = load_contract(yaml.safe_load(IO_CONTRACT.read_text()))
    assert c1.content_hash == c2.content_hash == c3.content_hash
    assert len(c1.content_hash) == 64
    assert load_contract(c1) is c1
    assert (c1.id, c1.name, c1.version) == ("churn-model-io", "churn-model", "1.0.0")


def test_roles_fields_and_examples():
    c = load_contract(IO_CONTRACT)
    assert c.roles == ("input", "output")
    assert len(c.fields("input")) == 20
    assert [f.name for f in c.fields("output")] == ["churn_probability", "label"]
    assert c.fields("output")[0].tolerance.close(0.5, 0.5000005)
    assert c.examples("input")[0]["user_id"] == "u000001"
    c.request_validator("input").validate(c.examples("input")[0])
    assert c.fields("input")[-1].shape == (4,)


def test_contract_without_roles_treats_first_object_as_input():
    c = load_contract(MINIMAL)
    assert c.roles == ("input",)
    assert c.request_validator("input").validate({"a": 1}) == {"a": 1}
    with pytest.raises(ContractError, match="no output object") as exc:
        c.request_validator("output")
    assert "role: output" in exc.value.fix


def test_plain_odcs_file_imports():
    c = load_contract(PLAIN_ODCS)
    by_name = {f.name: f for f in c.fields()}
    assert by_name["rcvr_id"].type.name == "string" and by_name["rcvr_id"].max_length == 18
    assert by_name["rcvr_id"].unique and by_name["rcvr_id"].required
    assert by_name["n_items"].type.name == "int64"
    assert by_name["updated_at"].kind == "timestamp"
    assert by_name["rcvr_cntry_code"].enum == ("US", "FR", "PT", "BR")
    assert by_name["amount"].checks[0].describe() == "nullValues mustBeLessOrEqualTo 10 percent"
    assert any("decimal" in w for w in c.warnings) and any("sql" in w for w in c.warnings)
    # everything not modelled survives the export
    out = c.to_odcs()
    assert out["servers"][0]["host"] == "localhost"
    assert out["schema"][0]["properties"][1]["primaryKey"] is True
    assert out["schema"][0]["quality"][1]["type"] == "sql"
    assert c.examples() == []  # n_items is required and has no example: no record can be assembled
    data = yaml.safe_load(PLAIN_ODCS.read_text())
    data["schema"][0]["properties"][4]["examples"] = [3]
    assert load_contract(data).examples() == [
        {"txn_ref_dt": "2022-10-03", "rcvr_id": "1234567890123456", "rcvr_cntry_code": "US", "n_items": 3},
        {"txn_ref_dt": "2020-01-28", "rcvr_id": "AB12", "rcvr_cntry_code": "FR", "n_items": 3},
    ]


@pytest.mark.parametrize("path", [IO_CONTRACT, PLAIN_ODCS])
def test_export_round_trip_is_a_fixed_point(path):
    c = load_contract(path)
    again = load_contract(c.to_yaml())
    assert again.content_hash == c.content_hash
    assert again.to_odcs() == c.to_odcs()
    assert "x-trilho" not in c.to_yaml()  # strict ODCS form on export


def test_content_hash_ignores_formatting_but_not_content():
    data = yaml.safe_load(MINIMAL)
    reordered = dict(reversed(list(data.items())))
    assert load_contract(reordered).content_hash == load_contract(MINIMAL).content_hash
    changed = copy.deepcopy(data)
    changed["schema"][0]["properties"][0]["physicalType"] = "int64"
    assert load_contract(changed).content_hash != load_contract(MINIMAL).content_hash


def test_malformed_yaml_names_file_line_and_column(tmp_path):
    p = tmp_path / "bad.yaml"
    p.write_text("apiVersion: v3.0.2\nid: x\nschema:\n  - name: t\n    properties: [\n      {name: a\n")
    with pytest.raises(ContractError) as exc:
        load_contract(p)
    err = exc.value
    assert str(p) in err.message and err.fields["line"] >= 6 and err.fields["column"] >= 1
    assert f"{p}:{err.fields['line']}:{err.fields['column']}" in err.message


def test_unknown_type_lists_valid_ones_with_field_path_and_position(tmp_path):
    p = tmp_path / "c.yaml"
    p.write_text(MINIMAL.replace("int32", "int33"))
    with pytest.raises(ContractError) as exc:
        load_contract(p)
    err = exc.value
    assert err.fields["field"] == "schema[0].properties[0].physicalType"
    assert (err.fields["line"], err.fields["column"]) == (8, 33)
    assert "did you mean 'int32'" in err.message
    for name in TYPES:
        assert name in err.fix


@pytest.mark.parametrize(
    ("mutation", "path", "text"),
    [
        (lambda d: d.update(version="1.0"), "version", "semantic version"),
        (lambda d: d.update(kind="Other"), "kind", "DataContract"),
        (lambda d: d.pop("id"), "id", "id is required"),
        (lambda d: d.update(schema=[]), "schema", "non-empty"),
        (lambda d: d.update(verison="1"), "verison", "did you mean 'version'"),
        (
            lambda d: d["schema"][0]["properties"][0].update(requird=True),
            "schema[0].properties[0].requird",
            "did you mean 'required'",
        ),
        (
            lambda d: d["schema"][0]["properties"][0].update(logicalTypeOptions={"minLength": 1}),
            "schema[0].properties[0].logicalTypeOptions.minLength",
            "applies to strings",
        ),
        (
            lambda d: d["schema"][0]["properties"][0].update(logicalTypeOptions={"minimum": 5, "maximum": 1}),
            "schema[0].properties[0].logicalTypeOptions",
            "empty range",
        ),
        (
            lambda d: d["schema"][0]["properties"][0].update(
                physicalType="uint8", logicalTypeOptions={"maximum": -1}
            ),
            "schema[0].properties[0].logicalTypeOptions",
            "no uint8 value",
        ),
        (
            lambda d: d["schema"][0]["properties"][0].update(
                physicalType="string", logicalTypeOptions={"pattern": "(?<=a)b"}
            ),
            "schema[0].properties[0].logicalTypeOptions.pattern",
            "look-around",
        ),
        (
            lambda d: d["schema"][0]["properties"][0].update(
                physicalType="string", logicalTypeOptions={"pattern": "(unclosed"}
            ),
            "schema[0].properties[0].logicalTypeOptions.pattern",
            "invalid regular expression",
        ),
        (
            lambda d: d["schema"][0]["properties"][0].update(logicalType="string"),
            "schema[0].properties[0].physicalType",
            "does not match logicalType",
        ),
        (
            lambda d: d["schema"][0]["properties"][0].update(logicalType="object"),
            "schema[0].properties[0].logicalType",
            "nested objects",
        ),
        (
            lambda d: d["schema"][0]["properties"][0].update(
                quality=[{"rule": "validValues", "validValues": ["a"]}]
            ),
            "schema[0].properties[0].quality[0]",
            "is not a int32",
        ),
        (
            lambda d: d["schema"][0].update({"x-trilho": {"role": "inputs"}}),
            "schema[0].x-trilho.role",
            "unknown role",
        ),
        (
            lambda d: d["schema"][0].update({"x-trilho": {"rol": "input"}}),
            "schema[0].x-trilho.rol",
            "unknown trilho extension key",
        ),
        (
            lambda d: d["schema"][0]["properties"].append({"name": "a", "physicalType": "int8"}),
            "schema[0].properties[1].name",
            "duplicate property",
        ),
        (
            lambda d: d["schema"][0]["properties"][0].update({"x-trilho": {"shape": [3]}}),
            "schema[0].properties[0].x-trilho.shape",
            "applies to arrays",
        ),
    ],
)
def test_load_errors_name_the_field(mutation, path, text):
    data = yaml.safe_load(MINIMAL)
    mutation(data)
    with pytest.raises(ContractError) as exc:
        load_contract(data)
    assert exc.value.fields["field"] == path
    assert text in str(exc.value)
    assert exc.value.exit_code == 2


def test_duplicate_yaml_keys_are_rejected():
    with pytest.raises(ContractError, match="duplicate key 'id'") as exc:
        load_contract(MINIMAL + "id: again\n")
    assert exc.value.fields["line"] == 9


def test_missing_file_is_an_input_error(tmp_path):
    with pytest.raises(ContractError, match="not found"):
        load_contract(tmp_path / "nope.yaml")


def test_customproperties_form_equals_x_trilho_form():
    data = yaml.safe_load(MINIMAL)
    a = copy.deepcopy(data)
    a["schema"][0]["x-trilho"] = {"role": "output"}
    b = copy.deepcopy(data)
    b["schema"][0]["customProperties"] = [{"property": "trilho", "value": {"role": "output"}}]
    assert load_contract(a).content_hash == load_contract(b).content_hash
    assert load_contract(a).roles == ("output",)


@settings(max_examples=40, deadline=None)
@given(st.lists(st.sampled_from(sorted(TYPES)), min_size=1, max_size=6), st.data())
def test_any_well_formed_contract_round_trips(types, data):
    props = []
    for i, t in enumerate(types):
        p = {"name": f"c{i}", "physicalType": t, "required": data.draw(st.booleans())}
        if t == "array":
            p["items"] = {"physicalType": data.draw(st.sampled_from(["float32", "int8", "string"]))}
            if data.draw(st.booleans()):
                p["x-trilho"] = {"shape": data.draw(st.lists(st.integers(1, 5), min_size=1, max_size=3))}
        props.append(p)
    doc = {
        "apiVersion": "v3.0.2",
        "kind": "DataContract",
        "id": "r",
        "version": "0.1.0",
        "schema": [{"name": "o", "properties": props}],
    }
    c = load_contract(doc)
    assert load_contract(c.to_yaml()).content_hash == c.content_hash
