"""Suites load from YAML + JSONL; malformed input names the file, line and column."""

import json

import pytest

from trilho.errors import GoldenError
from trilho.golden import Comparator, evaluate, load_suite
from trilho.golden.snapshot import build_snapshot


def write_suite(tmp_path, yaml_text, cases):
    (tmp_path / "cases.jsonl").write_text("".join(json.dumps(c) + "\n" for c in cases))
    path = tmp_path / "suite.yaml"
    path.write_text(yaml_text)
    return path


CASES = [
    {"id": "a", "input": {"x": 1}, "expected": {"y": 2, "items": [1, 2, 3]}, "tags": ["smoke"]},
    {"id": "b", "input": {"x": 2}, "expected": {"y": 4}, "compare": {"y": {"abs": 0.5}}},
]
YAML = """\
name: doubles
model: doubler@champion
cases: cases.jsonl
fields:
  y: exact
  items: {topk: 3, min_overlap: 0.6}
gate: {metrics: [pass_rate], delta: 0.05, resamples: 500, seed: 7}
"""


def test_load_and_comparator_precedence(tmp_path):
    suite = load_suite(write_suite(tmp_path, YAML, CASES))
    assert suite.name == "doubles" and suite.model == "doubler@champion" and len(suite.cases) == 2
    a, b = suite.cases
    assert suite.comparator(a, "y") == Comparator("exact")
    assert suite.comparator(b, "y") == Comparator("abs", tolerance=0.5)
    assert suite.comparator(a, "other") == Comparator("exact")
    assert suite.gate.delta == 0.05 and suite.gate.seed == 7
    assert suite.filter(["smoke"]).cases == (a,)
    assert suite.content_hash.startswith("sha256:")


def test_hash_changes_when_cases_change(tmp_path):
    path = write_suite(tmp_path, YAML, CASES)
    h1 = load_suite(path).content_hash
    write_suite(tmp_path, YAML, CASES[:1])
    assert load_suite(path).content_hash != h1


def test_evaluate_judges_each_field(tmp_path):
    suite = load_suite(write_suite(tmp_path, YAML, CASES))
    result = evaluate(suite, lambda recs: [{"y": r["x"] * 2 + 0.25, "items": [3, 2, 9]} for r in recs])
    verdicts = {r.case_id: r for r in result.results}
    assert not verdicts["a"].passed and "y:" in verdicts["a"].failures[0]  # exact on case a
    assert verdicts["b"].passed  # abs 0.5 on case b
    assert result.metrics()["field:items"] == pytest.approx((2 / 3 + 0) / 2)


def test_a_crashing_model_fails_only_its_case(tmp_path):
    suite = load_suite(write_suite(tmp_path, YAML, CASES))

    def predict(recs):
        if any(r["x"] == 1 for r in recs):
            raise ValueError("boom")
        return [{"y": r["x"] * 2} for r in recs]

    result = evaluate(suite, predict)
    assert [r.passed for r in result.results] == [False, True]
    assert "boom" in result.results[0].error


def test_malformed_yaml_names_line_and_column(tmp_path):
    path = write_suite(tmp_path, "name: x\ncases: [unclosed\n", CASES)
    with pytest.raises(GoldenError) as info:
        load_suite(path)
    assert f"{path}:3:1" in str(info.value) or f"{path}:2:" in str(info.value)
    assert info.value.fields["line"] is not None


def test_bad_jsonl_names_line_and_column(tmp_path):
    path = write_suite(tmp_path, YAML, CASES)
    (tmp_path / "cases.jsonl").write_text('{"input": {"x": 1}}\n{"input": {"x": 2},}\n')
    with pytest.raises(GoldenError) as info:
        load_suite(path)
    assert "cases.jsonl:2:" in str(info.value)


@pytest.mark.parametrize(
    "yaml_text, fragment",
    [
        ("name: x\n", "`cases` must name"),
        ("name: x\ncases: cases.jsonl\ntypo: 1\n", "unknown keys"),
        ("name: x\ncases: cases.jsonl\nfields: {y: fuzzy}\n", "unknown comparator"),
        ("name: x\ncases: cases.jsonl\ngate: {delta: 5}\n", "gate.delta"),
        ("name: x\ncases: missing.jsonl\n", "does not exist"),
    ],
)
def test_bad_suites(tmp_path, yaml_text, fragment):
    with pytest.raises(GoldenError, match=fragment):
        load_suite(write_suite(tmp_path, yaml_text, CASES))


def test_snapshot_diff_touches_only_changed_cases(tmp_path):
    path = write_suite(tmp_path, YAML, CASES)
    suite = load_suite(path)
    snap = build_snapshot(suite, {"a": {"y": 2, "items": [1, 2, 3]}, "b": {"y": 5}})
    assert snap.changed == ("b",)
    assert snap.diff.count("\n-{") == 1 and '"y": 5' in snap.diff
    before = (tmp_path / "cases.jsonl").read_text()
    assert before.splitlines()[0] == snap.new_text.splitlines()[0]
    snap.write()
    assert load_suite(path).cases[1].expected == {"y": 5}


def test_reports_stay_valid_json_when_a_model_returns_nan(tmp_path):
    from trilho.cli._common import dump_json

    suite = load_suite(write_suite(tmp_path, YAML, CASES))
    result = evaluate(suite, lambda recs: [{"y": float("nan"), "items": []} for _ in recs])
    assert not result.passed
    assert '"nan"' in dump_json(result.to_dict())
