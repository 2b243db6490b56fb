"""Observability for measurement runs: a counter, a duration histogram, a span and a log line each."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager

from trilho.obs import counter, get_logger, get_tracer, histogram

ANALYSES = counter(
    "trilho_measure_analyses_total", "Measurement analyses run, by kind and outcome.", ["kind", "outcome"]
)
DURATION = histogram(
    "trilho_measure_analysis_duration_seconds",
    "Wall time of one measurement analysis.",
    ["kind"],
    buckets=(0.01, 0.05, 0.1, 0.5, 1, 5, 10, 30, 60, 300),
)
tracer = get_tracer("trilho.measure")
log = get_logger("trilho.measure")


@contextmanager
def observed(kind: str, **fields: object) -> Iterator[None]:
    """Time, trace, count and log one analysis of ``kind`` (``ab``, ``geo`` …)."""
    start = time.perf_counter()
    with tracer.start_as_current_span(f"measure.{kind}") as span:
        for k, v in fields.items():
            span.set_attribute(f"measure.{k}", str(v))
        try:
            yield
        except Exception as exc:
            ANALYSES.labels(kind=kind, outcome="error").inc()
            log.debug("measure.analysis_failed", kind=kind, error=type(exc).__name__, **fields)
            raise
        finally:
            DURATION.labels(kind=kind).observe(time.perf_counter() - start)
    ANALYSES.labels(kind=kind, outcome="ok").inc()
    log.debug("measure.analysis_done", kind=kind, seconds=round(time.perf_counter() - start, 4), **fields)
