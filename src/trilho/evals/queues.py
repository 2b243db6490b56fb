"""Bounded queues that carry sampled responses to the judge, off the request path.

``InProcessQueue`` (default): a bounded deque; a full queue drops the newest item and counts it.
``RedisStreamQueue``: a Redis stream shared by many gateways, bounded by length, consumed through a consumer
group with acknowledgements (an item is removed only after it was judged).
"""

from __future__ import annotations

import json
import threading
from collections import deque
from typing import Any, Protocol

from trilho.errors import EvalError


class JudgeQueue(Protocol):
    """What the online evaluator needs from a queue."""

    drops: int

    def put(self, item: dict[str, Any]) -> bool: ...

    def get_batch(self, n: int) -> list[tuple[str, dict[str, Any]]]: ...

    def ack(self, ids: list[str]) -> None: ...

    def __len__(self) -> int: ...


class InProcessQueue:
    """A bounded, thread-safe in-process queue."""

    def __init__(self, maxsize: int = 1000) -> None:
        if maxsize < 1:
            raise EvalError("queue size must be ≥ 1", field="maxsize", value=maxsize)
        self.maxsize = maxsize
        self._items: deque[tuple[str, dict[str, Any]]] = deque()
        self._lock = threading.Lock()
        self._seq = 0
        self.drops = 0

    def put(self, item: dict[str, Any]) -> bool:
        """Enqueue; False (and a counted drop) when full."""
        with self._lock:
            if len(self._items) >= self.maxsize:
                self.drops += 1
                return False
            self._seq += 1
            self._items.append((str(self._seq), item))
            return True

    def get_batch(self, n: int) -> list[tuple[str, dict[str, Any]]]:
        """Take up to ``n`` items."""
        with self._lock:
            out = []
            while self._items and len(out) < n:
                out.append(self._items.popleft())
            return out

    def ack(self, ids: list[str]) -> None:
        """Nothing to do in process (items are removed when taken)."""

    def __len__(self) -> int:
        return len(self._items)


class RedisStreamQueue:
    """A Redis stream (``XADD`` / ``XREADGROUP`` / ``XACK``) bounded at ``maxlen`` entries."""

    def __init__(
        self,
        url: str = "redis://127.0.0.1:6379/0",
        *,
        stream: str = "trilho:evals:judge",
        group: str = "judges",
        consumer: str = "worker-1",
        maxlen: int = 10000,
    ) -> None:
        import redis

        self._r = redis.Redis.from_url(url, socket_timeout=2, socket_connect_timeout=2)
        self.stream, self.group, self.consumer, self.maxlen = stream, group, consumer, maxlen
        self.drops = 0
        try:
            self._r.xgroup_create(stream, group, id="0", mkstream=True)
        except redis.ResponseError as exc:
            if "BUSYGROUP" not in str(exc):
                raise
        except redis.RedisError as exc:
            raise EvalError(
                f"Redis at {url} is unreachable: {exc}",
                fix="start Redis or use the in-process queue",
                field="redis_url",
                value=url,
            ) from exc

    def put(self, item: dict[str, Any]) -> bool:
        """Append to the stream; False (a counted drop) when the stream holds ``maxlen`` unconsumed entries
        or Redis is unavailable."""
        import redis

        try:
            if self._r.xlen(self.stream) >= self.maxlen:
                self.drops += 1
                return False
            self._r.xadd(self.stream, {"item": json.dumps(item, default=str)})
            return True
        except redis.RedisError:
            self.drops += 1
            return False

    def get_batch(self, n: int) -> list[tuple[str, dict[str, Any]]]:
        """Read up to ``n`` new entries for this consumer."""
        resp = self._r.xreadgroup(self.group, self.consumer, {self.stream: ">"}, count=n, block=None)
        out = []
        for _stream, entries in resp or []:
            for entry_id, fields in entries:
                eid = entry_id.decode() if isinstance(entry_id, bytes) else entry_id
                raw = fields.get(b"item") or fields.get("item")
                out.append((eid, json.loads(raw)))
        return out

    def ack(self, ids: list[str]) -> None:
        """Acknowledge and delete judged entries."""
        if ids:
            self._r.xack(self.stream, self.group, *ids)
            self._r.xdel(self.stream, *ids)

    def __len__(self) -> int:
        return int(self._r.xlen(self.stream))

    def delete(self) -> None:
        """Remove the stream and its groups (tests, teardown)."""
        self._r.delete(self.stream)
