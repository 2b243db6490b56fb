"""The Open Inference Protocol V2 codec, pure: request bodies → records and records → response bodies, the
binary tensor data extension included, and the protocol's datatype names for contract types.

Binary tensor data (``Inference-Header-Content-Length: N``): the first N bytes of the body are the JSON
header; the rest is the inputs' raw bytes, back to back, in the order of the inputs that carry
``parameters.binary_data_size``. Raw bytes are little-endian, row-major; ``BOOL`` is one byte per element;
``BYTES`` elements are each a 4-byte little-endian length followed by that many bytes (UTF-8 text here:
records carry strings). Responses carry an output in binary when the request asks for it
(``outputs[i].parameters.binary_data``, or ``parameters.binary_data_output`` for all of them).

Every framing, shape or datatype problem is a ``BadRequest`` (``FramingError`` for the binary part): never
anything else, whatever the bytes (see the property test)."""

from __future__ import annotations

import math
import struct
from dataclasses import dataclass, field
from typing import Any

import msgspec
import numpy as np

from trilho.contracts.columns import ColumnBatch
from trilho.serving.protocols import BadRequest, nonempty_list, short

#: The protocol's datatypes and their little-endian numpy layout (``BYTES``: length-prefixed elements).
DATATYPES: dict[str, str | None] = {
    "BOOL": "|b1",
    "UINT8": "|u1",
    "UINT16": "<u2",
    "UINT32": "<u4",
    "UINT64": "<u8",
    "INT8": "|i1",
    "INT16": "<i2",
    "INT32": "<i4",
    "INT64": "<i8",
    "FP16": "<f2",
    "FP32": "<f4",
    "FP64": "<f8",
    "BYTES": None,
}
_INTS = frozenset({"INT8", "INT16", "INT32", "INT64", "UINT8", "UINT16", "UINT32", "UINT64"})
_FLOATS = frozenset({"FP16", "FP32", "FP64"})
#: Which tensor datatypes may carry a contract field of each value kind (values are then checked by value).
ACCEPTS: dict[str, frozenset[str]] = {
    "int": _INTS,
    "float": _INTS | _FLOATS,
    "bool": frozenset({"BOOL"}),
    "string": frozenset({"BYTES"}),
    "date": frozenset({"BYTES"}),
    "timestamp": frozenset({"BYTES"}),
    "array": frozenset(DATATYPES),
}
#: Contract physical types → the protocol's names.
_FROM_CONTRACT = {
    "bool": "BOOL",
    **{f"uint{b}": f"UINT{b}" for b in (8, 16, 32, 64)},
    **{f"int{b}": f"INT{b}" for b in (8, 16, 32, 64)},
    "float32": "FP32",
    "float64": "FP64",
    "string": "BYTES",
    "date": "BYTES",
    "timestamp": "BYTES",
}
#: Extensions of the protocol this server implements (``GET /v2`` lists them).
EXTENSIONS = ("binary_tensor_data", "parameters")
HEADER_LENGTH = "inference-header-content-length"
_JSON = msgspec.json.Decoder()
_encode_json = msgspec.json.Encoder().encode


class FramingError(BadRequest):
    """Binary tensor data that does not add up: header length, sizes, element counts or encodings."""


@dataclass(slots=True)
class V2Request:
    """A parsed inference request: records, the request's id and parameters, and what outputs to send how."""

    records: list[dict[str, Any]] | ColumnBatch  # columns when every input came as a binary 1-D number tensor
    id: str | None = None
    parameters: dict[str, Any] = field(default_factory=dict)
    datatypes: dict[str, str] = field(default_factory=dict)  # input name → datatype
    outputs: dict[str, bool] | None = None  # requested output → binary; None: all outputs
    binary_output: bool = False  # the default for outputs not named (``binary_data_output``)


def datatype_of(physical: str, items: str | None = None) -> str:
    """The protocol's datatype for a contract physical type (an array: its items' type)."""
    if physical == "array":
        return _FROM_CONTRACT.get(items or "", "BYTES")
    return _FROM_CONTRACT.get(physical, "BYTES")


