"""The LLM routes' Prometheus metrics (``trilho_llm_*``), labelled model / version / variant."""

from __future__ import annotations

from trilho.obs import counter, histogram
from trilho.serving.metrics import MVV

REQUESTS = counter(
    "trilho_llm_requests_total",
    "Chat completions answered, by outcome and streaming mode.",
    (*MVV, "outcome", "stream"),
)
TTFT = histogram(
    "trilho_llm_ttft_seconds", "Time from the request to the first answer text sent to the client.", MVV
)
TOKENS = counter(
    "trilho_llm_tokens_total",
    "Tokens by kind (prompt, completion), from the upstream's usage.",
    (*MVV, "kind"),
)
COST = counter("trilho_llm_cost_usd_total", "Upstream cost from usage and the version's prices.", MVV)
RAILS = counter(
    "trilho_llm_rail_decisions_total",
    "Rail decisions by stage (input, output) and action.",
    (*MVV, "stage", "action"),
)
RETRIES = counter(
    "trilho_llm_upstream_retries_total", "Upstream calls retried (5xx, 429, connection errors).", MVV
)
FALLBACKS = counter(
    "trilho_llm_upstream_fallbacks_total",
    "Upstream targets given up for the version's next fallback, by the status that failed (before any byte).",
    (*MVV, "status"),
)
KEY_REFUSALS = counter(
    "trilho_llm_key_refusals_total",
    "Requests refused by the keys file, by key name and reason (requests, tokens, budget, key).",
    ("key", "reason"),
)
KEY_TOKENS = counter(
    "trilho_llm_key_tokens_total", "Tokens charged to each key (prompt + completion).", ("key",)
)
KEY_SPEND = counter("trilho_llm_key_spend_usd_total", "Upstream cost charged to each key.", ("key",))
CACHE = counter(
    "trilho_llm_cache_lookups_total",
    "Exact-match response cache lookups (versions with cache_ttl_s), by result (hit, miss).",
    (*MVV, "result"),
)
TOKENS_PER_SECOND = histogram(
    "trilho_llm_stream_tokens_per_second",
    "Streamed answers' completion tokens per second after the first text (from the upstream's usage).",
    MVV,
    buckets=(5, 10, 20, 50, 100, 200, 500, 1000, 2000),
)
