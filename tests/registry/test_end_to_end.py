"""Act one of the demo as a test: train, contract, register v1, golden suite, a breaking v2 is refused."""

from __future__ import annotations

import json

import pytest

from trilho import golden
from trilho.demo.tabular import train_churn_model, write_churn_contract, write_churn_suite
from trilho.errors import BreakingChange
from trilho.registry import Registry


def test_act_one(store, tmp_path):
    registry = Registry(store, tmp_path / "artifacts")
    artifact, data = train_churn_model(tmp_path / "work")
    contract_v1 = write_churn_contract(tmp_path / "work" / "contract_v1.yaml")

    v1 = registry.register(
        "churn",
        artifact,
        "sklearn",
        contract_v1,
        data_paths=[data],
        params={"model": "logistic_regression", "seed": 7},
    )
    registry.set_alias("churn", "champion", v1.version)
    assert v1.ref == "churn@1" and v1.lineage["data"][str(data)].startswith("sha256:")

    result = golden.run(registry, write_churn_suite(tmp_path / "work"), "churn@champion")
    assert result.passed, [r.failures for r in result.failed]
    assert len(result.results) == 12

    contract_v2 = write_churn_contract(
        tmp_path / "work" / "contract_v2.yaml", version="2.0.0", with_region=True
    )
    with pytest.raises(BreakingChange) as refused:
        registry.register("churn", artifact, "sklearn", contract_v2, data_paths=[data])
    rule = refused.value.fields["rule"]
    assert rule.startswith("TC") and rule in str(refused.value)
    assert "churn@1" in str(refused.value)
    assert [v.version for v in registry.versions("churn")] == [1]  # nothing was registered


def test_act_one_through_the_cli(cli, home, tmp_path):
    artifact, _ = train_churn_model(tmp_path / "work")
    v1 = write_churn_contract(tmp_path / "v1.yaml")
    v2 = write_churn_contract(tmp_path / "v2.yaml", version="2.0.0", with_region=True)
    args = ["--artifact", str(artifact), "--flavor", "sklearn"]
    assert cli("model", "register", "churn", *args, "--contract", str(v1)).exit_code == 0
    assert cli("model", "alias", "churn", "champion", "1").exit_code == 0
    suite = write_churn_suite(tmp_path)
    assert cli("golden", "run", str(suite), "--model", "churn@champion").exit_code == 0
    r = cli("model", "register", "churn", *args, "--contract", str(v2), "--json")
    assert r.exit_code == 1
    body = json.loads(r.stdout)
    assert (
        body["error"] == "BreakingChange" and body["rule"].startswith("TC") and body["against"] == "churn@1"
    )
    r = cli(
        "model", "register", "churn", *args, "--contract", str(v2), "--allow-breaking", "region now required"
    )
    assert r.exit_code == 0 and "breaking change allowed" in r.stdout
