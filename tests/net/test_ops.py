"""Every trilho server answers /healthz and /metrics, without a token and without a body."""

from __future__ import annotations

import httpx


def test_every_server_has_healthz_and_metrics(server):
    health = httpx.get(server.url + "/healthz")
    assert health.status_code == 200 and health.json() == {"status": "ok"}, (server.name, health.text)
    metrics = httpx.get(server.url + "/metrics")
    assert metrics.status_code == 200 and metrics.headers["content-type"].startswith("text/plain")
    assert "# TYPE " in metrics.text, server.name
