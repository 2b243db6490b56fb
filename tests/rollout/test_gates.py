"""Gates before any traffic: the pure rules, and the runner on a real registry."""

from __future__ import annotations

import copy
from types import SimpleNamespace

import pytest
import yaml

from trilho.rollout.gates import evaluate, registry_gates
from trilho.rollout.scenario import CONTRACT, register_models


def rec(decision, **evidence):
    return SimpleNamespace(decision=decision, evidence=evidence, id=1)


@pytest.mark.parametrize(
    ("kwargs", "passed", "failing"),
    [
        ({"contract_breaking": False, "golden": [rec("pass")]}, True, set()),
        ({"contract_breaking": True, "golden": [rec("pass")]}, False, {"contract"}),
        ({"contract_breaking": None, "golden": [rec("pass")]}, False, {"contract"}),
        ({"contract_breaking": False, "golden": []}, False, {"golden"}),
        ({"contract_breaking": False, "golden": [rec("pass"), rec("fail")]}, False, {"golden"}),
        ({"contract_breaking": False, "golden": [rec("pass")], "has_eval_suite": True}, False, {"eval"}),
        (
            {
                "contract_breaking": False,
                "golden": [rec("pass")],
                "has_eval_suite": True,
                "evals": [rec("pass")],
            },
            True,
            set(),
        ),
    ],
)
def test_rules(kwargs, passed, failing):
    report = evaluate(**kwargs)
    assert report.passed is passed
    assert {g.name for g in report.gates if g.status == "fail"} == failing


def test_registry_runner(tmp_path):
    from trilho.registry import Registry
    from trilho.store import Store

    store = Store(f"sqlite:///{tmp_path / 'g.db'}")
    store.migrate()
    root = tmp_path / "artifacts"
    v = register_models(store, root, tmp_path / "m", kinds=("stable", "good"), golden=False)
    gates = registry_gates(store, root)
    reg = Registry(store, root)
    report = gates("scorer", v["good"], v["stable"])
    assert not report.passed and "no golden suite result" in report.summary
    reg.record_gate(f"scorer@{v['good']}", "golden", "pass", {"cases": 12})
    assert gates("scorer", v["good"], v["stable"]).passed
    reg.record_gate(f"scorer@{v['stable']}", "eval", "pass", {"suite": "faith"})  # the model has a suite now
    report = gates("scorer", v["good"], v["stable"])
    assert not report.passed and {g.name for g in report.gates if g.status == "fail"} == {"eval"}
    reg.record_gate(f"scorer@{v['good']}", "eval", "pass", {"suite": "faithfulness"})
    assert gates("scorer", v["good"], v["stable"]).passed
    assert not gates("scorer", "99", v["stable"]).passed  # not registered: fails closed

    # A breaking contract (a new required input) registered on purpose still fails the gate.
    broken = copy.deepcopy(CONTRACT)
    x3 = {"name": "x3", "logicalType": "number", "physicalType": "float64", "required": True}
    broken["schema"][0]["properties"].append(x3)
    broken["schema"][0]["x-trilho"]["examples"] = [{"x1": 1.0, "x2": 2.0, "x3": 0.0}]
    path = tmp_path / "broken.yaml"
    path.write_text(yaml.safe_dump(broken, sort_keys=False))
    art = tmp_path / "m" / "src" / "scorer_good" / "scorer_good.py"
    mv = reg.register("scorer", art, "python", path, entry="scorer_good:predict", allow_breaking="test")
    reg.record_gate(mv.ref, "golden", "pass", {})
    reg.record_gate(mv.ref, "eval", "pass", {})
    report = gates("scorer", str(mv.version), v["stable"])
    assert {g.name for g in report.gates if g.status == "fail"} == {"contract"}
    store.dispose()


def test_forged_gate_record_fails_when_a_key_is_given(tmp_path):
    from sqlalchemy import update

    from trilho.registry import Registry, SigningKey
    from trilho.store import Store
    from trilho.store.tables.registry import gate_records

    store = Store(f"sqlite:///{tmp_path / 'g.db'}")
    store.migrate()
    root = tmp_path / "artifacts"
    v = register_models(store, root, tmp_path / "m", kinds=("stable", "good"), golden=False)
    key = SigningKey(b"k" * 32)
    reg = Registry(store, root)
    reg.record_gate(f"scorer@{v['good']}", "golden", "fail", {"cases": 12}, key=key)
    gates = registry_gates(store, root, key=key)
    assert not gates("scorer", v["good"], v["stable"]).passed
    with store.transaction() as conn:  # someone flips the stored decision by hand
        conn.execute(update(gate_records).values(decision="pass"))
    report = gates("scorer", v["good"], v["stable"])
    assert not report.passed and "does not verify" in report.summary
    assert registry_gates(store, root)("scorer", v["good"], v["stable"]).passed  # unsigned check trusts it
