"""The LLM routes' optional exact-match response cache (pure: the caller passes the clock).

A version whose spec sets ``cache_ttl_s`` has its non-streaming chat answers kept for that long, keyed by the
version and the exact body sent upstream (messages after the prompt template and input rails, parameters,
model): the same question gets the upstream's same answer without a call. Output rails still run on every
answer, cached or not (they are cheap and the record must name what ran); a hit costs no tokens. Bounded:
the least recently used entry goes first. Streams are not cached.
"""

from __future__ import annotations

import copy
import hashlib
from collections import OrderedDict
from typing import Any

import msgspec

_encode = msgspec.json.Encoder(order="sorted").encode


class ResponseCache:
    """Answers by key, each until its expiry time; at most ``max_entries`` (least recently used out)."""

    def __init__(self, max_entries: int = 10_000) -> None:
        self.max_entries = max(1, int(max_entries))
        self._entries: OrderedDict[str, tuple[float, dict[str, Any]]] = OrderedDict()

    @staticmethod
    def key(model: str, version: str, body: dict[str, Any]) -> str:
        """The cache key of an upstream body sent for ``model@version``."""
        return hashlib.sha256(_encode([model, version, body])).hexdigest()

    def get(self, key: str, now: float) -> dict[str, Any] | None:
        """A copy of the answer kept under ``key`` if it has not expired."""
        found = self._entries.get(key)
        if found is None:
            return None
        if found[0] <= now:
            del self._entries[key]
            return None
        self._entries.move_to_end(key)
        return copy.deepcopy(found[1])

    def put(self, key: str, answer: dict[str, Any], expires: float) -> None:
        """Keep a copy of ``answer`` under ``key`` until ``expires``."""
        self._entries[key] = (expires, copy.deepcopy(answer))
        self._entries.move_to_end(key)
        while len(self._entries) > self.max_entries:
            self._entries.popitem(last=False)

    def __len__(self) -> int:
        return len(self._entries)