def tensor_metadata(contract: Any, role: str) -> list[dict[str, Any]]:
    """The contract's fields for ``role`` as V2 tensor metadata ``{name, datatype, shape}`` (batch dim -1)."""
    get = getattr(contract, "fields", None)
    if contract is None or not callable(get):
        return []
    try:
        fields = list(get(role))
    except Exception:  # a contract that cannot describe a role still serves
        return []
    out = []
    for f in fields:
        physical = getattr(f.type, "name", str(f.type))
        items = getattr(f, "items", None)
        item_type = getattr(items.type, "name", None) if items is not None else None
        shape = [-1]
        if physical == "array":
            dims = getattr(f, "shape", None)
            shape = [-1, *(d if d and d > 0 else -1 for d in dims)] if dims else [-1, -1]
        out.append({"name": f.name, "datatype": datatype_of(physical, item_type), "shape": shape})
    return out


def field_kinds(contract: Any, role: str = "input") -> dict[str, str]:
    """Field name → value kind (int, float, bool, string, date, timestamp, array) of the contract's role."""
    get = getattr(contract, "fields", None)
    if contract is None or not callable(get):
        return {}
    try:
        return {f.name: f.type.kind for f in get(role)}
    except Exception:
        return {}


def check_datatypes(datatypes: dict[str, str], kinds: dict[str, str]) -> None:
    """Refuse a tensor whose datatype cannot carry its contract field (FP64 for an int field, BYTES for a
    number...); inputs the contract does not name are left to the contract's own checks."""
    for i, (name, dtype) in enumerate(datatypes.items()):
        kind = kinds.get(name)
        if kind is not None and dtype not in ACCEPTS.get(kind, DATATYPES):
            allowed = ",".join(sorted(ACCEPTS[kind]))
            raise BadRequest(
                f"input {name!r} is {dtype} but the contract's field is {kind}",
                fix=f"send {name!r} as one of {allowed}",
                field=f"inputs[{i}].datatype",
                value=dtype,
                rule=f"enum:{allowed}",
            )


# --- the binary codec ---------------------------------------------------------------------------------
def split_body(body: bytes, header_length: bytes | str | None) -> tuple[bytes, memoryview]:
    """(JSON header, binary section) of a body; without ``Inference-Header-Content-Length`` all is JSON."""
    if header_length is None:
        return body, memoryview(b"")
    raw = header_length.decode("latin-1") if isinstance(header_length, bytes) else header_length
    text = raw.strip()
    if not text.isascii() or not text.isdigit() or len(text) > 12:
        raise FramingError(
            f"Inference-Header-Content-Length {raw[:40]!r} is not a non-negative integer",
            fix="send the JSON header's length in bytes",
            field="Inference-Header-Content-Length",
            value=raw[:40],
            rule="type:integer",
        )
    n = int(text)
    if n > len(body):
        raise FramingError(
            f"Inference-Header-Content-Length {n} is past the end of the {len(body)}-byte body",
            fix="send the JSON header's length in bytes, followed by the tensors' raw bytes",
            field="Inference-Header-Content-Length",
            value=n,
            rule=f"maximum:{len(body)}",
        )
    view = memoryview(body)
    return bytes(view[:n]), view[n:]


def unpack_bytes(raw: bytes | memoryview, count: int, where: str) -> list[bytes]:
    """``count`` BYTES elements (4-byte little-endian length, then the bytes) filling ``raw`` exactly."""
    out: list[bytes] = []
    pos, end = 0, len(raw)
    view = memoryview(raw)
    while pos < end:
        if pos + 4 > end:
            raise FramingError(
                f"{where}: a BYTES element's 4-byte length is cut off at byte {pos}",
                fix="prefix every BYTES element with its length as a 4-byte little-endian integer",
                field=where,
                value=end,
                rule="bytes-framing",
            )
        (size,) = struct.unpack_from("<I", view, pos)
        pos += 4
        if pos + size > end:
            raise FramingError(
                f"{where}: BYTES element {len(out)} claims {size} bytes but only {end - pos} remain",
                fix="prefix every BYTES element with its exact length",
                field=where,
                value=size,
                rule="bytes-framing",
            )
        out.append(bytes(view[pos : pos + size]))
        pos += size
    if len(out) != count:
        raise FramingError(
            f"{where} holds {len(out)} BYTES elements but its shape needs {count}",
            fix="send one element per position of the shape",
            field=where,
            value=len(out),
            rule=f"count:{count}",
        )
    return out


