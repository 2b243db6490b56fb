"""A shadow step compares the two arms' latency in one unit: model time per record. A candidate identical to
stable (same model, same cost) has latency ratio 1 and passes the latency check, however the live batcher and
the shadow pump group the records. The old units — stable's end-to-end time per request against the shadow's
time per shadow step (a chunk of up to 32 mirrored requests) — fail that same candidate.

The model's cost is driven through ``run_shadow_batch``'s ``timer`` (a clock the model advances by its cost),
so nothing here depends on how busy the machine is; the socket test checks the units only, never a time."""

from __future__ import annotations

import time
from datetime import UTC, datetime

import httpx
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from trilho.clock import ManualClock
from trilho.obs.metrics import LATENCY_BUCKETS
from trilho.rollout.analysis import VersionWindow, check_latency
from trilho.rollout.plan import LatencyCheck
from trilho.rollout.windows import read_step, step_from_rows
from trilho.serving.aggregates import WindowAggregator
from trilho.serving.comparators import parse_comparator
from trilho.serving.shadow_compare import ShadowBatch, run_shadow_batch

EXACT = [("exact", parse_comparator("exact"))]
CHECK = LatencyCheck()  # p99, at most 1.5× baseline, confirmed at alpha 0.01


class CostClock:
    """A clock the model advances by its cost: ``fixed + per_record × n`` seconds per call of n records."""

    def __init__(self, fixed: float, per_record: float) -> None:
        self.now, self.fixed, self.per_record = 0.0, fixed, per_record

    def __call__(self) -> float:
        return self.now

    def cost(self, n: int) -> float:
        return self.fixed + self.per_record * n

    def predict(self, records):
        self.now += self.cost(len(records))
        return [{"y": r["x"] * 2} for r in records]


def _groups(sizes: list[int], per_group: int) -> list[list[int]]:
    return [sizes[i : i + per_group] for i in range(0, len(sizes), per_group)]


def serve(
    requests: list[int], live_group: int, max_batch: int, step_jobs: int, clock: CostClock, overhead=0.0
):
    """What the gateway records for stable (v1) serving ``requests`` (records per request) in micro-batches
    of ``live_group`` requests, and for the candidate (v4, the same model) mirrored in shadow steps of
    ``step_jobs`` requests called in chunks of ``max_batch`` records. Returns the aggregator and the shadow
    steps' whole-step times (what the old code observed)."""
    agg = WindowAggregator("g", clock=ManualClock(), bounds=LATENCY_BUCKETS)
    for batch in _groups(requests, live_group):
        n = sum(batch)
        seconds = clock.cost(n)
        agg.record_batch("m", "1", "stable", seconds, n)
        for _ in batch:
            agg.record("m", "1", "stable", overhead + seconds)  # queue, transport: end to end
    steps = []
    for jobs in _groups(requests, step_jobs):
        records = [{"x": float(i)} for i in range(sum(jobs))]
        primary = [{"y": r["x"] * 2} for r in records]
        batch = ShadowBatch("m", "4", ("exact",), tuple(("1", n) for n in jobs), records, primary, max_batch)
        outcome = run_shadow_batch(clock.predict, EXACT, batch, timer=clock)
        assert outcome.error is None and outcome.record_error is None
        (t,) = outcome.tallies
        agg.record_shadow("m", "1", "4", "exact", compared=t.compared, agreed=t.agreed, calls=outcome.calls)
        steps.append(outcome.seconds)
    return agg, steps


def _away_from_bounds(x: float) -> bool:
    return all(abs(x - b) > 1e-6 * b for b in LATENCY_BUCKETS)


@settings(max_examples=60, deadline=None)
@given(
    requests=st.lists(st.integers(1, 4), min_size=20, max_size=150),
    live_group=st.integers(1, 8),
    max_batch=st.integers(1, 32),
    step_jobs=st.integers(1, 32),
    per_record=st.floats(1e-4, 0.2),
    overhead=st.floats(0.0, 0.05),
)
def test_an_identical_per_record_cost_candidate_has_ratio_1_and_passes_however_records_are_grouped(
    requests, live_group, max_batch, step_jobs, per_record, overhead
):
    assume(_away_from_bounds(per_record))  # s·n/n may round across a bucket bound
    clock = CostClock(0.0, per_record)
    agg, _ = serve(requests, live_group, max_batch, step_jobs, clock, overhead)
    rows, srows = agg.drain()
    step = step_from_rows(rows, srows, "1", "4", shadow=True, comparator="exact")
    n = sum(requests)
    assert sum(step.base.latency_counts) == sum(step.cand.latency_counts) == n  # one unit: the record
    result = check_latency(step.base, step.cand, CHECK, CHECK.alpha)
    assert result.status == "pass", result.message
    assert result.evidence["ratio"] == pytest.approx(1.0)
    (b_sum, b_n), (c_sum, c_n) = step.base.metrics["latency_mean_s"], step.cand.metrics["latency_mean_s"]
    assert b_sum / b_n == pytest.approx(per_record) and c_sum / c_n == pytest.approx(per_record)


