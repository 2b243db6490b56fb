"""The predict hot path is plain ASGI in front of Starlette: which paths it takes, that the Starlette routes
behind it answer the same, and the shadow queue between live requests and shadow workers."""

from __future__ import annotations

import asyncio
import threading
import time

import httpx
import pytest
from hypothesis import given
from hypothesis import strategies as st

from trilho.serving import StaticProvider
from trilho.serving.app import predict_route
from trilho.serving.shadow_pump import ShadowPump
from trilho.store.routing import Deployment, Route


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("/v1/models/iris:predict", ("iris", "v1")),
        ("/v2/models/iris/infer", ("iris", "v2")),
        ("/v1/models/:predict", None),
        ("/v1/models/a/b:predict", None),
        ("/v1/models/a:b:predict", None),
        ("/v2/models/a/b/infer", None),
        ("/v2/models//infer", None),
        ("/v1/models/iris", None),
        ("/healthz", None),
    ],
)
def test_predict_route_matches_only_predict_endpoints(path, expected):
    assert predict_route(path) == expected


@given(st.text(alphabet=st.characters(blacklist_characters="/:", blacklist_categories=("Cs",)), min_size=1))
def test_predict_route_round_trips_any_model_name(name):
    assert predict_route(f"/v1/models/{name}:predict") == (name, "v1")
    assert predict_route(f"/v2/models/{name}/infer") == (name, "v2")


def test_fast_path_and_starlette_fallback_answer_alike(start_gateway):
    dep = Deployment("m", routes=(Route("1"),))
    gw = start_gateway(
        provider=StaticProvider({"m@1": lambda rs: [{"y": r["x"] * 2} for r in rs]}), deployments=[dep]
    )
    ok = httpx.post(f"{gw.url}/v1/models/m:predict", json={"instances": [{"x": 2}]})
    assert ok.status_code == 200 and ok.json() == {"predictions": [{"y": 4}]}
    assert ok.headers["content-type"] == "application/json" and ok.headers["x-trilho-model-version"] == "1"
    # a GET on a predict path is not the fast path: Starlette says the method is wrong
    assert httpx.get(f"{gw.url}/v1/models/m:predict").status_code == 405
    # an empty name is not a model path at all
    assert httpx.post(f"{gw.url}/v1/models/:predict", json={}).status_code == 404
    # errors on the fast path keep their JSON bodies and the request id
    bad = httpx.post(
        f"{gw.url}/v1/models/m:predict",
        content=b"{nope",
        headers={"content-type": "application/json", "x-request-id": "r-9"},
    )
    assert bad.status_code == 400 and bad.json()["error"] == "MalformedJSON"
    assert bad.headers["x-request-id"] == "r-9"
    # a body sent in several chunks is read whole
    chunks = [b'{"instances": [', b'{"x": 3}', b"]}"]
    streamed = httpx.post(
        f"{gw.url}/v2/models/m/infer",
        content=iter(chunks),
        headers={"content-type": "application/json"},
    )
    assert streamed.status_code == 422  # V1 body on the V2 path: the missing field is named, no crash
    assert streamed.json()["type"] == "BadRequest" and "inputs" in streamed.json()["error"]
    v1 = httpx.post(
        f"{gw.url}/v1/models/m:predict", content=iter(chunks), headers={"content-type": "application/json"}
    )
    assert v1.status_code == 200 and v1.json() == {"predictions": [{"y": 6}]}


def test_the_shadow_pump_is_a_bounded_fifo_drained_in_chunks_by_its_own_thread():
    seen: list[tuple[str, list[int]]] = []
    gate = threading.Event()

    def handle(chunk: list[int]) -> None:
        gate.wait(5)
        seen.append((threading.current_thread().name, chunk))
        if 99 in chunk:
            raise ValueError("a bad chunk")

    pump: ShadowPump[int] = ShadowPump(handle, maxsize=5, linger_s=0.0, chunk=2, name="pump-test")
    pump.start()
    try:
        assert pump.put(99)  # wakes the thread, which then waits in handle
        deadline = time.monotonic() + 5
        while len(pump) and time.monotonic() < deadline:
            time.sleep(0.005)
        assert [pump.put(i) for i in range(7)] == [True] * 5 + [False, False]  # full: dropped, never blocks
        gate.set()
        while sum(len(c) for _, c in seen) < 6 and time.monotonic() < deadline:
            time.sleep(0.005)
    finally:
        pump.stop()
    assert [c for _, c in seen] == [[99], [0, 1], [2, 3], [4]]  # FIFO, chunks of 2, alive after an error
    assert {name for name, _ in seen} == {"pump-test"}


def test_predict_posts_take_the_fast_path_and_everything_else_goes_to_starlette():
    from trilho.serving.app import GatewayASGI

    class Recorder:
        def __init__(self):
            self.calls = []
            self.state = object()

        async def __call__(self, scope, receive, send):
            self.calls.append((scope["method"], scope["path"]))

    class Handlers:
        def __init__(self):
            self.calls = []

        async def predict(self, scope, receive, send, name, protocol):
            self.calls.append((name, protocol))

    starlette, handlers = Recorder(), Handlers()
    app = GatewayASGI(starlette, handlers)

    async def hit(method, path):
        await app({"type": "http", "method": method, "path": path}, None, None)

    async def scenario():
        await hit("POST", "/v1/models/iris:predict")
        await hit("POST", "/v2/models/iris/infer")
        await hit("GET", "/v1/models/iris:predict")
        await hit("POST", "/v1/models/a/b:predict")
        await hit("GET", "/metrics")

    asyncio.run(scenario())
    assert handlers.calls == [("iris", "v1"), ("iris", "v2")]
    assert starlette.calls == [
        ("GET", "/v1/models/iris:predict"),
        ("POST", "/v1/models/a/b:predict"),
        ("GET", "/metrics"),
    ]
