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


def test_an_incoming_w3c_traceparent_is_the_spans_parent(start_gateway):
    exporter = InMemorySpanExporter()
    configure_tracing("none", exporter=exporter)
    dep = Deployment("m", routes=(Route("1", weight=1.0),))
    gw = start_gateway(provider=StaticProvider({"m@1": lambda r: r}), deployments=[dep])
    trace_id, parent_id = "4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7"
    headers = {"traceparent": f"00-{trace_id}-{parent_id}-01", "X-Request-Id": "traced"}
    assert httpx.post(
        f"{gw.url}/v1/models/m:predict", json={"instances": [{"x": 1}]}, headers=headers
    ).is_success
    untraced = httpx.post(f"{gw.url}/v1/models/m:predict", json={"instances": [{"x": 1}]})
    malformed = httpx.post(
        f"{gw.url}/v1/models/m:predict", json={"instances": [{"x": 1}]}, headers={"traceparent": "garbage"}
    )
    assert untraced.is_success and malformed.is_success
    spans = {
        dict(s.attributes)["request_id"]: s
        for s in exporter.get_finished_spans()
        if s.name.endswith("predict")
    }
    joined = spans["traced"]
    assert format(joined.context.trace_id, "032x") == trace_id
    assert format(joined.parent.span_id, "016x") == parent_id and joined.parent.is_remote
    others = [s for rid, s in spans.items() if rid != "traced"]
    assert len(others) == 2 and all(s.parent is None for s in others)  # a new trace each, garbage ignored
