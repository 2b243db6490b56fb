"""Micro-batching: batches form under load, lone requests do not wait for the timer, versions never mix,
full queues shed, expired requests are not sent, and errors reach every caller."""

from __future__ import annotations

import asyncio
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from trilho.serving.batching import BatchError, DeadlineExceeded, MicroBatcher, QueueFull


class Recorder:
    """A model that records each batch it was called with (and can be slowed or broken)."""

    def __init__(self, delay: float = 0.0, tag: str = "") -> None:
        self.batches: list[list] = []
        self.delay = delay
        self.tag = tag

    def __call__(self, records):
        self.batches.append(list(records))
        if self.delay:
            time.sleep(self.delay)
        return [{"y": r["x"], "tag": self.tag} for r in records]


def run(coro):
    return asyncio.run(coro)


def run_uvloop(coro):
    """The gateway runs on uvloop in production: its handles differ from asyncio's."""
    import uvloop

    return uvloop.run(coro)


def test_lone_request_is_sent_without_waiting_for_the_timer():
    model = Recorder()

    async def main():
        b = MicroBatcher(model, max_batch_size=32, max_wait_ms=60_000)
        t0 = time.perf_counter()
        out = await b.submit([{"x": 1}])
        return out, time.perf_counter() - t0

    out, elapsed = run(main())
    assert out == [{"y": 1, "tag": ""}] and model.batches == [[{"x": 1}]]
    assert elapsed < 5.0  # a 60 s timer was never waited for


def test_batches_form_under_load_and_respect_the_size_limit():
    model = Recorder(delay=0.02)

    async def main():
        b = MicroBatcher(model, max_batch_size=8, max_wait_ms=1)
        outs = await asyncio.gather(*(b.submit([{"x": i}]) for i in range(40)))
        return outs

    outs = run(main())
    assert [o[0]["y"] for o in outs] == list(range(40))  # every caller got its own output
    assert max(len(bt) for bt in model.batches) <= 8
    assert len(model.batches) < 40  # requests shared model calls
    assert sum(len(bt) for bt in model.batches) == 40


def test_a_request_is_never_split_and_large_requests_go_alone():
    model = Recorder(delay=0.01)

    async def main():
        b = MicroBatcher(model, max_batch_size=4, max_wait_ms=1)
        return await asyncio.gather(
            b.submit([{"x": 0}]), b.submit([{"x": i} for i in range(1, 7)]), b.submit([{"x": 7}, {"x": 8}])
        )

    outs = run(main())
    assert [len(o) for o in outs] == [1, 6, 2]
    assert [{"x": i} for i in range(1, 7)] in model.batches


def test_two_versions_never_share_a_batch():
    v1, v2 = Recorder(0.005, "v1"), Recorder(0.005, "v2")

    async def main():
        b1, b2 = MicroBatcher(v1, max_batch_size=16), MicroBatcher(v2, max_batch_size=16)
        return await asyncio.gather(*(b.submit([{"x": i}]) for i in range(30) for b in (b1, b2)))

    outs = run(main())
    assert {o[0]["tag"] for o in outs[::2]} == {"v1"} and {o[0]["tag"] for o in outs[1::2]} == {"v2"}
    assert sum(map(len, v1.batches)) == 30 and sum(map(len, v2.batches)) == 30


def test_queue_over_capacity_sheds():
    gate = threading.Event()

    def slow(records):
        gate.wait(5)
        return records

    async def main():
        b = MicroBatcher(slow, max_batch_size=1, max_queue=3)
        first = asyncio.ensure_future(b.submit([{"x": 0}]))
        await asyncio.sleep(0.05)  # first is running; the next 3 fill the queue
        waiting = [asyncio.ensure_future(b.submit([{"x": i}])) for i in range(1, 4)]
        await asyncio.sleep(0)
        with pytest.raises(QueueFull) as err:
            await b.submit([{"x": 9}])
        gate.set()
        await asyncio.gather(first, *waiting)
        return err.value

    exc = run(main())
    assert exc.fields["reason"] == "queue_full"


def test_expired_requests_are_not_sent_to_the_model():
    gate = threading.Event()
    seen = []

    def model(records):
        seen.extend(records)
        gate.wait(5)
        return records

    async def main():
        loop = asyncio.get_running_loop()
        b = MicroBatcher(model, max_batch_size=1)
        first = asyncio.ensure_future(b.submit([{"x": 0}]))
        await asyncio.sleep(0.02)
        doomed = asyncio.ensure_future(b.submit([{"x": 1}], deadline=loop.time() + 0.01))
        await asyncio.sleep(0.05)
        gate.set()
        await first
        with pytest.raises(DeadlineExceeded):
            await doomed

    run(main())
    assert seen == [{"x": 0}]


