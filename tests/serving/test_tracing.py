"""Every prediction is an OpenTelemetry span carrying model, version and variant."""

from __future__ import annotations

import httpx
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from trilho.obs import configure_tracing
from trilho.serving import StaticProvider
from trilho.store.routing import Deployment, Route


def test_predictions_are_traced(start_gateway):
    exporter = InMemorySpanExporter()
    configure_tracing("none", exporter=exporter)
    dep = Deployment("m", routes=(Route("1", weight=0.0), Route("2", "canary", 1.0)))
    gw = start_gateway(provider=StaticProvider({"m@1": lambda r: r, "m@2": lambda r: r}), deployments=[dep])
    r = httpx.post(
        f"{gw.url}/v1/models/m:predict", json={"instances": [{"x": 1}]}, headers={"X-Request-Id": "req-1"}
    )
    assert r.status_code == 200
    spans = [s for s in exporter.get_finished_spans() if s.name == "trilho.serving.predict"]
    assert spans, [s.name for s in exporter.get_finished_spans()]
    attrs = dict(spans[-1].attributes)
    assert attrs["model"] == "m" and attrs["version"] == "2" and attrs["variant"] == "canary"
    assert attrs["request_id"] == "req-1"
