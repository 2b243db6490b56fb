"""The hot-path request validator: normalisation, precise violations, and fast path ⊆ precise path."""

from __future__ import annotations

import datetime as dt
import math

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from tests.contracts._helpers import IO_CONTRACT, bad_cases, good_records

from trilho.contracts import load_contract
from trilho.contracts._fast import ENGINES
from trilho.contracts.request import RequestValidator
from trilho.errors import ContractError, SchemaViolation

CONTRACT = load_contract(IO_CONTRACT)
V = CONTRACT.request_validator("input")


def test_validate_normalises_types_and_fills_optional_fields():
    rec = dict(good_records()[0], age=34.0, signup_date="2024-02-29", last_seen="2024-03-01T10:00:00Z")
    out = V.validate(rec)
    assert out["age"] == 34 and type(out["age"]) is int
    assert out["score_a"] == 0.5 and type(out["score_a"]) is float
    assert out["signup_date"] == dt.date(2024, 2, 29)
    assert out["last_seen"] == dt.datetime(2024, 3, 1, 10, tzinfo=dt.UTC)
    assert list(out) == [f.name for f in CONTRACT.fields("input")]
    assert out["balance"] is None and out["embedding"] is None


def test_validator_is_cached_per_role():
    assert CONTRACT.request_validator("input") is V
    assert isinstance(V, RequestValidator)


def test_nan_counts_as_missing():
    rec = dict(good_records()[0], balance=float("nan"))
    assert V.validate(rec)["balance"] is None
    with pytest.raises(SchemaViolation) as exc:
        V.validate(dict(good_records()[0], score_a=float("nan")))
    assert exc.value.fields["rule"] == "required"


def test_python_objects_and_numpy_scalars_are_accepted():
    rec = dict(
        good_records()[0],
        age=np.int32(30),
        score_a=np.float32(0.25),
        is_active=np.bool_(True),
        signup_date=dt.date(2020, 1, 1),
        last_seen=dt.datetime(2020, 1, 1, 12),
        embedding=np.array([0.1, 0.2, 0.3, 0.4], dtype=np.float32),
    )
    out = V.validate(rec)
    assert out["age"] == 30 and out["is_active"] is True and len(out["embedding"]) == 4


def test_infinity_is_rejected():
    with pytest.raises(SchemaViolation) as exc:
        V.validate(dict(good_records()[0], balance=math.inf))
    assert exc.value.fields["rule"] == "range"


def test_violation_carries_field_value_rule_and_all_violations():
    rec = dict(good_records()[0], age=200, plan="gold", nickname="x")
    with pytest.raises(SchemaViolation) as exc:
        V.validate(rec)
    err = exc.value
    assert (err.fields["field"], err.fields["value"], err.fields["rule"]) == ("age", 200, "maximum")
    assert [(v["field"], v["rule"]) for v in err.fields["violations"]] == [
        ("age", "maximum"),
        ("plan", "enum"),
        ("nickname", "unknown-field"),
    ]
    assert "and 2 more" in err.message
    assert err.exit_code == 1
    assert err.to_dict()["rule"] == "maximum"


def test_not_a_mapping():
    with pytest.raises(SchemaViolation) as exc:
        V.validate([1, 2])
    assert exc.value.fields["rule"] == "type"


def test_validate_many_reports_the_index():
    good = good_records()
    assert len(V.validate_many(good)) == len(good)
    with pytest.raises(SchemaViolation) as exc:
        V.validate_many([good[0], dict(good[1], age=-5)])
    assert exc.value.fields["index"] == 1 and exc.value.message.startswith("record 1:")


def test_output_validator_ignores_extra_fields_by_default():
    out = CONTRACT.request_validator("output")
    assert out.validate({"churn_probability": 0.2, "label": "stay", "debug": 1}) == {
        "churn_probability": 0.2,
        "label": "stay",
    }
    with pytest.raises(SchemaViolation):
        out.validate({"churn_probability": 1.2, "label": "stay"})


def test_unknown_role_or_object():
    with pytest.raises(ContractError, match="no role or schema object"):
        CONTRACT.request_validator("nope")
    assert CONTRACT.request_validator("prediction").object.name == "prediction"


def _outcome(validator, record):
    try:
        return validator.validate(record)
    except SchemaViolation:
        return None


def _precise(validator, record):
    try:
        return validator._precise(record)
    except SchemaViolation:
        return None


@pytest.mark.parametrize("engine", ENGINES)
def test_engines_agree_on_the_corpus(engine):
    v = CONTRACT.request_validator("input", engine=engine)
    assert v.engine == engine
    for record in good_records():
        assert v.validate(record) == V.validate(record)
    for case in bad_cases():
        assert v.errors(case["record"]) == V.errors(case["record"])


@pytest.mark.parametrize("engine", ENGINES)
@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    record=st.sampled_from(good_records() + [c["record"] for c in bad_cases()]),
    field=st.sampled_from([f.name for f in CONTRACT.fields()]),
    value=st.one_of(
        st.none(),
        st.integers(-(2**65), 2**65),
        st.floats(),
        st.text(max_size=8),
        st.booleans(),
        st.lists(st.floats(allow_nan=False), max_size=5),
        st.dates().map(str),
        st.datetimes().map(str),
    ),
)
def test_fast_path_agrees_with_precise_path(engine, record, field, value):
    v = CONTRACT.request_validator("input", engine=engine)
    record = dict(record, **{field: value})
    assert _outcome(v, record) == _precise(v, record)


def test_unknown_engine():
    with pytest.raises(ValueError, match="unknown engine"):
        CONTRACT.request_validator("input", engine="fast")
