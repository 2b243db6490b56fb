"""Deadline-aware micro-batching for one model version.

Requests queue up; a batch is sent to the model (in a thread executor, never on the event loop) when:
- the model is idle: at the next event-loop tick, so a lone request at low load waits only microseconds;
- the batch is full (``max_batch_size`` records);
- ``max_wait_ms`` has passed since the first queued request (while another batch is still running);
- the oldest request's remaining budget is less than the predicted batch time (early flush);
- a running batch finishes and requests are waiting.
A request is never split across batches, requests whose deadline already passed are not sent, and one batcher
serves one version, so batches never mix versions. Beyond ``max_queue`` waiting records, ``submit`` sheds.

A batch that fails is isolated before anyone is failed: one record that makes the model raise must fail only
its own request. When the model answers a known-good record (the last one it answered, e.g. a warm-up record)
the batch is bisected by request — halves re-run concurrently, a half that answers is delivered — and a
request that still fails alone is bisected by record to name the culprit: its caller gets ``RecordFailed``
(the record's index and the model's exception). When the known-good record fails too (or, with none known,
every part fails) the failure is the model's: every caller gets the model's exception, as before. The batch
counts as in flight until isolation ends, so isolation never stacks on top of new batches.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import Callable, Sequence
from concurrent.futures import Executor
from dataclasses import dataclass
from typing import Any

from trilho.contracts.columns import join
from trilho.errors import ServingError


class QueueFull(ServingError):
    """The version's queue is over capacity: the request is shed (503)."""


class DeadlineExceeded(ServingError):
    """The request's latency budget ran out before the model answered."""


class BatchError(ServingError):
    """The model answered a batch with the wrong number of outputs."""


class RecordFailed(ServingError):
    """The model failed on a record of this request while it answered other records: the record's fault
    (``record``: its index in the request, or None when only the request's records together fail)."""


def record_failed(index: int | None, exc: BaseException) -> RecordFailed:
    """The error a caller gets for its record that made the model fail (naming the record and the error)."""
    error = f"{type(exc).__name__}: {exc}"[:500]
    which = f"record {index} of this request" if index is not None else "the records of this request"
    return RecordFailed(
        f"the model failed on {which} ({error}); it answered other records",
        fix=f"check {which} against the model's contract, or report the model's failure on it",
        reason="model_error",
        record=index,
        exception=error,
    )


@dataclass(slots=True)
class _Item:
    records: Sequence[Any]
    future: asyncio.Future
    enqueued: float  # loop.time(): timers and deadlines (uvloop's clock ticks in whole milliseconds)
    queued_at: float  # time.perf_counter(): the queue wait reported to on_batch (sub-millisecond waits)
    deadline: float | None = None


BatchHook = Callable[
    [int, list[float], float], None
]  # (records in batch, queue waits in s, batch duration s)


