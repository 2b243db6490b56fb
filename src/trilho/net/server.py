"""Running an ASGI app with uvicorn under :class:`HttpLimits`: a connection that has not finished a request's
headers ``header_timeout_s`` after it opened (or after its previous response) is answered 408 and closed, idle
keep-alive connections close after ``keep_alive_s``, and headers are bounded in size. Every trilho server
starts through :func:`uvicorn_config`."""

from __future__ import annotations

import asyncio
import os
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from functools import lru_cache
from typing import Any

import uvicorn
from uvicorn.protocols.http.auto import AutoHTTPProtocol

from trilho.errors import ConfigError
from trilho.net.limits import ENV_PREFIX, HttpLimits


def _headers_too_slow_response(seconds: float) -> bytes:
    body = (
        b'{"error":"RequestTimeout","message":"the request headers did not arrive within %g s",'
        b'"fix":"send the whole request promptly","rule":"headerTimeout:%gs"}' % (seconds, seconds)
    )
    head = b"HTTP/1.1 408 Request Timeout\r\ncontent-type: application/json\r\nconnection: close\r\n"
    return head + b"content-length: %d\r\n\r\n" % len(body) + body


class HeaderDeadlineProtocol(AutoHTTPProtocol):  # type: ignore[misc, valid-type]
    """uvicorn's HTTP protocol with a deadline on each request's headers (``header_timeout_s`` from the
    connection's start or its last response; bytes trickling in do not extend it). Module-level and configured
    from ``TRILHO_HTTP_HEADER_TIMEOUT_S`` so uvicorn's worker processes can import it by name
    (``trilho.net.server:HeaderDeadlineProtocol``); in-process servers use :func:`header_timeout_protocol`."""

    header_timeout_s: float = HttpLimits.from_env().header_timeout_s
    _header_timer: asyncio.TimerHandle | None = None
    _waiting_cycle: Any = None

    def connection_made(self, transport: Any) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._arm_header_timer()

    def data_received(self, data: bytes) -> None:
        super().data_received(data)
        if self._header_timer is not None and self.cycle is not self._waiting_cycle:
            self._disarm_header_timer()  # a new request's headers are complete

    def on_response_complete(self) -> None:
        super().on_response_complete()
        idle = self.cycle is None or self.cycle.response_complete
        if idle and not self.transport.is_closing():
            self._arm_header_timer()

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm_header_timer()
        super().connection_lost(exc)

    def _arm_header_timer(self) -> None:
        self._disarm_header_timer()
        self._waiting_cycle = self.cycle
        self._header_timer = self.loop.call_later(self.header_timeout_s, self._headers_too_slow)

    def _disarm_header_timer(self) -> None:
        if self._header_timer is not None:
            self._header_timer.cancel()
            self._header_timer = None

    def _headers_too_slow(self) -> None:
        self._header_timer = None
        if not self.transport.is_closing():
            self.transport.write(_headers_too_slow_response(self.header_timeout_s))
            self.transport.close()


@lru_cache(maxsize=16)
def header_timeout_protocol(seconds: float) -> type[asyncio.Protocol]:
    """:class:`HeaderDeadlineProtocol` with a deadline of ``seconds`` (for servers in this process)."""
    return type("HeaderTimeoutProtocol", (HeaderDeadlineProtocol,), {"header_timeout_s": seconds})


def uvicorn_config(app: Any, *, host: str, port: int, limits: HttpLimits, **kw: Any) -> uvicorn.Config:
    """A uvicorn config for ``app`` with the header timeout, keep-alive and header-size limits of ``limits``
    (the body limits are the app's: :class:`~trilho.net.body.BodyGuard`)."""
    options: dict[str, Any] = {"access_log": False, "log_level": "warning", **kw}
    return uvicorn.Config(app, host=host, port=port, **options, **_limit_options(limits))


def _limit_options(limits: HttpLimits) -> dict[str, Any]:
    return {
        "http": header_timeout_protocol(limits.header_timeout_s),
        "timeout_keep_alive": max(1, round(limits.keep_alive_s)),
        "h11_max_incomplete_event_size": limits.max_header_bytes,
    }


def run(app: Any, *, host: str, port: int, limits: HttpLimits, **kw: Any) -> None:
    """Serve ``app`` in the foreground until interrupted (``factory``/``workers`` pass through to uvicorn)."""
    if isinstance(app, str):  # an import string: uvicorn may start worker processes that import by name
        os.environ[ENV_PREFIX + "HEADER_TIMEOUT_S"] = repr(limits.header_timeout_s)
        options = {**kw, **_limit_options(limits), "http": f"{__name__}:HeaderDeadlineProtocol"}
        uvicorn.run(app, host=host, port=port, access_log=False, **options)
        return
    uvicorn.Server(uvicorn_config(app, host=host, port=port, limits=limits, **kw)).run()


@contextmanager
def serve_in_thread(
    app: Any, *, limits: HttpLimits | None = None, host: str = "127.0.0.1", port: int = 0, **kw: Any
) -> Iterator[str]:
    """Serve ``app`` in a background thread until the block ends; yields its base URL."""
    config = uvicorn_config(app, host=host, port=port, limits=limits or HttpLimits(), lifespan="off", **kw)
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, name="trilho-http", daemon=True)
    thread.start()
    deadline = time.monotonic() + 15
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            server.should_exit = True
            raise ConfigError(f"could not start a server on {host}:{port}", fix="pick a free port")
        time.sleep(0.02)
    bound = server.servers[0].sockets[0].getsockname()[1]
    try:
        yield f"http://{host}:{bound}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)
