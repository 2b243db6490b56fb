"""OIP V2 over HTTP as Triton's own client speaks it (tritonclient[http], default settings): binary and JSON
tensors, FP32/FP64/INT64/BYTES, one row and 1,000 rows; conformant metadata; bad binary framing is a 4xx."""

from __future__ import annotations

import json

import httpx
import numpy as np
import pytest
import tritonclient.http as triton
from tests.serving.oip_fixtures import batch, expected, start_mixed
from tritonclient.utils import InferenceServerException

DTYPES = {"f32": "FP32", "f64": "FP64", "i64": "INT64", "s": "BYTES"}


@pytest.fixture
def mixed(start_gateway):
    return start_mixed(start_gateway, max_body_bytes=4_194_304)


def _inputs(data: dict[str, np.ndarray], binary: bool) -> list[triton.InferInput]:
    out = []
    for name, array in data.items():
        tensor = triton.InferInput(name, list(array.shape), DTYPES[name])
        tensor.set_data_from_numpy(array, binary_data=binary)
        out.append(tensor)
    return out


@pytest.mark.parametrize("rows", [1, 1000])
@pytest.mark.parametrize("binary", [True, False], ids=["binary", "json"])
def test_triton_http_client_infers(mixed, rows, binary):
    client = triton.InferenceServerClient(mixed.url.removeprefix("http://"))
    data = batch(rows, seed=rows)
    # the client's default: no outputs named, every output comes back binary; JSON: ask for JSON outputs
    outputs = None if binary else [triton.InferRequestedOutput(n, binary_data=False) for n in expected(data)]
    result = client.infer("mixed", _inputs(data, binary), outputs=outputs, request_id=f"req-{rows}")
    response = result.get_response()
    assert response["id"] == f"req-{rows}" and response["model_name"] == "mixed"
    assert response["model_version"] == "1"
    types = {t["name"]: t["datatype"] for t in response["outputs"]}
    assert types == {"y": "FP64", "half": "FP32", "n": "INT64", "label": "BYTES"}
    assert all(("parameters" in t) == binary for t in response["outputs"])
    want = expected(data)
    np.testing.assert_allclose(result.as_numpy("y"), want["y"], rtol=1e-12)
    np.testing.assert_array_equal(result.as_numpy("half"), want["half"])
    np.testing.assert_array_equal(result.as_numpy("n"), want["n"])
    labels = result.as_numpy("label")
    got = [v if isinstance(v, bytes) else str(v).encode() for v in labels]
    assert got == list(want["label"])
    client.close()


def test_triton_http_client_metadata_and_health(mixed):
    client = triton.InferenceServerClient(mixed.url.removeprefix("http://"))
    assert client.is_server_live() and client.is_server_ready() and client.is_model_ready("mixed")
    server = client.get_server_metadata()
    assert server["name"] == "trilho" and "binary_tensor_data" in server["extensions"]
    meta = client.get_model_metadata("mixed")
    assert {t["name"]: t["datatype"] for t in meta["inputs"]} == DTYPES
    assert {t["name"]: t["datatype"] for t in meta["outputs"]} == {
        "y": "FP64",
        "half": "FP32",
        "n": "INT64",
        "label": "BYTES",
    }
    assert all(t["shape"] == [-1] for t in meta["inputs"])
    # one output asked for, binary; the other outputs are not sent
    data = batch(3)
    result = client.infer("mixed", _inputs(data, True), outputs=[triton.InferRequestedOutput("n")])
    assert [t["name"] for t in result.get_response()["outputs"]] == ["n"]
    np.testing.assert_array_equal(result.as_numpy("n"), expected(data)["n"])
    # the contract still judges values: out of range is a 422 through the client's error
    data["f64"][0] = 1e12
    with pytest.raises(InferenceServerException) as err:
        client.infer("mixed", _inputs(data, True))
    assert err.value.status() == "422" and err.value.message().startswith("SchemaViolation: 'f64' = ")
    client.close()


