"""Inference fails closed, and physical types survive infer → contract → validation."""

from __future__ import annotations

import datetime as dt

import pandas as pd
import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from trilho.contracts import infer_contract, load_contract
from trilho.errors import ContractError


def test_physical_types_survive_infer_and_validation():
    df = pl.DataFrame(
        {
            "i8": pl.Series([1, -2], dtype=pl.Int8),
            "i32": pl.Series([1, 2], dtype=pl.Int32),
            "u16": pl.Series([1, 2], dtype=pl.UInt16),
            "f32": pl.Series([0.5, None], dtype=pl.Float32),
            "b": [True, False],
            "s": ["a", "b"],
            "d": [dt.date(2020, 1, 1), dt.date(2021, 1, 1)],
            "t": [dt.datetime(2020, 1, 1), dt.datetime(2021, 1, 1)],
            "e": pl.Series(["x", "y"], dtype=pl.Enum(["x", "y", "z"])),
            "v": pl.Series([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]], dtype=pl.Array(pl.Float32, 3)),
        }
    )
    c = infer_contract(df, "t")
    types = {f.name: f.type.name for f in c.fields()}
    assert types == {
        "i8": "int8",
        "i32": "int32",
        "u16": "uint16",
        "f32": "float32",
        "b": "bool",
        "s": "string",
        "d": "date",
        "t": "timestamp",
        "e": "string",
        "v": "array",
    }
    by = {f.name: f for f in c.fields()}
    assert by["f32"].required is False and by["i32"].required is True
    assert by["e"].enum == ("x", "y", "z")
    assert by["v"].shape == (3,) and by["v"].items.type.name == "float32"
    # through YAML and back, then validation: the int32 column is still int32 and overflow is caught
    again = load_contract(c.to_yaml())
    assert again.validate_frame(df).ok
    assert again.json_schema()["properties"]["i32"]["maximum"] == 2**31 - 1
    assert not again.request_validator().is_valid({**df.row(0, named=True), "i32": 2**31})
    overflow = df.with_columns(pl.Series("i32", [1, 2**31], dtype=pl.Int64))
    assert [(f.row, f.rule) for f in again.validate_frame(overflow).failures] == [(1, "range")]


def test_pandas_nullable_int_is_inferred_as_optional_int32():
    df = pd.DataFrame({"n": pd.array([1, None], dtype="Int32"), "s": ["a", "b"]})
    c = infer_contract(df, "p")
    f = c.fields()[0]
    assert (f.type.name, f.required) == ("int32", False)
    assert c.validate_frame(df).ok


def test_fails_closed_naming_every_bad_column():
    df = pd.DataFrame(
        {
            "mixed": pd.Series([1, "a"], dtype=object),
            "nulls": [None, None],
            "ok": [1, 2],
            "objs": pd.Series([{"a": 1}, {"b": 2}], dtype=object),
            "ints_and_floats": pd.Series([1, 2.5], dtype=object),
        }
    )
    with pytest.raises(ContractError) as exc:
        infer_contract(df, "bad")
    err = exc.value
    assert err.fields["field"] == ["mixed", "nulls", "objs", "ints_and_floats"]
    assert "column 'mixed' mixes types" in err.message and "column 'nulls' is entirely null" in err.message
    assert "dict" in err.message


def test_unsupported_dtypes_fail_closed():
    df = pl.DataFrame({"dur": [dt.timedelta(1)], "st": [{"a": 1}], "null": pl.Series([None], dtype=pl.Null)})
    with pytest.raises(ContractError) as exc:
        infer_contract(df, "bad")
    assert exc.value.fields["field"] == ["dur", "st", "null"]


@settings(max_examples=30, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.integers(-(2**31), 2**31 - 1),
            st.one_of(st.none(), st.floats(-1e30, 1e30)),
            st.text(max_size=5),
        ),
        min_size=1,
        max_size=20,
    )
)
def test_inferred_contract_accepts_its_own_data(rows):
    df = pl.DataFrame(
        {
            "i": pl.Series([r[0] for r in rows], dtype=pl.Int32),
            "f": pl.Series([r[1] for r in rows], dtype=pl.Float64),
            "s": [r[2] for r in rows],
        }
    )
    if df["f"].null_count() == len(df):
        df = df.drop("f")
    c = infer_contract(df, "gen")
    assert c.validate_frame(df).ok
    v = c.request_validator()
    assert all(v.is_valid(r) for r in df.to_dicts())
