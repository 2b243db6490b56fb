"""The retraining trigger (pure state machine): fire after ``k`` consecutive drifting windows, then cool down.

trig = Trigger(consecutive=3, cooldown_s=3600)
state, decision = trig.observe(state, drifted=True, now=t)     # decision.fire → run the pipeline
"""

from __future__ import annotations

from dataclasses import dataclass, replace


@dataclass(frozen=True)
class TriggerState:
    """How many drifting windows in a row, and when the trigger last fired (epoch seconds)."""

    streak: int = 0
    last_fired: float | None = None


@dataclass(frozen=True)
class Decision:
    """Whether to retrain now, and why (or why not)."""

    fire: bool
    reason: str


@dataclass(frozen=True)
class Trigger:
    """Debounce (``consecutive`` drifting windows) and cooldown (``cooldown_s`` after firing)."""

    consecutive: int = 3
    cooldown_s: float = 3600.0

    def observe(self, state: TriggerState, *, drifted: bool, now: float) -> tuple[TriggerState, Decision]:
        """Feed one window's verdict; returns the new state and the decision."""
        if not drifted:
            return replace(state, streak=0), Decision(False, "no drift")
        streak = state.streak + 1
        if streak < self.consecutive:
            return replace(state, streak=streak), Decision(
                False, f"drift {streak}/{self.consecutive} windows"
            )
        if state.last_fired is not None and now - state.last_fired < self.cooldown_s:
            left = self.cooldown_s - (now - state.last_fired)
            return replace(state, streak=streak), Decision(False, f"cooling down ({left:.0f}s left)")
        return TriggerState(streak=0, last_fired=now), Decision(
            True, f"drift in {streak} consecutive windows"
        )
