"""What every trilho HTTP server shares at the edge: request limits, body and header read timeouts, a bounded
JSON decoder, the same-origin (CSRF) rule, the summary of refused requests, and the uvicorn launcher that
applies them. Each server (gateway, control API, dashboard, annotation app) composes these small pieces;
``docs/security.md`` says what each one promises."""

from __future__ import annotations

import socket

from trilho.net.limits import HttpLimits


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port free on ``host`` right now (the caller binds it next)."""
    with socket.socket() as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


__all__ = ["HttpLimits", "free_port"]
