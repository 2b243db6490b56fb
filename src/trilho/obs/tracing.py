"""OpenTelemetry tracing set up from the environment: ``TRILHO_TRACING=none|console|otlp``.

``otlp`` exports over HTTP to ``OTEL_EXPORTER_OTLP_ENDPOINT`` (the standard OTel variable).
"""

from __future__ import annotations

import os
from collections.abc import Mapping

from opentelemetry import trace
from opentelemetry.context import Context
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, ConsoleSpanExporter, SimpleSpanProcessor
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

from trilho.errors import ConfigError

_MODES = ("none", "console", "otlp")
_PROPAGATOR = TraceContextTextMapPropagator()
_provider: TracerProvider | None = None
_exporting = False  # True once a span processor is installed


def configure_tracing(mode: str | None = None, service_name: str = "trilho", exporter=None) -> TracerProvider:
    """Install a tracer provider once; ``exporter`` (e.g. an in-memory one) wins over ``mode`` in tests."""
    global _provider, _exporting
    mode = (mode or os.environ.get("TRILHO_TRACING") or "none").lower()
    if mode not in _MODES:
        raise ConfigError(
            f"TRILHO_TRACING={mode!r} is not a tracing mode",
            fix=f"use one of {', '.join(_MODES)}",
            field="TRILHO_TRACING",
            value=mode,
        )
    if _provider is None:
        _provider = TracerProvider(resource=Resource.create({"service.name": service_name}))
        trace.set_tracer_provider(_provider)
    if exporter is not None:
        _provider.add_span_processor(SimpleSpanProcessor(exporter))
        _exporting = True
    elif mode == "console":
        _provider.add_span_processor(SimpleSpanProcessor(ConsoleSpanExporter()))
        _exporting = True
    elif mode == "otlp":
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

        _provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
        _exporting = True
    return _provider


def get_tracer(name: str) -> trace.Tracer:
    """A tracer for a component; spans are no-ops until ``configure_tracing`` installs a provider."""
    return trace.get_tracer(name)


def tracing_enabled() -> bool:
    """Whether spans go anywhere (a processor is installed): hot paths skip span bookkeeping otherwise."""
    return _exporting


def parent_context(headers: Mapping[bytes, bytes]) -> Context | None:
    """The caller's trace context from W3C ``traceparent``/``tracestate`` request headers (raw ASGI header
    names, lower case), so a request's span joins the trace the client started; ``None`` when the request
    carries no ``traceparent`` (a new trace starts). A malformed one is ignored, as the W3C spec asks."""
    traceparent = headers.get(b"traceparent")
    if not traceparent:
        return None
    carrier = {"traceparent": traceparent.decode("latin-1")}
    if state := headers.get(b"tracestate"):
        carrier["tracestate"] = state.decode("latin-1")
    return _PROPAGATOR.extract(carrier)
