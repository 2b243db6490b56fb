"""Test helpers: play gateway-like windows into the store (what `trilho serve` writes every few seconds).

The seed is fixed: an A/A rollout is falsely rolled back with probability ≤ α by design (calibrated in
test_calibration.py), so flow tests use one deterministic stream that is not such a false alarm.
"""

from __future__ import annotations

import json
from datetime import timedelta

import numpy as np

from trilho.obs.metrics import LATENCY_BUCKETS
from trilho.store.routing import get_deployment, write_windows
from trilho.testing.exposures import Exposures  # noqa: F401  (re-exported for the rollout tests)
from trilho.testing.windows import serving_row, shadow_row

BOUNDS = list(LATENCY_BUCKETS)


def hist(n: int, seconds: float) -> dict:
    counts = [0] * (len(BOUNDS) + 1)
    counts[int(np.searchsorted(BOUNDS, seconds))] = n
    return {"bounds": BOUNDS, "counts": counts}


class Traffic:
    """Simulates the gateway: splits ``rps`` per the routing table, errors and latency per version."""

    def __init__(self, store, clock, model="iris", rps=100.0, seed=1):
        self.store, self.clock, self.model, self.rps = store, clock, model, rps
        self.error_rate: dict[str, float] = {}
        self.latency: dict[str, float] = {}
        self.agreement: dict[str, float] = {}
        self.rng = np.random.default_rng(seed)
        self.last = clock.now()
        self.enabled = True
        self.candidate_requests = 0
        # online evaluation (what `trilho serve --evals` flushes): version -> (judge pass rate, violations);
        # None writes no online windows at all
        self.online: dict[str, tuple[float, float]] | None = None
        self.judge_sample = 0.2

    def __call__(self, _controller=None) -> None:
        now = self.clock.now()
        secs = (now - self.last).total_seconds()
        if secs <= 0 or not self.enabled:
            self.last = now
            return
        dep = get_deployment(self.store, self.model)
        rows, srows = [], []
        total = int(self.rng.poisson(self.rps * secs))
        for route in dep.routes:
            if route.role == "shadow" or dep.kill != "off" and route.role != "stable":
                continue
            n = int(self.rng.binomial(total, route.weight if dep.kill == "off" else 1.0))
            e = int(self.rng.binomial(n, self.error_rate.get(route.version, 0.01)))
            if route.role == "canary":
                self.candidate_requests += n
            lat = self.latency.get(route.version, 0.004)
            rows.append(
                serving_row(
                    self.model,
                    route.version,
                    route.role,
                    self.last,
                    now,
                    requests=n,
                    errors=e,
                    latency_s=lat,
                    histogram=hist(n, lat),
                    model_histogram=hist(n, lat),
                )
            )
        for route in dep.shadows if dep.kill == "off" else ():
            n = int(self.rng.binomial(total, dep.shadow_fraction))
            e = int(self.rng.binomial(n, self.error_rate.get(route.version, 0.01)))
            ok = n - e
            agreed = int(self.rng.binomial(ok, self.agreement.get(route.version, 1.0)))
            srows.append(
                shadow_row(
                    self.model,
                    dep.stable.version,
                    route.version,
                    self.last,
                    now,
                    compared=ok,
                    agreed=agreed,
                    errors=e,
                    histogram=hist(n, self.latency.get(route.version, 0.004)),
                )
            )
        write_windows(self.store, rows, srows)
        if self.online is not None:
            self._online(rows, now)
        self.last = now

    def _online(self, rows, now) -> None:
        """Online evaluation windows for the live rows: every answer checked, a sample judged pass/fail with
        inverse-probability weights (the sufficient sums the gateway's evaluator writes)."""
        from trilho.evals.online_store import write_windows as write_online

        out = []
        w = 1.0 / self.judge_sample
        for r in rows:
            n = r["requests"]
            passed, violation = self.online.get(r["version"], (0.85, 0.01))
            bad = int(self.rng.binomial(n, violation))
            judged = int(self.rng.binomial(n, self.judge_sample))
            ones = int(self.rng.binomial(judged, passed))
            out.append(
                dict(model=self.model, version=r["version"], window_end=now, seen=n, checked=n,
                     violations_json=json.dumps({"pii": bad, "_any": bad} if bad else {}),
                     sampled=judged, drops=0, judged=judged, sum_w=judged * w, sum_wy=ones * w,
                     sum_w2=judged * w * w, sum_w2y=ones * w * w, sum_w2y2=ones * w * w)
            )  # fmt: skip
        write_online(self.store, out)


def later(clock, seconds):
    return clock.now() + timedelta(seconds=seconds)
