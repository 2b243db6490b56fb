"""The gateway's Prometheus metrics (``trilho_serving_*``), labelled model / version / variant; the request
metrics also by ``transport`` (``http`` or ``grpc``): one family for both ways into the one data plane."""

from __future__ import annotations

from trilho.obs import counter, gauge, histogram

MVV = ("model", "version", "variant")

#: The transports a request can arrive by (the ``transport`` label's values).
TRANSPORTS = ("http", "grpc")
REQUESTS = counter(
    "trilho_serving_requests_total",
    "Requests answered, by outcome code (HTTP status; gRPC calls by the HTTP status of the same outcome).",
    (*MVV, "code", "transport"),
)
DURATION = histogram(
    "trilho_serving_request_duration_seconds", "Request latency inside the gateway.", (*MVV, "transport")
)
BATCH_SIZE = histogram(
    "trilho_serving_batch_size_items",
    "Records per model call.",
    MVV,
    buckets=(1, 2, 4, 8, 16, 32, 64, 128, 256, 512),
)
QUEUE_WAIT = histogram("trilho_serving_queue_wait_seconds", "Time a request waited for its batch.", MVV)
MODEL_DURATION = histogram("trilho_serving_model_duration_seconds", "Model call time per batch.", MVV)
FALLBACKS = counter(
    "trilho_serving_fallbacks_total", "Requests answered by the fallback chain.", (*MVV, "reason", "source")
)
SHED = counter(
    "trilho_serving_shed_requests_total", "Requests refused with 503 (load shedding).", (*MVV, "reason")
)
CACHE = counter(
    "trilho_serving_cache_events_total", "Response cache hits, misses and evictions.", (*MVV, "event")
)
BREAKER = gauge("trilho_serving_breaker_open", "1 while the version's circuit breaker is open.", MVV)
RECORD_FAILURES = counter(
    "trilho_serving_record_failures_total",
    "Requests failed by a record the model raised on while it answered others (not breaker failures).",
    MVV,
)
SHADOW_COMPARED = counter(
    "trilho_serving_shadow_compared_total",
    "Shadow outputs compared with the primary's.",
    ("model", "version", "variant", "primary_version", "comparator", "agreed"),
)
SHADOW_AGREEMENT = gauge(
    "trilho_serving_shadow_agreement_ratio",
    "Running agreement rate of a shadow version with the primary.",
    ("model", "version", "variant", "primary_version", "comparator"),
)
SHADOW_ERRORS = counter(
    "trilho_serving_shadow_errors_total",
    "Mirrored records the shadow version failed on (raised or miscounted).",
    MVV,
)
SHADOW_DROPPED = counter(
    "trilho_serving_shadow_dropped_total", "Shadow copies dropped (queue full).", ("model",)
)
SHADOW_DURATION = histogram("trilho_serving_shadow_duration_seconds", "Shadow call latency.", MVV)
STORE_UP = gauge(
    "trilho_serving_store_up",
    "1 when the store answered the last routing poll and took the last window write (0 if either failed).",
)
WINDOW_WRITE_FAILURES = counter(
    "trilho_serving_window_write_failures_total", "Window writes the store refused (kept and retried)."
)
TABLE_GENERATION = gauge("trilho_serving_routing_generation", "Generation of the routing table in use.")
TABLE_AGE = gauge(
    "trilho_serving_routing_last_sync_timestamp_seconds",
    "Unix time of the last successful routing-table poll.",
)
READY = gauge("trilho_serving_version_ready", "1 once the version's warm-up call passed.", MVV)
SLO_EVENTS = counter(
    "trilho_serving_slo_events_total",
    "Requests counted against the model's SLO, good or bad.",
    ("model", "outcome"),
)
SLO_BURN = gauge(
    "trilho_serving_slo_burn_rate",
    "Error-budget burn rate over a look-back window (1 spends the budget exactly; 0 without requests).",
    ("model", "window"),
)
SLO_ALERT = gauge(
    "trilho_serving_slo_alert_firing",
    "1 while a multiwindow burn-rate alert fires (both its long and short window burn too fast).",
    ("model", "window", "severity"),
)
SLO_OBJECTIVE = gauge(
    "trilho_serving_slo_objective_ratio", "The SLO's target share of good requests.", ("model",)
)
SLO_THRESHOLD = gauge(
    "trilho_serving_slo_threshold_seconds", "The SLO's latency threshold for a good request.", ("model",)
)
