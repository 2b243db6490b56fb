"""Simulated users for business-metric rollouts: what the gateway's exposure log and a shop's events table
would hold while a rollout runs on a manual clock (tests and the demo drive the controller with it)."""

from __future__ import annotations

from datetime import timedelta

import numpy as np

from trilho.store.routing import get_deployment


class Exposures:
    """Simulates what the gateway's exposure log and a shop's events table hold: each call, ``units_per_s``
    new users arrive, are routed by the deployment's weights (one exposure each, under its generation) and
    order ``Poisson(λ (1 + lift[version]))`` times afterwards; every user also ordered ``Poisson(λ)`` times
    in the week before (the CUPED covariate). ``λ ~ Gamma(shape, mean / shape)``: users differ."""

    def __init__(self, store, clock, folder, model="shop", units_per_s=200.0, seed=7, mean=4.0, shape=4.0):
        self.store, self.clock, self.model = store, clock, model
        self.units_per_s, self.mean, self.shape = units_per_s, mean, shape
        self.lift: dict[str, float] = {}
        self.rng = np.random.default_rng(seed)
        self.root = folder / "exposures"
        self.outcomes = folder / "events"
        self.outcomes.mkdir(parents=True, exist_ok=True)
        self.last = clock.now()
        self.seq = 0

    def __call__(self, _controller=None) -> None:
        """Users arrived since the last call: their exposures (one Parquet part) and their events."""
        import pyarrow as pa
        import pyarrow.parquet as pq

        now = self.clock.now()
        secs = (now - self.last).total_seconds()
        self.last = now
        n = int(self.rng.poisson(self.units_per_s * secs)) if secs > 0 else 0
        if n == 0:
            return
        dep = get_deployment(self.store, self.model)
        routes = [r for r in dep.routes if r.role != "shadow" and (dep.kill == "off" or r.role == "stable")]
        w = np.array([r.weight if dep.kill == "off" else 1.0 for r in routes], dtype=float)
        pick = self.rng.choice(len(routes), size=n, p=w / w.sum())
        version = np.array([routes[i].version for i in pick])
        role = np.array([routes[i].role for i in pick])
        self.seq += 1
        units = np.array([f"u{self.seq}-{i}" for i in range(n)])
        ts = pa.array([now - timedelta(seconds=float(s)) for s in self.rng.uniform(0, secs, n)],
                      pa.timestamp("us", tz="UTC"))  # fmt: skip
        day = self.root / f"day={now:%Y-%m-%d}" / f"model={self.model}"
        day.mkdir(parents=True, exist_ok=True)
        pq.write_table(
            pa.table(
                {
                    "unit": units,
                    "version": version,
                    "variant": role,
                    "generation": np.full(n, dep.generation, dtype=np.int64),
                    "ts": ts,
                    "request_id": [f"r{self.seq}-{i}" for i in range(n)],
                }
            ),  # fmt: skip
            day / f"part-sim-{self.seq:06d}.parquet",
        )
        lam = self.rng.gamma(self.shape, self.mean / self.shape, size=n)
        lift = np.array([self.lift.get(v, 0.0) for v in version])
        week = pa.array([t - timedelta(days=3) for t in ts.to_pylist()], pa.timestamp("us", tz="UTC"))
        after = pa.array(
            [t + timedelta(milliseconds=1) for t in ts.to_pylist()], pa.timestamp("us", tz="UTC")
        )
        pq.write_table(
            pa.table({"unit": np.concatenate([units, units]), "ts": pa.concat_arrays([week, after]),
                      "orders": np.concatenate([self.rng.poisson(lam), self.rng.poisson(lam * (1 + lift))])}),
            self.outcomes / f"events-{self.seq:06d}.parquet",
        )  # fmt: skip


def write_live_windows(store, model: str, start, end, versions: dict[str, str], requests: int = 100) -> None:
    """One healthy serving window per version (``versions``: version → role) from ``start`` to ``end``: what
    a gateway reports while its users are simulated, so the controller's operational checks have data."""
    from trilho.store.routing import write_windows

    hist = {"bounds": [0.01], "counts": [requests, 0]}
    write_windows(
        store,
        [
            dict(gateway="sim", model=model, version=v, variant=role, window_start=start, window_end=end,
                 requests=requests, errors=0, fallbacks=0, shed=0, latency_sum_s=0.004 * requests,
                 latency_histogram=hist)
            for v, role in versions.items()
        ],
    )  # fmt: skip
