"""Simulated rollouts with known lifts: units arriving over time, routed by weight, with outcomes before and
after their first exposure — as arrays (for calibration: false rollbacks over many looks, coverage of the
confidence sequence) or as files in the exposure log's layout plus an outcomes table (for the SQL path).

Per unit: a rate ``λ ~ Gamma(shape, mean/shape)`` (users differ, so a pre-exposure covariate helps);
pre-exposure orders ``~ Poisson(λ)``; post-exposure orders ``~ Poisson(λ (1 + lift[version]))``;
impressions ``~ Poisson(10)`` and clicks ``~ Binomial(impressions, ctr (1 + lift[version]))``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np

from trilho.measure.moments import Moments

EPOCH = datetime(2026, 1, 5, tzinfo=UTC)


@dataclass(frozen=True)
class SimulatedRollout:
    """Unit-level arrays of one simulated rollout (index i is one unit, in arrival order)."""

    version: np.ndarray  # str
    variant: np.ndarray  # str
    arrival: np.ndarray  # seconds after the start, ascending
    orders_pre: np.ndarray
    orders: np.ndarray
    impressions: np.ndarray
    clicks: np.ndarray
    mean_rate: float
    lifts: dict[str, float]

    def moments(self, upto: int, columns: tuple[str, ...] = ("orders", "orders_pre")) -> dict[str, Moments]:
        """Per-version moments of the first ``upto`` units (a look after ``upto`` arrivals)."""
        data = np.column_stack([getattr(self, c)[:upto].astype(float) for c in columns])
        v = self.version[:upto]
        return {str(k): Moments.from_array(columns, data[v == k]) for k in np.unique(v)}

    def true_effect(self, version: str, stable: str) -> float:
        """The expected difference in post-exposure orders per unit, ``version`` minus ``stable``."""
        return self.mean_rate * (self.lifts.get(version, 0.0) - self.lifts.get(stable, 0.0))


def simulate_rollout(
    units: int,
    weights: Mapping[str, float],
    *,
    stable: str,
    lifts: Mapping[str, float] | None = None,
    seed: int = 0,
    mean_rate: float = 2.0,
    shape: float = 2.0,
    ctr: float = 0.05,
    duration_s: float = 86_400.0,
) -> SimulatedRollout:
    """Draw ``units`` units arriving uniformly over ``duration_s``, each routed by ``weights``."""
    rng = np.random.default_rng(seed)
    names = list(weights)
    p = np.array([weights[n] for n in names], dtype=float)
    version = np.array(names)[rng.choice(len(names), size=units, p=p / p.sum())]
    lifts = {str(k): float(v) for k, v in (lifts or {}).items()}
    lift = np.array([lifts.get(str(v), 0.0) for v in version])
    rate = rng.gamma(shape, mean_rate / shape, size=units)
    impressions = rng.poisson(10, size=units)
    return SimulatedRollout(
        version=version,
        variant=np.where(version == stable, "stable", "canary"),
        arrival=np.sort(rng.uniform(0, duration_s, size=units)),
        orders_pre=rng.poisson(rate),
        orders=rng.poisson(rate * (1 + lift)),
        impressions=impressions,
        clicks=rng.binomial(impressions, np.clip(ctr * (1 + lift), 0, 1)),
        mean_rate=mean_rate,
        lifts=lifts,
    )


def write_rollout(
    sim: SimulatedRollout, folder: str | Path, model: str, *, generation: int = 1, unexposed: int = 0
) -> tuple[Path, Path]:
    """Write ``sim`` as an exposure log (``folder/exposures``, the gateway's layout, two exposures per unit)
    and an outcomes table (``folder/outcomes.parquet``: unit, ts, orders, clicks, impressions — a row before
    the first exposure holding the pre-period orders, a row after it holding the rest, and ``unexposed``
    units' rows); returns both paths."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    folder = Path(folder)
    n = len(sim.version)
    unit = np.array([f"u{i}" for i in range(n)])
    first = np.array([EPOCH + timedelta(seconds=float(s)) for s in sim.arrival])
    again = first + timedelta(minutes=5)
    exposures = folder / "exposures"
    day = exposures / f"day={EPOCH:%Y-%m-%d}" / f"model={model}"
    day.mkdir(parents=True, exist_ok=True)
    ts = pa.array(np.concatenate([first, again]), pa.timestamp("us", tz="UTC"))
    pq.write_table(
        pa.table(
            {
                "unit": np.concatenate([unit, unit]),
                "version": np.concatenate([sim.version, sim.version]),
                "variant": np.concatenate([sim.variant, sim.variant]),
                "generation": np.full(2 * n, generation, dtype=np.int64),
                "ts": ts,
                "request_id": [f"r{i}" for i in range(2 * n)],
            }
        ),
        day / "part-sim-000001.parquet",
    )
    zero = np.zeros(n, dtype=np.int64)
    others = np.array([f"x{i}" for i in range(unexposed)], dtype=object)
    rows = {
        "unit": np.concatenate([unit, unit, others]),
        "ts": np.concatenate([first - timedelta(days=1), first + timedelta(hours=1), [EPOCH] * unexposed]),
        "orders": np.concatenate([sim.orders_pre, sim.orders, np.ones(unexposed, dtype=np.int64)]),
        "clicks": np.concatenate([zero, sim.clicks, np.zeros(unexposed, dtype=np.int64)]),
        "impressions": np.concatenate([zero, sim.impressions, np.zeros(unexposed, dtype=np.int64)]),
    }
    outcomes = folder / "outcomes.parquet"
    table = pa.table({**rows, "ts": pa.array(rows["ts"], pa.timestamp("us", tz="UTC"))})
    pq.write_table(table, outcomes)
    return exposures, outcomes


@dataclass(frozen=True)
class Calibration:
    """How the guardrail and the confidence sequence behaved over many simulated rollouts."""

    reps: int
    looks: int
    units: int
    lift: float
    alpha: float
    rollbacks: int  # rollouts where some look found harm (the sequence's upper end below 0)
    detections: int  # rollouts where some look found a gain (lower end above 0)
    covered: int  # rollouts whose sequence held the true effect at every look

    @property
    def rollback_rate(self) -> float:
        """Share of rollouts rolled back on the guardrail."""
        return self.rollbacks / self.reps

    @property
    def power(self) -> float:
        """Share of rollouts whose gain was detected by the last look."""
        return self.detections / self.reps

    @property
    def coverage(self) -> float:
        """Share of rollouts whose sequence held the true effect at every look at once."""
        return self.covered / self.reps


def calibrate(
    reps: int,
    *,
    units: int = 4000,
    looks: int = 24,
    lift: float = 0.0,
    canary_weight: float = 0.5,
    alpha: float = 0.05,
    seed: int = 0,
) -> Calibration:
    """Simulate ``reps`` rollouts of a canary with ``lift`` on orders (CUPED on orders_pre), each looked at
    ``looks`` times as units arrive (a look sees every unit arrived so far, with its outcomes), analysed with
    the confidence sequence planned for ``units``."""
    from trilho.measure.estimators import estimate
    from trilho.measure.metrics import mean
    from trilho.measure.sequential import sequential_interval

    metric = mean("orders", "orders_pre")
    weights = {"stable": 1 - canary_weight, "canary": canary_weight}
    rollbacks = detections = covered = 0
    for r in range(reps):
        sim = simulate_rollout(
            units, weights, stable="stable", lifts={"canary": lift}, seed=seed * 100_003 + r
        )
        truth = sim.true_effect("canary", "stable")
        harm = gain = False
        held = True
        for k in range(1, looks + 1):
            m = sim.moments(units * k // looks)
            e = estimate(metric, m["stable"], m["canary"], alpha=alpha)  # as analyze_moments does
            lo, hi = sequential_interval(e.effect, e.se, e.n_control + e.n_treatment, alpha, units)
            harm = harm or hi < 0
            gain = gain or lo > 0
            held = held and lo <= truth <= hi
        rollbacks += harm
        detections += gain
        covered += held
    return Calibration(reps, looks, units, lift, alpha, rollbacks, detections, covered)
