"""The error a server's edge raises for a request it refuses (too large, too slow, too deep, cross-site): an
HTTP status and a JSON body naming the field, the rule and the fix."""

from __future__ import annotations

from typing import Any

import msgspec

from trilho.errors import InputError

_encode = msgspec.json.Encoder().encode


class RequestRejected(InputError):
    """A request refused at the edge, with the HTTP status and error name to answer."""

    def __init__(self, status: int, error: str, message: str, *, fix: str | None = None, **fields: Any):
        super().__init__(message, fix=fix, **fields)
        self.status = status
        self.error = error

    def to_dict(self) -> dict[str, Any]:
        """The JSON body: ``error`` is the HTTP-level name (``PayloadTooLarge``, ``NestingTooDeep`` …)."""
        return {**super().to_dict(), "error": self.error}

    def body(self) -> bytes:
        """The encoded JSON body."""
        return _encode(self.to_dict())


async def send_rejection(
    send: Any, exc: RequestRejected, *, close: bool = True, body: dict[str, Any] | None = None
) -> None:
    """Answer ``exc`` as JSON on a raw ASGI ``send`` (``body``: in place of its own, e.g. in a protocol's
    error shape); ``close`` asks the server to drop the connection (its request body may be unread)."""
    payload = exc.body() if body is None else _encode(body)
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(payload)).encode())]
    if close:
        headers.append((b"connection", b"close"))
    await send({"type": "http.response.start", "status": exc.status, "headers": headers})
    await send({"type": "http.response.body", "body": payload})
