"""The OIP V2 codec: binary tensor data round trips, and nothing but BadRequest out of any bytes."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from trilho.serving.oip_v2 import (
    DATATYPES,
    FramingError,
    check_datatypes,
    decode_request,
    decode_tensor,
    encode_response,
    encode_tensor,
    format_v2,
    pack_bytes,
    split_body,
    tensor_metadata,
    unpack_bytes,
)
from trilho.serving.protocols import BadRequest

NUMERIC = [d for d, layout in DATATYPES.items() if layout is not None]
shapes = st.lists(st.integers(1, 4), min_size=1, max_size=3)


def _binary_request(tensors: list[tuple[str, str, list[int], bytes]], **extra) -> tuple[bytes, str]:
    header = {
        "inputs": [
            {"name": n, "datatype": d, "shape": s, "parameters": {"binary_data_size": len(raw)}}
            for n, d, s, raw in tensors
        ],
        **extra,
    }
    text = json.dumps(header).encode()
    return text + b"".join(raw for *_, raw in tensors), str(len(text))


@given(st.data(), st.sampled_from(NUMERIC), shapes)
def test_numeric_tensors_round_trip(data, datatype, shape):
    dtype = np.dtype(DATATYPES[datatype])
    elements = hnp.from_dtype(dtype, allow_nan=False, allow_infinity=False) if dtype.kind == "f" else None
    array = data.draw(hnp.arrays(dtype, shape, elements=elements))
    raw = encode_tensor(array.ravel().tolist(), datatype)
    assert raw == array.tobytes()
    assert decode_tensor(raw, datatype, shape, "t") == array.tolist()


@given(st.lists(st.text(), min_size=1, max_size=12), st.sampled_from([1, 2]))
def test_bytes_tensors_round_trip(values, cols):
    values = values[: len(values) - len(values) % cols] or values[:1] * cols
    shape = [len(values) // cols, cols] if cols > 1 else [len(values)]
    raw = encode_tensor(values, "BYTES")
    assert unpack_bytes(raw, len(values), "t") == [v.encode() for v in values]
    decoded = decode_tensor(raw, "BYTES", shape, "t")
    assert decoded == (values if cols == 1 else [values[i : i + cols] for i in range(0, len(values), cols)])


@given(st.integers(1, 5), st.integers(1, 4), st.data())
def test_binary_request_becomes_the_same_records_as_json(rows, width, data):
    x = data.draw(hnp.arrays(np.float32, (rows, width), elements=st.floats(-1e6, 1e6, width=32)))
    k = data.draw(hnp.arrays(np.int64, (rows,)))
    s = data.draw(st.lists(st.text(max_size=5), min_size=rows, max_size=rows))
    body, n = _binary_request(
        [("x", "FP32", [rows, width], x.tobytes()), ("k", "INT64", [rows], k.tobytes())]
        + [("s", "BYTES", [rows, 1], pack_bytes([v.encode() for v in s]))],
        id="r",
        parameters={"binary_data_output": True},
    )
    request = decode_request(body, n, 100)
    as_json = decode_request(
        json.dumps(
            {
                "inputs": [
                    {"name": "x", "datatype": "FP32", "shape": [rows, width], "data": x.ravel().tolist()},
                    {"name": "k", "datatype": "INT64", "shape": [rows], "data": k.tolist()},
                    {"name": "s", "datatype": "BYTES", "shape": [rows, 1], "data": s},
                ]
            }
        ).encode(),
        None,
        100,
    )
    assert request.records == as_json.records
    assert request.id == "r" and request.binary_output and request.outputs is None
    assert request.datatypes == {"x": "FP32", "k": "INT64", "s": "BYTES"}


@given(st.lists(st.floats(allow_nan=False, allow_infinity=False), min_size=1, max_size=20), st.booleans())
def test_response_binary_and_json_carry_the_same_values(ys, binary):
    outputs = [{"y": y, "label": f"c{i}", "top": [i, i + 1]} for i, y in enumerate(ys)]
    body, chunks = format_v2(outputs, "m", "1", "id-1", declared={"y": "FP64"}, binary_output=binary)
    payload, header_length = encode_response(body, chunks)
    header, rest = split_body(payload, None if header_length is None else str(header_length))
    parsed = json.loads(header)
    assert parsed["id"] == "id-1" and (header_length is not None) == binary
    offset, values = 0, {}
    for t in parsed["outputs"]:
        if binary:
            size = t["parameters"]["binary_data_size"]
            values[t["name"]] = decode_tensor(rest[offset : offset + size], t["datatype"], t["shape"], "o")
            offset += size
        else:
            flat = t["data"]
            values[t["name"]] = flat if len(t["shape"]) == 1 else np.array(flat).reshape(t["shape"]).tolist()
    assert values == {"y": ys, "label": [o["label"] for o in outputs], "top": [o["top"] for o in outputs]}


def test_requested_outputs_choose_names_and_binary_per_output():
    outputs = [{"a": 1.0, "b": 2}]
    body, chunks = format_v2(outputs, "m", "1", None, requested={"b": True})
    assert [t["name"] for t in body["outputs"]] == ["b"] and len(chunks) == 1
    assert body["outputs"][0]["parameters"] == {"binary_data_size": 8} and "id" not in body
    with pytest.raises(BadRequest) as err:
        format_v2(outputs, "m", "1", None, requested={"nope": False})
    assert err.value.fields["field"] == "outputs[0].name"


@pytest.mark.parametrize(
    "body, header_length, field",
    [
        (b'{"inputs": []}', "999", "Inference-Header-Content-Length"),
        (b'{"inputs": []}', "-1", "Inference-Header-Content-Length"),
        (b'{"inputs": []}', "ten", "Inference-Header-Content-Length"),
    ],
)
def test_bad_header_length_is_a_framing_error(body, header_length, field):
    with pytest.raises(FramingError) as err:
        decode_request(body, header_length, 10)
    assert err.value.fields["field"] == field


def test_framing_errors_name_the_tensor():
    raw = np.arange(4, dtype="<f8").tobytes()
    cases = {
        "truncated": ([("x", "FP64", [4], raw[:-3])], "inputs[0]"),
        "past the body": ([("x", "FP64", [4], raw)], "inputs[0].parameters.binary_data_size"),
        "leftover": ([("x", "FP64", [2], raw[:16])], "body"),
        "bytes count": ([("s", "BYTES", [3], pack_bytes([b"a", b"b"]))], "inputs[0]"),
        "bytes cut": ([("s", "BYTES", [1], b"\x05\x00\x00\x00ab")], "inputs[0]"),
        "not utf-8": ([("s", "BYTES", [1], pack_bytes([b"\xff"]))], "inputs[0]"),
    }
    for what, (tensors, field) in cases.items():
        body, n = _binary_request(tensors)
        if what == "past the body":
            body = body[:-8]
        if what == "leftover":
            body += b"\x00" * 8
        with pytest.raises(BadRequest) as err:
            decode_request(body, n, 10)
        assert err.value.fields["field"] == field, what


def test_contract_refuses_a_datatype_that_cannot_carry_its_field():
    check_datatypes({"x": "FP32", "n": "INT8"}, {"x": "float", "n": "int"})
    with pytest.raises(BadRequest) as err:
        check_datatypes({"x": "FP64", "n": "FP64"}, {"x": "float", "n": "int"})
    assert err.value.fields["field"] == "inputs[1].datatype" and err.value.fields["value"] == "FP64"
    with pytest.raises(BadRequest):
        check_datatypes({"x": "BYTES"}, {"x": "float"})


def test_metadata_uses_the_protocols_datatype_names():
    from trilho.contracts import load_contract

    contract = load_contract(
        {
            "apiVersion": "v3.0.2",
            "kind": "DataContract",
            "id": "c",
            "name": "c",
            "version": "1.0.0",
            "schema": [
                {
                    "name": "req",
                    "x-trilho": {"role": "input"},
                    "properties": [
                        {"name": "a", "physicalType": "float64"},
                        {"name": "b", "physicalType": "bigint"},
                        {"name": "c", "physicalType": "string"},
                        {"name": "d", "physicalType": "float"},
                    ],
                },
            ],
        }
    )
    assert tensor_metadata(contract, "input") == [
        {"name": "a", "datatype": "FP64", "shape": [-1]},
        {"name": "b", "datatype": "INT64", "shape": [-1]},
        {"name": "c", "datatype": "BYTES", "shape": [-1]},
        {"name": "d", "datatype": "FP32", "shape": [-1]},
    ]


_json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**40), 2**40) | st.text(max_size=4),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=4), inner, max_size=3),
    max_leaves=8,
)


@st.composite
def _garbage(draw):
    """Bodies that look almost right: a plausible header with wrong numbers, and random tail bytes."""
    tensors = []
    for i in range(draw(st.integers(0, 3))):
        t = {
            "name": draw(st.sampled_from(["x", "y", "", i])),
            "datatype": draw(st.sampled_from([*DATATYPES, "FP8", 3])),
            "shape": draw(st.lists(st.integers(-2, 5), max_size=3) | _json_values),
        }
        if draw(st.booleans()):
            t["parameters"] = {"binary_data_size": draw(st.integers(-3, 40) | _json_values)}
        else:
            t["data"] = draw(_json_values)
        tensors.append(t)
    header = {"inputs": tensors}
    if draw(st.booleans()):
        header["outputs"] = draw(_json_values)
    if draw(st.booleans()):
        header["parameters"] = draw(_json_values)
    text = json.dumps(header).encode()
    tail = draw(st.binary(max_size=64))
    length = draw(st.sampled_from([str(len(text)), None]) | st.text(max_size=6))
    return text + tail, length


@settings(max_examples=300)
@given(st.one_of(st.tuples(st.binary(max_size=200), st.none() | st.text(max_size=8)), _garbage()))
def test_garbage_raises_nothing_but_bad_request(case):
    body, length = case
    try:
        request = decode_request(body, length, 8)
    except BadRequest:
        return
    assert 1 <= len(request.records) <= 8


@given(st.binary(max_size=64), st.sampled_from(list(DATATYPES)), st.lists(st.integers(0, 4), min_size=1))
def test_random_tensor_bytes_decode_or_raise_framing_error(raw, datatype, shape):
    try:
        values = decode_tensor(raw, datatype, shape, "t")
    except FramingError:
        return
    assert len(np.array(values, dtype=object).ravel()) == math.prod(shape) or 0 in shape
