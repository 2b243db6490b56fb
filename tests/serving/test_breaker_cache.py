"""Circuit breaker state machine and the response cache, on a manual clock."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from trilho.clock import ManualClock
from trilho.serving.breaker import CLOSED, HALF_OPEN, OPEN, CircuitBreaker
from trilho.serving.cache import ResponseCache, input_key


def test_breaker_opens_after_consecutive_failures_and_probes_after_cooldown():
    clock = ManualClock()
    b = CircuitBreaker(failures=3, reset_after_s=5, clock=clock)
    for _ in range(2):
        assert b.allow()
        b.record_failure()
    b.record_success()  # a success resets the streak
    for _ in range(3):
        assert b.allow()
        b.record_failure()
    assert b.state == OPEN and not b.allow()
    clock.advance(5)
    assert b.allow() and b.state == HALF_OPEN
    assert not b.allow()  # one probe at a time
    b.record_failure()
    assert b.state == OPEN and not b.allow()
    clock.advance(5)
    assert b.allow()
    b.record_success()
    assert b.state == CLOSED and b.allow()


@given(st.lists(st.booleans(), max_size=40))
def test_breaker_never_open_below_threshold_streak(outcomes):
    b = CircuitBreaker(failures=4, reset_after_s=1, clock=ManualClock())
    streak = 0
    for ok in outcomes:
        if not b.allow():
            assert streak >= 4
            continue
        if ok:
            b.record_success()
            streak = 0
        else:
            b.record_failure()
            streak += 1
        assert (b.state == OPEN) == (streak >= 4)


def test_cache_lru_ttl_and_rollback_purge():
    clock = ManualClock()
    evicted = []
    c = ResponseCache(max_entries=2, ttl_s=10, clock=clock, on_evict=lambda v, r: evicted.append((v, r)))
    c.put("1", "a", {"y": 1})
    c.put("1", "b", {"y": 2})
    assert c.get("1", "a") == {"y": 1}  # a is now most recent
    c.put("2", "c", {"y": 3})  # evicts b
    assert c.get("1", "b") is None and evicted == [("1", "lru")]
    clock.advance(10)
    assert c.get("1", "a") is None and ("1", "ttl") in evicted
    c.put("2", "d", {"y": 4})
    assert c.retain({"1"}) == 2 and len(c) == 0 and c.get("2", "d") is None


def test_input_key_is_canonical():
    assert input_key({"a": 1, "b": [1, 2]}) == input_key({"b": [1, 2], "a": 1})
    assert input_key({"a": 1}) != input_key({"a": 2})
