"""What the exposure log costs the gateway process, in CPU per request (budget: 2 µs).

``python -m benchmarks.bench_exposure [--quick]`` (``make bench-exposure``):
1. attribution — ``ExposureLog.record`` alone (the request path's share) and the writer thread's share per
   row (drain, Arrow columns, zstd Parquet, fsync, rename), each timed with the process's CPU clock;
2. interleaved — the in-process gateway (routing, validation, micro-batcher, model thread) answering the
   same requests with the log off, on, and off again (the A/A control), blocks interleaved round after
   round; CPU of the whole process (every thread, the writer included: each "on" block ends with its rows
   written) per request; the median over rounds of on − off beside off′ − off — context, not the target:
   on a shared 2-core machine the A/A control alone moves by more than the budget.
3. calibration of ``trilho measure rollout``'s statistics (simulated rollouts, 24 looks each, CUPED on a
   pre-exposure covariate, confidence sequences): A/A false rollbacks (target <= alpha), coverage of the
   sequence at every look at once (target >= 95 %), power for a known +3 % lift.
Writes ``benchmarks/results/exposure.json``.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time
from pathlib import Path

from benchmarks._results import print_table, print_targets, target, write_results
from trilho.measure.exposure_sim import calibrate
from trilho.serving import GatewaySettings, StaticProvider, exposures
from trilho.serving.exposures import ExposureLog
from trilho.serving.gateway import Gateway
from trilho.store.routing import BatchingConfig, Deployment, Route

BUDGET_US = 2.0


def attribution(n: int, folder: Path, compression: str = "zstd") -> dict[str, float]:
    """CPU µs per exposure of ``record`` and of writing it, a closed part per 100,000 rows (pyarrow already
    imported, as in a gateway after its first part)."""
    import pyarrow.parquet  # noqa: F401  (a one-off import is not a per-row cost)

    chunk = 100_000
    log = ExposureLog(folder, capacity=chunk, rotate_rows=chunk, rotate_s=1e9)
    exposures.COMPRESSION = compression
    record_s = write_s = 0.0
    for start in range(0, n, chunk):
        units = [f"user-{i}" for i in range(start, start + chunk)]
        rids = [f"{i:032x}" for i in range(start, start + chunk)]
        t0 = time.process_time()
        for u, r in zip(units, rids, strict=True):
            log.record(u, "recommender", "7", "canary", 42, r)
        t1 = time.process_time()
        log.flush(force=True)
        record_s += t1 - t0
        write_s += time.process_time() - t1
    exposures.COMPRESSION = "zstd"
    return {"record_us": record_s / n * 1e6, "write_us": write_s / n * 1e6, "parts": log.parts}


def _predict(records):
    return [{"score": r["x"] * 0.5} for r in records]


def _gateway(folder: Path | None) -> Gateway:
    dep = Deployment(
        "m",
        routes=(Route("1", weight=0.9), Route("2", "canary", 0.1)),
        batching=BatchingConfig(enabled=False),
    )
    settings = GatewaySettings(access_log_sample=0.0, exposures_dir=str(folder) if folder else None)
    return Gateway(StaticProvider({"m@1": _predict, "m@2": _predict}), deployments=[dep], settings=settings)


async def interleaved(rounds: int, block: int, folder: Path) -> dict[str, list[float]]:
    """Per-request process CPU (µs) of each arm, one value per round."""
    arms = {"off": _gateway(None), "on": _gateway(folder), "off_again": _gateway(None)}
    for gw in arms.values():
        await gw.start()
    records = [{"x": 1.0}]
    cpu: dict[str, list[float]] = {name: [] for name in arms}
    try:
        for r in range(rounds):
            order = list(arms) if r % 2 == 0 else list(reversed(arms))
            for name in order:
                gw = arms[name]
                t0 = time.process_time()
                for i in range(block):
                    await gw.predict("m", records, unit=f"user-{r}-{i}", request_id=f"req-{r}-{i}")
                if gw.exposures is not None:
                    await asyncio.to_thread(gw.exposures.flush, force=True)  # its rows written, in the block
                cpu[name].append((time.process_time() - t0) / block * 1e6)
    finally:
        for gw in arms.values():
            await gw.stop()
    return cpu


def main(argv: list[str] | None = None) -> int:
    """Run both sections, print them and write the results file."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true")
    args = ap.parse_args(argv)
    n, rounds, block = (200_000, 6, 2_000) if args.quick else (1_000_000, 21, 5_000)
    with tempfile.TemporaryDirectory() as tmp:
        attribution(100_000, Path(tmp) / "warm-up")  # first part: code paths loaded, allocator grown
        att = attribution(n, Path(tmp) / "attribution")
        snappy = attribution(n, Path(tmp) / "snappy", "snappy")
        cpu = asyncio.run(interleaved(rounds, block, Path(tmp) / "interleaved"))
    cal_reps = 40 if args.quick else 400
    calibration = [
        ("A/A", calibrate(cal_reps, lift=0.0, seed=21)),
        ("+3 %", calibrate(cal_reps, lift=0.03, seed=22)),
        ("+3 %", calibrate(cal_reps, units=20_000, lift=0.03, seed=23)),
    ]
    on_minus_off = [a - b for a, b in zip(cpu["on"], cpu["off"], strict=True)]
    aa = [a - b for a, b in zip(cpu["off_again"], cpu["off"], strict=True)]
    per_request = att["record_us"] + att["write_us"]
    table = [
        {
            "section": "attribution",
            "what": "record() on the request path",
            "cpu_us": round(att["record_us"], 3),
        },
        {"section": "attribution", "what": "writer thread per row", "cpu_us": round(att["write_us"], 3)},
        {"section": "attribution", "what": "total per request", "cpu_us": round(per_request, 3)},
        {
            "section": "attribution",
            "what": "writer per row with snappy",
            "cpu_us": round(snappy["write_us"], 3),
        },
        *(
            {
                "section": "interleaved",
                "what": f"{name}: process CPU per request",
                "cpu_us": round(statistics.median(v), 2),
            }
            for name, v in cpu.items()
        ),
        {
            "section": "interleaved",
            "what": "on - off (median of rounds)",
            "cpu_us": round(statistics.median(on_minus_off), 2),
        },
        {
            "section": "interleaved",
            "what": "off' - off, A/A (median of rounds)",
            "cpu_us": round(statistics.median(aa), 2),
        },
        {
            "section": "interleaved",
            "what": "A/A spread (max |off' - off| over rounds)",
            "cpu_us": round(max(abs(x) for x in aa), 2),
        },
    ]
    cal_rows = [
        {
            "lift": name,
            "units": c.units,
            "looks": c.looks,
            "reps": c.reps,
            "rollback_rate": round(c.rollback_rate, 4),
            "coverage_all_looks": round(c.coverage, 4),
            "power": round(c.power, 4),
        }
        for name, c in calibration
    ]
    aa_cal = calibration[0][1]
    worst_cover = min(c.coverage for _, c in calibration)
    targets = [
        target(
            "exposure log CPU per request (record + write)",
            f"<= {BUDGET_US} µs",
            round(per_request, 3),
            per_request <= BUDGET_US,
        ),
    ]
    targets += [
        target(
            "A/A false rollback over 24 looks",
            f"<= alpha ({aa_cal.alpha})",
            aa_cal.rollback_rate,
            aa_cal.rollback_rate <= aa_cal.alpha,
        ),
        target("confidence-sequence coverage at every look", ">= 0.95", worst_cover, worst_cover >= 0.95),
    ]
    print_table("exposure log: gateway-process CPU", table)
    print_table("measure rollout calibration (simulated, CUPED, confidence sequences)", cal_rows)
    print_targets(targets)
    extra = {"rounds": rounds, "block": block, "exposures": n, "raw_cpu_us": cpu, "calibration": cal_rows}
    path = write_results("exposure", table, targets, quick=args.quick, extra=extra)
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