def pack_bytes(values: list[bytes]) -> bytes:
    """BYTES elements as the protocol frames them (each: 4-byte little-endian length, then the bytes)."""
    return b"".join(struct.pack("<I", len(v)) + v for v in values)


def decode_tensor(raw: bytes | memoryview, datatype: str, shape: list[int], where: str) -> list[Any]:
    """A tensor's raw bytes → Python values nested by ``shape`` (BYTES: UTF-8 strings)."""
    count = math.prod(shape)
    layout = DATATYPES.get(datatype, "")
    if layout:
        array = decode_array(raw, datatype, shape, where)
        return array.reshape(shape).tolist() if len(shape) > 1 else array.tolist()
    if layout is None:
        elements = unpack_bytes(raw, count, where)
        try:
            flat: list[Any] = [e.decode("utf-8") for e in elements]
        except UnicodeDecodeError as exc:
            raise FramingError(
                f"{where}: a BYTES element is not UTF-8 text ({exc.reason} at byte {exc.start})",
                fix="send text as UTF-8 (binary blobs: encode them, e.g. base64)",
                field=where,
                rule="utf-8",
            ) from None
        return _nest(flat, shape)
    raise FramingError(
        f"{where}: {datatype!r} is not a V2 datatype",
        field=where,
        value=short(datatype),
        rule=f"enum:{','.join(DATATYPES)}",
    )


def decode_array(raw: bytes | memoryview, datatype: str, shape: list[int], where: str) -> np.ndarray:
    """A numeric tensor's raw bytes → a flat, read-only numpy array over them (no copy)."""
    count = math.prod(shape)
    dtype = np.dtype(DATATYPES[datatype] or "")
    if len(raw) != count * dtype.itemsize:
        raise FramingError(
            f"{where} has {len(raw)} bytes but {datatype} shape {shape} needs {count * dtype.itemsize}",
            fix="send exactly the tensor's elements, row-major, with no padding",
            field=where,
            value=len(raw),
            rule=f"bytes:{count * dtype.itemsize}",
        )
    return np.frombuffer(raw, dtype=dtype)


def encode_tensor(values: list[Any], datatype: str) -> bytes:
    """Flat Python values → the tensor's raw bytes (BYTES: strings as UTF-8, length-prefixed)."""
    layout = DATATYPES[datatype]
    if layout is None:
        return pack_bytes([v.encode("utf-8") if isinstance(v, str) else bytes(v) for v in values])
    return np.asarray(values, dtype=np.dtype(layout)).tobytes()


def _nest(flat: list[Any], shape: list[int]) -> list[Any]:
    if len(shape) == 1:
        return flat
    array = np.empty(len(flat), dtype=object)
    array[:] = flat
    return array.reshape(shape).tolist()


# --- requests -----------------------------------------------------------------------------------------
def decode_request(body: bytes, header_length: bytes | str | None, max_instances: int) -> V2Request:
    """A V2 inference body (JSON, or JSON header + binary tensors) → ``V2Request``; raises BadRequest."""
    header, binary = split_body(body, header_length)
    try:
        parsed = _JSON.decode(header)
    except msgspec.DecodeError as exc:
        raise BadRequest(
            f"the inference header is not valid JSON: {exc}",
            fix="send a JSON object (its length in Inference-Header-Content-Length when tensors follow)",
            field="body",
        ) from None
    return parse_v2(parsed, max_instances, binary)


