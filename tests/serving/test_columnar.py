"""The columnar path: binary tensors (HTTP's binary extension, gRPC's raw contents) are checked against the
contract column-wise and reach a model that takes columns as one batch of columns, never as 1,000 dicts; a
model that takes records gets records; bad values get exactly the errors the JSON body gets."""

from __future__ import annotations

import json
from typing import Any

import grpc
import httpx
import numpy as np
import pytest
import tritonclient.grpc as triton_grpc
import tritonclient.http as triton

from trilho.contracts import load_contract

CONTRACT = load_contract(
    {
        "apiVersion": "v3.0.2",
        "kind": "DataContract",
        "id": "numeric-io",
        "name": "numeric",
        "version": "1.0.0",
        "schema": [
            {
                "name": "request",
                "x-trilho": {"role": "input"},
                "properties": [
                    {"name": "f32", "physicalType": "float32", "required": True},
                    {
                        "name": "f64",
                        "physicalType": "float64",
                        "required": True,
                        "logicalTypeOptions": {"minimum": -1e6, "maximum": 1e6},
                    },
                    {
                        "name": "i64",
                        "physicalType": "int64",
                        "required": True,
                        "logicalTypeOptions": {"minimum": 0},
                    },
                    {"name": "flag", "physicalType": "bool", "required": True},
                ],
            },
            {
                "name": "response",
                "x-trilho": {"role": "output"},
                "properties": [
                    {"name": "y", "physicalType": "float64", "required": True},
                    {"name": "flag", "physicalType": "bool", "required": True},
                ],
            },
        ],
    }
)
NUMBERS = ["f32", "f64", "i64"]
DTYPES = {"f32": "FP32", "f64": "FP64", "i64": "INT64", "flag": "BOOL"}
WARMUP = [{"f32": 1.0, "f64": 2.0, "i64": 3, "flag": True}]
SEEN: list[str] = []  # the type of every batch a model was handed


def columnar(records: Any) -> list[dict[str, Any]]:
    """y = f32 + f64 + i64, flag passed through; stacks a ColumnBatch without building records."""
    SEEN.append(type(records).__name__)
    if hasattr(records, "matrix"):
        x, flags = records.matrix(NUMBERS, np.float64), records.column("flag").tolist()
    else:
        x = np.array([[r[n] for n in NUMBERS] for r in records], dtype=np.float64)
        flags = [r["flag"] for r in records]
    return [{"y": y, "flag": f} for y, f in zip(x.sum(axis=1).tolist(), flags, strict=True)]


columnar.columnar = True  # type: ignore[attr-defined]
columnar.contract = CONTRACT  # type: ignore[attr-defined]


