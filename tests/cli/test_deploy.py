"""`trilho deploy` through the CLI on a SQLite home with a real registry: apply twice (unchanged), diff exit
codes, show round-trips, list, a bad file writes nothing (exit 2), delete, and the audit chain stays valid;
then `trilho rollout start` works on the model the file deployed (it used to need a Python call)."""

from __future__ import annotations

import json

import yaml
from tests.registry.conftest import EXAMPLES, write_contract, write_python_model

from trilho.rollout.plan import DEFAULT_PLAN_YAML

FILE = """
model: lin
routes:
  - {version: 1, role: stable, weight: 90}
  - {version: champion, role: canary, weight: 10}
shadow_percent: 5
cache: {enabled: true}
slo: {latency_ms: 50}
"""


def _register_two(cli, tmp_path):
    art = write_python_model(tmp_path / "src")
    contract = write_contract(tmp_path / "c.yaml", examples=EXAMPLES)
    for _ in range(2):
        r = cli(
            "model", "register", "lin", "--artifact", str(art), "--flavor", "python",
            "--contract", str(contract), "--entry", "model:predict", "--json",
        )  # fmt: skip
        assert r.exit_code == 0, r.output
    assert cli("model", "alias", "lin", "champion", "2").exit_code == 0


def test_apply_diff_show_list_delete(cli, home, tmp_path):
    _register_two(cli, tmp_path)
    file = tmp_path / "deployment.yaml"
    file.write_text(FILE)

    first = cli("deploy", "apply", str(file), "--actor", "ana", "--json")
    assert first.exit_code == 0, first.output
    assert json.loads(first.stdout)["action"] == "created"
    again = cli("deploy", "apply", str(file))
    assert again.exit_code == 0 and "unchanged" in again.stdout
    same = cli("deploy", "diff", str(file), "--json")
    assert same.exit_code == 0 and json.loads(same.stdout) == {"model": "lin", "same": True, "changes": []}

    file.write_text(FILE.replace("weight: 90", "weight: 50").replace("weight: 10", "weight: 50"))
    drift = cli("deploy", "diff", str(file))
    assert drift.exit_code == 1 and "routes[version=1].weight" in drift.stdout and "50.0" in drift.stdout
    changed = cli("deploy", "apply", str(file), "--json")
    assert changed.exit_code == 0 and json.loads(changed.stdout)["action"] == "changed"

    shown = cli("deploy", "show", "lin")
    assert shown.exit_code == 0 and shown.stdout.startswith("# live at routing generation 2")
    doc = yaml.safe_load(shown.stdout)
    assert [(r["version"], r["weight"]) for r in doc["routes"]] == [("1", 50.0), ("2", 50.0)]
    round_trip = tmp_path / "shown.yaml"
    round_trip.write_text(shown.stdout)
    assert "unchanged" in cli("deploy", "apply", str(round_trip)).stdout

    listed = json.loads(cli("deploy", "list", "--json").stdout)["deployments"]
    assert [(d["model"], d["stable"], d["shadow_percent"], d["generation"]) for d in listed] == [
        ("lin", "1", 5.0, 2)
    ]

    bad = tmp_path / "bad.yaml"
    bad.write_text(FILE.replace("version: champion", "version: nightly"))
    refused = cli("deploy", "apply", str(bad), "--json")
    assert refused.exit_code == 2
    body = json.loads(refused.stdout.split("\n}\n")[0] + "\n}")
    assert body["field"] == "routes[1].version" and "nightly" in body["message"]
    assert json.loads(cli("deploy", "list", "--json").stdout)["deployments"][0]["generation"] == 2

    history = json.loads(cli("rollout", "history", "lin", "--json").stdout)
    entries = history["entries"] if isinstance(history, dict) else history
    assert [e["action"] for e in entries] == ["deploy_create", "deploy_apply"]
    assert entries[0]["actor"] == "user:ana"

    deleted = cli("deploy", "delete", str(file), "--json")
    assert deleted.exit_code == 0 and json.loads(deleted.stdout)["action"] == "deleted"
    assert json.loads(cli("deploy", "list", "--json").stdout)["deployments"] == []
    assert cli("deploy", "show", "lin").exit_code == 2
    assert cli("audit", "verify").exit_code == 0


def test_rollout_start_works_on_a_model_the_file_deployed(cli, home, tmp_path):
    _register_two(cli, tmp_path)
    file = tmp_path / "deployment.yaml"
    file.write_text("model: lin\nroutes: [{version: 1}]\n")
    plan = tmp_path / "plan.yaml"
    plan.write_text(DEFAULT_PLAN_YAML)
    before = cli("rollout", "start", "lin", "--candidate", "2", "--plan", str(plan), "--skip-gates", "test")
    assert before.exit_code == 2 and "trilho deploy apply" in before.output
    assert cli("deploy", "apply", str(file)).exit_code == 0
    started = cli("rollout", "start", "lin", "--candidate", "2", "--plan", str(plan), "--skip-gates", "test")
    assert started.exit_code == 0, started.output
    refused = cli("deploy", "apply", str(file))  # the running rollout owns the routes
    assert refused.exit_code == 2 and "owns its routes" in refused.output


