"""The bounded queue between live requests and the shadow workers: ``put`` never waits (a full queue drops
the copy and says so), ``take`` waits for the first copy, lingers briefly so a batch can gather, then drains.
Cheaper per request than ``asyncio.Queue``: a deque append, and a wake-up only when the queue was empty."""

from __future__ import annotations

import asyncio
from collections import deque
from typing import Generic, TypeVar

T = TypeVar("T")


class ShadowQueue(Generic[T]):
    """A bounded FIFO for one event loop."""

    def __init__(self, maxsize: int) -> None:
        self.maxsize = maxsize
        self._items: deque[T] = deque()
        self._nonempty = asyncio.Event()

    def __len__(self) -> int:
        return len(self._items)

    def put(self, item: T) -> bool:
        """Queue ``item``; False (nothing queued) when the queue is full."""
        if len(self._items) >= self.maxsize:
            return False
        self._items.append(item)
        if len(self._items) == 1:
            self._nonempty.set()
        return True

    async def take(self, max_items: int, linger_s: float = 0.0) -> list[T]:
        """Wait for at least one item; after ``linger_s`` more, return up to ``max_items`` in FIFO order."""
        while not self._items:
            self._nonempty.clear()
            await self._nonempty.wait()
        if linger_s > 0:
            await asyncio.sleep(linger_s)
        items = self._items
        n = min(max_items, len(items))
        batch = [items.popleft() for _ in range(n)]
        if not items:
            self._nonempty.clear()
        return batch