def on_records(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The same model, taking records only."""
    return columnar(records)


on_records.contract = CONTRACT  # type: ignore[attr-defined]


@pytest.fixture
def numeric(start_gateway):
    from trilho.serving import StaticProvider
    from trilho.store.routing import Deployment, Route

    provider = StaticProvider({"cols@1": columnar, "rows@1": on_records}, {"cols": WARMUP, "rows": WARMUP})
    deployments = [Deployment(m, routes=(Route("1"),)) for m in ("cols", "rows")]
    return start_gateway(provider=provider, deployments=deployments, grpc_port=0, max_body_bytes=4_194_304)


def _batch(rows: int) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(rows)
    return {
        "f32": rng.normal(size=rows).astype(np.float32),
        "f64": rng.normal(size=rows) * 1000,
        "i64": rng.integers(0, 10**6, size=rows, dtype=np.int64),
        "flag": rng.integers(0, 2, size=rows).astype(bool),
    }


def _inputs(module, data: dict[str, np.ndarray], binary: bool | None = None) -> list:
    out = []
    for name, array in data.items():
        tensor = module.InferInput(name, [len(array)], DTYPES[name])
        if binary is None:
            tensor.set_data_from_numpy(array)
        else:
            tensor.set_data_from_numpy(array, binary_data=binary)
        out.append(tensor)
    return out


def _seen(call) -> tuple[str, Any]:
    SEEN.clear()
    result = call()
    return SEEN[-1], result


@pytest.mark.parametrize("rows", [1, 1000])
def test_binary_tensors_reach_a_columnar_model_as_columns(numeric, rows):
    client = triton.InferenceServerClient(numeric.url.removeprefix("http://"))
    data = _batch(rows)
    want = data["f32"].astype(np.float64) + data["f64"] + data["i64"]
    answers = {}
    for model in ("cols", "rows"):
        for binary in (True, False):
            seen, result = _seen(lambda m=model, b=binary: client.infer(m, _inputs(triton, data, b)))
            answers[model, binary] = seen
            np.testing.assert_allclose(result.as_numpy("y"), want, rtol=1e-12)
            np.testing.assert_array_equal(result.as_numpy("flag"), data["flag"])
    assert answers == {
        ("cols", True): "ColumnBatch",  # checked column-wise, handed over whole
        ("cols", False): "list",  # JSON data: Python values, record by record
        ("rows", True): "list",  # a model that takes records gets records
        ("rows", False): "list",
    }
    client.close()
    grpc_client = triton_grpc.InferenceServerClient(numeric.grpc_target)
    seen, result = _seen(lambda: grpc_client.infer("cols", _inputs(triton_grpc, data)))
    assert seen == "ColumnBatch"
    np.testing.assert_allclose(result.as_numpy("y"), want, rtol=1e-12)
    grpc_client.close()


def _bodies(data: dict[str, np.ndarray]) -> tuple[tuple[bytes, dict], tuple[bytes, dict]]:
    """The same batch as a binary body and as a JSON body."""
    tensors = [{"name": n, "shape": [len(a)], "datatype": DTYPES[n]} for n, a in data.items()]
    header = json.dumps(
        {
            "inputs": [
                {**t, "parameters": {"binary_data_size": a.nbytes}}
                for t, a in zip(tensors, data.values(), strict=True)
            ]
        }
    ).encode()
    binary = header + b"".join(np.ascontiguousarray(a).tobytes() for a in data.values())
    plain = json.dumps(
        {"inputs": [{**t, "data": a.tolist()} for t, a in zip(tensors, data.values(), strict=True)]}
    ).encode()
    return (binary, {"Inference-Header-Content-Length": str(len(header))}), (plain, {})


def test_bad_values_in_binary_tensors_get_the_errors_json_gets(numeric):
    cases = {
        "over the maximum": ("f64", 5, 2e6, "maximum"),
        "under the minimum": ("i64", 2, -1, "minimum"),
        "NaN in a required field": ("f32", 3, np.nan, "required"),
        "infinite": ("f64", 0, np.inf, "range"),
    }
    grpc_client = triton_grpc.InferenceServerClient(numeric.grpc_target)
    with httpx.Client(base_url=numeric.url) as c:
        for what, (name, row, value, rule) in cases.items():
            data = _batch(8)
            data[name] = data[name].copy()
            data[name][row] = value
            (binary, bh), (plain, jh) = _bodies(data)
            if what in ("NaN in a required field", "infinite"):  # JSON cannot carry them: compare with gRPC
                plain = None
            got = c.post("/v2/models/cols/infer", content=binary, headers=bh)
            assert got.status_code == 422, (what, got.text)
            body = got.json()
            assert body["type"] == "SchemaViolation" and body["field"] == name and body["rule"] == rule, body
            assert body["instance"] == row, body
            if plain is not None:
                same = c.post("/v2/models/cols/infer", content=plain, headers=jh)
                assert (same.status_code, same.json()) == (422, body), what
            with pytest.raises(Exception) as err:
                grpc_client.infer("cols", _inputs(triton_grpc, data))
            assert err.value.status() == str(grpc.StatusCode.INVALID_ARGUMENT), what
            assert err.value.message() == body["error"], what  # one error line on both transports
    grpc_client.close()
