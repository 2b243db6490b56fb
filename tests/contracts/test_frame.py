"""The dataframe validator: all failures with row/column/value/rule, dataset checks, pandas and polars."""

from __future__ import annotations

import datetime as dt

import pandas as pd
import polars as pl
import pytest
from tests.contracts._helpers import IO_CONTRACT, PLAIN_ODCS, good_records

from trilho.contracts import load_contract
from trilho.errors import SchemaViolation

CONTRACT = load_contract(IO_CONTRACT)


def frame(**cols):
    return pl.DataFrame(cols)


SIMPLE = load_contract(
    {
        "apiVersion": "v3.0.2",
        "kind": "DataContract",
        "id": "s",
        "version": "1.0.0",
        "schema": [
            {
                "name": "t",
                "quality": [{"metric": "rowCount", "mustBeGreaterThan": 2}],
                "properties": [
                    {"name": "id", "physicalType": "int32", "required": True, "unique": True},
                    {
                        "name": "score",
                        "physicalType": "float32",
                        "logicalTypeOptions": {"minimum": 0, "maximum": 1},
                        "quality": [{"metric": "nullValues", "mustBeLessThan": 50, "unit": "percent"}],
                    },
                    {"name": "tag", "physicalType": "string", "logicalTypeOptions": {"pattern": "^[a-z]+$"}},
                ],
            }
        ],
    }
)


@pytest.mark.parametrize("to_backend", [lambda d: d, lambda d: d.to_pandas()], ids=["polars", "pandas"])
def test_collects_every_failure_with_row_column_value_rule(to_backend):
    df = pl.DataFrame(
        {"id": [1, 2, 2, None], "score": [0.5, 1.5, None, -1.0], "tag": ["ok", "BAD", "x", None]}
    )
    report = SIMPLE.validate_frame(to_backend(df))
    got = {(f.row, f.column, f.rule) for f in report.failures}
    assert got == {
        (3, "id", "required"),
        (1, "id", "unique"),
        (2, "id", "unique"),
        (1, "score", "maximum"),
        (3, "score", "minimum"),
        (1, "tag", "pattern"),
    }
    values = {(f.row, f.column): f.value for f in report.failures}
    assert values[(1, "score")] == 1.5 and values[(1, "tag")] == "BAD"
    assert report.failed_rows == [1, 2, 3]
    assert not report.ok and report.failure_count == 6
    assert report.to_dict()["failure_count"] == 6


def test_dataset_level_checks():
    df = pl.DataFrame({"id": [1, 2], "score": [None, None], "tag": ["a", "b"]})
    report = SIMPLE.validate_frame(df)
    assert {(g.column, g.rule) for g in report.groups} == {("score", "nullValues"), ("<rows>", "rowCount")}
    assert report.records_ok and not report.ok


def test_missing_and_extra_columns():
    report = SIMPLE.validate_frame(pl.DataFrame({"score": [0.1, 0.2, 0.3], "other": [1, 2, 3]}))
    assert {(g.column, g.rule, g.rows[0]) for g in report.groups} == {
        ("id", "required", None),
        ("other", "unknown-field", None),
    }


def test_int32_column_survives_and_overflow_is_caught():
    df = pl.DataFrame(
        {"id": pl.Series([1, 2, 3], dtype=pl.Int32), "score": [0.1, 0.2, 0.3], "tag": ["a"] * 3}
    )
    assert SIMPLE.validate_frame(df).ok
    wide = df.with_columns(pl.Series("id", [1, 2, 2**31], dtype=pl.Int64))
    report = SIMPLE.validate_frame(wide)
    assert [(f.row, f.rule, f.value) for f in report.failures] == [(2, "range", 2**31)]


def test_float32_overflow_and_nullable_ints_in_pandas():
    df = pd.DataFrame(
        {"id": pd.array([1, 2, None], dtype="Int32"), "score": [0.1, None, 0.3], "tag": ["a", "b", "c"]}
    )
    report = SIMPLE.validate_frame(df)
    assert [(f.row, f.column, f.rule) for f in report.failures] == [(2, "id", "required")]
    big = pl.DataFrame({"id": [1, 2, 3], "score": [0.1, 3.5e38, 0.3], "tag": ["a", "b", "c"]})
    loose = load_contract({**SIMPLE.to_odcs()})
    assert [(f.row, f.rule) for f in loose.validate_frame(big).failures] == [(1, "range")]


def test_type_mismatch_reports_every_non_null_row():
    df = pl.DataFrame({"id": ["1", "2", None], "score": [0.1, 0.2, 0.3], "tag": ["a", "b", "c"]})
    report = SIMPLE.validate_frame(df)
    assert [(f.row, f.rule) for f in report.failures] == [(2, "required"), (0, "type"), (1, "type")]


def test_pandas_object_column_uses_precise_checks():
    df = pd.DataFrame(
        {"id": pd.Series([1, "2", 3.5], dtype=object), "score": [0.1, 0.2, 0.3], "tag": ["a", "b", "c"]}
    )
    report = SIMPLE.validate_frame(df)
    assert [(f.row, f.rule) for f in report.failures] == [(1, "type"), (2, "type")]


