"""Opt-in response cache keyed by (model version, canonical input hash): LRU with a time to live.

Versions no longer routed are purged when the routing table changes (``retain``), and only routed versions
are ever looked up, so nothing of a rolled-back version is served from cache."""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Iterable, Mapping
from typing import Any

import msgspec
import xxhash

from trilho.clock import Clock, SystemClock


def input_key(record: Mapping[str, Any]) -> str:
    """A canonical hash of one input record (key order does not matter)."""
    return xxhash.xxh3_128_hexdigest(msgspec.json.encode(record, order="sorted"))


class ResponseCache:
    """An LRU + TTL map from (version, input hash) to an output record."""

    def __init__(
        self,
        max_entries: int = 10_000,
        ttl_s: float = 60.0,
        clock: Clock | None = None,
        on_evict: Callable[[str, str], None] | None = None,
    ) -> None:
        self.max_entries = max_entries
        self.ttl_s = ttl_s
        self.clock = clock or SystemClock()
        self.on_evict = on_evict  # called with (version, reason) for each entry dropped
        self._data: OrderedDict[tuple[str, str], tuple[float, Any]] = OrderedDict()

    def __len__(self) -> int:
        return len(self._data)

    def get(self, version: str, key: str) -> Any | None:
        """The cached output, or None (expired entries count as misses and are dropped)."""
        item = self._data.get((version, key))
        if item is None:
            return None
        expires, value = item
        if self.clock.monotonic() >= expires:
            del self._data[(version, key)]
            self._evicted(version, "ttl")
            return None
        self._data.move_to_end((version, key))
        return value

    def put(self, version: str, key: str, value: Any) -> None:
        """Store an output; the least recently used entry goes when full."""
        self._data[(version, key)] = (self.clock.monotonic() + self.ttl_s, value)
        self._data.move_to_end((version, key))
        while len(self._data) > self.max_entries:
            (old_version, _), _ = self._data.popitem(last=False)
            self._evicted(old_version, "lru")

    def retain(self, versions: Iterable[str]) -> int:
        """Drop every entry of a version not in ``versions`` (after a rollback); returns how many."""
        keep = set(versions)
        gone = [k for k in self._data if k[0] not in keep]
        for k in gone:
            del self._data[k]
            self._evicted(k[0], "rollback")
        return len(gone)

    def _evicted(self, version: str, reason: str) -> None:
        if self.on_evict is not None:
            self.on_evict(version, reason)