def _raised(call) -> InferenceServerException:
    with pytest.raises(InferenceServerException) as err:
        call()
    return err.value


def test_triton_http_client_shows_the_message_of_every_v2_error(mixed):
    """OIP V2 errors are ``{"error": "<message>"}``: Triton's client shows the message (it read only the type
    when the body was trilho's ``{"error": <Type>, "message": ...}``), on every V2 path and status."""
    client = triton.InferenceServerClient(mixed.url.removeprefix("http://"))
    data = batch(3)

    def post(body: bytes, headers: dict[str, str]) -> None:  # the client's own request and error handling
        from tritonclient.http._utils import _raise_if_error

        _raise_if_error(client._post("v2/models/mixed/infer", body, headers, None))

    short = {**data, "f64": data["f64"][:2]}
    as_float = _inputs(data, True)
    as_float[2] = triton.InferInput("i64", [3], "FP64")
    as_float[2].set_data_from_numpy(data["i64"].astype(np.float64))
    header = json.dumps({"inputs": [{"name": "x", "shape": [1], "datatype": "FP64"}]}).encode()
    sized = {"name": "f64", "shape": [2], "datatype": "FP64", "parameters": {"binary_data_size": 16}}
    cases = {
        "unknown model": (lambda: client.infer("nope", _inputs(data, True)), "404", "UnknownModel: ", "nope"),
        "unknown model metadata": (
            lambda: client.get_model_metadata("nope"),
            "404",
            "UnknownModel: ",
            "nope",
        ),
        "bad JSON": (lambda: post(b"{nope", {}), "400", "BadRequest: ", "not valid JSON"),
        "rows disagree": (lambda: client.infer("mixed", _inputs(short, True)), "422", "BadRequest: ", "rows"),
        "datatype refused": (lambda: client.infer("mixed", as_float), "422", "BadRequest: ", "FP64"),
        "header past the body": (
            lambda: post(header, {"Inference-Header-Content-Length": "99999"}),
            "400",
            "FramingError: ",
            "past the end",
        ),
        "binary bytes missing": (
            lambda: post(*_binary({"inputs": [sized]}, b"\0" * 8)),
            "400",
            "FramingError: ",
            "16",
        ),
    }
    for what, (call, status, prefix, words) in cases.items():
        err = _raised(call)
        assert err.status() == status, (what, err.status(), err.message())
        assert err.message().startswith(prefix) and words in err.message(), (what, err.message())
    client.close()
    # refusals from the body limit (before the handler) and unknown V2 routes have the same shape
    with httpx.Client(base_url=mixed.url) as c:
        big = c.post(
            "/v2/models/mixed/infer", content=b" " * 5_000_000, headers={"content-type": "application/json"}
        )
        assert big.status_code == 413 and big.json()["error"].startswith("PayloadTooLarge: "), big.text
        ready = c.get("/v2/models/nope/ready")
        assert ready.status_code == 404 and ready.json()["error"].startswith("UnknownModel: "), ready.text
        route = c.get("/v2/models/mixed/nothing")
        assert route.status_code == 404 and route.json()["error"].startswith("NotFound: "), route.text
        v1 = c.post("/v1/models/nope:predict", json={"instances": [{}]})  # KServe V1 keeps trilho's shape
        assert v1.status_code == 404 and v1.json()["error"] == "UnknownModel" and v1.json()["message"]


def _binary(header: dict, tail: bytes) -> tuple[bytes, dict[str, str]]:
    text = json.dumps(header).encode()
    return text + tail, {"Inference-Header-Content-Length": str(len(text))}


