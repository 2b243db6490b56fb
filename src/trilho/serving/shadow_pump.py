"""The shadow pump: a bounded queue that the event loop fills and one background thread drains. The loop's
whole share of shadow work is ``put`` — a length check and a deque append, plus a wake-up when the queue was
empty — so live requests pay no coroutine, timer or comparison for a shadow. The thread waits briefly after
the first copy so a batch gathers, then hands the copies to ``handle`` in chunks; a full queue drops the copy
(``put`` returns False and the caller counts it).

Run the thread at a scheduling class that does not preempt the event loop (``serving.settings.
model_thread_policy``): it then works while the loop waits for I/O."""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable
from typing import Generic, TypeVar

from trilho.obs import get_logger

log = get_logger("serving.shadow")

T = TypeVar("T")


class ShadowPump(Generic[T]):
    """A bounded FIFO filled by one producer thread (the event loop) and drained by its own thread."""

    def __init__(
        self,
        handle: Callable[[list[T]], None],
        maxsize: int,
        *,
        linger_s: float = 0.005,
        chunk: int = 32,
        max_items: int = 256,
        init: Callable[[], None] | None = None,
        name: str = "trilho-shadow",
    ) -> None:
        self.handle = handle
        self.maxsize = maxsize
        self.linger_s = linger_s
        self.chunk = max(1, chunk)
        self.max_items = max_items
        self.init = init
        self.name = name
        self._items: deque[T] = deque()
        self._wake = threading.Event()
        self._stopping = False
        self._thread: threading.Thread | None = None

    def __len__(self) -> int:
        return len(self._items)

    def put(self, item: T) -> bool:
        """Queue ``item`` (never blocks); False, with nothing queued, when the queue is full."""
        items = self._items
        if len(items) >= self.maxsize:
            return False
        items.append(item)
        if len(items) == 1:
            self._wake.set()
        return True

    def start(self) -> None:
        """Start the draining thread."""
        if self._thread is None:
            self._stopping = False
            self._thread = threading.Thread(target=self._run, name=self.name, daemon=True)
            self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        """Stop after the chunk in hand (queued copies are discarded); wait up to ``timeout`` seconds for
        the thread (0: only ask it to stop)."""
        self._stopping = True
        self._wake.set()
        if self._thread is not None and timeout > 0:
            self._thread.join(timeout)
            if not self._thread.is_alive():
                self._thread = None

    def _take(self) -> list[T]:
        items = self._items
        while not items and not self._stopping:
            self._wake.clear()
            if not items:  # a put between the check and the clear set the event again
                self._wake.wait()
        if self._stopping:
            return []
        if self.linger_s > 0:
            time.sleep(self.linger_s)
        return [items.popleft() for _ in range(min(self.max_items, len(items)))]

    def _run(self) -> None:
        if self.init is not None:
            self.init()
        while not self._stopping:
            batch = self._take()
            for start in range(0, len(batch), self.chunk):
                if self._stopping:
                    return
                try:
                    self.handle(batch[start : start + self.chunk])
                except Exception as exc:  # one bad chunk never stops the pump
                    log.warning("shadow step failed", error=f"{type(exc).__name__}: {exc}")
