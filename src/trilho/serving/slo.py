"""Service-level objectives: the error-budget burn-rate math, and the gateway's live per-model SLO tracker.

The math (:class:`Objective`, :class:`AlertRule`, :func:`burn_rate`) is pure and shared with the dashboard
(``trilho.web.slo`` evaluates it over stored windows). The tracker is what a gateway runs for every
deployment that declares an SLO (``Deployment.slo``, a :class:`trilho.store.routing.SLOConfig`):

* **request path** — :meth:`SLOTracker.record` is one comparison and one integer increment (no clock read, no
  lock, no allocation). A request is *good* when it was answered (not a 5xx, not shed, not an error fallback)
  within the latency threshold; everything else the gateway accounts is *bad* — a shed 503 spends the error
  budget just as a slow answer does. Client errors (4xx) are not counted.
* **off the request path** — :meth:`SLOBook.tick` (every ``min(1 s, shortest window / 10)``, on the
  event loop, so it never races the counters) snapshots the cumulative counts and computes, for every window
  of every alert rule, the burn rate (bad share ÷ budget share) over the snapshots that window spans. An
  alert fires when its long AND its short window both burn faster than the rule's rate (the SRE workbook's
  multiwindow, multi-burn-rate alert: 1 h/5 m at 14.4 and 6 h/30 m at 6 by default; windows are seconds, so
  a test can use a few seconds).

Metrics (per gateway process; Prometheus can recompute burn rates across replicas from the counter):
``trilho_serving_slo_events_total{model,outcome}``, ``trilho_serving_slo_burn_rate{model,window}``,
``trilho_serving_slo_alert_firing{model,window,severity}`` (1 while firing, window ``long/short``) and
``trilho_serving_slo_objective_ratio{model}`` / ``trilho_serving_slo_threshold_seconds{model}``.
"""

from __future__ import annotations

import asyncio
import bisect
import contextlib
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from trilho.obs import get_logger
from trilho.serving import metrics as m

log = get_logger("serving.slo")


@dataclass(frozen=True)
class Objective:
    """A target share of good events: ``kind`` "errors" (no error) or "latency" (under a threshold)."""

    name: str
    kind: str
    target: float
    threshold_s: float | None = None
    period: timedelta = timedelta(days=30)

    def __post_init__(self) -> None:
        if not 0.0 < self.target < 1.0:
            raise ValueError(f"target must be in (0, 1), got {self.target}")
        if self.kind not in ("errors", "latency"):
            raise ValueError(f"kind must be errors or latency, got {self.kind!r}")
        if self.kind == "latency" and (self.threshold_s is None or self.threshold_s <= 0):
            raise ValueError("a latency objective needs a positive threshold_s")

    @property
    def budget(self) -> float:
        """The allowed share of bad events (1 − target)."""
        return 1.0 - self.target

    def describe(self) -> str:
        """A one-line human description."""
        if self.kind == "latency":
            return f"{self.target:.2%} of requests faster than {self.threshold_s * 1000:g} ms"
        return f"{self.target:.2%} of requests without error"


@dataclass(frozen=True)
class AlertRule:
    """Fire when both the long and the short window burn faster than ``burn_rate``."""

    severity: str
    long: timedelta
    short: timedelta
    burn_rate: float


#: The SRE workbook's multi-window, multi-burn-rate alerts for a 30-day budget.
DEFAULT_RULES: tuple[AlertRule, ...] = (
    AlertRule("page", timedelta(hours=1), timedelta(minutes=5), 14.4),
    AlertRule("page", timedelta(hours=6), timedelta(minutes=30), 6.0),
    AlertRule("ticket", timedelta(days=3), timedelta(hours=6), 1.0),
)


def window_label(td: timedelta) -> str:
    """A compact window name: ``5m``, ``1h``, ``3d`` (``10s`` for windows that are not whole minutes)."""
    s = td.total_seconds()
    if s != int(s):
        return f"{s:g}s"
    s = int(s)
    if s and s % 86400 == 0:
        return f"{s // 86400}d"
    if s and s % 3600 == 0:
        return f"{s // 3600}h"
    if s and s % 60 == 0:
        return f"{s // 60}m"
    return f"{s}s"


def burn_rate(good: int, total: int, objective: Objective) -> float | None:
    """Observed bad share divided by the budget share (1.0 spends the budget exactly over the period)."""
    if total <= 0:
        return None
    return ((total - good) / total) / objective.budget


