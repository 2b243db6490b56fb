"""The state machine: the happy path, terminal phases, idempotency, refusals and replay."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from trilho.errors import RolloutError
from trilho.rollout.machine import EVENT_KINDS, Event, Phase, RolloutState, apply, initial_state, replay
from trilho.rollout.plan import DEFAULT_PLAN_YAML, load_plan

PLAN = load_plan(DEFAULT_PLAN_YAML)


def run(*kinds_steps):
    state = initial_state()
    for i, item in enumerate(kinds_steps):
        kind, step = item if isinstance(item, tuple) else (item, None)
        state, _ = apply(state, Event(kind, float(i), from_step=step), PLAN)
    return state


def test_happy_path_to_promoted():
    state = run("gates_started", "gates_passed")
    assert (state.phase, state.step) == (Phase.SHADOW, 0)
    state = run("gates_started", "gates_passed", ("advance", 0))
    assert (state.phase, state.step) == (Phase.CANARY, 1)
    state = run(
        "gates_started", "gates_passed", ("advance", 0), ("advance", 1), ("advance", 2), ("advance", 3)
    )
    assert state.phase is Phase.PROMOTED and state.terminal


def test_advance_is_idempotent():
    state = run("gates_started", "gates_passed", ("advance", 0))
    again, changed = apply(state, Event("advance", 9.0, from_step=0), PLAN)
    assert not changed and again == state
    rolled, _ = apply(state, Event("rollback", 10.0), PLAN)
    same, changed = apply(rolled, Event("rollback", 11.0), PLAN)
    assert not changed and same == rolled
    assert apply(rolled, Event("advance", 12.0, from_step=1), PLAN) == (rolled, False)


def test_pause_resume_keeps_traffic_and_stops_progress():
    state = run("gates_started", "gates_passed", ("advance", 0), "pause")
    assert state.phase is Phase.PAUSED and state.effective_phase is Phase.CANARY
    assert apply(state, Event("advance", 5.0, from_step=1), PLAN) == (state, False)
    resumed, _ = apply(state, Event("resume", 6.0), PLAN)
    assert resumed.phase is Phase.CANARY and resumed.step_started_at == 6.0


@pytest.mark.parametrize(
    ("kinds", "event"),
    [
        ((), "resume"),
        ((), "pause"),
        ((), "promote"),
        (("gates_started",), "gates_started"),
        (("gates_started", "gates_passed", "rollback"), "promote"),
        (("gates_started", "gates_passed", "promote"), "rollback"),
    ],
)
def test_refused_transitions_raise_and_change_nothing(kinds, event):
    state = run(*kinds)
    if event == "gates_started" and state.phase is Phase.GATES:
        assert apply(state, Event(event, 1.0), PLAN) == (state, False)
        return
    with pytest.raises(RolloutError) as info:
        apply(state, Event(event, 1.0), PLAN)
    assert info.value.fields["rule"].startswith("transition:")


def test_gates_failed_aborts_before_traffic():
    state = run("gates_started", "gates_failed")
    assert state.phase is Phase.ABORTED and state.step == -1


def test_state_round_trips():
    state = run("gates_started", "gates_passed", "pause")
    assert RolloutState.from_dict(state.to_dict()) == state


@given(st.lists(st.tuples(st.sampled_from(EVENT_KINDS), st.integers(-1, 5)), max_size=30))
def test_replay_reproduces_and_duplicates_are_harmless(events):
    """Any event stream: replay equals the step-by-step fold, and re-applying an event is a no-op."""
    state = initial_state()
    applied = []
    for i, (kind, step) in enumerate(events):
        event = Event(kind, float(i), from_step=step if kind in ("advance", "extend") else None)
        try:
            new, changed = apply(state, event, PLAN)
        except RolloutError:
            continue
        if changed:
            applied.append(event)
            if kind not in ("pause", "resume", "extend"):
                assert apply(new, event, PLAN)[1] is False
        state = new
        assert state.seq == len(applied)
        assert state.step <= len(PLAN.steps)
    assert replay(applied, PLAN) == state
