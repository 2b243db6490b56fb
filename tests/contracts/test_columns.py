"""Batches held as columns: ``ColumnValidator`` accepts exactly what ``RequestValidator`` accepts record by
record (with the same normalised values), and defers every batch it cannot vouch for; ``ColumnBatch``
behaves as the sequence of records it holds."""

from __future__ import annotations

import pickle

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from trilho.contracts import load_contract
from trilho.contracts.columns import ColumnBatch, as_records, join
from trilho.errors import SchemaViolation


def _contract(extra: str = "forbid"):
    return load_contract(
        {
            "apiVersion": "v3.0.2",
            "kind": "DataContract",
            "id": "cols",
            "name": "cols",
            "version": "1.0.0",
            "schema": [
                {
                    "name": "request",
                    "x-trilho": {"role": "input", "extra": extra},
                    "properties": [
                        {"name": "f32", "physicalType": "float32", "required": True},
                        {
                            "name": "f64",
                            "physicalType": "float64",
                            "required": True,
                            "logicalTypeOptions": {"minimum": -100, "exclusiveMaximum": 100},
                        },
                        {
                            "name": "i64",
                            "physicalType": "int64",
                            "required": True,
                            "logicalTypeOptions": {"minimum": 0},
                        },
                        {"name": "i8", "physicalType": "int8", "required": False},
                        {"name": "flag", "physicalType": "bool", "required": True},
                    ],
                }
            ],
        }
    )


CONTRACT = _contract()
COLUMNS = CONTRACT.column_validator("input")
RECORDS = CONTRACT.request_validator("input")
DTYPES = {
    "f32": ["<f2", "<f4", "<f8", "<i8", "|u1", "<u8"],
    "f64": ["<f4", "<f8", "<i4", "<i8", "<u8"],
    "i64": ["<i8", "<i4", "|u1", "<u8", "<i8", "<f8"],
    "i8": ["<i8", "|i1", "<u2"],
    "flag": ["|b1", "|b1", "|b1", "<i8"],
}
_SPECIAL = [
    0.0,
    -0.0,
    1.5,
    -100.0,
    -100.5,
    99.99,
    100.0,
    127,
    128,
    -129,
    2**63,
    2**64 - 1,
    1e40,
    float("nan"),
    float("inf"),
]


@st.composite
def batches(draw):
    rows = draw(st.integers(1, 6))
    wild = st.one_of(st.sampled_from(_SPECIAL), st.floats(-300, 300), st.integers(-300, 300))
    tame = st.one_of(st.integers(0, 99), st.booleans())  # valid for every field
    columns = {}
    for name, dtypes in DTYPES.items():
        if draw(st.integers(0, 12)) == 0:
            continue  # a missing column
        dtype = np.dtype(draw(st.sampled_from(dtypes)))
        values = draw(st.lists(wild if draw(st.integers(0, 4)) == 0 else tame, min_size=rows, max_size=rows))
        with np.errstate(all="ignore"):
            try:
                array = np.array(values, dtype=np.float64).astype(dtype)
            except (OverflowError, ValueError):
                continue
        columns[name] = array
    if draw(st.integers(0, 15)) == 0:
        columns["unknown"] = np.zeros(rows)
    return ColumnBatch(columns) if columns else ColumnBatch({"f64": np.zeros(rows)})


def _per_record(batch: ColumnBatch):
    try:
        return [RECORDS.validate(r) for r in batch.records()]
    except SchemaViolation:
        return None


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(batches())
def test_columns_accept_exactly_what_the_records_accept(batch):
    checked = COLUMNS.validate(batch)
    expected = _per_record(batch)
    if checked is not None:  # never vouches for a batch the record validator refuses
        assert expected is not None, batch.columns
        assert checked.records() == expected  # the same normalised values (declared fields only)
        for name, value in expected[0].items():
            assert type(checked[0][name]) is type(value), name
    elif expected is not None:  # deferred: only for what it does not check column-wise
        has_nan = any(c.dtype.kind == "f" and not np.isfinite(c).all() for c in batch.columns.values())
        missing = set(DTYPES) - set(batch.columns)
        # floats for an int field: integral ones pass per record; the V2 codec refuses FP tensors for them
        floats_as_ints = any(batch.columns[n].dtype.kind == "f" for n in ("i64", "i8") if n in batch.columns)
        assert has_nan or missing or floats_as_ints or "unknown" in batch.columns, batch.columns


def test_the_property_sees_accepted_and_refused_batches():
    from hypothesis import find

    accepted = find(batches(), lambda b: COLUMNS.validate(b) is not None and len(b) > 2)
    assert _per_record(accepted) is not None
    refused = find(batches(), lambda b: _per_record(b) is None and not set(DTYPES) - set(b.columns))
    assert COLUMNS.validate(refused) is None


def test_a_failing_batch_is_deferred_and_the_record_path_names_the_record():
    good = {"f32": np.ones(4, "<f4"), "f64": np.zeros(4), "i64": np.arange(4), "i8": np.zeros(4, "|i1")}
    batch = ColumnBatch({**good, "flag": np.ones(4, bool)})
    assert COLUMNS.validate(batch) is not None
    bad = ColumnBatch({**good, "f64": np.array([0.0, 1.0, 100.0, 2.0]), "flag": np.ones(4, bool)})
    assert COLUMNS.validate(bad) is None
    with pytest.raises(SchemaViolation) as err:
        RECORDS.validate_many(bad)
    assert err.value.fields["index"] == 2 and err.value.fields["rule"] == "exclusiveMaximum"


def test_unknown_columns_are_dropped_when_the_contract_ignores_extras():
    lenient = _contract("ignore").column_validator("input")
    batch = ColumnBatch(
        {
            "f32": np.ones(2, "<f4"),
            "f64": np.zeros(2),
            "i64": np.arange(2),
            "i8": np.zeros(2, "|i1"),
            "flag": np.ones(2, bool),
            "other": np.zeros(2),
        }
    )
    assert list(lenient.validate(batch).columns) == ["f32", "f64", "i64", "i8", "flag"]
    assert COLUMNS.validate(batch) is None  # forbid: the record path refuses it by name


def test_string_fields_are_left_to_the_record_checks():
    from tests.serving.oip_fixtures import CONTRACT as MIXED

    assert not load_contract(MIXED).column_validator("input").supported


def test_a_column_batch_is_the_sequence_of_its_records():
    batch = ColumnBatch({"a": np.array([1, 2, 3]), "b": np.array([0.5, 1.5, 2.5])})
    records = [{"a": 1, "b": 0.5}, {"a": 2, "b": 1.5}, {"a": 3, "b": 2.5}]
    assert len(batch) == 3 and list(batch) == records and batch == records
    assert batch[1] == records[1] and batch[-1] == records[-1] and type(batch[0]["a"]) is int
    assert batch[1:] == records[1:] and isinstance(batch[1:], ColumnBatch)
    with pytest.raises(IndexError):
        batch[3]
    assert pickle.loads(pickle.dumps(batch)) == records
    assert batch.matrix(["b", "a"]).tolist() == [[0.5, 1.0], [1.5, 2.0], [2.5, 3.0]]
    assert as_records(batch) == records and as_records(records) is records
    joined = join([batch, batch[:1]])
    assert isinstance(joined, ColumnBatch) and joined == records + records[:1]
    assert join([batch, records]) == records + records  # mixed: records
    assert join([batch], columns=False) == records and type(join([batch], columns=False)) is list
    with pytest.raises(ValueError):
        ColumnBatch({"a": np.zeros(2), "b": np.zeros(3)})
