"""`trilho contract validate | diff | infer | export` end to end, with exit codes 0 / 1 / 2."""

from __future__ import annotations

import json

import polars as pl
import yaml
from tests.contracts._helpers import IO_CONTRACT, good_records


def _write_data(tmp_path, records, fmt):
    df = pl.from_dicts(records, infer_schema_length=None)
    path = tmp_path / f"data.{fmt}"
    if fmt == "csv":
        df.drop("embedding", strict=False).write_csv(path)
    elif fmt == "parquet":
        df.write_parquet(path)
    else:
        path.write_text("".join(json.dumps(r) + "\n" for r in records))
    return path


def _contract_without_vectors(tmp_path):
    data = yaml.safe_load(IO_CONTRACT.read_text())
    data["schema"][0]["properties"] = [p for p in data["schema"][0]["properties"] if p["name"] != "embedding"]
    for p in data["schema"][0]["properties"]:
        p.pop("quality", None) if p["name"] == "n_sessions_7d" else None
    path = tmp_path / "c.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


def test_validate_valid_files_exit_0(cli, tmp_path):
    contract = _contract_without_vectors(tmp_path)
    records = [{k: v for k, v in r.items() if k != "embedding"} for r in good_records()]
    for fmt in ("csv", "parquet", "jsonl"):
        path = _write_data(tmp_path, records, fmt)
        r = cli("contract", "validate", str(contract), str(path))
        assert r.exit_code == 0, (fmt, r.stdout, r.stderr)
        assert "valid" in r.stdout


def test_validate_invalid_file_exit_1_with_table_and_json(cli, tmp_path):
    contract = _contract_without_vectors(tmp_path)
    records = [{k: v for k, v in r.items() if k != "embedding"} for r in good_records()]
    records[2] = dict(records[2], age=2**31, plan="gold")
    path = _write_data(tmp_path, records, "jsonl")
    r = cli("contract", "validate", str(contract), str(path))
    assert r.exit_code == 1
    assert "invalid" in r.stdout and "range" in r.stdout and "enum" in r.stdout
    r = cli("contract", "validate", str(contract), str(path), "--json")
    assert r.exit_code == 1
    body = json.loads(r.stdout)
    assert body["ok"] is False and {(f["row"], f["column"], f["rule"]) for f in body["failures"]} == {
        (2, "age", "range"),
        (2, "plan", "enum"),
    }


def test_validate_mixed_jsonl_is_invalid_not_unreadable(cli, tmp_path):
    contract = _contract_without_vectors(tmp_path)
    records = [{k: v for k, v in r.items() if k != "embedding"} for r in good_records()]
    records[1] = dict(records[1], age="old")
    path = _write_data(tmp_path, records, "jsonl")
    r = cli("contract", "validate", str(contract), str(path), "--json")
    assert r.exit_code == 1
    assert [(f["row"], f["rule"]) for f in json.loads(r.stdout)["failures"]] == [(1, "type")]


def test_validate_unreadable_input_exit_2(cli, tmp_path):
    contract = _contract_without_vectors(tmp_path)
    bad = tmp_path / "x.parquet"
    bad.write_text("not parquet")
    assert cli("contract", "validate", str(contract), str(bad)).exit_code == 2
    assert cli("contract", "validate", str(contract), str(tmp_path / "missing.csv")).exit_code == 2
    assert cli("contract", "validate", str(contract), str(tmp_path / "x.xlsx")).exit_code == 2
    broken = tmp_path / "broken.yaml"
    broken.write_text("id: [\n")
    r = cli("contract", "validate", str(broken), str(bad))
    assert r.exit_code == 2 and "broken.yaml:" in r.stderr


def _pair(tmp_path, new_type, new_version):
    data = yaml.safe_load(IO_CONTRACT.read_text())
    old = tmp_path / "old.yaml"
    old.write_text(yaml.safe_dump(data))
    data["version"] = new_version
    data["schema"][0]["properties"][1]["physicalType"] = new_type
    new = tmp_path / "new.yaml"
    new.write_text(yaml.safe_dump(data))
    return str(old), str(new)


def test_diff_formats_and_exit_codes(cli, tmp_path):
    old, new = _pair(tmp_path, "int16", "1.1.0")
    r = cli("contract", "diff", old, new)
    assert r.exit_code == 1 and "TC112-type-narrowed" in r.stdout
    r = cli("contract", "diff", old, new, "--format", "json")
    assert r.exit_code == 1
    assert {c["rule_id"] for c in json.loads(r.stdout)["changes"]} == {
        "TC112-type-narrowed",
        "TC190-major-version-required",
    }
    r = cli("contract", "diff", old, new, "--format", "github")
    assert r.stdout.startswith(f"::error file={new},title=TC112-type-narrowed::input.age.physicalType")
    old, new = _pair(tmp_path, "int64", "1.1.0")
    r = cli("contract", "diff", old, new, "--json")
    assert r.exit_code == 0 and json.loads(r.stdout)["has_errors"] is False


def test_infer_writes_a_contract_and_fails_closed(cli, tmp_path):
    df = pl.DataFrame({"a": pl.Series([1, 2], dtype=pl.Int32), "b": ["x", "y"]})
    df.write_parquet(tmp_path / "d.parquet")
    out = tmp_path / "out.yaml"
    r = cli("contract", "infer", str(tmp_path / "d.parquet"), "--name", "d", "-o", str(out))
    assert r.exit_code == 0, r.stderr
    assert cli("contract", "validate", str(out), str(tmp_path / "d.parquet")).exit_code == 0
    assert "int32" in out.read_text()
    r = cli("contract", "infer", str(tmp_path / "d.parquet"), "--json")
    assert json.loads(r.stdout)["fields"][0] == {"name": "a", "type": "int32", "required": True}
    (tmp_path / "m.jsonl").write_text('{"a": 1, "n": null}\n{"a": "x", "n": null}\n')
    r = cli("contract", "infer", str(tmp_path / "m.jsonl"), "--json")
    assert r.exit_code == 2
    assert json.loads(r.stdout)["field"] == ["a", "n"]


def test_export(cli, tmp_path):
    r = cli("contract", "export", str(IO_CONTRACT), "--to", "jsonschema", "--role", "output")
    assert r.exit_code == 0
    assert json.loads(r.stdout)["required"] == ["churn_probability", "label"]
    r = cli("contract", "export", str(IO_CONTRACT), "--to", "odcs")
    assert r.exit_code == 0 and "property: trilho" in r.stdout
    assert yaml.safe_load(r.stdout)["id"] == "churn-model-io"
