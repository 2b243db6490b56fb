"""One fixture corpus, three validators (request, dataframe on polars/pandas, JSON Schema): same verdicts."""

from __future__ import annotations

import math
from typing import Any

import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from tests.contracts._helpers import (
    IO_CONTRACT,
    bad_cases,
    frame_verdict,
    good_records,
    jsonschema_verdict,
    pandas_frame,
    polars_frame,
    request_verdict,
)

from trilho.contracts import load_contract
from trilho.contracts.strategies import records
from trilho.contracts.types import FLOAT32_MAX

CONTRACT = load_contract(IO_CONTRACT)


def verdicts(contract: Any, record: dict[str, Any], role: str = "input") -> dict[str, bool]:
    out = {
        "request": request_verdict(contract, record, role),
        "jsonschema": jsonschema_verdict(contract, record, role),
        "pandas": frame_verdict(contract, pandas_frame(record), role),
    }
    df = polars_frame(record)
    if df is not None:
        out["polars"] = frame_verdict(contract, df, role)
    return out


@pytest.mark.parametrize("record", good_records(), ids=lambda r: r["user_id"])
def test_good_records_accepted_by_all(record):
    assert verdicts(CONTRACT, record) == dict.fromkeys(verdicts(CONTRACT, record), True)


@pytest.mark.parametrize("case", bad_cases(), ids=lambda c: f"{c['field']}-{c['rule']}")
def test_bad_records_rejected_by_all_with_the_same_rule(case):
    record = case["record"]
    v = verdicts(CONTRACT, record)
    assert set(v.values()) == {False}, v
    errors = CONTRACT.request_validator().errors(record)
    assert [(e["field"], e["rule"]) for e in errors] == [(case["field"], case["rule"])]
    df = polars_frame(record)
    if df is not None:
        # the frame checks every rule independently: the request's rule comes first, on the same column
        found = [(g.column, g.rule) for g in CONTRACT.validate_frame(df).groups if g.rule != "nullValues"]
        assert found[0] == (case["field"], case["rule"])
        assert {col for col, _ in found} == {case["field"]}


def test_good_corpus_as_one_frame_is_valid_row_by_row():
    df = pl.from_dicts(good_records(), infer_schema_length=None)
    report = CONTRACT.validate_frame(df)
    assert report.records_ok, report.summary()
    # dataset-level: n_sessions_7d is null in 6 of 8 rows, above the 50% limit
    assert [(g.column, g.rule) for g in report.groups] == [("n_sessions_7d", "nullValues")]


def test_bad_corpus_as_one_frame_reports_each_bad_row():
    cases = bad_cases()
    typed = [c for c in cases if polars_frame(c["record"]) is not None]
    frame = pl.concat([polars_frame(c["record"]) for c in typed[:3]], how="diagonal_relaxed")
    report = CONTRACT.validate_frame(frame)
    assert report.failed_rows == [0, 1, 2]


def test_int32_overflow_rejected_by_all_three():
    record = dict(good_records()[0], age=2**31)
    v = verdicts(CONTRACT, record)
    assert set(v.values()) == {False}
    frame = pl.DataFrame({k: [val] for k, val in good_records()[0].items()}).with_columns(
        pl.lit(2**31, dtype=pl.Int64).alias("age")
    )
    assert CONTRACT.validate_frame(frame).groups[0].rule == "range"


# --- generated records: valid ones, and mutations of them near every boundary -----------------------------
def _wild_values(f: Any) -> st.SearchStrategy[Any]:
    """Values around ``f``'s domain: valid, just outside, wrong type, null."""
    edge: list[Any] = [
        None,
        True,
        "x",
        "",
        0,
        -1,
        1.5,
        5.0,
        [1.0, 2.0],
        "2024-02-30",
        "2024-01-01",
        "2024-01-01T00:00:00Z",
        FLOAT32_MAX * 2,
        -(2**31) - 1,
        2**31,
        2**63,
        2**64 - 1,
        -0.0,
        "A" * 65,
        "PT",
        "u123456",
        1e-30,
        0.9,
        1.0000001,
    ]
    for bound in (f.minimum, f.maximum, f.type.lo, f.type.hi):
        if bound is not None and math.isfinite(bound):
            edge += [bound, bound - 1, bound + 1]
    if f.enum:
        edge += [str(v).upper() for v in f.enum]
    from trilho.contracts.strategies import values

    return st.one_of(values(f), st.sampled_from(edge))


@st.composite
def wild_records(draw: Any) -> dict[str, Any]:
    obj = CONTRACT.object("input")
    base = draw(records(obj))
    names = list(obj.names) + ["nickname"]
    for name in draw(st.lists(st.sampled_from(names), max_size=3, unique=True)):
        if name == "nickname":
            base[name] = "extra"
        elif draw(st.booleans()):
            base.pop(name, None)
        else:
            base[name] = draw(_wild_values(obj.field(name)))
    return base


@settings(
    max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much]
)
@given(wild_records())
def test_generated_records_get_identical_verdicts(record):
    v = verdicts(CONTRACT, record)
    assert len(set(v.values())) == 1, (v, CONTRACT.request_validator().errors(record))


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(records(CONTRACT.object("input")))
def test_generated_valid_records_accepted_by_all(record):
    assert set(verdicts(CONTRACT, record).values()) == {True}
