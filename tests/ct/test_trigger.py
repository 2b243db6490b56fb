"""The retraining trigger: debounce and cooldown (pure state machine, property-tested)."""

from hypothesis import given
from hypothesis import strategies as st

from trilho.ct import Trigger, TriggerState


@given(st.integers(1, 6), st.lists(st.booleans(), max_size=60))
def test_fires_only_after_k_consecutive_drifting_windows(k, flags):
    trig, state, streak = Trigger(consecutive=k, cooldown_s=0), TriggerState(), 0
    for t, drifted in enumerate(flags):
        streak = streak + 1 if drifted else 0
        state, decision = trig.observe(state, drifted=drifted, now=float(t))
        if decision.fire:
            assert streak >= k
            streak = 0
        else:
            assert not drifted or streak < k


@given(st.integers(1, 4), st.floats(1, 1000), st.lists(st.floats(0.1, 50), min_size=1, max_size=80))
def test_never_fires_twice_within_the_cooldown(k, cooldown, gaps):
    trig, state, now, fired = Trigger(consecutive=k, cooldown_s=cooldown), TriggerState(), 0.0, []
    for gap in gaps:
        now += gap
        state, decision = trig.observe(state, drifted=True, now=now)
        if decision.fire:
            fired.append(now)
    assert all(b - a >= cooldown for a, b in zip(fired, fired[1:], strict=False))


def test_a_quiet_window_resets_the_streak():
    trig, s = Trigger(consecutive=2, cooldown_s=0), TriggerState()
    s, d = trig.observe(s, drifted=True, now=0)
    s, d = trig.observe(s, drifted=False, now=1)
    s, d = trig.observe(s, drifted=True, now=2)
    assert not d.fire and s.streak == 1
