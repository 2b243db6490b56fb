"""The pipeline on a freshly rendered tabular project: end to end, skipping, lineage, gates that stop it."""

import json
import re

import yaml

from trilho.config import resolve_settings
from trilho.registry import Registry
from trilho.store import open_store
from trilho.store.routing import get_deployment


def _json(out: str) -> dict:
    start = out.index("{\n")
    return json.loads(out[start:])


def _history(model: str) -> list[dict]:
    from trilho.rollout import RolloutService

    return RolloutService(open_store(resolve_settings())).history(model)


def _registry():
    s = resolve_settings()
    return Registry(open_store(s), s.artifacts_url)


def test_fresh_project_runs_every_stage_then_skips_then_rolls_out_a_retrain(cli, project):
    first = cli("pipeline", "run", "--project", str(project), "--json")
    assert first.exit_code == 0, first.output
    data = _json(first.stdout)
    assert [s["stage"] for s in data["stages"]] == [
        "validate",
        "train",
        "evaluate",
        "golden",
        "register",
        "rollout",
    ]
    assert all(s["status"] == "ran" for s in data["stages"])
    assert data["version"] == 1 and data["rollout"]["action"] == "deployed"

    mv = _registry().get("churn@1")
    assert mv.metrics["accuracy"] >= 0.6
    assert re.fullmatch(r"[0-9a-f]{40}", mv.params["pipeline"]["code_commit"])
    assert mv.params["C"] == 1.0
    assert any(h.startswith("sha256:") for h in mv.lineage["data"].values())
    assert [g.decision for g in _registry().gate_records("churn@1", kind="golden")] == ["pass"]
    deployment = get_deployment(open_store(resolve_settings()), "churn")
    assert deployment.stable.version == "1" and deployment.comparators == ("label:churn",)
    # created through the deployment file (the `trilho deploy apply` code path), audited as such
    created = [e for e in _history("churn") if e["action"] == "deploy_create"]
    assert len(created) == 1 and created[0]["evidence"]["source"] == "rollout/deployment.yaml"

    again = _json(cli("pipeline", "run", "--project", str(project), "--json").stdout)
    status = {s["stage"]: s["status"] for s in again["stages"]}
    assert status["train"] == status["evaluate"] == status["register"] == status["rollout"] == "skipped"

    params = project / "params.yaml"
    params.write_text(params.read_text().replace("C: 1.0", "C: 0.5"))
    retrain = cli("pipeline", "run", "--project", str(project), "--json")
    assert retrain.exit_code == 0, retrain.output
    out = _json(retrain.stdout)
    assert out["version"] == 2
    assert out["rollout"]["action"] == "rollout_started" and out["rollout"]["rollout"] is not None
    assert [v.version for v in _registry().versions("churn")] == [1, 2]


def test_ci_stages_register_nothing(cli, project):
    result = cli("pipeline", "run", "--project", str(project), "--stage", "golden", "--json")
    assert result.exit_code == 0, result.output
    assert [s["stage"] for s in _json(result.stdout)["stages"]][-1] == "golden"
    assert _registry().list_models() == []


def test_breaking_contract_change_stops_with_exit_1_and_registers_nothing(cli, project):
    assert cli("pipeline", "run", "--project", str(project)).exit_code == 0
    contract = project / "contracts/model.yaml"
    doc = yaml.safe_load(contract.read_text())
    doc["version"] = "2.0.0"
    doc["schema"][0]["properties"].append(
        {"name": "region", "logicalType": "string", "physicalType": "string", "required": True}
    )
    doc["schema"][0]["x-trilho"]["examples"][0]["region"] = "north"
    contract.write_text(yaml.safe_dump(doc, sort_keys=False))
    result = cli("pipeline", "run", "--project", str(project), "--json")
    assert result.exit_code == 1
    err = _json(result.stdout)
    assert err["error"] == "BreakingChange" and err["stage"] == "validate"
    assert [v.version for v in _registry().versions("churn")] == [1]


def test_golden_regression_stops_with_exit_1_and_registers_nothing(cli, project):
    assert cli("pipeline", "run", "--project", str(project)).exit_code == 0
    train = project / "train.py"  # a bug: the model learns the inverted label
    train.write_text(train.read_text().replace("train[TARGET])", "1 - train[TARGET])"))
    (project / "trilho.yaml").write_text(
        (project / "trilho.yaml").read_text().replace("accuracy: {min: 0.6}", "accuracy: {min: 0.0}")
    )
    result = cli("pipeline", "run", "--project", str(project), "--json")
    assert result.exit_code == 1, result.output
    err = _json(result.stdout)
    assert err["stage"] == "golden" and err["error"] == "GateFailed"
    assert "golden regression against churn@1" in err["message"]
    assert [v.version for v in _registry().versions("churn")] == [1]


def test_run_outside_a_project_is_exit_2_and_writes_nothing(cli, tmp_path, monkeypatch):
    home = tmp_path / "home"
    monkeypatch.setenv("TRILHO_HOME", str(home))
    result = cli("pipeline", "run", "--project", str(tmp_path), "--json")
    assert result.exit_code == 2
    assert "not inside a trilho project" in result.output
    assert not home.exists()


def test_missing_data_path_is_exit_2_and_writes_nothing(cli, project, tmp_path):
    (project / "data/train.csv").unlink()
    result = cli("pipeline", "run", "--project", str(project), "--json")
    assert result.exit_code == 2
    assert _json(result.stdout)["field"] == "data.train"
    assert not (tmp_path / "home").exists() and not (project / ".trilho").exists()


def test_unknown_stage_is_exit_2(cli, project):
    assert cli("pipeline", "run", "--project", str(project), "--stage", "deploy").exit_code == 2


def test_a_bad_rollout_comparator_in_the_project_is_exit_2_naming_it(cli, project, tmp_path):
    doc = yaml.safe_load((project / "trilho.yaml").read_text())
    doc.setdefault("rollout", {})["comparators"] = ["label:churn", "abs_tol(x)"]
    (project / "trilho.yaml").write_text(yaml.safe_dump(doc))
    result = cli("pipeline", "run", "--project", str(project), "--json")
    assert result.exit_code == 2
    err = _json(result.stdout)
    assert err["field"] == "rollout.comparators[1]" and "'abs_tol(x)' is not a comparator" in err["message"]
    assert not (tmp_path / "home").exists() and not (project / ".trilho").exists()
