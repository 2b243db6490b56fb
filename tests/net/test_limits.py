"""Every server over a real socket: deep JSON, oversized and unauthenticated bodies, slow clients (issue 18,
items 1, 2 and 6)."""

from __future__ import annotations

import json
import select
import socket
import time

import httpx
import pytest

from .conftest import LIMITS, Server, raw_request, read_response


def _connect(server: Server) -> socket.socket:
    return socket.create_connection(server.address, timeout=5)


def test_deeply_nested_json_is_a_4xx_json_error(server):
    if server.name == "dashboard":
        pytest.skip("the dashboard takes forms, not JSON")
    deep = "[" * 5000 + "]" * 5000
    body = f'{{"instances": [{{"x": {deep}}}], "item_id": {deep}, "reason": {deep}}}'
    r = httpx.post(
        server.url + server.post_path,
        content=body.encode(),
        headers={**server.auth, "Content-Type": server.content_type},
        timeout=10,
    )
    assert r.status_code == 400, r.text[:300]
    assert r.json()["error"] == "NestingTooDeep" and r.json()["rule"] == f"maxDepth:{LIMITS.max_json_depth}"
    if server.name == "gateway":  # the V2 inference header too
        v2 = f'{{"inputs": [{{"name": "x", "shape": [1], "datatype": "FP64", "data": {deep}}}]}}'
        r = httpx.post(server.url + "/v2/models/scorer/infer", content=v2.encode(), timeout=10)
        assert r.status_code == 400 and r.json()["type"] == "NestingTooDeep", r.text[:300]


def test_a_declared_body_over_the_limit_is_413_before_it_is_sent(server):
    with _connect(server) as sock:
        sock.sendall(
            raw_request(server, "POST", server.post_path, {**server.auth, "Content-Length": "10000000"})
        )
        status, data = read_response(sock)  # nothing of the body was sent: the answer cannot wait for it
    assert status == 413, data[:300]
    body = json.loads(data.split(b"\r\n\r\n", 1)[1])
    assert body["error"] == "PayloadTooLarge" and body["rule"] == f"maxBytes:{LIMITS.max_body_bytes}"


def test_a_streamed_body_is_cut_at_the_limit(server):
    with _connect(server) as sock:
        head = {**server.auth, "Transfer-Encoding": "chunked", "Content-Type": server.content_type}
        sock.sendall(raw_request(server, "POST", server.post_path, head))
        chunk = b"2000\r\n" + b" " * 0x2000 + b"\r\n"
        sent = 0
        try:
            while sent < 50 * LIMITS.max_body_bytes and not select.select([sock], [], [], 0)[0]:
                sock.sendall(chunk)
                sent += 0x2000
        except (BrokenPipeError, ConnectionResetError):
            pass
        status, data = read_response(sock)
    assert status == 413, data[:300]


def _unauthenticated_flood(server: Server, path: str, headers: dict[str, str]) -> tuple[int, int]:
    """POST up to 200 MB (chunked, no token) and stop when the server answers: (status, bytes it took)."""
    total, chunk = 200 * 1024 * 1024, b"4000\r\n" + b"x" * 0x4000 + b"\r\n"
    sent = 0
    with _connect(server) as sock:
        sock.sendall(raw_request(server, "POST", path, {**headers, "Transfer-Encoding": "chunked"}))
        sock.setblocking(False)
        while sent < total:
            readable, writable, _ = select.select([sock], [sock], [], 5)
            if readable or not writable:
                break
            try:
                sent += max(0, sock.send(chunk) - 8)
            except (BlockingIOError, InterruptedError):
                continue
            except (BrokenPipeError, ConnectionResetError):
                break
        sock.setblocking(True)
        status, _ = read_response(sock)
    return status, sent


@pytest.mark.parametrize("which", ["control_api", "dashboard", "annotate"])
def test_an_unauthenticated_200_mb_post_is_refused_without_reading_the_body(which, request):
    server = request.getfixturevalue(which)
    headers = {"Origin": server.url} if which != "control_api" else {}  # past the CSRF rule
    path = {"control_api": "/v1/rollouts", "dashboard": "/ui/rollouts/scorer/kill", "annotate": "/api/labels"}
    status, sent = _unauthenticated_flood(server, path[which], headers)
    print(f"{which}: the server took {sent} bytes before answering {status}")
    assert status == 401
    # what the server took is what the kernel buffers hold, not the 200 MB (it read none of it)
    assert sent < 32 * 1024 * 1024, sent


def _drip(sock: socket.socket, data: bytes, every_s: float = 0.05) -> int:
    """Send ``data`` a byte at a time until the server closes the connection; how many bytes went."""
    for i in range(len(data)):
        if select.select([sock], [], [], 0)[0]:
            return i
        try:
            sock.sendall(data[i : i + 1])
        except (BrokenPipeError, ConnectionResetError):
            return i
        time.sleep(every_s)
    return len(data)


def test_a_client_sending_headers_a_byte_at_a_time_is_cut_off(server):
    headers = raw_request(server, "GET", "/healthz", {f"X-Slow-{i}": "x" * 20 for i in range(40)})
    with _connect(server) as sock:
        sent = _drip(sock, headers)  # 0.05 s a byte: the whole thing would take over a minute
        status, data = read_response(sock)
    assert sent < len(headers), "the server waited for every byte"
    assert status == 408 and b"headerTimeout" in data


def test_a_body_that_trickles_in_is_answered_408(server):
    head = {**server.auth, "Content-Type": server.content_type, "Content-Length": "2000"}
    with _connect(server) as sock:
        sock.sendall(raw_request(server, "POST", server.post_path, head))
        sent = _drip(sock, b" " * 2000)
        status, data = read_response(sock)
    assert sent < 2000, "the server waited for every byte"
    assert status == 408 and b"RequestTimeout" in data, data[:300]


def test_a_keep_alive_connection_gets_the_header_deadline_again_after_a_response(server):
    with _connect(server) as sock:
        sock.sendall(
            raw_request(server, "GET", "/healthz" if server.name != "dashboard" else "/ui/login", {})
        )
        first = sock.recv(65536)
        assert first.startswith(b"HTTP/1.1 "), first[:200]
        second = raw_request(server, "GET", "/healthz", {f"X-Slow-{i}": "x" * 20 for i in range(40)})
        sent = _drip(sock, second)
        _, data = read_response(sock)
    assert sent < len(second) and (data == b"" or b"408" in data.split(b"\r\n", 1)[0])
