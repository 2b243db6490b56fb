"""Prometheus metrics named ``trilho_<area>_<thing>_<unit>``, created once and shared per process.

Several worker processes (``trilho serve --workers N``) share their metrics through prometheus-client's
multiprocess mode: the parent sets ``PROMETHEUS_MULTIPROC_DIR`` before the workers start, each worker writes
its values there, and ``render_latest`` on any worker aggregates all of them (gauges per live process)."""

from __future__ import annotations

import os
import re
import threading
from collections.abc import Sequence

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST

REGISTRY = CollectorRegistry(auto_describe=True)
CONTENT_TYPE = CONTENT_TYPE_LATEST

_NAME = re.compile(r"trilho_[a-z][a-z0-9]*_[a-z0-9_]+")
_lock = threading.Lock()
_made: dict[str, object] = {}

# Latency buckets from 100 µs to 10 s: fine enough for a sub-millisecond gateway and a slow judge alike.
LATENCY_BUCKETS = (
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.0075, 0.01, 0.025, 0.05, 0.075,
    0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
)  # fmt: skip


def metric_name(area: str, thing: str, unit: str) -> str:
    """Build and check a metric name: ``metric_name("serving", "requests", "total")``."""
    name = f"trilho_{area}_{thing}_{unit}"
    if not _NAME.fullmatch(name):
        raise ValueError(f"metric name {name!r} must look like trilho_<area>_<thing>_<unit> in lowercase")
    return name


def _check(name: str) -> None:
    if not _NAME.fullmatch(name):
        raise ValueError(f"metric name {name!r} must look like trilho_<area>_<thing>_<unit> in lowercase")


def naming_problem(kind: str, name: str, doc: str) -> str | None:
    """Why a metric's name breaks Prometheus' naming conventions for its kind and meaning, or ``None``.

    Counters end in ``_total``; gauges and histograms never end in ``_total``/``_count`` (a histogram's own
    ``_count`` series would clash); a Unix time is ``*_timestamp_seconds``; ``_ratio`` is for fractions,
    not for 0/1 states (those are named for the state: ``_open``, ``_up``, ``_ready``, ``_firing``).
    """
    if kind == "counter" and not name.endswith("_total"):
        return "a counter's name ends in _total"
    if kind != "counter" and name.endswith(("_total", "_count")):
        return f"a {kind}'s name does not end in _total or _count"
    if "unix time" in doc.lower() and not name.endswith("_timestamp_seconds"):
        return "a Unix time is named *_timestamp_seconds"
    if name.endswith("_ratio") and re.match(r"1 (while|once|if|when)\b", doc):
        return "a 0/1 state is named for the state (_open, _up, _ready, _firing), not _ratio"
    return None


def _get_or_make(kind: type, name: str, doc: str, labels: Sequence[str], **kw: object):
    _check(name)
    problem = naming_problem(kind.__name__.lower(), name, doc)
    if problem:
        raise ValueError(f"metric name {name!r}: {problem} (https://prometheus.io/docs/practices/naming/)")
    with _lock:
        existing = _made.get(name)
        if existing is not None:
            if not isinstance(existing, kind):
                raise ValueError(f"metric {name!r} already exists as {type(existing).__name__}")
            return existing
        metric = kind(name, doc, labelnames=tuple(labels), registry=REGISTRY, **kw)
        _made[name] = metric
        return metric


def counter(name: str, doc: str, labels: Sequence[str] = ()) -> Counter:
    """A process-wide counter (created on first use, shared afterwards); name it ``..._total``."""
    return _get_or_make(Counter, name, doc, labels)


def gauge(name: str, doc: str, labels: Sequence[str] = ()) -> Gauge:
    """A process-wide gauge (one series per live worker process in multiprocess mode)."""
    return _get_or_make(Gauge, name, doc, labels, multiprocess_mode="liveall")


def histogram(
    name: str, doc: str, labels: Sequence[str] = (), buckets: Sequence[float] = LATENCY_BUCKETS
) -> Histogram:
    """A process-wide histogram (latency buckets by default)."""
    return _get_or_make(Histogram, name, doc, labels, buckets=tuple(buckets))


def multiprocess_dir() -> str | None:
    """The folder worker processes share their metrics through, when several serve one port."""
    return os.environ.get("PROMETHEUS_MULTIPROC_DIR") or None


def render_latest(registry: CollectorRegistry = REGISTRY) -> bytes:
    """The text exposition format for a ``/metrics`` endpoint (every worker's values in multiprocess mode)."""
    if registry is REGISTRY and multiprocess_dir() is not None:
        from prometheus_client import multiprocess

        merged = CollectorRegistry()
        multiprocess.MultiProcessCollector(merged)
        return generate_latest(merged)
    return generate_latest(registry)
