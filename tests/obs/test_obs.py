"""Metric names follow the convention, metrics render, tracing and logging configure from the environment."""

import io
import json

import pytest

from trilho.errors import ConfigError
from trilho.obs import configure_logging, configure_tracing, counter, get_logger, histogram, render_latest


def test_metric_names_are_checked():
    with pytest.raises(ValueError):
        counter("requests_total", "bad name")
    c = counter("trilho_test_events_total", "events", ["model"])
    assert counter("trilho_test_events_total", "events", ["model"]) is c
    c.labels(model="m").inc()
    histogram("trilho_test_latency_seconds", "latency", ["model"]).labels(model="m").observe(0.002)
    text = render_latest().decode()
    assert 'trilho_test_events_total{model="m"} 1.0' in text
    assert "trilho_test_latency_seconds_bucket" in text


def test_json_logs():
    buf = io.StringIO()
    configure_logging(stream=buf, json=True)
    get_logger("test").info("hello", model="m")
    line = json.loads(buf.getvalue().strip().splitlines()[-1])
    assert line["event"] == "hello" and line["component"] == "test" and line["model"] == "m"
    configure_logging()


def test_tracing_modes(monkeypatch):
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

    with pytest.raises(ConfigError):
        configure_tracing("carrier-pigeon")
    exporter = InMemorySpanExporter()
    configure_tracing("none", exporter=exporter)
    from trilho.obs import get_tracer

    with get_tracer("t").start_as_current_span("work") as span:
        span.set_attribute("model", "m")
    assert [s.name for s in exporter.get_finished_spans()] == ["work"]
