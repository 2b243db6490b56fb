"""Run an ASGI app on 127.0.0.1 in a background thread (for tests, benchmarks, the demo and local serving):
:func:`trilho.net.server.serve_in_thread`, under the same request limits as every trilho server."""

from __future__ import annotations

from trilho.net.server import serve_in_thread

__all__ = ["serve_in_thread"]
