"""The rollout state machine: phases, events and idempotent transitions (pure; the store persists the
results).

``pending → gates → shadow → canary[i] → promoted``, with ``rolled_back``, ``killed``, ``aborted`` as the
other terminal phases and ``paused`` as a hold that remembers where it was. :func:`apply` is
deterministic, so replaying the audit log's events from :func:`initial_state` reproduces the stored state;
applying an event that was already applied (same ``from_step`` for ``advance``/``extend``, or a terminal
phase already reached) changes nothing."""

from __future__ import annotations

from dataclasses import asdict, dataclass, replace
from enum import StrEnum
from typing import Any

from trilho.errors import RolloutError
from trilho.rollout.plan import Plan


class Phase(StrEnum):
    """Where a rollout is."""

    PENDING = "pending"
    GATES = "gates"
    SHADOW = "shadow"
    CANARY = "canary"
    PAUSED = "paused"
    PROMOTED = "promoted"
    ROLLED_BACK = "rolled_back"
    KILLED = "killed"
    ABORTED = "aborted"


TERMINAL = frozenset({Phase.PROMOTED, Phase.ROLLED_BACK, Phase.KILLED, Phase.ABORTED})
RUNNING = frozenset({Phase.SHADOW, Phase.CANARY})

EVENT_KINDS = ("gates_started", "gates_passed", "gates_failed", "advance", "extend", "pause", "resume",
               "promote", "rollback", "kill", "abort")  # fmt: skip


@dataclass(frozen=True)
class RolloutState:
    """The persisted state of one rollout (everything a restarted controller needs)."""

    phase: Phase = Phase.PENDING
    step: int = -1
    step_started_at: float | None = None
    extensions: int = 0
    paused_phase: Phase | None = None
    seq: int = 0
    rollback_to: str | None = None

    @property
    def terminal(self) -> bool:
        return self.phase in TERMINAL

    @property
    def effective_phase(self) -> Phase:
        """The phase that decides routing: a paused rollout keeps its traffic."""
        return self.paused_phase if self.phase is Phase.PAUSED and self.paused_phase else self.phase

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready."""
        d = asdict(self)
        d["phase"] = self.phase.value
        d["paused_phase"] = self.paused_phase.value if self.paused_phase else None
        return d

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> RolloutState:
        """Inverse of :meth:`to_dict`."""
        d = dict(data)
        d["phase"] = Phase(d["phase"])
        d["paused_phase"] = Phase(d["paused_phase"]) if d.get("paused_phase") else None
        return cls(**d)


@dataclass(frozen=True)
class Event:
    """Something that happened to a rollout: ``kind`` plus the time and the step it was decided at."""

    kind: str
    at: float
    from_step: int | None = None
    to_version: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Event:
        """Inverse of :meth:`to_dict`."""
        return cls(**data)


def initial_state() -> RolloutState:
    """The state of a rollout that was just created."""
    return RolloutState()


def _step_phase(plan: Plan, step: int) -> Phase:
    return Phase.SHADOW if plan.steps[step].kind == "shadow" else Phase.CANARY


def _refuse(state: RolloutState, event: Event, fix: str) -> RolloutError:
    return RolloutError(
        f"cannot {event.kind} a rollout that is {state.phase.value}",
        fix=fix,
        field="phase",
        value=state.phase.value,
        rule=f"transition:{state.phase.value}->{event.kind}",
    )


def apply(state: RolloutState, event: Event, plan: Plan) -> tuple[RolloutState, bool]:
    """The state after ``event`` and whether anything changed; ``RolloutError`` if the move is not allowed."""
    k = event.kind
    phase = state.phase
    bump = {"seq": state.seq + 1}
    if k not in EVENT_KINDS:
        raise RolloutError(
            f"unknown rollout event {k!r}", fix=f"use one of {', '.join(EVENT_KINDS)}", field="event", value=k
        )
    # A terminal phase absorbs everything; repeating the event that ended it is a no-op.
    if state.terminal:
        done = {"promote": Phase.PROMOTED, "rollback": Phase.ROLLED_BACK, "kill": Phase.KILLED,
                "abort": Phase.ABORTED, "gates_failed": Phase.ABORTED}  # fmt: skip
        if (
            done.get(k) is phase
            or k in ("advance", "extend")
            or (k == "kill" and phase is not Phase.PROMOTED)
        ):
            return state, False
        raise _refuse(state, event, "start a new rollout")
    if k == "gates_started":
        if phase is Phase.GATES:
            return state, False
        if phase is not Phase.PENDING:
            raise _refuse(state, event, "gates run once, before any traffic")
        return replace(state, phase=Phase.GATES, **bump), True
    if k == "gates_passed":
        if phase is not Phase.GATES:
            if state.step >= 0:
                return state, False
            raise _refuse(state, event, "run the gates first")
        return replace(
            state, phase=_step_phase(plan, 0), step=0, step_started_at=event.at, extensions=0, **bump
        ), True
    if k == "gates_failed":
        if phase is not Phase.GATES:
            raise _refuse(state, event, "gates run once, before any traffic")
        return replace(state, phase=Phase.ABORTED, **bump), True
    if k in ("advance", "extend"):
        if event.from_step is None:
            raise RolloutError(
                f"a {k} event needs from_step", fix="pass the step it was decided at", field="from_step"
            )
        if event.from_step != state.step or phase not in RUNNING | {Phase.PAUSED}:
            return state, False  # already applied (or decided on a state that is gone)
        if k == "extend":
            return replace(state, extensions=state.extensions + 1, **bump), True
        if phase is Phase.PAUSED:
            return state, False  # a paused rollout does not progress
        nxt = state.step + 1
        if nxt >= len(plan.steps):
            return replace(state, phase=Phase.PROMOTED, step=nxt, step_started_at=event.at, **bump), True
        return replace(
            state, phase=_step_phase(plan, nxt), step=nxt, step_started_at=event.at, extensions=0, **bump
        ), True
    if k == "pause":
        if phase is Phase.PAUSED:
            return state, False
        if phase not in RUNNING:
            raise _refuse(state, event, "only a rollout in shadow or canary can be paused")
        return replace(state, phase=Phase.PAUSED, paused_phase=phase, **bump), True
    if k == "resume":
        if phase in RUNNING:
            return state, False
        if phase is not Phase.PAUSED:
            raise _refuse(state, event, "only a paused rollout can be resumed")
        return replace(
            state,
            phase=state.paused_phase or Phase.CANARY,
            paused_phase=None,
            step_started_at=event.at,
            **bump,
        ), True
    if k == "promote":
        if phase in (Phase.PENDING, Phase.GATES):
            raise _refuse(state, event, "a candidate must pass its gates before it can be promoted")
        return replace(state, phase=Phase.PROMOTED, paused_phase=None, **bump), True
    if k == "rollback":
        return replace(
            state, phase=Phase.ROLLED_BACK, paused_phase=None, rollback_to=event.to_version, **bump
        ), True
    if k == "kill":
        return replace(state, phase=Phase.KILLED, paused_phase=None, **bump), True
    # abort
    return replace(state, phase=Phase.ABORTED, paused_phase=None, **bump), True


def replay(events: list[Event], plan: Plan) -> RolloutState:
    """Fold events from the initial state (what ``trilho audit verify`` compares with the stored state)."""
    state = initial_state()
    for event in events:
        state, _ = apply(state, event, plan)
    return state