def test_dates_timestamps_and_vectors():
    good = pl.from_dicts(good_records(), infer_schema_length=None)
    typed = good.with_columns(
        pl.col("signup_date").str.to_date(), pl.col("embedding").cast(pl.List(pl.Float32))
    )
    assert CONTRACT.validate_frame(typed).records_ok
    midnight = typed.with_columns(pl.col("signup_date").cast(pl.Datetime))  # pandas' way of holding dates
    assert CONTRACT.validate_frame(midnight).records_ok
    assert CONTRACT.validate_frame(midnight.to_pandas()).records_ok
    wrong = midnight.with_columns(pl.col("signup_date") + pl.duration(hours=pl.int_range(pl.len())))
    failures = [(f.row, f.rule) for f in CONTRACT.validate_frame(wrong).failures if f.column == "signup_date"]
    assert failures == [(r, "type") for r in range(1, len(wrong))]
    v = CONTRACT.request_validator()
    assert v.validate(dict(good_records()[0], signup_date=dt.datetime(2020, 1, 1)))["signup_date"] == dt.date(
        2020, 1, 1
    )
    assert not v.is_valid(dict(good_records()[0], signup_date=dt.datetime(2020, 1, 1, 5)))
    native = pd.DataFrame({"d": [dt.date(2020, 1, 1), "2020-02-30"]})
    c = load_contract(
        {
            "apiVersion": "v3.0.2",
            "kind": "DataContract",
            "id": "d",
            "version": "1.0.0",
            "schema": [{"name": "t", "properties": [{"name": "d", "physicalType": "date"}]}],
        }
    )
    assert [(f.row, f.rule) for f in c.validate_frame(native).failures] == [(1, "format")]


def test_lazy_frames_and_plain_odcs():
    c = load_contract(PLAIN_ODCS)
    df = pl.DataFrame(
        {
            "txn_ref_dt": ["2022-10-03"],
            "rcvr_id": ["A1"],
            "rcvr_cntry_code": ["PT"],
            "amount": [1.5],
            "n_items": [3],
            "updated_at": ["2024-01-01T00:00:00Z"],
        }
    )
    assert c.validate_frame(df.lazy()).ok
    bad = df.with_columns(pl.lit("XX").alias("rcvr_cntry_code"))
    assert [g.rule for g in c.validate_frame(bad).groups] == ["enum"]


def test_raise_for_failures():
    report = SIMPLE.validate_frame(
        pl.DataFrame({"id": [1, 1, 2], "score": [0.1, 0.1, 0.1], "tag": ["a"] * 3})
    )
    with pytest.raises(SchemaViolation, match="column 'id'") as exc:
        report.raise_for_failures()
    assert exc.value.fields["rule"] == "unique" and exc.value.fields["row"] == 0


def test_vectors_and_tensors_are_checked_vectorised_in_polars_and_per_value_in_pandas():
    c = load_contract(
        {
            "apiVersion": "v3.0.2",
            "kind": "DataContract",
            "id": "v",
            "version": "1.0.0",
            "schema": [
                {
                    "name": "t",
                    "properties": [
                        {
                            "name": "v",
                            "logicalType": "array",
                            "x-trilho": {"shape": [3]},
                            "items": {
                                "physicalType": "float32",
                                "logicalTypeOptions": {"minimum": -1, "maximum": 1},
                            },
                        },
                        {
                            "name": "m",
                            "logicalType": "array",
                            "items": {"physicalType": "int8"},
                            "x-trilho": {"shape": [2, 2]},
                        },
                        {
                            "name": "free",
                            "logicalType": "array",
                            "items": {"physicalType": "string", "logicalTypeOptions": {"pattern": "^a"}},
                        },
                    ],
                }
            ],
        }
    )
    df = pl.DataFrame(
        {
            "v": [[0.1, 0.2, 0.3], [0.1, 2.0, 0.3], [0.1, None, 0.3], [0.1], None],
            "m": [[[1, 2], [3, 4]], [[1, 2], [3]], [[1, 2], [3, 400]], [[1, 2], [3, 4]], [[1.5, 2], [3, 4]]],
            "free": [[], ["ab"], ["b"], None, ["a", None]],
        },
        strict=False,
    )
    expected = {
        (3, "v", "shape"),
        (2, "v", "type"),
        (1, "v", "maximum"),
        (1, "m", "shape"),
        (4, "m", "type"),
        (2, "m", "range"),
        (4, "free", "type"),
        (2, "free", "pattern"),
    }
    assert {(f.row, f.column, f.rule) for f in c.validate_frame(df).failures} == expected
    assert {(f.row, f.column, f.rule) for f in c.validate_frame(df.to_pandas()).failures} == expected
    fixed = pl.DataFrame(
        {
            "v": pl.Series([[0.0, 0.5, -1.0]], dtype=pl.Array(pl.Float32, 3)),
            "m": pl.Series([[[1, 2], [3, 4]]], dtype=pl.Array(pl.Int8, (2, 2))),
            "free": [["a"]],
        }
    )
    assert c.validate_frame(fixed).ok