# --- the live tracker ---------------------------------------------------------------------------------------
class SLOTracker:
    """One model's latency SLO: cumulative good/bad counts and their snapshots over the longest window."""

    __slots__ = ("model", "config", "objective", "rules", "threshold_s", "good", "bad", "_t", "_g", "_b")

    def __init__(self, model: str, config: Any, now: float | None = None) -> None:
        self.model = model
        self.config = config
        self.threshold_s = float(config.latency_ms) / 1000.0
        self.objective = Objective("latency", "latency", float(config.target), threshold_s=self.threshold_s)
        self.rules = tuple(
            AlertRule(str(sev), timedelta(seconds=float(lo)), timedelta(seconds=float(sh)), float(rate))
            for sev, lo, sh, rate in config.alerts
        )
        self.good = 0
        self.bad = 0
        start = time.monotonic() if now is None else now
        self._t, self._g, self._b = [start], [0], [0]  # snapshots: time, cumulative good, cumulative bad

    def record(self, code: int, seconds: float, error: bool) -> None:
        """Count one accounted request (the gateway's hot path: one comparison, one increment)."""
        if code < 500 and not error and seconds <= self.threshold_s:
            self.good += 1
        else:
            self.bad += 1

    @property
    def windows(self) -> tuple[timedelta, ...]:
        """Every distinct window the rules use, shortest first."""
        return tuple(sorted({w for r in self.rules for w in (r.long, r.short)}))

    def snapshot(self, now: float) -> None:
        """Remember the counts at ``now``; forget snapshots older than the longest window needs."""
        self._t.append(now)
        self._g.append(self.good)
        self._b.append(self.bad)
        horizon = now - max((w.total_seconds() for w in self.windows), default=0.0)
        cut = bisect.bisect_right(self._t, horizon) - 1  # keep the last snapshot at or before the horizon
        if cut > 256:  # trim in chunks: one list shift per 256 ticks, not per tick
            del self._t[:cut], self._g[:cut], self._b[:cut]

    def counts(self, window: timedelta, now: float) -> tuple[int, int]:
        """(good, total) between the last snapshot at or before ``now - window`` and the newest snapshot.

        While the tracker is younger than ``window`` the counts cover its whole life."""
        i = max(0, bisect.bisect_right(self._t, now - window.total_seconds()) - 1)
        good = self._g[-1] - self._g[i]
        return good, good + self._b[-1] - self._b[i]

    def burn(self, window: timedelta, now: float) -> float | None:
        """The burn rate over ``window`` (None when no request fell in it)."""
        good, total = self.counts(window, now)
        return burn_rate(good, total, self.objective)

    def firing(self, now: float) -> list[tuple[AlertRule, bool]]:
        """Each rule and whether both its windows burn faster than its rate."""
        out = []
        for rule in self.rules:
            lo, sh = self.burn(rule.long, now), self.burn(rule.short, now)
            out.append((rule, lo is not None and sh is not None and min(lo, sh) > rule.burn_rate))
        return out

    def status(self, now: float) -> dict[str, Any]:
        """JSON-ready: the objective, burn rate per window, and the alerts firing."""
        return {
            "objective": self.objective.describe(),
            "good": self.good,
            "bad": self.bad,
            "burn_rates": {window_label(w): self.burn(w, now) for w in self.windows},
            "alerts": [
                {"severity": r.severity, "window": _pair(r), "burn_rate": r.burn_rate, "firing": f}
                for r, f in self.firing(now)
            ],
        }


def _pair(rule: AlertRule) -> str:
    return f"{window_label(rule.long)}/{window_label(rule.short)}"


class SLOBook:
    """The gateway's trackers, one per deployment with an SLO, and the loop that exports their burn rates."""

    def __init__(self) -> None:
        self.trackers: dict[str, SLOTracker] = {}
        self._exported: dict[str, tuple[int, int]] = {}
        self._labels: dict[str, list[tuple[Any, tuple[str, ...]]]] = {}

    def sync(self, deployments: Iterable[Any], now: float | None = None) -> None:
        """Follow the routing table: a tracker per deployment whose ``slo`` is set (kept while unchanged; a
        changed SLO starts from zero)."""
        wanted = {d.model: d.slo for d in deployments if getattr(d, "slo", None) is not None}
        for model in [name for name in self.trackers if name not in wanted]:
            self._forget(model)
        for model, config in wanted.items():
            old = self.trackers.get(model)
            if old is None or old.config != config:
                if old is not None:
                    self._forget(model)
                self.trackers[model] = SLOTracker(model, config, now)
                m.SLO_OBJECTIVE.labels(model).set(config.target)
                m.SLO_THRESHOLD.labels(model).set(config.latency_ms / 1000.0)

    def _forget(self, model: str) -> None:
        self.trackers.pop(model, None)
        self._exported.pop(model, None)
        for metric, labels in self._labels.pop(model, []):
            with contextlib.suppress(KeyError):
                metric.remove(*labels)

    def _child(self, model: str, metric: Any, *labels: str) -> Any:
        full = (model, *labels)
        known = self._labels.setdefault(model, [])
        if (metric, full) not in known:
            known.append((metric, full))
        return metric.labels(*full)

    def tick(self, now: float | None = None) -> None:
        """Snapshot every tracker and export its counts, burn rates and alerts."""
        now = time.monotonic() if now is None else now
        for model, t in self.trackers.items():
            t.snapshot(now)
            good0, bad0 = self._exported.get(model, (0, 0))
            if t.good > good0:
                self._child(model, m.SLO_EVENTS, "good").inc(t.good - good0)
            if t.bad > bad0:
                self._child(model, m.SLO_EVENTS, "bad").inc(t.bad - bad0)
            self._exported[model] = (t.good, t.bad)
            for w in t.windows:
                rate = t.burn(w, now)
                self._child(model, m.SLO_BURN, window_label(w)).set(0.0 if rate is None else rate)
            for rule, firing in t.firing(now):
                self._child(model, m.SLO_ALERT, _pair(rule), rule.severity).set(1.0 if firing else 0.0)

    def interval_s(self) -> float:
        """How often to tick: a tenth of the shortest window, at most once a second, at least every 50 ms."""
        shortest = min((w.total_seconds() for t in self.trackers.values() for w in t.windows), default=10.0)
        return min(1.0, max(0.05, shortest / 10.0))

    async def run(self, deployments: Callable[[], Iterable[Any]]) -> None:
        """Follow ``deployments()`` and tick forever (the gateway starts this as a background task)."""
        while True:
            try:
                self.sync(deployments())
                self.tick()
            except Exception as exc:  # never let a bad SLO stop the loop (or the gateway)
                log.warning("SLO tick failed", error=f"{type(exc).__name__}: {exc}"[:300])
            await asyncio.sleep(self.interval_s())

    def status(self, now: float | None = None) -> dict[str, Any]:
        """Every tracked model's SLO status."""
        now = time.monotonic() if now is None else now
        return {model: t.status(now) for model, t in self.trackers.items()}
