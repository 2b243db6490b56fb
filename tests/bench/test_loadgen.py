"""The benchmarks' open-loop load generators (C and asyncio) against a real server on loopback."""

from __future__ import annotations

import threading

import pytest
import uvicorn
from benchmarks.serving import loadgen

from trilho.net import free_port


async def _app(scope, receive, send):
    """Answers every POST with a small JSON body (with a Content-Length, as the servers measured send: the
    generators do not parse chunked bodies); a path ending in /teapot answers 418."""
    if scope["type"] != "http":
        return
    while (await receive()).get("more_body"):
        pass
    status = 418 if scope["path"].endswith("/teapot") else 200
    body = b'{"ok": true}'
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


@pytest.fixture(scope="module")
def url():
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(_app, host="127.0.0.1", port=port, log_level="error"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        threading.Event().wait(0.02)
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(10)


@pytest.fixture(params=[True, False], ids=["c", "asyncio"])
def native(request):
    """Each test runs with the C generator (skipped where it cannot be built) and the asyncio one."""
    if request.param and loadgen.native_generator() is None:
        pytest.skip("no C compiler on this machine")
    return request.param


def test_open_loop_answers_every_request_at_the_offered_rate(url, native):
    r = loadgen.run_open_loop(url, "/p", b'{"x": 1}', 400, 1.0, conns=8, warmup_s=0.2, native=native)
    assert r["unanswered_pct"] == 0 and r["non_2xx"] == 0
    assert 350 <= r["achieved_rps"] <= 450
    assert 0 < r["p50_ms"] <= r["p99_ms"] <= r["p999_ms"] < 1000


def test_open_loop_counts_non_2xx_answers(url, native):
    r = loadgen.run_open_loop(url, "/teapot", b"{}", 200, 0.5, conns=4, warmup_s=0.1, native=native)
    assert r["non_2xx"] == 100 and r["unanswered_pct"] == 0
