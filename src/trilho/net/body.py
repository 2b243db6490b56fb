"""ASGI middleware that bounds what reading a request body may cost: a declared body over the limit is refused
(413) before a byte of it is read, a streamed one as soon as it passes the limit, and a body that does not
arrive within the time limit gets 408. The refusal is answered by the middleware itself with
``Connection: close``; the app underneath sees the client disconnect and gives up. Any response sent before
its request's body was read (a refusal from headers alone: no token, wrong origin) also closes the connection,
so the server never reads that body afterwards."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from typing import Any

from trilho.net.errors import RequestRejected, send_rejection
from trilho.net.limits import HttpLimits
from trilho.obs import get_logger

log = get_logger("trilho.net")
Refused = Callable[[dict[str, Any], RequestRejected], None]
Shaped = Callable[[dict[str, Any], RequestRejected], "dict[str, Any] | None"]


def too_large(limit: int, size: int | None = None) -> RequestRejected:
    """The 413 for a body over ``limit`` bytes (``size``: the declared length, when known)."""
    said = f"body of {size} bytes" if size is not None else "body"
    return RequestRejected(
        413,
        "PayloadTooLarge",
        f"{said} exceeds the {limit}-byte limit",
        fix="send a smaller body (fewer records per request)",
        field="body",
        value=size,
        rule=f"maxBytes:{limit}",
    )


def declared_length(headers: list[tuple[bytes, bytes]]) -> int | None:
    """The Content-Length a request declares (None when absent); 400 when it is not a number."""
    for name, value in headers:
        if name == b"content-length":
            try:
                length = int(value)
            except ValueError:
                length = -1
            if length < 0:
                raise RequestRejected(
                    400,
                    "BadRequest",
                    "Content-Length is not a non-negative number",
                    field="content-length",
                    value=value.decode("latin-1")[:40],
                )
            return length
    return None


class BodyGuard:
    """Wraps an ASGI app with the body size and time limits of ``limits``; ``on_refused(scope, error)`` is
    told of every refusal (metrics); ``shape(scope, error)`` may return the refusal's body in the shape the
    path's protocol expects (None: the error's own)."""

    def __init__(
        self, app: Any, limits: HttpLimits, on_refused: Refused | None = None, shape: Shaped | None = None
    ) -> None:
        self.app = app
        self.limits = limits
        self.on_refused = on_refused
        self.shape = shape

    def __getattr__(self, name: str) -> Any:  # ``app.state`` and friends of the wrapped app
        return getattr(self.app, name)

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        limit = self.limits.max_body_bytes
        try:
            size = declared_length(scope["headers"])
            if size is not None and size > limit:
                raise too_large(limit, size)
        except RequestRejected as exc:
            return await self._refuse(scope, send, exc)
        has_body = bool(size) or any(name == b"transfer-encoding" for name, _ in scope["headers"])
        state = {"read": 0, "deadline": 0.0, "answered": False, "started": False, "unread": has_body}

        async def guarded_receive() -> dict[str, Any]:
            if state["answered"]:
                return {"type": "http.disconnect"}
            if not state["deadline"]:
                state["deadline"] = asyncio.get_running_loop().time() + self.limits.body_timeout_s
            try:
                async with asyncio.timeout_at(state["deadline"]):
                    message = await receive()
            except TimeoutError:
                return await self._cut(scope, send, state, _too_slow(self.limits.body_timeout_s))
            if message["type"] == "http.request":
                state["unread"] = state["unread"] and message.get("more_body", False)
                state["read"] += len(message.get("body", b""))
                if state["read"] > limit:
                    return await self._cut(scope, send, state, too_large(limit))
            return message

        async def guarded_send(message: dict[str, Any]) -> None:
            if state["answered"]:
                return  # the refusal already went out
            if message["type"] == "http.response.start":
                state["started"] = True
                if state["unread"]:  # answered before its body was read (refused): do not read it after
                    message = {**message, "headers": [*message.get("headers", ()), (b"connection", b"close")]}
            await send(message)

        try:
            await self.app(scope, guarded_receive, guarded_send)
        except Exception as exc:
            if not state["answered"]:
                raise
            log.debug("request ended after its refusal", error=f"{type(exc).__name__}: {exc}")

    async def _cut(self, scope: dict[str, Any], send: Any, state: dict[str, Any], exc: RequestRejected):
        """Answer a refusal mid-body (unless the app already started its response) and tell the app the
        client is gone."""
        if not state["started"]:
            state["answered"] = True
            await self._refuse(scope, send, exc)
        else:
            self._tell(scope, exc)
        return {"type": "http.disconnect"}

    async def _refuse(self, scope: dict[str, Any], send: Any, exc: RequestRejected) -> None:
        self._tell(scope, exc)
        with contextlib.suppress(Exception):  # the client may be gone already
            await send_rejection(send, exc, body=None if self.shape is None else self.shape(scope, exc))

    def _tell(self, scope: dict[str, Any], exc: RequestRejected) -> None:
        if self.on_refused is not None:
            self.on_refused(scope, exc)


def _too_slow(seconds: float) -> RequestRejected:
    return RequestRejected(
        408,
        "RequestTimeout",
        f"the request body did not arrive within {seconds:g} s",
        fix="send the whole body at once, promptly",
        field="body",
        rule=f"bodyTimeout:{seconds:g}s",
    )