def test_bad_binary_framing_is_a_4xx_json_error(mixed):
    f64 = np.arange(4, dtype="<f8").tobytes()

    def tensors(**over):
        base = {"f32": ("FP32", 4), "f64": ("FP64", 8), "i64": ("INT64", 8), "s": ("BYTES", None)}
        base.update(over)
        return [
            {
                "name": n,
                "datatype": d,
                "shape": [1],
                "parameters": {"binary_data_size": 0 if s is None else s},
            }
            for n, (d, s) in base.items()
        ]

    good_tail = np.float32(1).tobytes() + f64[:8] + np.int64(2).tobytes()
    bs = b"\x01\x00\x00\x00a"
    good = tensors(s=("BYTES", len(bs)))
    cases = {
        "header past the body": (
            *_binary({"inputs": good}, b"")[:1],
            {"Inference-Header-Content-Length": "99999"},
        ),
        "truncated tensor": _binary({"inputs": good}, good_tail + bs[:-1]),
        "sizes past the body": _binary(
            {"inputs": tensors(f64=("FP64", 800), s=("BYTES", 5))}, good_tail + bs
        ),
        "wrong byte count": _binary(
            {"inputs": tensors(f64=("FP64", 5), s=("BYTES", 5))}, good_tail[:-3] + bs
        ),
        "dtype the contract refuses": _binary(
            {"inputs": tensors(i64=("FP64", 8), s=("BYTES", 5))}, good_tail + bs
        ),
        "bytes for a number": _binary({"inputs": tensors(f64=("BYTES", 8), s=("BYTES", 5))}, good_tail + bs),
        "header not a number": (b"{}", {"Inference-Header-Content-Length": "x"}),
        "not json header": _binary({"inputs": good}, good_tail + bs)[:1]
        + ({"Inference-Header-Content-Length": "3"},),
    }
    with httpx.Client(base_url=mixed.url) as c:
        body, headers = _binary({"inputs": good}, good_tail + bs)
        ok = c.post("/v2/models/mixed/infer", content=body, headers=headers)
        assert ok.status_code == 200, ok.text
        assert {t["name"]: t["data"] for t in ok.json()["outputs"]}["label"] == ["A"]
        for what, (body, headers) in cases.items():
            for ctype in ("application/octet-stream", None):
                h = {**headers, **({"content-type": ctype} if ctype else {})}
                r = c.post("/v2/models/mixed/infer", content=body, headers=h)
                assert 400 <= r.status_code < 500, (what, r.status_code, r.text)
                assert r.headers["content-type"] == "application/json" and r.json()["error"], what
        # octet-stream without the framing header is not the protocol: 415
        r = c.post(
            "/v2/models/mixed/infer", content=b"\x00", headers={"content-type": "application/octet-stream"}
        )
        assert r.status_code == 415


def test_kserve_v1_list_style_instances_and_model_list(mixed):
    with httpx.Client(base_url=mixed.url) as c:
        assert c.get("/v1/models").json() == {"models": ["mixed"]}
        assert c.get("/v1/models/mixed").json() == {"name": "mixed", "ready": True}
        # KServe V1 tensor-style rows: values in the contract's input order
        r = c.post(
            "/v1/models/mixed:predict",
            json={"instances": [[1.0, 2.0, 3, "a"], {"f32": 1.0, "f64": 2.0, "i64": 3, "s": "b"}]},
        )
        assert r.status_code == 200, r.text
        assert [p["label"] for p in r.json()["predictions"]] == ["A", "B"] and r.json()["predictions"][0][
            "y"
        ] == 6.0
        r = c.post("/v1/models/mixed:predict", json={"instances": [[1.0, 2.0]]})
        assert r.status_code == 422 and r.json()["field"] == "instances[0]"
        assert "f32, f64, i64, s" in r.json()["message"]
        doc = c.get("/openapi.json").json()
        assert "/v1/models" in doc["paths"]
        v2 = doc["paths"]["/v2/models/mixed/infer"]["post"]  # its contract's tensors, one row each
        assert [t["properties"]["name"]["const"] for t in v2["requestBody"]["content"]["application/json"]
                ["schema"]["properties"]["inputs"]["prefixItems"]] == ["f32", "f64", "i64", "s"]  # fmt: skip
        assert v2["x-trilho-binary-tensor-data"]["headerLength"] == "Inference-Header-Content-Length"
        assert "application/octet-stream" in v2["responses"]["200"]["content"]
