"""Golden runs, comparisons (lower confidence bound, signed gate records) and snapshots on both backends."""

from __future__ import annotations

from tests.golden.conftest import write_contract, write_model

from trilho import golden
from trilho.registry import SigningKey, verify_gate


def test_run_passes_and_fails_per_case(registry, doubler):
    ok = golden.run(registry, doubler, "doubler@champion")
    assert ok.passed and len(ok.results) == 20 and ok.metrics()["pass_rate"] == 1.0
    bad = golden.run(registry, doubler, "doubler@2")
    assert not bad.passed and [r.case_id for r in bad.failed] == ["c19"]
    assert "y:" in bad.failed[0].failures[0]


def test_compare_uses_the_lower_bound_not_the_point_estimate(registry, doubler):
    outcome = golden.compare(registry, doubler, "doubler@2", "doubler@champion")
    cmp = outcome.comparison
    pass_rate = next(m for m in cmp.metrics if m.name == "pass_rate")
    assert pass_rate.delta == -0.05 and pass_rate.delta > -cmp.gate.delta  # the point estimate would pass...
    assert pass_rate.ci_low < -cmp.gate.delta  # ...but the interval says it may be worse than δ
    assert cmp.decision == "fail" and outcome.record is None
    assert [c["id"] for c in cmp.cases if c["change"] == "regressed"] == ["c19"]
    same = golden.compare(registry, doubler, "doubler@1", "doubler@1").comparison
    assert same.passed and all(m.ci_low == m.ci_high == 0.0 for m in same.metrics)


def test_record_stores_a_signed_gate_on_the_candidate(registry, doubler):
    key = SigningKey(b"k" * 32)
    outcome = golden.compare(registry, doubler, "doubler@1", "doubler@2", record=True, key=key)
    rec = outcome.record
    assert rec is not None and rec.ref == "doubler@1" and rec.decision == "pass"
    stored = registry.gate_records("doubler@1", kind="golden")
    assert len(stored) == 1 and verify_gate(stored[0], key)
    ev = stored[0].evidence
    assert (
        ev["suite_hash"].startswith("sha256:")
        and ev["contract_hash"] == registry.get("doubler@1").contract_hash
    )
    assert ev["thresholds"]["delta"] == 0.1 and ev["metrics"]["pass_rate"]["ci_low"] >= 0
    assert registry.gate_records("doubler@2") == []


def test_snapshot_regenerates_only_when_asked(registry, doubler, tmp_path):
    cases = doubler.parent / "suite_cases.jsonl"
    before = cases.read_text()
    snap = golden.snapshot(registry, doubler, "doubler@2")
    assert snap.changed == ("c19",) and "-" in snap.diff and '"y": 38.5' in snap.diff
    assert cases.read_text() == before
    snap.write()
    assert golden.run(registry, doubler, "doubler@2").passed
    assert not golden.run(registry, doubler, "doubler@1").passed


def test_outputs_that_break_the_contract_fail_the_case(registry, doubler, tmp_path):
    # a model that returns a label as text: valid python, but the contract says int64
    bad = write_model(tmp_path / "v3")
    bad.write_text(bad.read_text().replace('int(r["x1"] % 2)', 'str(int(r["x1"] % 2)) if r["x1"] > 5 else 1'))
    registry.register("doubler", bad, "python", write_contract(tmp_path / "c3.yaml"), entry="doubler:predict")
    result = golden.run(registry, doubler, "doubler@3")
    assert not result.passed
    assert any("violates the contract" in (r.error or "") for r in result.failed)


def test_contract_tolerance_is_the_default_comparator(registry, doubler, tmp_path):
    import json

    import yaml

    contract = write_contract(tmp_path / "tol.yaml", y_tolerance={"abs": 1.0})
    registry.register(
        "tolerant", write_model(tmp_path / "t", (19.0,)), "python", contract, entry="doubler:predict"
    )
    suite = tmp_path / "plain.yaml"
    suite.write_text(yaml.safe_dump({"name": "plain", "cases": "plain.jsonl"}))
    rows = [{"id": "c19", "input": {"x1": 19.0, "x2": 0.0}, "expected": {"y": 38.0, "label": 1}}]
    (tmp_path / "plain.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    result = golden.run(registry, suite, "tolerant")
    assert result.passed and result.results[0].fields[0].comparator == "abs≤1|rel≤0"
    assert not golden.run(registry, suite, "doubler@2").passed  # no tolerance in its contract: exact


def test_record_run_signs_a_single_run(registry, doubler):
    key = SigningKey(b"r" * 16)
    rec = golden.record_run(registry, golden.run(registry, doubler, "doubler@champion"), key)
    assert rec.ref == "doubler@1" and rec.decision == "pass" and rec.evidence["mode"] == "run"
    assert verify_gate(registry.gate_records("doubler@1", kind="golden")[0], key)
