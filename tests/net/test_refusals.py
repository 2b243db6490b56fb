"""The refusal summary (pure, with a manual clock): every refusal counted, one audit row per actor and reason
per minute carrying how many it stands for."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from trilho.clock import ManualClock
from trilho.net.refusals import REFUSED, RefusalSummary


def test_a_flood_is_one_row_a_minute_and_every_refusal_is_counted():
    clock, rows = ManualClock(), []
    summary = RefusalSummary("test-flood", lambda *row: rows.append(row), clock=clock)
    before = REFUSED.labels("test-flood", "Unauthorized")._value.get()
    for _ in range(420):
        summary.refused("anonymous", "Unauthorized", {"path": "/v1/rollouts/x/kill"})
    summary.refused("token:bob", "Forbidden", {})
    assert [(a, r, n) for a, r, n, _ in rows] == [
        ("anonymous", "Unauthorized", 1),
        ("token:bob", "Forbidden", 1),
    ]
    clock.advance(60)
    summary.refused("anonymous", "Unauthorized", {})
    assert rows[-1][:3] == ("anonymous", "Unauthorized", 420)  # 419 held back + this one
    assert REFUSED.labels("test-flood", "Unauthorized")._value.get() - before == 421


@given(st.lists(st.tuples(st.sampled_from("abc"), st.sampled_from("xy"), st.floats(0, 200)), max_size=60))
def test_rows_per_key_are_a_minute_apart_and_account_for_every_refusal(events):
    clock, rows, t = ManualClock(), [], 0.0
    summary = RefusalSummary(
        "test-prop", lambda a, r, n, e: rows.append((a, r, n, clock.monotonic())), clock=clock
    )
    for actor, reason, gap in events:
        clock.advance(gap)
        t += gap
        summary.refused(actor, reason, {})
    for key in {(a, r) for a, r, _ in events}:
        mine = [row for row in rows if row[:2] == key]
        times = [row[3] for row in mine]
        assert all(b - a >= 60 for a, b in zip(times, times[1:], strict=False))
        total = sum(1 for a, r, _ in events if (a, r) == key)
        assert 1 <= sum(row[2] for row in mine) <= total  # the tail after the last row waits for the next
