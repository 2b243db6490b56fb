"""Windowed per-version aggregates (requests, errors, fallbacks, shed, latency histogram, model time per
record) and per shadow pair (compared, agreed, score, errors, drops, model time per record), drained every few
seconds into rows for the store, where the rollout analysis reads them. Model time per record is the one
latency both arms of a shadow step measure alike: a model call of ``n`` records that took ``s`` seconds is
``n`` observations of ``s / n``, on the primary's batches and the shadow's calls alike. Pure accumulation;
writing is the gateway's job. Shadow records come from the shadow pump's thread: they and the drain's swap
hold a lock."""

from __future__ import annotations

import bisect
import threading
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from trilho.clock import Clock, SystemClock
from trilho.obs.histograms import quantile
from trilho.obs.metrics import LATENCY_BUCKETS


@dataclass
class _Hist:
    bounds: tuple[float, ...]
    counts: list[int] = field(default_factory=list)
    total: float = 0.0

    def __post_init__(self) -> None:
        self.counts = [0] * (len(self.bounds) + 1)

    def add(self, seconds: float, times: int = 1) -> None:
        self.counts[bisect.bisect_left(self.bounds, seconds)] += times
        self.total += seconds * times

    def add_call(self, seconds: float, records: int) -> None:
        """A model call that answered ``records`` records: that many observations of its time per record."""
        if records > 0:
            self.add(seconds / records, records)

    def doc(self) -> dict[str, Any]:
        return {"bounds": list(self.bounds), "counts": list(self.counts)}


@dataclass
class _VersionWindow:
    hist: _Hist
    model: _Hist
    requests: int = 0
    errors: int = 0
    fallbacks: int = 0
    shed: int = 0


@dataclass
class _ShadowWindow:
    hist: _Hist
    compared: int = 0
    agreed: int = 0
    score_sum: float = 0.0
    errors: int = 0
    dropped: int = 0


class WindowAggregator:
    """Accumulate one window; ``drain()`` returns its rows and starts the next."""

    def __init__(self, gateway: str, clock: Clock | None = None, bounds: tuple[float, ...] = LATENCY_BUCKETS):
        self.gateway = gateway
        self.clock = clock or SystemClock()
        self.bounds = tuple(bounds)
        self._start: datetime = self.clock.now()
        self._versions: dict[tuple[str, str, str], _VersionWindow] = {}
        self._shadows: dict[tuple[str, str, str, str], _ShadowWindow] = {}
        self._shadow_lock = threading.Lock()

    def _v(self, key: tuple[str, str, str]) -> _VersionWindow:
        w = self._versions.get(key)
        if w is None:
            w = self._versions[key] = _VersionWindow(_Hist(self.bounds), _Hist(self.bounds))
        return w

    def _s(self, key: tuple[str, str, str, str]) -> _ShadowWindow:
        w = self._shadows.get(key)
        if w is None:
            w = self._shadows[key] = _ShadowWindow(_Hist(self.bounds))
        return w

    def record(
        self,
        model: str,
        version: str,
        variant: str,
        seconds: float,
        *,
        error: bool = False,
        fallback: bool = False,
        shed: bool = False,
    ) -> None:
        """One answered (or shed) request attributed to the version the router chose."""
        w = self._v((model, version, variant))
        w.requests += 1
        w.errors += error
        w.fallbacks += fallback
        w.shed += shed
        w.hist.add(seconds)

    def record_batch(self, model: str, version: str, variant: str, seconds: float, records: int) -> None:
        """One model call (a micro-batch of ``records`` records) that answered, timed around the call."""
        self._v((model, version, variant)).model.add_call(seconds, records)

    def record_shadow(
        self,
        model: str,
        primary: str,
        shadow: str,
        comparator: str,
        *,
        compared: int = 0,
        agreed: int = 0,
        score_sum: float = 0.0,
        errors: int = 0,
        calls: tuple[tuple[float, int], ...] = (),
    ) -> None:
        """One shadow step's comparisons and failed records for a (primary, shadow, comparator) pair, and
        its model calls that answered a whole chunk as (seconds, records)."""
        with self._shadow_lock:
            w = self._s((model, primary, shadow, comparator))
            w.compared += compared
            w.agreed += agreed
            w.score_sum += score_sum
            w.errors += errors
            for seconds, records in calls:
                w.hist.add_call(seconds, records)

    def record_drop(self, model: str, primary: str, shadow: str, comparator: str) -> None:
        """A shadow copy dropped because the queue was full."""
        with self._shadow_lock:
            self._s((model, primary, shadow, comparator)).dropped += 1

    def drain(self) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
        """Rows for ``serving_windows`` and ``serving_shadow_windows``; the next window starts now."""
        end = self.clock.now()
        start, self._start = self._start, end
        versions, self._versions = self._versions, {}
        with self._shadow_lock:
            shadows, self._shadows = self._shadows, {}
        rows = [
            dict(
                gateway=self.gateway,
                model=m,
                version=v,
                variant=var,
                window_start=start,
                window_end=end,
                requests=w.requests,
                errors=w.errors,
                fallbacks=w.fallbacks,
                shed=w.shed,
                latency_sum_s=w.hist.total,
                latency_histogram=w.hist.doc(),
                model_latency_sum_s=w.model.total,
                model_latency_histogram=w.model.doc(),
            )
            for (m, v, var), w in versions.items()
        ]
        shadow_rows = [
            dict(
                gateway=self.gateway,
                model=m,
                primary_version=p,
                shadow_version=s,
                comparator=c,
                window_start=start,
                window_end=end,
                compared=w.compared,
                agreed=w.agreed,
                score_sum=w.score_sum,
                shadow_errors=w.errors,
                dropped=w.dropped,
                shadow_latency_sum_s=w.hist.total,
                shadow_latency_histogram=w.hist.doc(),
            )
            for (m, p, s, c), w in shadows.items()
        ]
        return rows, shadow_rows


