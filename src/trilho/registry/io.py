"""Records ↔ arrays: the pure mapping between batch records and the matrices models eat, in contract order.

Inputs become a 2-D matrix whose columns follow the contract's input fields (a single vector-valued field is
stacked row by row). Outputs map back by the contract's output fields: a 1-D result fills the single output
field; a 2-D result either fills one column per field or, for a single field, one vector per record.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from trilho.contracts.columns import ColumnBatch
from trilho.errors import RegistryError


def to_python(value: Any) -> Any:
    """Numpy scalars and arrays as plain Python values (ints, floats, strings, lists)."""
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, list | tuple):
        return [to_python(v) for v in value]
    return value


def records_to_matrix(
    records: Sequence[dict[str, Any]], fields: Sequence[str], dtype: Any = None
) -> np.ndarray:
    """A ``(len(records), width)`` array with columns in ``fields`` order (one vector field is stacked);
    a ``ColumnBatch`` holding every field is stacked column by column, without building its records."""
    if not fields:
        raise RegistryError(
            "the contract declares no input fields", fix="add input properties to the contract"
        )
    if isinstance(records, ColumnBatch):
        if all(f in records.columns for f in fields):
            return records.matrix(fields, dtype or np.float64)
        records = records.records()  # a field is missing: the record path names it
    missing = [(i, f) for i, r in enumerate(records) for f in fields if f not in r]
    if missing:
        i, f = missing[0]
        raise RegistryError(
            f"record {i} has no field {f!r}",
            fix=f"send every input field the contract declares: {', '.join(fields)}",
            field=f,
            row=i,
        )
    if len(fields) == 1 and records and isinstance(records[0][fields[0]], list | tuple):
        rows = [list(r[fields[0]]) for r in records]
    else:
        rows = [[r[f] for f in fields] for r in records]
    if dtype is None:
        numeric = all(isinstance(v, int | float | bool) and v is not None for row in rows for v in row)
        dtype = np.float64 if numeric else object
    try:
        arr = np.asarray(rows, dtype=dtype)
    except (TypeError, ValueError) as exc:
        raise RegistryError(
            f"records cannot be turned into a {np.dtype(dtype).name} matrix: {exc}",
            fix="check that every input value has the type the contract declares",
        ) from exc
    if arr.ndim == 1:
        arr = arr.reshape(len(records), -1)
    return arr


def matrix_to_records(result: Any, fields: Sequence[str], n: int) -> list[dict[str, Any]]:
    """Map a model result (1-D or 2-D, numpy or list) back to ``n`` records with the output ``fields``."""
    if not fields:
        raise RegistryError(
            "the contract declares no output fields", fix="add output properties to the contract"
        )
    arr = np.asarray(result)
    if arr.ndim == 0 or arr.shape[0] != n:
        raise RegistryError(
            f"the model returned {arr.shape[0] if arr.ndim else 'a scalar'} results for {n} records",
            fix="make the model return one result per input record (batch-first)",
        )
    if arr.ndim == 1:
        if len(fields) != 1:
            raise RegistryError(
                f"the model returned one value per record but the contract has {len(fields)} output fields",
                fix="return one column per output field, or declare a single output field",
            )
        return [{fields[0]: to_python(v)} for v in arr]
    flat = arr.reshape(n, -1) if arr.ndim > 2 and len(fields) == 1 else arr
    if len(fields) == 1 and (flat.ndim == 2 and flat.shape[1] != 1 or arr.ndim > 2):
        return [{fields[0]: to_python(row)} for row in arr]
    if flat.ndim == 2 and flat.shape[1] == len(fields):
        return [{f: to_python(row[j]) for j, f in enumerate(fields)} for row in flat]
    raise RegistryError(
        f"the model returned shape {list(arr.shape)} but the contract has output fields {list(fields)}",
        fix="return one column per output field, or one vector for a single output field",
    )


def columns_to_records(columns: Sequence[Any], fields: Sequence[str], n: int) -> list[dict[str, Any]]:
    """Map several model outputs (one array per output field, e.g. ONNX label + probabilities) to records."""
    out: list[dict[str, Any]] = [{} for _ in range(n)]
    for f, col in zip(fields, columns, strict=True):
        arr = np.asarray(col)
        if arr.ndim == 0 or arr.shape[0] != n:
            raise RegistryError(
                f"output {f!r} has {arr.shape[0] if arr.ndim else 'a scalar'} values for {n} records",
                fix="make every model output batch-first",
            )
        if arr.ndim == 2 and arr.shape[1] == 1:
            arr = arr[:, 0]
        for i in range(n):
            out[i][f] = to_python(arr[i])
    return out
