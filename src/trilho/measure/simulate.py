"""Counterfactual simulation: impression logs and geo panels with a known, planted effect.

``simulate_impressions`` streams day-by-day chunks to Parquet with a bounded memory footprint (one chunk in
memory at a time), so 10M+ impressions a day for weeks fit on a laptop. Units are impressions with a
heterogeneous latent propensity; the pre-period covariates are noisy measurements of that propensity taken
before exposure (hence the ``pre_`` names), so CUPED has something real to exploit. The truth (lift, seed,
sizes) is written next to the data as ``truth.json``.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import date, timedelta
from pathlib import Path

import numpy as np

from trilho.errors import MeasurementError

Progress = Callable[[int, int], None]  # (rows done, rows total)


@dataclass(frozen=True)
class ImpressionSpec:
    """What to simulate: size, true lift and the shape of the heterogeneity."""

    days: int = 30
    per_day: int = 10_000_000
    lift: float = 0.02  # relative lift on click probability (and hence conversions and revenue)
    treatment_share: float = 0.5
    base_ctr: float = 0.05
    heterogeneity: float = 4.0  # Beta concentration: lower = more heterogeneous users
    conversion_rate: float = 0.1
    pre_impressions: int = 20
    seed: int = 0
    chunk_rows: int = 2_000_000

    def to_dict(self) -> dict:
        """JSON-ready form."""
        return asdict(self)


def _chunk(rng: np.random.Generator, n: int, day: int, spec: ImpressionSpec):
    import pyarrow as pa

    # Latent click propensity: 0.5 × Beta with mean 2·base_ctr, so p ≤ 0.5 and p·(1 + lift) never clips
    # (the planted lift is exact for lift ≤ 1).
    a, m = spec.heterogeneity, 2 * spec.base_ctr
    p = 0.5 * rng.beta(a * m / (1 - m), a, n)
    variant = (rng.random(n) < spec.treatment_share).astype(np.int8)
    p_click = p * (1 + spec.lift * variant)
    clicks = (rng.random(n) < p_click).astype(np.int8)
    conversions = (clicks & (rng.random(n) < spec.conversion_rate)).astype(np.int8)
    revenue = (conversions * rng.lognormal(3.0, 0.8, n)).astype(np.float32)
    pre_clicks = rng.binomial(spec.pre_impressions, p).astype(np.float32)
    pre_conv = rng.binomial(pre_clicks.astype(np.int64), spec.conversion_rate)
    pre_revenue = (pre_conv * np.exp(3.0 + 0.32)).astype(np.float32)
    return pa.table(
        {
            "day": pa.array(np.full(n, day, dtype=np.int16)),
            "variant": pa.array(variant),
            "clicks": pa.array(clicks),
            "conversions": pa.array(conversions),
            "revenue": pa.array(revenue),
            "pre_clicks": pa.array(pre_clicks),
            "pre_revenue": pa.array(pre_revenue),
        }
    )


def simulate_impressions(out: str | Path, spec: ImpressionSpec, progress: Progress | None = None) -> dict:
    """Write ``spec.days`` Parquet files (one per day) under ``out``; returns the truth record."""
    import pyarrow.parquet as pq

    if spec.days < 1 or spec.per_day < 1:
        raise MeasurementError("days and impressions per day must be positive", field="days")
    if not 0 < spec.treatment_share < 1:
        raise MeasurementError("treatment share must be in (0, 1)", field="treatment_share")
    if not -1 < spec.lift <= 1 or not 0 < spec.base_ctr < 0.25:
        raise MeasurementError("lift must be in (-1, 1] and base CTR in (0, 0.25)", field="lift")
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    total = spec.days * spec.per_day
    done = 0
    seeds = np.random.SeedSequence(spec.seed).spawn(spec.days)
    for day in range(spec.days):
        rng = np.random.default_rng(seeds[day])
        path = out / f"day={day:03d}.parquet"
        writer = None
        left = spec.per_day
        try:
            while left > 0:
                n = min(left, spec.chunk_rows)
                table = _chunk(rng, n, day, spec)
                if writer is None:
                    writer = pq.ParquetWriter(path, table.schema, compression="snappy")
                writer.write_table(table, row_group_size=min(n, 1_000_000))
                left -= n
                done += n
                if progress:
                    progress(done, total)
        finally:
            if writer is not None:
                writer.close()
    truth = {
        "kind": "impressions",
        "rows": total,
        "spec": spec.to_dict(),
        "true_relative_lift_clicks": spec.lift,
    }
    (out / "truth.json").write_text(json.dumps(truth, indent=2, sort_keys=True))
    return truth


def simulate_geo_panel(
    out: str | Path | None,
    *,
    units: int = 40,
    periods: int = 120,
    treated: int = 2,
    test_periods: int = 15,
    lift: float = 0.05,
    seed: int = 0,
    noise: float = 0.03,
    first_date: str = "2021-01-01",
) -> tuple[list[tuple[str, str, float]], dict]:
    """A factor-model panel (``location, date, Y``: daily ISO dates from ``first_date``) with ``lift`` planted
    on the first ``treated`` geos at the end — the columns ``trilho measure geo`` reads by default.

    Writes CSV to ``out`` (when given) plus ``out`` + ``.truth.json``; returns (rows, truth).
    """
    if treated < 1 or treated >= units - 1:
        raise MeasurementError("need at least one treated geo and two donors", field="treated")
    if test_periods >= periods - 4:
        raise MeasurementError("too few pre-periods", field="test_periods")
    rng = np.random.default_rng(seed)
    level = rng.lognormal(7.0, 0.5, units)
    f = np.cumsum(rng.normal(0, 0.01, (periods, 2)), axis=0)
    season = np.sin(2 * np.pi * np.arange(periods) / 7)[:, None] * 0.05
    load = rng.uniform(0.5, 1.5, (2, units))
    Y = level * np.exp(
        f @ load + season * rng.uniform(0.5, 1.5, units) + rng.normal(0, noise, (periods, units))
    )
    start = periods - test_periods
    names = [f"geo{i:03d}" for i in range(units)]
    base = Y.copy()
    Y[start:, :treated] *= 1 + lift
    att = float((Y[start:, :treated] - base[start:, :treated]).mean())
    day0 = date.fromisoformat(first_date)
    dates = [(day0 + timedelta(days=t)).isoformat() for t in range(periods)]
    rows = [(names[i], dates[t], float(round(Y[t, i], 4))) for i in range(units) for t in range(periods)]
    truth = {
        "kind": "geo",
        "treated": names[:treated],
        "start": dates[start],
        "end": dates[-1],
        "lift": lift,
        "att": att,
        "seed": seed,
    }
    if out is not None:
        p = Path(out)
        p.parent.mkdir(parents=True, exist_ok=True)
        with p.open("w") as fh:
            fh.write("location,date,Y\n")
            fh.writelines(f"{g},{t},{y}\n" for g, t, y in rows)
        Path(str(p) + ".truth.json").write_text(json.dumps(truth, indent=2, sort_keys=True))
    return rows, truth
