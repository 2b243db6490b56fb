"""The exact-match response cache (pure): bounded, least recently used out, nothing after its expiry,
copies in and out (rails redacting an answer never change the kept one)."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from trilho.serving.llm.cache import ResponseCache


@settings(max_examples=200, deadline=None)
@given(st.integers(1, 8), st.lists(st.tuples(st.integers(0, 12), st.integers(0, 100), st.integers(1, 50))))
def test_bounded_and_never_past_expiry(size, ops):
    cache, now = ResponseCache(size), 0.0
    for k, dt, ttl in ops:
        now += dt
        key = ResponseCache.key("m", "1", {"k": k})
        got = cache.get(key, now)
        assert got is None or got["expires"] > now
        if got is None:
            cache.put(key, {"expires": now + ttl}, now + ttl)
        assert len(cache) <= size


def test_copies_in_and_out_and_keys_ignore_dict_order():
    cache = ResponseCache()
    answer = {"choices": [{"message": {"content": "secret"}}]}
    key = ResponseCache.key("m", "1", {"a": 1, "b": [1, 2]})
    assert (
        key
        == ResponseCache.key("m", "1", {"b": [1, 2], "a": 1})
        != ResponseCache.key("m", "2", {"a": 1, "b": [1, 2]})
    )
    cache.put(key, answer, 10.0)
    answer["choices"][0]["message"]["content"] = "changed"
    got = cache.get(key, 1.0)
    got["choices"][0]["message"]["content"] = "<REDACTED>"
    assert cache.get(key, 2.0)["choices"][0]["message"]["content"] == "secret"
    assert cache.get(key, 10.0) is None and len(cache) == 0
