"""Deadline-aware micro-batching for one model version.

Requests queue up; a batch is sent to the model (in a thread executor, never on the event loop) when:
- the model is idle: at the next event-loop tick, so a lone request at low load waits only microseconds;
- the batch is full (``max_batch_size`` records);
- ``max_wait_ms`` has passed since the first queued request (while another batch is still running);
- the oldest request's remaining budget is less than the predicted batch time (early flush);
- a running batch finishes and requests are waiting.
A request is never split across batches, requests whose deadline already passed are not sent, and one batcher
serves one version, so batches never mix versions. Beyond ``max_queue`` waiting records, ``submit`` sheds.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import Callable, Sequence
from concurrent.futures import Executor
from dataclasses import dataclass
from typing import Any

from trilho.errors import ServingError


class QueueFull(ServingError):
    """The version's queue is over capacity: the request is shed (503)."""


class DeadlineExceeded(ServingError):
    """The request's latency budget ran out before the model answered."""


class BatchError(ServingError):
    """The model answered a batch with the wrong number of outputs."""


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
    ) -> None:
        self.call = call
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
        records: list[Any] = []
        for it in items:
            records.extend(it.records)
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
        self._in_flight -= 1
        exc = fut.exception()
        if exc is None:
            outputs, duration = fut.result()
            self.predicted_s = (
                duration if self.predicted_s == 0.0 else 0.8 * self.predicted_s + 0.2 * duration
            )
            if self.on_batch is not None:
                self.on_batch(size, waits, duration)
            if outputs is None or len(outputs) != size:
                got = "None" if outputs is None else len(outputs)
                exc = BatchError(
                    f"the model returned {got} outputs for {size} inputs",
                    fix="predict() must return one output per input record",
                    reason="model_error",
                )
            else:
                offset = 0
                for it in items:
                    n = len(it.records)
                    if not it.future.done():
                        it.future.set_result(list(outputs[offset : offset + n]))
                    offset += n
        if exc is not None:
            for it in items:
                if not it.future.done():
                    it.future.set_exception(exc)
        if self._pending:
            try:
                self._maybe_flush()
            except Exception as flush_exc:  # never leave waiting callers hanging in a loop callback
                while self._pending:
                    it = self._pending.popleft()
                    if not it.future.done():
                        it.future.set_exception(flush_exc)
                self._pending_records = 0


def _timed_call(
    call: Callable[[list[Any]], Sequence[Any]], records: list[Any]
) -> tuple[Sequence[Any], float]:
    start = time.perf_counter()
    outputs = call(records)
    return outputs, time.perf_counter() - start