def test_schema_is_printed(cli, tmp_path):
    out = cli("deploy", "schema")
    assert out.exit_code == 0 and json.loads(out.stdout)["title"] == "DeploymentFile"


def test_a_bad_comparator_is_refused_at_apply_naming_the_field_and_the_allowed_forms(cli, home, tmp_path):
    _register_two(cli, tmp_path)
    good = tmp_path / "deployment.yaml"
    good.write_text(FILE)
    assert cli("deploy", "apply", str(good)).exit_code == 0
    bad = tmp_path / "bad.yaml"
    bad.write_text(FILE + 'comparators: ["exact", "abs_tol(x)"]\n')
    for verb in ("apply", "diff"):
        refused = cli("deploy", verb, str(bad), "--json")
        assert refused.exit_code == 2, refused.output
        body = json.loads(refused.stdout.split("\n}\n")[0] + "\n}")
        assert body["field"] == "comparators[1]" and body["value"] == "abs_tol(x)"
        assert "'abs_tol(x)' is not a comparator" in body["message"]
        assert "numeric[:TOL[:FIELD]]" in body["message"] and "topk:K:FIELD[:MIN_OVERLAP]" in body["message"]
    listed = json.loads(cli("deploy", "list", "--json").stdout)["deployments"]
    assert [d["generation"] for d in listed] == [1]  # nothing changed
    shown = yaml.safe_load(cli("deploy", "show", "lin").stdout)
    assert shown["comparators"] == ["exact"]
    human = cli("deploy", "apply", str(bad))
    assert human.exit_code == 2 and "comparators[1]" in human.output


def test_a_plan_naming_a_comparator_is_checked_at_load_and_against_the_deployment(cli, home, tmp_path):
    _register_two(cli, tmp_path)
    file = tmp_path / "deployment.yaml"
    file.write_text("model: lin\nroutes: [{version: 1}]\ncomparators: [exact, 'numeric:0.01']\n")
    assert cli("deploy", "apply", str(file)).exit_code == 0
    doc = yaml.safe_load(DEFAULT_PLAN_YAML)
    plan = tmp_path / "plan.yaml"
    for comparator, code, text in [
        ("abs_tol(x)", 2, "'abs_tol(x)' is not a comparator"),  # the grammar, at load
        ("label:churn", 2, "not one of the deployment's comparators"),  # parses, but never computed
    ]:
        doc.setdefault("analysis", {})["shadow_agreement"] = {"comparator": comparator}
        plan.write_text(yaml.safe_dump(doc))
        r = cli("rollout", "start", "lin", "--candidate", "2", "--plan", str(plan), "--skip-gates", "test")
        assert r.exit_code == code and text in r.output, r.output
        assert "comparator" in r.output
    history = json.loads(cli("rollout", "history", "lin", "--json").stdout)
    entries = history["entries"] if isinstance(history, dict) else history
    assert [e["action"] for e in entries] == ["deploy_create"]  # no rollout was created
    doc["analysis"]["shadow_agreement"] = {"comparator": "numeric:0.01"}
    plan.write_text(yaml.safe_dump(doc))
    ok = cli("rollout", "start", "lin", "--candidate", "2", "--plan", str(plan), "--skip-gates", "test")
    assert ok.exit_code == 0, ok.output


def test_evals_are_applied_diffed_and_checked_through_the_cli(cli, home, tmp_path):
    _register_two(cli, tmp_path)
    (tmp_path / "policy.yaml").write_text("name: p\nchecks:\n  - {check: secrets, action: block}\n")
    file = tmp_path / "deployment.yaml"
    base = "model: lin\nroutes: [{version: 1}]\n"
    file.write_text(base + "evals:\n  gate: required\n  online: {policy: policy.yaml, output_field: y}\n")
    assert cli("deploy", "apply", str(file)).exit_code == 0
    shown = yaml.safe_load(cli("deploy", "show", "lin").stdout)
    assert shown["evals"]["gate"] == "required" and shown["evals"]["online"]["policy"]["name"] == "p"
    assert cli("deploy", "diff", str(file)).exit_code == 0  # the inlined policy equals what is live
    file.write_text(base + "evals:\n  gate: auto\n  online: {policy: policy.yaml, output_field: y}\n")
    drift = cli("deploy", "diff", str(file), "--json")
    assert drift.exit_code == 1
    assert [(c["field"], c["live"], c["desired"]) for c in json.loads(drift.stdout)["changes"]] == [
        ("evals.gate", "required", "auto")
    ]
    (tmp_path / "policy.yaml").write_text("name: p\nchecks:\n  - {check: no_such_check}\n")
    refused = cli("deploy", "apply", str(file), "--json")
    assert refused.exit_code == 2
    body = json.loads(refused.stdout.split("\n}\n")[0] + "\n}")
    assert body["field"].startswith("evals.online.policy") and "no_such_check" in body["message"]
    assert yaml.safe_load(cli("deploy", "show", "lin").stdout)["evals"]["gate"] == "required"  # unchanged
