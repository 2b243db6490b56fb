"""Wire formats users already speak: KServe V1 (``instances`` → ``predictions``) and the Open Inference
Protocol V2 (named tensors with shape and datatype). Pure translation between bodies and record lists."""

from __future__ import annotations

import math
from typing import Any

import msgspec

from trilho.errors import InputError


class BadRequest(InputError):
    """A request body that is not the protocol's shape (400, or 422 when it names a field)."""


def _nonempty_list(body: Any, key: str, items: str, example: str) -> list[Any]:
    """``body[key]`` when ``body`` is an object and that is a non-empty list; else a BadRequest naming it."""
    if not isinstance(body, dict):
        raise BadRequest(
            f"the body must be a JSON object with an {key!r} list",
            fix=f"send {example}",
            field="body",
            value=type(body).__name__,
            rule="type:object",
        )
    value = body.get(key)
    if not isinstance(value, list) or not value:
        raise BadRequest(
            f"{key!r} must be a non-empty list of {items}",
            fix=f"send {example}",
            field=key,
            value=_short(value),
            rule="minItems:1",
        )
    return value


def parse_v1(body: Any, max_instances: int) -> list[dict[str, Any]]:
    """``{"instances": [{...}, ...]}`` → records."""
    instances = _nonempty_list(body, "instances", "objects", '{"instances": [{...}]}')
    if len(instances) > max_instances:
        raise BadRequest(
            f"{len(instances)} instances exceed the limit of {max_instances}",
            fix="split the request",
            field="instances",
            value=len(instances),
            rule=f"maxItems:{max_instances}",
        )
    for i, record in enumerate(instances):
        if not isinstance(record, dict):
            raise BadRequest(
                f"instance {i} is not an object",
                fix="send each instance as a JSON object",
                field=f"instances[{i}]",
                value=_short(record),
                rule="type:object",
            )
    return instances


_V2_TYPES = {
    "BOOL",
    "UINT8",
    "UINT16",
    "UINT32",
    "UINT64",
    "INT8",
    "INT16",
    "INT32",
    "INT64",
    "FP16",
    "FP32",
    "FP64",
    "BYTES",
}


def parse_v2(body: Any, max_instances: int) -> tuple[list[dict[str, Any]], str | None]:
    """``{"inputs": [{"name", "shape", "datatype", "data"}]}`` → (records, request id); rows by shape[0]."""
    inputs = _nonempty_list(body, "inputs", "tensors", '{"inputs": [{"name": ...}]}')
    request_id = body.get("id")
    if request_id is not None and not isinstance(request_id, str):
        raise BadRequest("'id' must be a string", field="id", value=_short(request_id), rule="type:string")
    columns: dict[str, list[Any]] = {}
    rows = None
    for i, t in enumerate(inputs):
        where = f"inputs[{i}]"
        if not isinstance(t, dict):
            raise BadRequest(f"{where} is not an object", field=where, value=_short(t), rule="type:object")
        name, shape, dtype, data = t.get("name"), t.get("shape"), t.get("datatype"), t.get("data")
        if not isinstance(name, str) or not name:
            raise BadRequest(
                f"{where}.name must be a non-empty string",
                field=f"{where}.name",
                value=_short(name),
                rule="type:string",
            )
        if (
            not isinstance(shape, list)
            or not shape
            or not all(isinstance(d, int) and not isinstance(d, bool) and d >= 0 for d in shape)
        ):
            raise BadRequest(
                f"{where}.shape must be a list of non-negative integers",
                field=f"{where}.shape",
                value=_short(shape),
                rule="shape",
            )
        if not isinstance(dtype, str) or dtype not in _V2_TYPES:
            raise BadRequest(
                f"{where}.datatype {dtype!r} is not a V2 datatype",
                field=f"{where}.datatype",
                value=_short(dtype),
                rule=f"enum:{','.join(sorted(_V2_TYPES))}",
            )
        if not isinstance(data, list):
            raise BadRequest(
                f"{where}.data must be a list", field=f"{where}.data", value=_short(data), rule="type:array"
            )
        n = shape[0]
        if rows is None:
            rows = n
        elif rows != n:
            raise BadRequest(
                f"{where} has {n} rows but earlier inputs have {rows}",
                field=f"{where}.shape",
                value=shape,
                rule="same-batch-size",
            )
        columns[name] = _rows(data, shape, where)
    if not rows:
        raise BadRequest(
            "the batch is empty (shape[0] is 0)", field="inputs[0].shape", value=0, rule="minimum:1"
        )
    if rows > max_instances:
        raise BadRequest(
            f"{rows} rows exceed the limit of {max_instances}",
            field="inputs",
            value=rows,
            rule=f"maxItems:{max_instances}",
        )
    records = [{name: col[r] for name, col in columns.items()} for r in range(rows)]
    return records, request_id


def _rows(data: list[Any], shape: list[int], where: str) -> list[Any]:
    n = shape[0]
    per_row = math.prod(shape[1:]) if len(shape) > 1 else 1
    if len(data) == n and (len(shape) == 1 or all(isinstance(x, list) for x in data)):
        rows = data  # already nested by row
    else:
        flat = _flatten(data)
        if len(flat) != n * per_row:
            raise BadRequest(
                f"{where}.data has {len(flat)} values but shape {shape} needs {n * per_row}",
                field=f"{where}.data",
                value=len(flat),
                rule="shape",
            )
        rows = flat if per_row == 1 else [flat[r * per_row : (r + 1) * per_row] for r in range(n)]
    if len(shape) == 2 and shape[1] == 1:
        rows = [r[0] if isinstance(r, list) and len(r) == 1 else r for r in rows]
    return rows


def _flatten(data: list[Any]) -> list[Any]:
    out: list[Any] = []
    for x in data:
        if isinstance(x, list):
            out.extend(_flatten(x))
        else:
            out.append(x)
    return out


def _dtype(values: list[Any]) -> str:
    flat = _flatten(values)
    if flat and all(isinstance(v, bool) for v in flat):
        return "BOOL"
    if flat and all(isinstance(v, int) and not isinstance(v, bool) for v in flat):
        return "INT64"
    if flat and all(isinstance(v, int | float) and not isinstance(v, bool) for v in flat):
        return "FP64"
    return "BYTES"


def format_v2(
    outputs: list[dict[str, Any]], model: str, version: str, request_id: str | None
) -> dict[str, Any]:
    """Records → V2 response tensors (one per output field; lists become a second dimension)."""
    names: dict[str, None] = {}
    for out in outputs:
        names.update(dict.fromkeys(out))
    tensors = []
    for name in names:
        col = [o.get(name) for o in outputs]
        dtype = _dtype(col)
        if dtype == "BYTES":
            col = [c if isinstance(c, str) else msgspec.json.encode(c).decode() for c in col]
            shape = [len(col)]
        elif all(isinstance(c, list) for c in col) and len({len(c) for c in col}) == 1:
            shape = [len(col), len(col[0])]
        elif any(isinstance(c, list) for c in col):
            col = [msgspec.json.encode(c).decode() for c in col]
            dtype, shape = "BYTES", [len(col)]
        else:
            shape = [len(col)]
        tensors.append({"name": name, "shape": shape, "datatype": dtype, "data": col})
    body: dict[str, Any] = {"model_name": model, "model_version": version, "outputs": tensors}
    if request_id is not None:
        body["id"] = request_id
    return body


def _short(value: Any) -> Any:
    text = repr(value)
    return (
        value if len(text) <= 80 and isinstance(value, str | int | float | bool | type(None)) else text[:80]
    )
