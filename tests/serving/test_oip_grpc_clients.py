"""OIP V2 over gRPC as Triton's own client speaks it (tritonclient[grpc], default settings: raw tensor
contents), over the same gateway as HTTP: routing, sticky units, shadows and metrics are shared."""

from __future__ import annotations

import time

import grpc
import httpx
import numpy as np
import pytest
import tritonclient.grpc as triton
from tests.serving.oip_fixtures import batch, expected, start_mixed
from tritonclient.utils import InferenceServerException

from trilho.net import free_port
from trilho.serving.proto import open_inference_grpc_pb2 as pb
from trilho.serving.proto import open_inference_grpc_pb2_grpc as pb_grpc

DTYPES = {"f32": "FP32", "f64": "FP64", "i64": "INT64", "s": "BYTES"}


@pytest.fixture
def mixed(start_gateway):
    return start_mixed(start_gateway, grpc_port=0, max_body_bytes=4_194_304)


def _inputs(data: dict[str, np.ndarray]) -> list[triton.InferInput]:
    out = []
    for name, array in data.items():
        tensor = triton.InferInput(name, list(array.shape), DTYPES[name])
        tensor.set_data_from_numpy(array)
        out.append(tensor)
    return out


@pytest.mark.parametrize("rows", [1, 1000])
def test_triton_grpc_client_infers(mixed, rows):
    client = triton.InferenceServerClient(mixed.grpc_target)
    data = batch(rows, seed=rows)
    result = client.infer("mixed", _inputs(data), request_id=f"g-{rows}")
    response = result.get_response()
    assert response.id == f"g-{rows}" and response.model_name == "mixed" and response.model_version == "1"
    assert {t.name: t.datatype for t in response.outputs} == {
        "y": "FP64",
        "half": "FP32",
        "n": "INT64",
        "label": "BYTES",
    }
    want = expected(data)
    np.testing.assert_allclose(result.as_numpy("y"), want["y"], rtol=1e-12)
    np.testing.assert_array_equal(result.as_numpy("half"), want["half"])
    np.testing.assert_array_equal(result.as_numpy("n"), want["n"])
    assert list(result.as_numpy("label")) == list(want["label"])
    # one output asked for: only it comes back
    result = client.infer("mixed", _inputs(data), outputs=[triton.InferRequestedOutput("n")])
    assert [t.name for t in result.get_response().outputs] == ["n"]
    client.close()


def test_triton_grpc_client_metadata_health_and_errors(mixed):
    client = triton.InferenceServerClient(mixed.grpc_target)
    assert client.is_server_live() and client.is_server_ready() and client.is_model_ready("mixed")
    assert client.get_server_metadata().name == "trilho"
    meta = client.get_model_metadata("mixed")
    assert {t.name: t.datatype for t in meta.inputs} == DTYPES and list(meta.versions) == ["1"]
    assert all(list(t.shape) == [-1] for t in meta.outputs)
    with pytest.raises(InferenceServerException) as err:
        client.get_model_metadata("nope")
    assert err.value.status() == "StatusCode.NOT_FOUND"
    data = batch(2)
    data["f64"][1] = 1e12  # outside the contract's range: the contract judges gRPC tensors too
    with pytest.raises(InferenceServerException) as err:
        client.infer("mixed", _inputs(data))
    assert err.value.status() == "StatusCode.INVALID_ARGUMENT" and "f64" in err.value.message()
    wrong = triton.InferInput("i64", [2], "FP64")  # a datatype the int64 field refuses
    wrong.set_data_from_numpy(np.zeros(2))
    inputs = [t for t in _inputs(batch(2)) if t.name() != "i64"] + [wrong]
    with pytest.raises(InferenceServerException) as err:
        client.infer("mixed", inputs)
    assert err.value.status() == "StatusCode.INVALID_ARGUMENT" and "i64" in err.value.message()
    client.close()


def test_typed_contents_and_bad_raw_framing(mixed):
    with grpc.insecure_channel(mixed.grpc_target) as channel:
        stub = pb_grpc.GRPCInferenceServiceStub(channel)
        request = pb.ModelInferRequest(model_name="mixed", id="typed")
        for name, dtype, field, values in [
            ("f32", "FP32", "fp32_contents", [1.5]),
            ("f64", "FP64", "fp64_contents", [2.0]),
            ("i64", "INT64", "int64_contents", [3]),
            ("s", "BYTES", "bytes_contents", [b"ab"]),
        ]:
            t = request.inputs.add(name=name, datatype=dtype, shape=[1])
            getattr(t.contents, field).extend(values)
        request.parameters["trilho_unit"].string_param = "user-1"
        response = stub.ModelInfer(request)
        assert response.id == "typed" and len(response.raw_output_contents) == 4
        by_name = dict(zip([o.name for o in response.outputs], response.raw_output_contents, strict=True))
        assert np.frombuffer(by_name["y"], "<f8").tolist() == [6.5]
        with pytest.raises(grpc.RpcError) as err:  # a latency budget that is not one
            stub.ModelInfer(request, metadata=(("x-trilho-deadline-ms", "soon"),))
        assert (
            err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
            and "x-trilho-deadline-ms" in err.value.details()
        )
        assert stub.ModelInfer(request, metadata=(("x-trilho-deadline-ms", "5000"),)).id == "typed"
        bad = pb.ModelInferRequest(model_name="mixed")
        bad.inputs.add(name="f64", datatype="FP64", shape=[2])
        cases = {
            "truncated": [np.zeros(1).tobytes()],
            "too many entries": [np.zeros(2).tobytes(), b""],
        }
        for what, raw in cases.items():
            del bad.raw_input_contents[:]
            bad.raw_input_contents.extend(raw)
            with pytest.raises(grpc.RpcError) as err:
                stub.ModelInfer(bad)
            assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT, what