class MicroBatcher:
    """Queue → batches → ``call(records) -> outputs`` in an executor; ``await submit(records)`` each."""

    def __init__(
        self,
        call: Callable[[list[Any]], Sequence[Any]],
        *,
        max_batch_size: int = 32,
        max_wait_ms: float = 2.0,
        max_queue: int = 2048,
        concurrency: int = 1,
        executor: Executor | None = None,
        on_batch: BatchHook | None = None,
        columnar: bool = False,
    ) -> None:
        self.call = call
        self.columnar = columnar  # ``call`` takes a ColumnBatch whole (else column batches become records)
        self.max_batch_size = max_batch_size
        self.max_wait_s = max_wait_ms / 1000.0
        self.max_queue = max_queue
        self.concurrency = concurrency
        self.executor = executor
        self.on_batch = on_batch
        self.predicted_s = 0.0  # EWMA of recent batch durations
        self._pending: deque[_Item] = deque()
        self._pending_records = 0
        self._in_flight = 0
        self._timer: asyncio.TimerHandle | None = None
        self._timer_at = 0.0
        self._tick_scheduled = False
        self._loop: asyncio.AbstractEventLoop | None = None
        self._good: Any = None  # a record the model answered last: the probe that tells whose failure it is
        self._isolating: set[asyncio.Task] = set()

    @property
    def queued(self) -> int:
        """Records waiting (not yet sent to the model)."""
        return self._pending_records

    async def submit(self, records: Sequence[Any], deadline: float | None = None) -> list[Any]:
        """Queue one request's records; returns their outputs. ``deadline`` is in ``loop.time()`` seconds."""
        n = len(records)
        if self._pending_records + n > self.max_queue:
            raise QueueFull(
                f"queue over capacity ({self._pending_records} records waiting, limit {self.max_queue})",
                fix="retry later, or raise batching.max_queue / add replicas",
                reason="queue_full",
            )
        loop = self._loop or asyncio.get_running_loop()
        self._loop = loop
        fut = loop.create_future()
        self._pending.append(_Item(records, fut, loop.time(), time.perf_counter(), deadline))
        self._pending_records += n
        self._maybe_flush()
        return await fut

    # --- scheduling ------------------------------------------------------------------------------------
    def _maybe_flush(self) -> None:
        if not self._pending or self._in_flight >= self.concurrency:
            return  # a finishing batch will flush
        if self._pending_records >= self.max_batch_size:
            self._flush()
        elif self._in_flight == 0:
            if not self._tick_scheduled:
                self._tick_scheduled = True
                self._loop.call_soon(self._tick)
        else:
            self._arm_timer()

    def _tick(self) -> None:
        self._tick_scheduled = False
        if self._pending and self._in_flight < self.concurrency:
            self._flush()

    def _arm_timer(self) -> None:
        first = self._pending[0]
        when = first.enqueued + self.max_wait_s
        deadlines = [it.deadline for it in self._pending if it.deadline is not None]
        if deadlines:
            when = min(when, min(deadlines) - self.predicted_s)
        if when <= self._loop.time():
            self._flush()
            return
        if self._timer is not None:
            if self._timer_at <= when:
                return
            self._timer.cancel()
        self._timer_at = when  # kept here: uvloop's timer handles have no when()
        self._timer = self._loop.call_at(when, self._on_timer)

    def _on_timer(self) -> None:
        self._timer = None
        if self._pending and self._in_flight < self.concurrency:
            self._flush()
        elif self._pending:
            self._maybe_flush()

    def _flush(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        loop = self._loop
        now = loop.time()
        items: list[_Item] = []
        size = 0
        while self._pending:
            item = self._pending[0]
            if item.future.done():  # cancelled by its caller's timeout
                self._pending.popleft()
                self._pending_records -= len(item.records)
                continue
            if item.deadline is not None and item.deadline <= now:
                self._pending.popleft()
                self._pending_records -= len(item.records)
                item.future.set_exception(DeadlineExceeded("budget spent while queued", reason="deadline"))
                continue
            if items and size + len(item.records) > self.max_batch_size:
                break
            self._pending.popleft()
            self._pending_records -= len(item.records)
            items.append(item)
            size += len(item.records)
        if not items:
            return
        records = join([it.records for it in items], columns=self.columnar)
        sent = time.perf_counter()
        waits = [sent - it.queued_at for it in items]
        try:
            fut = loop.run_in_executor(self.executor, _timed_call, self.call, records)
        except Exception as exc:  # the executor refused the call: its callers fail now, never hang
            for it in items:
                if not it.future.done():
                    it.future.set_exception(exc)
            return
        self._in_flight += 1
        fut.add_done_callback(lambda f: self._done(f, items, size, waits))
        if self._pending:
            self._maybe_flush()

    def _done(self, fut: asyncio.Future, items: list[_Item], size: int, waits: list[float]) -> None:
        exc = fut.exception()
        if exc is None:
            outputs, duration = fut.result()
            self.predicted_s = (
                duration if self.predicted_s == 0.0 else 0.8 * self.predicted_s + 0.2 * duration
            )
            if self.on_batch is not None:
                self.on_batch(size, waits, duration)
            exc = _deliver(items, outputs, size)
            if exc is None and items[0].records:
                self._good = items[0].records[0]
        if exc is not None:
            live = [it for it in items if not it.future.done()]
            if live and (sum(len(it.records) for it in live) > 1 or self._good is not None):
                task = self._loop.create_task(self._isolate(live, exc))  # still in flight until it ends
                self._isolating.add(task)
                task.add_done_callback(self._isolating.discard)
                return
            for it in live:
                it.future.set_exception(exc)
        self._finished()

    def _finished(self) -> None:
        """A batch (and its isolation) is over: send what waits."""
        self._in_flight -= 1
        if self._pending:
            try:
                self._maybe_flush()
            except Exception as flush_exc:  # never leave waiting callers hanging in a loop callback
                while self._pending:
                    it = self._pending.popleft()
                    if not it.future.done():
                        it.future.set_exception(flush_exc)
                self._pending_records = 0

    # --- isolation of a failed batch -------------------------------------------------------------------
    async def _isolate(self, items: list[_Item], exc: BaseException) -> None:
        """Fail only the requests whose records make the model fail (see the module docstring)."""
        try:
            good = self._good
            healthy = good is not None and await self._answers([good]) is None
            if good is not None and not healthy:  # the model fails on what it answered before: model-wide
                failed = [(it, exc) for it in items]
            else:
                failed = []
                healthy = await self._bisect(items, exc, failed) or healthy
            for it, error in failed:
                if it.future.done():
                    continue
                if healthy:
                    index, error = await self._culprit(it, error)
                    error = record_failed(index, error)
                it.future.set_exception(error)
        except Exception as internal:  # never leave a caller waiting
            for it in items:
                if not it.future.done():
                    it.future.set_exception(internal)
        finally:
            self._finished()

    async def _bisect(self, items: list[_Item], exc: BaseException, failed: list) -> bool:
        """Re-run the halves of a failed group of requests, concurrently, delivering the halves that answer;
        a request that fails alone goes to ``failed``. Returns whether any half answered."""
        items = [it for it in items if not it.future.done()]  # callers that gave up are not re-run
        if len(items) <= 1:
            failed += [(it, exc) for it in items]
            return False
        mid = len(items) // 2
        halves = (items[:mid], items[mid:])
        calls = (self._answers([r for it in half for r in it.records], half) for half in halves)
        errors = await asyncio.gather(*calls)
        answered = any(error is None for error in errors)
        for half, error in zip(halves, errors, strict=True):
            if error is not None and await self._bisect(half, error, failed):
                answered = True
        return answered

    async def _culprit(self, item: _Item, exc: BaseException) -> tuple[int | None, BaseException]:
        """The index of a record of ``item`` the model fails on alone (and its error), by bisection."""
        lo, hi = 0, len(item.records)
        while hi - lo > 1:
            mid = (lo + hi) // 2
            error = await self._answers(list(item.records[lo:mid]))
            if error is not None:
                hi, exc = mid, error
                continue
            error = await self._answers(list(item.records[mid:hi]))
            if error is None:  # each half alone answers: only together do they fail
                return None, exc
            lo, exc = mid, error
        return lo, exc

    async def _answers(self, records: list[Any], items: list[_Item] | None = None) -> BaseException | None:
        """Call the model on ``records`` in the executor; deliver to ``items`` when it answers. Returns the
        failure, or None."""
        try:
            outputs, _ = await self._loop.run_in_executor(self.executor, _timed_call, self.call, records)
        except Exception as exc:
            return exc
        if items is not None:
            return _deliver(items, outputs, len(records))
        if outputs is None or len(outputs) != len(records):
            return _miscount(outputs, len(records))
        return None


def _miscount(outputs: Any, size: int) -> BatchError:
    got = "None" if outputs is None else len(outputs)
    return BatchError(
        f"the model returned {got} outputs for {size} inputs",
        fix="predict() must return one output per input record",
        reason="model_error",
    )


def _deliver(items: list[_Item], outputs: Any, size: int) -> BatchError | None:
    """Hand each request its slice of ``outputs``; a wrong count is the batch's error (nothing delivered)."""
    if outputs is None or len(outputs) != size:
        return _miscount(outputs, size)
    offset = 0
    for it in items:
        n = len(it.records)
        if not it.future.done():
            it.future.set_result(list(outputs[offset : offset + n]))
        offset += n
    return None


def _timed_call(
    call: Callable[[list[Any]], Sequence[Any]], records: list[Any]
) -> tuple[Sequence[Any], float]:
    start = time.perf_counter()
    outputs = call(records)
    return outputs, time.perf_counter() - start