def test_model_errors_and_wrong_output_counts_reach_every_caller():
    def broken(records):
        raise RuntimeError("boom")

    async def main():
        b = MicroBatcher(broken)
        results = await asyncio.gather(b.submit([{"x": 1}]), b.submit([{"x": 2}]), return_exceptions=True)
        short = MicroBatcher(lambda r: r[:-1])
        with pytest.raises(BatchError):
            await short.submit([{"x": 1}, {"x": 2}])
        return results

    results = run(main())
    assert all(isinstance(r, RuntimeError) for r in results)


def test_batch_hook_reports_size_and_waits_and_runs_in_executor():
    seen = []
    threads = set()

    def model(records):
        threads.add(threading.current_thread().name)
        time.sleep(0.005)
        return records

    async def main():
        pool = ThreadPoolExecutor(1, thread_name_prefix="model-pool")
        b = MicroBatcher(
            model, max_batch_size=64, executor=pool, on_batch=lambda n, w, d: seen.append((n, len(w), d))
        )
        await asyncio.gather(*(b.submit([{"x": i}]) for i in range(20)))
        pool.shutdown()
        return b.predicted_s

    predicted = run(main())
    assert sum(n for n, _, _ in seen) == 20 and all(n >= k for n, k, _ in seen)
    assert predicted > 0 and all(t.startswith("model-pool") for t in threads)


@pytest.mark.parametrize("runner", [run, run_uvloop], ids=["asyncio", "uvloop"])
def test_wait_timer_flushes_a_second_batch_while_the_first_still_runs(runner):
    gate = threading.Event()
    calls = []

    def model(records):
        calls.append([r["x"] for r in records])
        if records[0]["x"] == 0:
            gate.wait(5)
        return records

    async def main():
        b = MicroBatcher(model, max_batch_size=32, max_wait_ms=20, concurrency=2)
        first = asyncio.ensure_future(b.submit([{"x": 0}]))
        await asyncio.sleep(0.05)  # batch [0] is running and blocked
        second = await asyncio.gather(b.submit([{"x": 1}]), b.submit([{"x": 2}]))
        blocked = not gate.is_set()
        gate.set()
        await first
        return second, blocked

    second, blocked = runner(main())
    assert blocked and second == [[{"x": 1}], [{"x": 2}]]
    assert calls == [[0], [1, 2]]  # the timer gathered 1 and 2 into one batch, without waiting for batch 0


@pytest.mark.parametrize("runner", [run, run_uvloop], ids=["asyncio", "uvloop"])
def test_early_flush_when_the_oldest_budget_is_shorter_than_the_predicted_batch_time(runner):
    gate = threading.Event()

    def model(records):
        if records[0]["x"] == 0:
            gate.wait(5)
        return records

    async def main():
        loop = asyncio.get_running_loop()
        b = MicroBatcher(model, max_batch_size=32, max_wait_ms=60_000, concurrency=2)
        first = asyncio.ensure_future(b.submit([{"x": 0}]))
        await asyncio.sleep(0.05)
        b.predicted_s = 0.1  # as if recent batches took 100 ms
        out = await b.submit([{"x": 1}], deadline=loop.time() + 0.3)  # flushed ~0.2 s in, not after 60 s
        blocked = not gate.is_set()
        gate.set()
        await first
        return out, blocked

    out, blocked = runner(main())
    assert out == [{"x": 1}] and blocked


def test_an_executor_that_refuses_the_call_fails_its_callers_instead_of_hanging():
    class Refusing(ThreadPoolExecutor):
        def submit(self, fn, /, *args, **kwargs):
            raise RuntimeError("cannot start a worker")

    async def main():
        b = MicroBatcher(Recorder(), executor=Refusing(1))
        results = await asyncio.wait_for(
            asyncio.gather(b.submit([{"x": 1}]), b.submit([{"x": 2}]), return_exceptions=True), 5
        )
        assert b._in_flight == 0  # nothing is counted as running: the next request is tried again
        return results

    results = run(main())
    assert [type(r) for r in results] == [RuntimeError, RuntimeError]


def test_queue_waits_are_measured_below_a_millisecond_on_uvloop():
    """uvloop's loop.time() ticks in whole milliseconds: the reported waits must not round to zero."""
    waits: list[float] = []

    async def main():
        b = MicroBatcher(Recorder(delay=0.002), max_batch_size=4, on_batch=lambda n, w, d: waits.extend(w))
        await asyncio.gather(*(b.submit([{"x": i}]) for i in range(12)))
        for _ in range(5):  # lone requests: sent at the next tick, a wait of microseconds
            await b.submit([{"x": 0}])

    run_uvloop(main())
    lone = waits[-5:]
    assert all(0.0 < w < 0.001 for w in lone), lone  # positive, and far below the millisecond tick
    assert max(waits[:12]) >= 0.001  # the queued ones waited for the 2 ms batches ahead of them
