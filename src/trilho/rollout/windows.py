"""Reading the gateways' windowed aggregates from the store into
:class:`~trilho.rollout.analysis.VersionWindow`.

Canary: the baseline's and the candidate's live windows, latency per request end to end. Shadow: the
baseline's live windows against the candidate's shadow-call windows (one comparator's pairs; the shadow's
requests are its records, each compared or failed — a record it failed on is one error). A shadow has no
end-to-end latency — nobody waits for it — so in a shadow step both arms' latency is model time per record:
the baseline's micro-batches and the shadow's calls, each call of ``n`` records ``n`` observations of its
time over ``n`` (``serving.aggregates``; docs/decisions.md "Shadow latency is model time per record").
:func:`with_online` adds each arm's online evaluation summary (guardrail violations, judge score) that the
gateway's evaluator flushed to the store."""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from trilho.obs.histograms import merge
from trilho.rollout.analysis import VersionWindow
from trilho.store.routing import read_shadow_windows, read_windows


@dataclass(frozen=True)
class StepData:
    """Both arms of one step's window, and the newest window end seen (None when nothing arrived)."""

    base: VersionWindow
    cand: VersionWindow
    newest: datetime | None


def _merged(docs: list[dict[str, Any]]) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """Summed latency histogram as (bounds ending in +inf, counts); empty when the windows' bounds differ."""
    merged = merge(docs)
    if merged is None or not merged["bounds"]:
        return (), ()
    return (*merged["bounds"], math.inf), tuple(merged["counts"])


def _newest(rows: list[dict[str, Any]], current: datetime | None) -> datetime | None:
    for r in rows:
        end = r["window_end"]
        if end.tzinfo is None:
            from datetime import UTC

            end = end.replace(tzinfo=UTC)
        current = end if current is None or end > current else current
    return current


def _live(rows: list[dict[str, Any]], version: str, *, model_time: bool = False) -> VersionWindow:
    """The version's live windows; its latency per request end to end, or with ``model_time`` its model
    time per record (windows written before that was kept add no latency observation)."""
    docs: list[dict[str, Any]] = []
    n = e = fb = shed = 0
    lat = 0.0
    for r in rows:
        if r["version"] != version or r["variant"] == "shadow":
            continue
        n += int(r["requests"])
        e += int(r["errors"])
        fb += int(r.get("fallbacks") or 0)
        shed += int(r.get("shed") or 0)
        prefix = "model_latency" if model_time else "latency"
        if r.get(f"{prefix}_histogram"):
            lat += float(r.get(f"{prefix}_sum_s") or 0.0)
            docs.append(r[f"{prefix}_histogram"])
    bounds, counts = _merged(docs)
    seen = float(sum(counts)) if model_time else float(n)
    metrics = {"error_rate": (float(e), float(n)), "fallback_rate": (float(fb), float(n)),
               "shed_rate": (float(shed), float(n)), "latency_mean_s": (lat, seen)}  # fmt: skip
    return VersionWindow(version, n, e, bounds, counts, metrics=metrics)


def _on_bounds(w: VersionWindow, other: VersionWindow) -> VersionWindow:
    """``w`` with an empty histogram on ``other``'s buckets when it has no observation yet."""
    from dataclasses import replace

    if w.latency_bounds or not other.latency_bounds:
        return w
    return replace(w, latency_bounds=other.latency_bounds, latency_counts=(0.0,) * len(other.latency_bounds))


def read_step(
    store,
    model: str,
    baseline: str,
    candidate: str,
    *,
    since: datetime,
    shadow: bool,
    comparator: str | None = None,
) -> StepData:
    """Aggregate every window that ended after ``since`` (the step's start) for both arms."""
    rows = read_windows(store, model, since=since)
    srows = read_shadow_windows(store, model, since=since) if shadow else []
    return step_from_rows(rows, srows, baseline, candidate, shadow=shadow, comparator=comparator)


def step_from_rows(
    rows: list[dict[str, Any]],
    shadow_rows: list[dict[str, Any]],
    baseline: str,
    candidate: str,
    *,
    shadow: bool,
    comparator: str | None = None,
) -> StepData:
    """Both arms of a step from its windows (``serving_windows`` and ``serving_shadow_windows`` rows, as
    ``WindowAggregator.drain`` makes them); pure."""
    newest = _newest(rows, None)
    base = _live(rows, baseline, model_time=shadow)
    if not shadow:
        return StepData(base, _live(rows, candidate), newest)
    srows = [r for r in shadow_rows if r["shadow_version"] == candidate and r["primary_version"] == baseline]
    newest = _newest(srows, newest)
    chosen = comparator or (sorted({r["comparator"] for r in srows})[0] if srows else None)
    docs: list[dict[str, Any]] = []
    errors = pairs = agree = 0
    lat = 0.0
    for r in srows:
        if r["comparator"] != chosen:
            continue
        lat += float(r.get("shadow_latency_sum_s") or 0.0)
        errors += int(r["shadow_errors"])
        pairs += int(r["compared"])
        agree += int(r["agreed"])
        if r["shadow_latency_histogram"]:
            docs.append(r["shadow_latency_histogram"])
    bounds, counts = _merged(docs)
    timed = float(sum(counts))  # records answered by a call that answered its whole chunk
    records = max(pairs + errors, int(timed))  # records the shadow was asked for: compared or failed
    metrics = {"error_rate": (float(errors), float(records)), "latency_mean_s": (lat, timed)}
    cand = VersionWindow(candidate, records, errors, bounds, counts, pairs, agree, metrics)
    return StepData(_on_bounds(base, cand), _on_bounds(cand, base), newest)


def with_prometheus(window: VersionWindow, model: str, checks, client) -> VersionWindow:
    """``window`` with its Prometheus-sourced user metrics (NaN if a query fails → ``error``)."""
    from dataclasses import replace

    metrics = dict(window.metrics)
    for check in checks:
        src = check.prometheus
        if src is None:
            continue
        query = src.query.replace("{model}", model).replace("{version}", window.version)
        try:
            resp = client.get(
                src.url.rstrip("/") + "/api/v1/query", params={"query": query}, timeout=src.timeout
            )
            result = resp.json()["data"]["result"]
            value = float(result[0]["value"][1]) if result else math.nan
        except Exception:
            value = math.nan
        count = float(check.min_count or 1)  # one reading stands for the check's minimum sample
        metrics[check.name] = (value * count, count)
    return replace(window, metrics=metrics)


def with_online(store, model: str, data: StepData, *, since: datetime) -> StepData:
    """``data`` with both arms' online evaluation summaries since the step began
    (``trilho.evals.online_store.online_summary``)."""
    from dataclasses import replace

    from trilho.evals.online_store import online_summary

    def arm(w: VersionWindow) -> VersionWindow:
        return replace(w, online=online_summary(store, model, w.version, since=since))

    return replace(data, base=arm(data.base), cand=arm(data.cand))
