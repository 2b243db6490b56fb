"""`trilho model` end to end through the CLI: --json output, exit codes, one clear line on bad input."""

from __future__ import annotations

import json

from tests.registry.conftest import EXAMPLES, write_contract, write_python_model


def test_register_list_show_alias(cli, home, tmp_path):
    art = write_python_model(tmp_path / "src")
    contract = write_contract(tmp_path / "c.yaml", examples=EXAMPLES)
    data = tmp_path / "train.csv"
    data.write_text("x1,x2\n1,2\n")
    r = cli(
        "model",
        "register",
        "lin",
        "--artifact",
        str(art),
        "--flavor",
        "python",
        "--contract",
        str(contract),
        "--entry",
        "model:predict",
        "--param",
        "lr=0.1",
        "--param",
        "kind=linear",
        "--metric",
        "rmse=0.25",
        "--data",
        str(data),
        "--json",
    )
    assert r.exit_code == 0, r.output
    out = json.loads(r.stdout)
    assert (
        out["ref"] == "lin@1"
        and out["params"] == {"lr": 0.1, "kind": "linear"}
        and out["metrics"]["rmse"] == 0.25
    )
    r = cli("model", "alias", "lin", "champion", "1", "--json")
    assert r.exit_code == 0 and json.loads(r.stdout)["version"] == 1
    listed = json.loads(cli("model", "list", "--json").stdout)
    assert listed == {"models": [{"name": "lin", "versions": 1, "latest": 1, "aliases": {"champion": 1}}]}
    shown = json.loads(cli("model", "show", "lin@champion", "--json").stdout)
    assert shown["version"] == 1 and shown["aliases"] == ["champion"] and shown["gates"] == []
    assert str(data) in shown["lineage"]["data"]
    human = cli("model", "show", "lin")
    assert human.exit_code == 0 and "lin@1" in human.stdout and "champion" in human.stdout


def test_bad_input_is_one_line_and_exit_2(cli, home, tmp_path):
    contract = write_contract(tmp_path / "c.yaml", examples=EXAMPLES)
    r = cli(
        "model",
        "register",
        "lin",
        "--artifact",
        str(tmp_path / "missing.py"),
        "--flavor",
        "python",
        "--contract",
        str(contract),
        "--entry",
        "model:predict",
    )
    assert r.exit_code == 2
    assert "artifact" in r.stderr and "does not exist" in r.stderr and len(r.stderr.strip().splitlines()) <= 2
    r = cli(
        "model",
        "register",
        "lin",
        "--artifact",
        str(tmp_path),
        "--flavor",
        "pickle",
        "--contract",
        str(contract),
        "--json",
    )
    assert r.exit_code == 2 and json.loads(r.stdout)["error"] == "RegistryError"
    r = cli("model", "show", "nope")
    assert r.exit_code == 2 and "no model named 'nope'" in r.stderr
    r = cli(
        "model",
        "register",
        "lin",
        "--artifact",
        str(tmp_path),
        "--flavor",
        "python",
        "--contract",
        str(contract),
        "--metric",
        "rmse=low",
    )
    assert r.exit_code == 2 and "must be a number" in r.stderr
    assert json.loads(cli("model", "list", "--json").stdout) == {"models": []}


def test_unreachable_database_is_exit_2_and_one_line(cli, tmp_path):
    art = write_python_model(tmp_path / "src")
    contract = write_contract(tmp_path / "c.yaml", examples=EXAMPLES)
    r = cli(
        "--home",
        str(tmp_path / "h"),
        "--database-url",
        "postgresql+psycopg://nobody@127.0.0.1:1/none",
        "model",
        "register",
        "lin",
        "--artifact",
        str(art),
        "--flavor",
        "python",
        "--contract",
        str(contract),
        "--entry",
        "model:predict",
    )
    assert r.exit_code == 2 and "unreachable" in r.stderr
    assert not (tmp_path / "h" / "artifacts").exists()  # nothing written anywhere


def test_contract_violation_exits_1(cli, home, tmp_path):
    art = write_python_model(tmp_path / "src")
    contract = write_contract(tmp_path / "c.yaml", examples=[{"x1": "a", "x2": 1.0}])
    r = cli(
        "model",
        "register",
        "lin",
        "--artifact",
        str(art),
        "--flavor",
        "python",
        "--contract",
        str(contract),
        "--entry",
        "model:predict",
    )
    assert r.exit_code == 1 and "example input 0" in r.stderr


def test_malformed_contract_names_the_file_and_exits_2(cli, home, tmp_path):
    art = write_python_model(tmp_path / "src")
    bad = tmp_path / "bad.yaml"
    bad.write_text("apiVersion: v3.0.2\nkind: DataContract\nschema: [\n")
    r = cli("model", "register", "lin", "--artifact", str(art), "--flavor", "python", "--contract", str(bad))
    assert r.exit_code == 2 and str(bad) in r.stderr
    assert json.loads(cli("model", "list", "--json").stdout) == {"models": []}
