"""Observability by default: Prometheus metrics, OpenTelemetry tracing and structured JSON logs.

Imports nothing else of trilho's, so every package can use it from day one.
"""

from trilho.obs.logging import configure_logging, get_logger
from trilho.obs.metrics import REGISTRY, counter, gauge, histogram, metric_name, render_latest
from trilho.obs.tracing import configure_tracing, get_tracer

__all__ = [
    "REGISTRY",
    "configure_logging",
    "configure_tracing",
    "counter",
    "gauge",
    "get_logger",
    "get_tracer",
    "histogram",
    "metric_name",
    "render_latest",
]
