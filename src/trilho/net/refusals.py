"""Refused requests (no or bad token, a role too low, cross-site, too large, too slow) are counted in
``trilho_http_refused_total{server,reason}`` and summarised in the audit log: at most one row per actor and
reason per ``every_s`` seconds (60 by default), carrying how many were refused since the previous row. A flood
of anonymous requests therefore costs the audit log one row a minute, and the metric still counts each."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

from trilho.clock import Clock, SystemClock
from trilho.obs import get_logger
from trilho.obs.metrics import counter

log = get_logger("trilho.net")
REFUSED = counter(
    "trilho_http_refused_total",
    "Requests refused at a server's edge, by server and reason.",
    ("server", "reason"),
)
Writer = Callable[[str, str, int, dict[str, Any]], None]


class RefusalSummary:
    """Counts refusals and lets one audit row per (actor, reason) through per ``every_s`` seconds; ``write``
    gets (actor, reason, how many since the last row, evidence of the latest)."""

    def __init__(
        self,
        server: str,
        write: Writer | None = None,
        *,
        clock: Clock | None = None,
        every_s: float = 60.0,
        max_keys: int = 4096,
    ) -> None:
        self.server = server
        self.write = write
        self.clock = clock or SystemClock()
        self.every_s = every_s
        self.max_keys = max_keys
        self._lock = threading.Lock()
        self._last: dict[tuple[str, str], float] = {}
        self._pending: dict[tuple[str, str], int] = {}

    def refused(self, actor: str, reason: str, evidence: dict[str, Any]) -> bool:
        """Count one refusal; True when it was written to the audit log (the first of its minute)."""
        REFUSED.labels(self.server, reason).inc()
        key = (actor, reason)
        now = self.clock.monotonic()
        with self._lock:
            count = self._pending.get(key, 0) + 1
            last = self._last.get(key)
            if last is not None and now - last < self.every_s:
                self._pending[key] = count
                return False
            if len(self._last) >= self.max_keys:
                self._forget_older_than(now - self.every_s)
            self._last[key] = now
            self._pending.pop(key, None)
        if self.write is not None:
            try:
                self.write(actor, reason, count, evidence)
            except Exception as exc:  # the audit store is down: the metric still counted it
                log.error("could not audit a refused request", error=f"{type(exc).__name__}: {exc}")
        return True

    def _forget_older_than(self, cutoff: float) -> None:
        for key in [k for k, t in self._last.items() if t < cutoff]:
            del self._last[key]
            self._pending.pop(key, None)
        if len(self._last) >= self.max_keys:  # every key is recent: drop the oldest half
            for key, _ in sorted(self._last.items(), key=lambda kv: kv[1])[: self.max_keys // 2]:
                del self._last[key]
                self._pending.pop(key, None)


def audit_writer(service: Any, via: str) -> Writer:
    """A ``write`` for :class:`RefusalSummary` that appends an ``api`` row through a RolloutService."""

    def write(actor: str, reason: str, count: int, evidence: dict[str, Any]) -> None:
        what = f"{evidence.get('method', '')} {evidence.get('path', '')}".strip()
        service.record(
            actor=actor,
            action="api",
            model=evidence.get("model"),
            reason=f"refused ({reason}): {what} → {evidence.get('status')}"
            + (f"; {count} refused since the last entry" if count > 1 else "")
            + f" ({via})",
            evidence={**evidence, "refused": reason, "count": count, "via": via},
        )

    return write