@settings(max_examples=40, deadline=None)
@given(
    batches=st.integers(20, 80),
    size=st.integers(1, 32),
    fixed=st.floats(1e-4, 0.05),
    per_record=st.floats(0.0, 0.01),
)
def test_with_a_fixed_cost_per_call_the_arms_agree_when_they_batch_alike(batches, size, fixed, per_record):
    clock = CostClock(fixed, per_record)
    assume(_away_from_bounds(clock.cost(size) / size))
    agg, _ = serve([1] * (batches * size), size, size, size, clock)
    rows, srows = agg.drain()
    step = step_from_rows(rows, srows, "1", "4", shadow=True, comparator="exact")
    result = check_latency(step.base, step.cand, CHECK, CHECK.alpha)
    assert result.status == "pass" and result.evidence["ratio"] == pytest.approx(1.0)


def _hist(values: list[float]) -> tuple[tuple[float, ...], tuple[float, ...]]:
    agg = WindowAggregator("g", clock=ManualClock(), bounds=LATENCY_BUCKETS)
    for v in values:
        agg.record("m", "x", "stable", v)
    (row,), _ = agg.drain()
    return (*LATENCY_BUCKETS, float("inf")), tuple(float(c) for c in row["latency_histogram"]["counts"])


def test_the_old_units_fail_the_identical_candidate_the_new_ones_pass_it(sqlite_store):
    """Single-record requests at moderate load (micro-batches of 2), the pump's steps of 32 requests:
    stable's request takes ~2 ms, the shadow's step ~32 ms — 16× "slower" by the old units."""
    from trilho.store.routing import write_windows

    since = datetime.now(UTC)
    clock = CostClock(0.0, 0.0012)
    agg, steps = serve([1] * 320, 2, 32, 32, clock, overhead=0.0003)
    rows, srows = agg.drain()
    for r in rows + srows:  # windows as the gateway writes them, read back through the store
        r["window_start"], r["window_end"] = since, datetime.now(UTC)
    write_windows(sqlite_store, rows, srows)
    step = read_step(sqlite_store, "m", "1", "4", since=since, shadow=True, comparator="exact")
    assert step == step_from_rows(rows, srows, "1", "4", shadow=True, comparator="exact")
    new = check_latency(step.base, step.cand, CHECK, CHECK.alpha)
    assert new.status == "pass" and new.evidence["ratio"] == pytest.approx(1.0)

    # the old code's arms: stable end to end per request, the shadow one observation per step
    live = read_step(sqlite_store, "m", "1", "4", since=since, shadow=False).base
    bounds, counts = _hist(steps)
    old_cand = VersionWindow("4", 320, 0, bounds, counts)
    old = check_latency(live, old_cand, CHECK, CHECK.alpha)
    assert old.status == "fail" and old.evidence["ratio"] > 5


@pytest.mark.parametrize("isolation", ["process", "thread"])
def test_over_sockets_both_arms_of_a_shadow_step_count_model_time_per_record(
    registered, start_gateway, isolation
):
    """The gateway's windows carry stable's model time per record (its micro-batch) and the shadow's (its
    calls, from the child process or the shadow thread): one observation per record on each arm."""
    from trilho.store import routing as rt
    from trilho.store.routing import Deployment, Route

    store, root = registered
    since = datetime.now(UTC)
    rt.set_deployment(
        store, Deployment("scorer", routes=(Route("1"), Route("4", "shadow", 0.0)), shadow_fraction=1.0)
    )
    gw = start_gateway(store, root, shadow_isolation=isolation)
    n = 12
    records = [{"x1": float(i), "x2": 1.0} for i in range(n)]
    r = httpx.post(f"{gw.url}/v1/models/scorer:predict", json={"instances": records}, timeout=30)
    assert r.status_code == 200

    def observed():
        step = read_step(store, "scorer", "1", "4", since=since, shadow=True, comparator="exact")
        return step, sum(step.base.latency_counts), sum(step.cand.latency_counts)

    until = time.monotonic() + 90  # the shadow runs at background priority: a busy machine delays it
    step, base_n, cand_n = observed()
    while time.monotonic() < until and (base_n < n or cand_n < n):
        time.sleep(0.05)
        step, base_n, cand_n = observed()
    assert (base_n, cand_n) == (n, n)  # records on both arms (the old shadow arm: 1 observation per step)
    assert step.base.latency_bounds == step.cand.latency_bounds
    assert step.base.requests == 1 and step.cand.requests == n