def parse_v2(body: Any, max_instances: int, binary: bytes | memoryview = b"") -> V2Request:
    """``{"inputs": [{"name", "shape", "datatype", "data" | parameters.binary_data_size}]}`` (and the
    binary section after the JSON header) → records (rows by shape[0]) and what the response should hold."""
    inputs = nonempty_list(body, "inputs", "tensors", '{"inputs": [{"name": ...}]}')
    request_id = body.get("id")
    if request_id is not None and not isinstance(request_id, str):
        raise BadRequest("'id' must be a string", field="id", value=short(request_id), rule="type:string")
    parameters = _parameters(body.get("parameters"), "parameters")
    columns: dict[str, list[Any] | np.ndarray] = {}
    datatypes: dict[str, str] = {}
    rows = None
    offset = 0
    for i, t in enumerate(inputs):
        where = f"inputs[{i}]"
        name, shape, dtype = _tensor_head(t, where)
        size = _parameters(t.get("parameters"), f"{where}.parameters").get("binary_data_size")
        if size is not None:
            if "data" in t:
                raise BadRequest(
                    f"{where} has both 'data' and parameters.binary_data_size",
                    fix="send the tensor either as JSON 'data' or as binary, not both",
                    field=f"{where}.data",
                    rule="data-or-binary",
                )
            if not isinstance(size, int) or isinstance(size, bool) or size < 0:
                raise FramingError(
                    f"{where}.parameters.binary_data_size must be a non-negative integer",
                    field=f"{where}.parameters.binary_data_size",
                    value=short(size),
                    rule="type:integer",
                )
            if offset + size > len(binary):
                raise FramingError(
                    f"{where} claims {size} binary bytes from byte {offset} but the binary section has "
                    f"{len(binary)}",
                    fix="send every binary tensor's bytes after the JSON header, in input order",
                    field=f"{where}.parameters.binary_data_size",
                    value=size,
                    rule=f"maximum:{len(binary) - offset}",
                )
            raw = binary[offset : offset + size]
            offset += size
            if DATATYPES[dtype] and (len(shape) == 1 or (len(shape) == 2 and shape[1] == 1)):
                data = decode_array(raw, dtype, shape, where)  # one value per row: kept as a column
            else:
                data = decode_tensor(raw, dtype, shape, where)
        else:
            data = t.get("data")
            if not isinstance(data, list):
                raise BadRequest(
                    f"{where}.data must be a list",
                    field=f"{where}.data",
                    value=short(data),
                    rule="type:array",
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
        columns[name] = data if isinstance(data, np.ndarray) else _rows(data, shape, where)
        datatypes[name] = dtype
    if offset != len(binary):
        raise FramingError(
            f"the binary section has {len(binary)} bytes but the inputs claim {offset}",
            fix="set each binary input's parameters.binary_data_size to its exact byte count",
            field="body",
            value=len(binary),
            rule=f"bytes:{offset}",
        )
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
    records: list[dict[str, Any]] | ColumnBatch
    if all(isinstance(c, np.ndarray) for c in columns.values()):  # every input binary, numeric, 1 per row
        records = ColumnBatch(columns)  # type: ignore[arg-type]  # validated column-wise, records on demand
    else:
        names = list(columns)
        cols = [c.tolist() if isinstance(c, np.ndarray) else c for c in columns.values()]
        records = [dict(zip(names, row, strict=True)) for row in zip(*cols, strict=True)]
    binary_output = parameters.get("binary_data_output") is True
    return V2Request(
        records,
        request_id,
        parameters,
        datatypes,
        _requested(body.get("outputs"), binary_output),
        binary_output,
    )


def _tensor_head(t: Any, where: str) -> tuple[str, list[int], str]:
    if not isinstance(t, dict):
        raise BadRequest(f"{where} is not an object", field=where, value=short(t), rule="type:object")
    name, shape, dtype = t.get("name"), t.get("shape"), t.get("datatype")
    if not isinstance(name, str) or not name:
        raise BadRequest(
            f"{where}.name must be a non-empty string",
            field=f"{where}.name",
            value=short(name),
            rule="type:string",
        )
    if (
        not isinstance(shape, list)
        or not shape
        or not all(isinstance(d, int) and not isinstance(d, bool) and 0 <= d < 2**31 for d in shape)
    ):
        raise BadRequest(
            f"{where}.shape must be a list of non-negative integers",
            field=f"{where}.shape",
            value=short(shape),
            rule="shape",
        )
    if not isinstance(dtype, str) or dtype not in DATATYPES:
        raise BadRequest(
            f"{where}.datatype {dtype!r} is not a V2 datatype",
            field=f"{where}.datatype",
            value=short(dtype),
            rule=f"enum:{','.join(sorted(DATATYPES))}",
        )
    return name, shape, dtype


def _parameters(value: Any, where: str) -> dict[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise BadRequest(f"{where} must be an object", field=where, value=short(value), rule="type:object")
    return value


def _requested(outputs: Any, default_binary: bool) -> dict[str, bool] | None:
    if outputs is None:
        return None
    if not isinstance(outputs, list):
        raise BadRequest("'outputs' must be a list", field="outputs", value=short(outputs), rule="type:array")
    wanted: dict[str, bool] = {}
    for i, o in enumerate(outputs):
        where = f"outputs[{i}]"
        if not isinstance(o, dict) or not isinstance(o.get("name"), str):
            raise BadRequest(
                f"{where} must be an object with a 'name'", field=where, value=short(o), rule="type:object"
            )
        params = _parameters(o.get("parameters"), f"{where}.parameters")
        if "classification" in params:
            raise BadRequest(
                "the classification extension is not supported",
                fix="ask for the output tensor itself",
                field=f"{where}.parameters.classification",
                rule="unsupported",
            )
        binary = params.get("binary_data", default_binary)
        wanted[o["name"]] = binary is True
    return wanted


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


# --- responses ----------------------------------------------------------------------------------------
def _inferred(values: list[Any]) -> str:
    if values and all(isinstance(v, bool) for v in values):
        return "BOOL"
    if values and all(isinstance(v, int) and not isinstance(v, bool) for v in values):
        return "INT64"
    if values and all(isinstance(v, int | float) and not isinstance(v, bool) for v in values):
        return "FP64"
    return "BYTES"


def _fits(inferred: str, declared: str | None) -> bool:
    if declared is None:
        return False
    if inferred == "INT64":
        return declared in _INTS or declared in _FLOATS
    if inferred == "FP64":
        return declared in _FLOATS
    return inferred == declared


def format_v2(
    outputs: list[dict[str, Any]],
    model: str,
    version: str,
    request_id: str | None,
    *,
    declared: dict[str, str] | None = None,
    requested: dict[str, bool] | None = None,
    binary_output: bool = False,
) -> tuple[dict[str, Any], list[bytes]]:
    """Records → (V2 response body, raw bytes of the binary outputs in order). One tensor per output field
    (lists become a second dimension); the datatype is the contract's (``declared``) when the values fit it.
    ``requested`` names the outputs to send and whether each goes binary (else all, ``binary_output``)."""
    names: dict[str, None] = {}
    for out in outputs:
        names.update(dict.fromkeys(out))
    if requested is not None:
        for i, name in enumerate(requested):
            if name not in names and name not in (declared or {}):
                raise BadRequest(
                    f"output {name!r} is not an output of {model}",
                    fix=f"ask for one of {sorted(names)} or leave 'outputs' out for all",
                    field=f"outputs[{i}].name",
                    value=short(name),
                    rule=f"enum:{','.join(sorted(names))}",
                )
        names = dict.fromkeys(requested)
    tensors, chunks = [], []
    for name in names:
        col = [o.get(name) for o in outputs]
        flat, shape = col, [len(col)]
        if col and all(isinstance(c, list) for c in col) and len({len(c) for c in col}) == 1:
            flat = [v for c in col for v in c]
            shape = [len(col), len(col[0])]
        dtype = _inferred(flat)
        if dtype == "BYTES":
            flat = [c if isinstance(c, str) else _encode_json(c).decode() for c in col]
            shape = [len(col)]
        declared_type = (declared or {}).get(name)
        if _fits(dtype, declared_type):
            dtype = declared_type
        tensor: dict[str, Any] = {"name": name, "shape": shape, "datatype": dtype}
        binary = requested[name] if requested is not None else binary_output
        raw = _raw(flat, dtype) if binary else None
        if raw is not None:
            tensor["parameters"] = {"binary_data_size": len(raw)}
            chunks.append(raw)
        else:
            tensor["data"] = flat
        tensors.append(tensor)
    body: dict[str, Any] = {"model_name": model, "model_version": version, "outputs": tensors}
    if request_id is not None:
        body["id"] = request_id
    return body, chunks


def _raw(values: list[Any], datatype: str) -> bytes | None:
    try:
        return encode_tensor(values, datatype)
    except (OverflowError, ValueError, TypeError):  # values the datatype cannot hold go as JSON data
        return None


def encode_response(body: dict[str, Any], chunks: list[bytes]) -> tuple[bytes, int | None]:
    """(the response bytes, the JSON header's length when binary outputs follow it, else None)."""
    header = _encode_json(body)
    if not chunks:
        return header, None
    return b"".join([header, *chunks]), len(header)
