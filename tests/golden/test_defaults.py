"""Golden runs and direct ``Predictor.predict`` calls fill the input contract's declared defaults exactly as
the gateway's request validators do (one filler: ``trilho.contracts.request.fill_defaults``): the ``recs``
model of issue 17 raises on ``k=None``; a golden case that omits ``k`` used to fail with the model's error
where the gateway answered it."""

from __future__ import annotations

import json

import yaml
from hypothesis import given, settings
from hypothesis import strategies as st
from tests.contracts.test_defaults import DOC, SHARED

from trilho.golden import load_suite, run_suite
from trilho.registry import Registry

MODEL = "def predict(records):\n    return [{'items': list(range(r['k']))[:5]} for r in records]\n"


def _recs(sqlite_store, tmp_path):
    contract = tmp_path / "contract.yaml"
    contract.write_text(yaml.safe_dump(DOC, sort_keys=False))
    src = tmp_path / "src"
    src.mkdir()
    (src / "recs.py").write_text(MODEL)
    reg = Registry(sqlite_store, tmp_path / "artifacts")
    reg.register("recs", src / "recs.py", "python", contract, entry="recs:predict", examples=[{"user_id": 0}])
    return reg.load_predictor("recs@1")


def test_predict_fills_declared_defaults_and_keeps_the_callers_records(sqlite_store, tmp_path):
    predictor = _recs(sqlite_store, tmp_path)
    records = [{"user_id": 0}, {"user_id": 1, "k": 2}, {"user_id": 2, "k": None}]
    assert predictor.predict(records) == [
        {"items": [0, 1, 2, 3, 4]},
        {"items": [0, 1]},
        {"items": [0, 1, 2, 3, 4]},
    ]
    assert records == [{"user_id": 0}, {"user_id": 1, "k": 2}, {"user_id": 2, "k": None}]  # not changed


def test_a_golden_case_that_omits_a_defaulted_field_runs_as_the_gateway_would_answer_it(
    sqlite_store, tmp_path
):
    predictor = _recs(sqlite_store, tmp_path)
    cases = tmp_path / "cases.jsonl"
    cases.write_text(
        json.dumps({"id": "default-k", "input": {"user_id": 0}, "expected": {"items": [0, 1, 2, 3, 4]}})
        + "\n"
    )
    suite = tmp_path / "suite.yaml"
    suite.write_text(yaml.safe_dump({"name": "recs", "cases": cases.name, "fields": {"items": "exact"}}))
    result = run_suite(load_suite(suite), predictor)
    assert result.passed, result.results[0].failures


records = st.fixed_dictionaries(
    {"user_id": st.integers(0, 9)},
    optional={
        "k": st.none() | st.integers(1, 100),
        "region": st.none() | st.sampled_from(["br", "eu"]),
        "boost": st.none() | st.floats(-5, 5),
    },
)


@settings(max_examples=100, deadline=None)
@given(records)
def test_the_predictor_and_the_gateway_validator_fill_the_same_defaults(record):
    from trilho.contracts.request import declared_defaults, with_defaults

    filled = with_defaults(record, declared_defaults(SHARED.object("input")))
    validated = SHARED.request_validator("input").validate(record)
    assert {k: filled.get(k) for k in ("k", "region", "boost")} == {
        k: validated[k] for k in ("k", "region", "boost")
    }