def test_grpc_and_http_share_routing_sticky_units_shadows_and_metrics(registered, start_gateway):
    from trilho.store import routing as rt
    from trilho.store.routing import Deployment, Route

    store, root = registered
    rt.set_deployment(
        store,
        Deployment(
            "scorer",
            routes=(Route("1", weight=0.5), Route("2", "canary", 0.5), Route("3", "shadow", 0.0)),
            shadow_fraction=1.0,
        ),
    )
    gw = start_gateway(store, root, grpc_port=0, shadow_isolation="thread")
    client = triton.InferenceServerClient(gw.grpc_target)
    x = triton.InferInput("x1", [1], "FP64")
    x.set_data_from_numpy(np.array([1.0]))
    x2 = triton.InferInput("x2", [1], "FP64")
    x2.set_data_from_numpy(np.array([2.0]))
    with httpx.Client(base_url=gw.url) as c:
        before = c.get("/metrics").text
        for unit in (f"user-{i}" for i in range(12)):
            http = c.post(
                "/v1/models/scorer:predict",
                json={"instances": [{"x1": 1.0, "x2": 2.0}]},
                headers={"X-Trilho-Unit": unit},
            )
            by_metadata = client.infer("scorer", [x, x2], headers={"x-trilho-unit": unit})
            by_parameter = client.infer("scorer", [x, x2], parameters={"trilho_unit": unit})
            versions = {by_metadata.get_response().model_version, by_parameter.get_response().model_version}
            assert versions == {http.headers["x-trilho-model-version"]}, unit
            assert by_metadata.as_numpy("y").tolist() == [4.0]
        text = triton.InferInput("x1", [1], "BYTES")  # a datatype the contract refuses: a client error
        text.set_data_from_numpy(np.array([b"1"], dtype=object))
        with pytest.raises(InferenceServerException):
            client.infer("scorer", [text, x2])
        until = time.monotonic() + 10
        while time.monotonic() < until:
            after = c.get("/metrics").text
            if (
                _total(after, "trilho_serving_shadow_compared_total")
                - _total(before, "trilho_serving_shadow_compared_total")
                >= 36
            ):
                break
            time.sleep(0.05)

    # 12 requests over HTTP and 24 over gRPC, counted by the same counters (one family, the transport
    # a label), and every one mirrored
    def delta(name: str, *labels: str) -> float:
        return _total(after, name, *labels) - _total(before, name, *labels)

    assert delta("trilho_serving_requests_total", 'code="200"') == 36
    assert delta("trilho_serving_requests_total", 'code="200"', 'transport="http"') == 12
    assert delta("trilho_serving_requests_total", 'code="200"', 'transport="grpc"') == 24
    assert delta("trilho_serving_requests_total", 'code="422"', 'transport="grpc"') == 1
    assert delta("trilho_serving_requests_total", 'code="422"', 'transport="http"') == 0
    assert delta("trilho_serving_request_duration_seconds_count", 'transport="http"') == 12
    assert delta("trilho_serving_request_duration_seconds_count", 'transport="grpc"') == 24
    compared = _total(after, "trilho_serving_shadow_compared_total")
    assert compared - _total(before, "trilho_serving_shadow_compared_total") >= 36
    client.close()


def _total(metrics: str, name: str, *labels: str) -> float:
    """The sum of ``name``'s samples for model scorer (with every one of ``labels``)."""
    total = 0.0
    for line in metrics.splitlines():
        if line.startswith(name + "{") and 'model="scorer"' in line and all(x in line for x in labels):
            total += float(line.rsplit(" ", 1)[1])
    return total


@pytest.mark.slow
def test_trilho_serve_grpc_port(tmp_path):
    from tests.serving.conftest import serve_process, serving_home

    home = serving_home(tmp_path)
    port = free_port()
    with serve_process(home, "--grpc-port", str(port)):
        client = triton.InferenceServerClient(f"127.0.0.1:{port}")
        assert client.is_model_ready("scorer")
        x = triton.InferInput("x1", [3], "FP64")
        x.set_data_from_numpy(np.array([1.0, 2.0, 3.0]))
        x2 = triton.InferInput("x2", [3], "FP64")
        x2.set_data_from_numpy(np.array([0.0, 1.0, 2.0]))
        assert client.infer("scorer", [x, x2]).as_numpy("y").tolist() == [2.0, 5.0, 8.0]
        client.close()


def test_a_record_the_model_fails_on_is_invalid_argument_naming_it_not_unavailable(registered, start_gateway):
    from trilho.store import routing as rt
    from trilho.store.routing import Deployment, Route

    store, root = registered
    rt.set_deployment(store, Deployment("scorer", routes=(Route("4"),)))  # v4 raises on x1 == 666
    gw = start_gateway(store, root, grpc_port=0)
    client = triton.InferenceServerClient(gw.grpc_target)
    x1, x2 = triton.InferInput("x1", [2], "FP64"), triton.InferInput("x2", [2], "FP64")
    x1.set_data_from_numpy(np.array([1.0, 666.0]))
    x2.set_data_from_numpy(np.array([2.0, 1.0]))
    with pytest.raises(InferenceServerException) as err:
        client.infer("scorer", [x1, x2])
    assert err.value.status() == "StatusCode.INVALID_ARGUMENT"
    assert "record 1 of this request" in err.value.message() and "RuntimeError: boom" in err.value.message()
    x1.set_data_from_numpy(np.array([1.0, 3.0]))
    assert client.infer("scorer", [x1, x2]).as_numpy("y").tolist() == [4.0, 7.0]
    client.close()
