"""Infer a contract from a dataframe, failing closed: a column that cannot be typed precisely is an error.

Never guesses "any": an all-null column, a column mixing Python types, nested structs, decimals, durations
or binary data are reported together (each by name, with the reason) in one ``ContractError``.
"""

from __future__ import annotations

import datetime as _dt
from typing import Any

import narwhals.stable.v2 as nw

from trilho.contracts.contract import Contract
from trilho.contracts.loader import load_contract
from trilho.errors import ContractError

_SCALARS = {
    "Int8": "int8",
    "Int16": "int16",
    "Int32": "int32",
    "Int64": "int64",
    "UInt8": "uint8",
    "UInt16": "uint16",
    "UInt32": "uint32",
    "UInt64": "uint64",
    "Float32": "float32",
    "Float64": "float64",
    "Boolean": "bool",
    "String": "string",
    "Date": "date",
    "Datetime": "timestamp",
    "Categorical": "string",
    "Enum": "string",
}
_PY_TYPES: dict[type, str] = {
    bool: "bool",
    int: "int64",
    float: "float64",
    str: "string",
    _dt.datetime: "timestamp",
    _dt.date: "date",
}


class _Unsure(Exception):
    """A column trilho cannot type precisely (internal)."""


def _dtype_name(dtype: Any) -> str:
    return type(dtype).__name__ if not isinstance(dtype, type) else dtype.__name__


def _python_type(values: list[Any]) -> str:
    kinds = set()
    for v in values:
        if v is None or (isinstance(v, float) and v != v):
            continue
        t = _PY_TYPES.get(type(v))
        if t is None:
            raise _Unsure(f"holds {type(v).__name__} values, which have no contract type")
        kinds.add(t)
    if not kinds:
        raise _Unsure("is entirely null, so its type cannot be known")
    if kinds == {"int64", "float64"}:
        raise _Unsure("mixes integers and floats")
    if len(kinds) > 1:
        raise _Unsure(f"mixes types: {', '.join(sorted(kinds))}")
    return kinds.pop()


def _scalar(dtype: Any) -> str:
    name = _dtype_name(dtype)
    if name in _SCALARS:
        return _SCALARS[name]
    if name == "Unknown":
        raise _Unsure("has no usable type (all null or an unsupported dtype)")
    raise _Unsure(f"has dtype {dtype}, which has no precise contract type")


def _column(name: str, dtype: Any, series: Any) -> dict[str, Any]:
    nulls = series.null_count()
    if dtype.is_float():
        nulls = int(series.is_null().sum() + series.is_nan().fill_null(False).sum()) if len(series) else 0
    prop: dict[str, Any] = {"name": name, "required": bool(len(series) > 0 and nulls == 0)}
    if nulls == len(series):
        raise _Unsure("is entirely null, so its type cannot be known")
    dname = _dtype_name(dtype)
    if dname == "Object":
        values = series.to_list()
        prop["physicalType"] = _python_type(values)
        return prop
    if dname in ("List", "Array"):
        inner, shape = dtype, []
        while _dtype_name(inner) in ("List", "Array"):
            if _dtype_name(inner) == "Array":
                shape.append(inner.size)
            inner = inner.inner
        item = _scalar(inner)
        if dname == "List":
            if _dtype_name(dtype.inner) in ("List", "Array"):
                raise _Unsure("is a nested list; give it a fixed shape (Array dtype) to infer a tensor")
            lengths = series.drop_nulls().list.len().unique().to_list()
            shape = [lengths[0]] if len(lengths) == 1 else []
        prop["logicalType"] = "array"
        prop["physicalType"] = "array"
        prop["items"] = {"physicalType": item}
        if shape:
            prop["x-trilho"] = {"shape": shape}
        return prop
    t = _scalar(dtype)
    prop["physicalType"] = t
    if dname == "Enum":
        prop["quality"] = [
            {"metric": "invalidValues", "arguments": {"validValues": list(dtype.categories)}, "mustBe": 0}
        ]
    return prop


def infer_contract(
    df: Any, name: str = "dataset", *, id: str | None = None, version: str = "0.1.0", role: str | None = None
) -> Contract:
    """Infer a contract from a pandas/polars frame; raises ``ContractError`` naming every untypable column."""
    frame = nw.from_native(df)
    if isinstance(frame, nw.LazyFrame):
        frame = frame.collect()
    props: list[dict[str, Any]] = []
    problems: list[str] = []
    for col, dtype in frame.schema.items():
        try:
            props.append(_column(col, dtype, frame[col]))
        except _Unsure as why:
            problems.append(f"column '{col}' {why}")
    if problems:
        raise ContractError(
            f"cannot infer a precise type for {len(problems)} column(s): " + "; ".join(problems),
            fix="clean or cast these columns (or drop them) and infer again, or write their types by hand",
            field=[p.split("'")[1] for p in problems],
            columns=problems,
        )
    if not props:
        raise ContractError(
            "cannot infer a contract from a frame with no columns", fix="pass a non-empty frame"
        )
    obj: dict[str, Any] = {"name": name, "properties": props}
    if role is not None:
        obj["x-trilho"] = {"role": role}
    return load_contract(
        {
            "apiVersion": "v3.0.2",
            "kind": "DataContract",
            "id": id or name,
            "name": name,
            "version": version,
            "status": "draft",
            "schema": [obj],
        }
    )
