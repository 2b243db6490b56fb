"""The append-only, hash-chained audit log: every transition and control call, with actor, reason and
evidence.

Each row's ``hash`` is ``sha256(prev_hash + canonical JSON of its content)``; ``seq`` is the previous
row's ``seq + 1``, so two writers racing for the same place fail on the primary key instead of forking the
chain. :func:`verify` recomputes the chain (any edited, inserted or deleted row breaks it) and replays
each rollout's events through the state machine to check that they reproduce the stored state."""

from __future__ import annotations

import hashlib
import json
import math
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, insert, select, text

from trilho.rollout.machine import Event, RolloutState, apply, initial_state
from trilho.rollout.plan import load_plan
from trilho.store.tables.rollout import rollout_audit, rollouts

GENESIS = "0" * 64
AUDIT_LOCK_KEY = 0x7472696C686F  # "trilho"


def canonical(value: Any) -> str:
    """Deterministic JSON (sorted keys, no whitespace, non-finite floats as null) used for hashing."""
    return json.dumps(
        _clean(value), sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
    )


def _clean(value: Any) -> Any:
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {str(k): _clean(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_clean(v) for v in value]
    if hasattr(value, "to_dict"):
        return _clean(value.to_dict())
    if hasattr(value, "item"):  # numpy scalars
        return _clean(value.item())
    return value


_CONTENT = ("seq", "at", "actor", "action", "model", "rollout_id", "reason", "event", "state", "evidence")


def row_hash(prev_hash: str, content: dict[str, Any]) -> str:
    """The chain hash of one row given its predecessor's hash."""
    body = canonical({k: content.get(k) for k in _CONTENT})
    return hashlib.sha256((prev_hash + "\n" + body).encode()).hexdigest()


def append(
    conn: Connection,
    *,
    at: datetime,
    actor: str,
    action: str,
    reason: str,
    model: str | None = None,
    rollout_id: int | None = None,
    event: Event | None = None,
    state: RolloutState | None = None,
    evidence: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Append one entry inside the caller's transaction and return it (with its seq and hash)."""
    if conn.dialect.name == "postgresql":  # serialise appenders so the chain never forks
        conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": AUDIT_LOCK_KEY})
    last = conn.execute(
        select(rollout_audit.c.seq, rollout_audit.c.hash).order_by(rollout_audit.c.seq.desc()).limit(1)
    ).first()
    seq, prev = (last[0] + 1, last[1]) if last else (1, GENESIS)
    content = {
        "seq": seq,
        "at": at.isoformat(),
        "actor": actor,
        "action": action,
        "model": model,
        "rollout_id": rollout_id,
        "reason": reason,
        "event": _clean(event.to_dict()) if event else None,
        "state": _clean(state.to_dict()) if state else None,
        "evidence": _clean(evidence or {}),
    }
    row = {**content, "prev_hash": prev, "hash": row_hash(prev, content)}
    conn.execute(insert(rollout_audit).values(**row))
    return row


def entries(
    conn: Connection, *, model: str | None = None, rollout_id: int | None = None, limit: int | None = None
) -> list[dict[str, Any]]:
    """Audit entries in order, optionally for one model or rollout (the last ``limit`` ones)."""
    q = select(rollout_audit)
    if model is not None:
        q = q.where(rollout_audit.c.model == model)
    if rollout_id is not None:
        q = q.where(rollout_audit.c.rollout_id == rollout_id)
    q = q.order_by(rollout_audit.c.seq.desc())
    if limit:
        q = q.limit(limit)
    return [dict(r) for r in reversed(conn.execute(q).mappings().all())]


@dataclass
class VerifyReport:
    """The result of :func:`verify`: ok, how many entries, and every problem found."""

    entries: int = 0
    rollouts: int = 0
    problems: list[dict[str, Any]] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready."""
        return {"ok": self.ok, "entries": self.entries, "rollouts": self.rollouts, "problems": self.problems}


def verify(conn: Connection) -> VerifyReport:
    """Recompute the hash chain and replay every rollout's events against its stored state."""
    report = VerifyReport()
    prev_hash, prev_seq = GENESIS, 0
    events: dict[int, list[tuple[int, Event, dict[str, Any] | None]]] = {}
    for row in conn.execute(select(rollout_audit).order_by(rollout_audit.c.seq)).mappings():
        report.entries += 1
        seq = row["seq"]
        if seq != prev_seq + 1:
            report.problems.append({"seq": seq, "problem": f"gap: entry {prev_seq + 1} is missing"})
        if row["prev_hash"] != prev_hash:
            report.problems.append(
                {"seq": seq, "problem": "prev_hash does not match the previous entry's hash"}
            )
        expected = row_hash(row["prev_hash"], dict(row))
        if expected != row["hash"]:
            report.problems.append({"seq": seq, "problem": "content does not match its hash (edited)"})
        prev_hash, prev_seq = row["hash"], seq
        if row["rollout_id"] is not None and row["event"]:
            events.setdefault(row["rollout_id"], []).append(
                (seq, Event.from_dict(row["event"]), row["state"])
            )
    for ro in conn.execute(select(rollouts)).mappings():
        report.rollouts += 1
        plan = load_plan(ro["plan"])
        state = initial_state()
        for seq, event, recorded in events.get(ro["id"], []):
            try:
                state, _ = apply(state, event, plan)
            except Exception as exc:  # a tampered event stream may not even be applicable
                report.problems.append(
                    {"seq": seq, "rollout_id": ro["id"], "problem": f"replay failed: {exc}"}
                )
                break
            if recorded is not None and canonical(state.to_dict()) != canonical(recorded):
                report.problems.append(
                    {
                        "seq": seq,
                        "rollout_id": ro["id"],
                        "problem": "replayed state differs from the state recorded with the event",
                    }
                )
        if canonical(state.to_dict()) != canonical(ro["state"]):
            report.problems.append(
                {
                    "rollout_id": ro["id"],
                    "problem": "replaying the log does not reproduce the "
                    f"stored state ({state.phase.value} vs {ro['state'].get('phase')})",
                }
            )
    return report
