"""The four trilho HTTP servers, each on a real loopback socket under small limits (64 KiB bodies, 0.5 s to
send headers or a body), plus raw-socket clients that misbehave on purpose."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from urllib.parse import urlsplit

import pytest

from trilho.net import HttpLimits

LIMITS = HttpLimits(max_body_bytes=65_536, header_timeout_s=0.5, body_timeout_s=0.5, keep_alive_s=1)


@dataclass
class Server:
    """A running server: its base URL, the path of a state-changing JSON endpoint, and the headers that
    authenticate a request to it (``{}`` where the server has no auth)."""

    name: str
    url: str
    post_path: str
    auth: dict[str, str] = field(default_factory=dict)
    extra: dict[str, object] = field(default_factory=dict)

    @property
    def content_type(self) -> str:
        return str(self.extra.get("content_type", "application/json"))

    @property
    def address(self) -> tuple[str, int]:
        parts = urlsplit(self.url)
        return parts.hostname or "127.0.0.1", parts.port or 80


@contextmanager
def _gateway(tmp_path) -> Iterator[Server]:
    from trilho.serving import StaticProvider, run_in_thread
    from trilho.serving.settings import GatewaySettings
    from trilho.store.routing import Deployment, Route

    settings = GatewaySettings(
        port=0,
        max_body_bytes=LIMITS.max_body_bytes,
        http=LIMITS,
        poll_interval_s=0.1,
        window_interval_s=0.3,
        access_log_sample=0.0,
        shadow_isolation="thread",
    )
    provider = StaticProvider({"scorer@1": lambda rs: [{"y": 1.0} for _ in rs]})
    rg = run_in_thread(
        provider=provider, deployments=[Deployment("scorer", routes=(Route("1"),))], settings=settings
    )
    try:
        yield Server("gateway", rg.url, "/v1/models/scorer:predict")
    finally:
        rg.stop()


def _store(tmp_path, name: str):
    from trilho.store import Store

    store = Store(f"sqlite:///{tmp_path / f'{name}.db'}")
    store.migrate()
    return store


@contextmanager
def _control_api(tmp_path) -> Iterator[Server]:
    from trilho.clock import ManualClock
    from trilho.net.server import serve_in_thread
    from trilho.rollout.api import create_app
    from trilho.rollout.auth import create_token
    from trilho.rollout.gates import skip_gates
    from trilho.rollout.service import RolloutService
    from trilho.store.routing import Deployment, Route, set_deployment

    store = _store(tmp_path, "api")
    set_deployment(store, Deployment("scorer", routes=(Route("1"),)))
    svc = RolloutService(store, clock=ManualClock(), gates=skip_gates("net-test", "no registry here"))
    token = create_token(store, "ops", "deployer", actor="setup")
    try:
        with serve_in_thread(create_app(svc, limits=LIMITS), limits=LIMITS) as url:
            yield Server(
                "control_api",
                url,
                "/v1/rollouts/scorer/pause",
                {"Authorization": f"Bearer {token}"},
                {"store": store, "service": svc, "token": token},
            )
    finally:
        store.dispose()


@contextmanager
def _dashboard(tmp_path) -> Iterator[Server]:
    from trilho.net.server import serve_in_thread
    from trilho.registry import Registry
    from trilho.rollout.auth import create_token
    from trilho.store.routing import Deployment, Route, set_deployment
    from trilho.web import create_app

    store = _store(tmp_path, "web")
    set_deployment(store, Deployment("scorer", routes=(Route("1"),)))
    token = create_token(store, "ops", "deployer", actor="setup")
    app = create_app(
        store,
        registry=Registry(store, tmp_path / "artifacts"),
        reports_dir=tmp_path / "reports",
        limits=LIMITS,
    )
    try:
        with serve_in_thread(app, limits=LIMITS) as url:
            yield Server(
                "dashboard",
                url,
                "/ui/rollouts/scorer/kill",
                {"Cookie": f"trilho_token={token}", "Origin": url},
                {"store": store, "token": token, "content_type": "application/x-www-form-urlencoded"},
            )
    finally:
        store.dispose()


@contextmanager
def _annotate(tmp_path) -> Iterator[Server]:
    from trilho.evals.annotate_app import make_annotation_app
    from trilho.evals.annotations import AnnotationQueue
    from trilho.net.server import serve_in_thread
    from trilho.rollout.auth import authenticate, create_token

    store = _store(tmp_path, "ann")
    queue = AnnotationQueue(store, "q", labels=["good", "bad"])
    queue.seed([{"input": "hi", "output": "hello"}, {"input": "2+2", "output": "5"}])
    token = create_token(store, "alice", "annotator", actor="setup")
    app = make_annotation_app(queue, authenticate=lambda s: authenticate(store, s), limits=LIMITS)
    try:
        with serve_in_thread(app, limits=LIMITS) as url:
            yield Server(
                "annotate",
                url,
                "/api/labels",
                {"Authorization": f"Bearer {token}"},
                {"store": store, "token": token, "queue": queue},
            )
    finally:
        store.dispose()


SERVERS = {"gateway": _gateway, "control_api": _control_api, "dashboard": _dashboard, "annotate": _annotate}


@pytest.fixture(scope="module", params=sorted(SERVERS))
def server(request, tmp_path_factory) -> Iterator[Server]:
    """Each of the four servers in turn (one per module: starting them is most of the cost)."""
    with SERVERS[request.param](tmp_path_factory.mktemp(request.param)) as s:
        yield s


@pytest.fixture(scope="module")
def control_api(tmp_path_factory) -> Iterator[Server]:
    with _control_api(tmp_path_factory.mktemp("api")) as s:
        yield s


@pytest.fixture(scope="module")
def dashboard(tmp_path_factory) -> Iterator[Server]:
    with _dashboard(tmp_path_factory.mktemp("web")) as s:
        yield s


@pytest.fixture(scope="module")
def annotate(tmp_path_factory) -> Iterator[Server]:
    with _annotate(tmp_path_factory.mktemp("ann")) as s:
        yield s


def raw_request(server: Server, method: str, path: str, headers: dict[str, str], body: bytes = b"") -> bytes:
    """The request bytes for ``server`` (Host set, Content-Length from ``body`` unless given)."""
    host, port = server.address
    all_headers = {"Host": f"{host}:{port}", **headers}
    if body and "Content-Length" not in all_headers:
        all_headers["Content-Length"] = str(len(body))
    head = f"{method} {path} HTTP/1.1\r\n" + "".join(f"{k}: {v}\r\n" for k, v in all_headers.items())
    return head.encode("latin-1") + b"\r\n" + body


def read_response(sock: socket.socket) -> tuple[int, bytes]:
    """(status, everything the server sent until it closed or 5 s of silence)."""
    sock.settimeout(5)
    data = b""
    try:
        while chunk := sock.recv(65536):
            data += chunk
    except (TimeoutError, ConnectionResetError):
        pass
    status = int(data.split(b" ", 2)[1]) if data.startswith(b"HTTP/1.1 ") else 0
    return status, data
