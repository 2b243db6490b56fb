"""Service-level objectives computed from the gateway's serving windows: the pure error-budget burn-rate math.

Each deployment declares its SLO (``slo: {latency_ms, target, alerts}`` in its deployment file, a
:class:`trilho.store.routing.SLOConfig`); :func:`declared` turns it into the objective and the alert rules the
gateway itself tracks, and the page computes, from per-window counts of good and bad events, the burn rate
over several look-back windows and those multi-window alerts (a rule fires when its long AND its short
window both burn faster than its rate). A deployment without an SLO has none on the page. The burn-rate math
itself (``Objective``, ``AlertRule``, ``burn_rate``) lives in :mod:`trilho.serving.slo`, shared with the
gateway's live tracker, and is re-exported here. Nothing here does I/O: :func:`events_from_windows` turns
stored window rows into events, :func:`evaluate` does the rest.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from trilho.serving.slo import DEFAULT_RULES, AlertRule, Objective, burn_rate, window_label

__all__ = [
    "DEFAULT_RULES",
    "WINDOWS",
    "AlertRule",
    "Burn",
    "Events",
    "Objective",
    "SLOStatus",
    "burn",
    "burn_rate",
    "declared",
    "evaluate",
    "events_from_windows",
    "good_under",
    "window_label",
]


def declared(config: Any) -> tuple[Objective, tuple[AlertRule, ...]]:
    """The objective and alert rules of a deployment's ``SLOConfig``: ``target`` of requests answered without
    error within ``latency_ms`` (what the gateway counts as good), alerted by the config's own rules."""
    threshold_s = float(config.latency_ms) / 1000
    objective = Objective("latency", "latency", float(config.target), threshold_s=threshold_s)
    rules = tuple(
        AlertRule(str(sev), timedelta(seconds=float(long_s)), timedelta(seconds=float(short_s)), float(rate))
        for sev, long_s, short_s, rate in config.alerts
    )
    return objective, rules


#: Look-back windows shown on the page.
WINDOWS: tuple[timedelta, ...] = (
    timedelta(minutes=5),
    timedelta(minutes=30),
    timedelta(hours=1),
    timedelta(hours=6),
    timedelta(days=3),
)


@dataclass(frozen=True)
class Events:
    """Good and total events in one window ending at ``end``."""

    end: datetime
    good: int
    total: int


@dataclass(frozen=True)
class Burn:
    """The burn rate over one look-back window (None when no events fell in it)."""

    window: timedelta
    good: int
    total: int
    rate: float | None


@dataclass(frozen=True)
class SLOStatus:
    """One objective's burn rates, the budget left over its rolling period (1 − burn), alerts firing."""

    objective: Objective
    burns: tuple[Burn, ...]
    budget_remaining: float | None
    firing: tuple[AlertRule, ...] = field(default_factory=tuple)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {
            "objective": self.objective.name,
            "description": self.objective.describe(),
            "burns": {window_label(b.window): b.rate for b in self.burns},
            "budget_remaining": self.budget_remaining,
            "firing": [
                f"{a.severity} {window_label(a.long)}/{window_label(a.short)} > {a.burn_rate:g}x"
                for a in self.firing
            ],
        }


def good_under(histogram: Mapping[str, Sequence[float]], threshold_s: float) -> int:
    """Requests certainly faster than ``threshold_s``: counts of buckets whose upper bound is ≤ it."""
    bounds, counts = list(histogram.get("bounds") or []), list(histogram.get("counts") or [])
    return int(sum(c for b, c in zip(bounds, counts, strict=False) if b <= threshold_s))


def events_from_windows(rows: Iterable[Mapping[str, Any]], objective: Objective) -> list[Events]:
    """Good/total events per stored serving window (stable and canary traffic; shadows never answer)."""
    out = []
    for r in rows:
        total = int(r["requests"])
        if objective.kind == "errors":
            good = total - int(r["errors"])
        else:  # answered without error within the threshold: errors are counted bad even when they were fast
            fast = good_under(r["latency_histogram"], objective.threshold_s or 0.0)
            good = max(0, min(total, fast) - int(r["errors"]))
        out.append(Events(r["window_end"], good, total))
    return out


def burn(events: Sequence[Events], objective: Objective, window: timedelta, now: datetime) -> Burn:
    """The burn rate over the events whose window ended within ``window`` before ``now``."""
    start = now - window
    good = sum(e.good for e in events if start < e.end <= now)
    total = sum(e.total for e in events if start < e.end <= now)
    return Burn(window, good, total, burn_rate(good, total, objective))


def evaluate(
    events: Sequence[Events],
    objective: Objective,
    now: datetime,
    *,
    windows: Sequence[timedelta] = WINDOWS,
    rules: Sequence[AlertRule] = DEFAULT_RULES,
) -> SLOStatus:
    """Burn rates over ``windows``, the budget left over the objective's period and the rules firing."""
    burns = tuple(burn(events, objective, w, now) for w in windows)
    period = burn(events, objective, objective.period, now)
    remaining = None if period.rate is None else 1.0 - period.rate
    firing = []
    for rule in rules:
        long_rate = burn(events, objective, rule.long, now).rate
        short_rate = burn(events, objective, rule.short, now).rate
        if long_rate is not None and short_rate is not None and min(long_rate, short_rate) > rule.burn_rate:
            firing.append(rule)
    return SLOStatus(objective, burns, remaining, tuple(firing))