def summarize(windows: list[dict[str, Any]], shadow_windows: list[dict[str, Any]] = ()) -> dict[str, Any]:
    """Merge stored windows (``read_windows`` / ``read_shadow_windows`` rows) into per-version totals with
    error rate and latency percentiles, and per shadow pair agreement (for the demo, CLI and dashboards)."""
    versions: dict[tuple[str, str], dict[str, Any]] = {}
    for w in windows:
        v = versions.setdefault(
            (w["version"], w["variant"]),
            {
                "version": w["version"],
                "variant": w["variant"],
                "requests": 0,
                "errors": 0,
                "fallbacks": 0,
                "shed": 0,
                "latency_sum_s": 0.0,
                "bounds": list(w["latency_histogram"]["bounds"]),
                "counts": [0] * len(w["latency_histogram"]["counts"]),
            },
        )
        for k in ("requests", "errors", "fallbacks", "shed"):
            v[k] += w[k]
        v["latency_sum_s"] += w["latency_sum_s"]
        v["counts"] = [a + b for a, b in zip(v["counts"], w["latency_histogram"]["counts"], strict=True)]
    out_versions = []
    for v in versions.values():
        n = v["requests"]
        out_versions.append(
            {
                "version": v["version"],
                "variant": v["variant"],
                "requests": n,
                "errors": v["errors"],
                "error_rate": v["errors"] / n if n else None,
                "fallbacks": v["fallbacks"],
                "shed": v["shed"],
                "mean_ms": v["latency_sum_s"] / n * 1000 if n else None,
                "p50_ms": _ms(quantile(v["bounds"], v["counts"], 0.5)),
                "p99_ms": _ms(quantile(v["bounds"], v["counts"], 0.99)),
            }
        )
    pairs: dict[tuple[str, str, str], dict[str, Any]] = {}
    for w in shadow_windows:
        key = (w["primary_version"], w["shadow_version"], w["comparator"])
        p = pairs.setdefault(
            key,
            {
                "primary_version": key[0],
                "shadow_version": key[1],
                "comparator": key[2],
                "compared": 0,
                "agreed": 0,
                "shadow_errors": 0,
                "dropped": 0,
            },
        )
        for k in ("compared", "agreed", "shadow_errors", "dropped"):
            p[k] += w[k]
    for p in pairs.values():
        p["agreement"] = p["agreed"] / p["compared"] if p["compared"] else None
    return {
        "versions": sorted(out_versions, key=lambda r: (r["variant"], r["version"])),
        "shadow": sorted(pairs.values(), key=lambda r: (r["shadow_version"], r["comparator"])),
    }


def _ms(seconds: float | None) -> float | None:
    return None if seconds is None else seconds * 1000
