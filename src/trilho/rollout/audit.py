"""The append-only, hash-chained audit log: every transition and control call, with actor, reason and
evidence.

Each row's ``hash`` is ``sha256(prev_hash + canonical JSON of its content)``; ``seq`` is the previous
row's ``seq + 1``, so two writers racing for the same place fail on the primary key instead of forking the
chain. :func:`verify` recomputes the chain (any edited, inserted or deleted row breaks it) and replays
each rollout's events through the state machine to check that they reproduce the stored state.

The hash chain alone is public: whoever can write the database can edit a row and recompute every later hash
with :func:`row_hash`. So each row also carries ``mac``, an HMAC of its hash under a key kept outside the
store (``trilho.registry.signing.audit_key``), which that writer cannot recompute; and :func:`checkpoint`
signs (seq, head hash) for export where the writer cannot reach (the log stream, an append-only file), so
that a truncated tail or a chain rebuilt from scratch no longer matches. Rows written before the MAC existed
(``mac`` NULL) verify as before; a checkpoint taken later pins them too. docs/security.md states the threat
model."""

from __future__ import annotations

import hashlib
import hmac
import json
import math
from collections.abc import Collection
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, insert, select, text

from trilho.rollout.machine import Event, RolloutState, apply, initial_state
from trilho.rollout.plan import load_plan
from trilho.store.engine import audit_key_for
from trilho.store.tables.rollout import rollout_audit, rollouts

GENESIS = "0" * 64
MAC_CONTEXT = b"trilho-audit-v1\n"
CHECKPOINT_CONTEXT = b"trilho-audit-checkpoint-v1\n"
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


def row_mac(key: bytes, hash_: str) -> str:
    """One row's keyed MAC: HMAC-SHA256 of its chain hash (which commits to its content and all before it)."""
    return hmac.new(key, MAC_CONTEXT + hash_.encode(), hashlib.sha256).hexdigest()


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
    key = audit_key_for(conn)
    row["mac"] = row_mac(key, row["hash"]) if key else None
    conn.execute(insert(rollout_audit).values(**row))
    return row


def entries(
    conn: Connection,
    *,
    model: str | None = None,
    rollout_id: int | None = None,
    limit: int | None = None,
    exclude_actions: Collection[str] = (),
) -> list[dict[str, Any]]:
    """Audit entries in order, optionally for one model or rollout (the last ``limit`` ones), leaving out
    ``exclude_actions`` before the limit applies (API calls cannot push a rollout's events out of view)."""
    q = select(rollout_audit)
    if exclude_actions:
        q = q.where(rollout_audit.c.action.not_in(sorted(exclude_actions)))
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
    """The result of :func:`verify`: ok, how many entries (keyed or legacy), checkpoints, every problem."""

    entries: int = 0
    rollouts: int = 0
    keyed: int = 0
    legacy: int = 0
    checkpoints: int = 0
    problems: list[dict[str, Any]] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready."""
        return {
            "ok": self.ok,
            "entries": self.entries,
            "rollouts": self.rollouts,
            "keyed": self.keyed,
            "legacy": self.legacy,
            "checkpoints": self.checkpoints,
            "problems": self.problems,
        }


def checkpoint(conn: Connection, key: bytes, *, at: datetime) -> dict[str, Any]:
    """A signed (seq, head hash) of the log now, to export where the store's writer cannot rewrite it."""
    head = conn.execute(
        select(rollout_audit.c.seq, rollout_audit.c.hash, rollout_audit.c.mac)
        .order_by(rollout_audit.c.seq.desc())
        .limit(1)
    ).first()
    body = {
        "seq": head[0] if head else 0,
        "hash": head[1] if head else GENESIS,
        "keyed": bool(head and head[2]),
        "at": at.isoformat(),
        "key_id": hashlib.sha256(key).hexdigest()[:16],
    }
    return {**body, "sig": _sign(key, body)}


def _sign(key: bytes, body: dict[str, Any]) -> str:
    fields = canonical({k: body.get(k) for k in ("seq", "hash", "keyed", "at", "key_id")})
    return hmac.new(key, CHECKPOINT_CONTEXT + fields.encode(), hashlib.sha256).hexdigest()


def verify(
    conn: Connection, *, key: bytes | None = None, checkpoints: list[dict[str, Any]] | tuple = ()
) -> VerifyReport:
    """Recompute the hash chain, check each MAC (with ``key``) and each checkpoint, and replay every rollout.

    ``key`` defaults to the key of the store ``conn`` belongs to. Legacy entries (no MAC) verify by the hash
    chain alone; an entry without a MAC after a keyed one, a MAC that does not match, a checkpoint whose entry
    is gone (tail truncated) or differs (rewritten), or a keyed checkpoint followed by unkeyed entries, is a
    problem.
    """
    key = key if key is not None else audit_key_for(conn)
    report = VerifyReport()
    prev_hash, prev_seq = GENESIS, 0
    keyed_since: int | None = None
    hashes: dict[int, tuple[str, bool]] = {}  # seq -> (hash, carries a MAC)
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
        _check_mac(report, row, key, keyed_since)
        if row["mac"] and keyed_since is None:
            keyed_since = seq
        hashes[seq] = (row["hash"], bool(row["mac"]))
        prev_hash, prev_seq = row["hash"], seq
        if row["rollout_id"] is not None and row["event"]:
            events.setdefault(row["rollout_id"], []).append(
                (seq, Event.from_dict(row["event"]), row["state"])
            )
    for cp in checkpoints:
        _check_checkpoint(report, cp, key, hashes, prev_seq)
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


def _check_mac(report: VerifyReport, row: Any, key: bytes | None, keyed_since: int | None) -> None:
    seq = row["seq"]
    if not row["mac"]:
        report.legacy += 1
        if keyed_since is not None:
            report.problems.append(
                {
                    "seq": seq,
                    "problem": f"no MAC although entry {keyed_since} and later ones carry one "
                    "(written or rewritten without the audit key)",
                }
            )
        return
    report.keyed += 1
    if key is not None and not hmac.compare_digest(row_mac(key, row["hash"]), row["mac"]):
        report.problems.append(
            {"seq": seq, "problem": "MAC does not match (edited and rehashed, or written with another key)"}
        )


def _check_checkpoint(
    report: VerifyReport,
    cp: dict[str, Any],
    key: bytes | None,
    hashes: dict[int, tuple[str, bool]],
    last: int,
) -> None:
    report.checkpoints += 1
    seq = cp.get("seq")
    if key is None or not hmac.compare_digest(_sign(key, cp), str(cp.get("sig", ""))):
        report.problems.append(
            {"checkpoint": seq, "problem": "checkpoint signature does not verify under the audit key"}
        )
        return
    if not isinstance(seq, int) or seq < 0:
        report.problems.append({"checkpoint": seq, "problem": "checkpoint has no valid seq"})
    elif seq > last:
        report.problems.append(
            {
                "checkpoint": seq,
                "problem": f"tail truncated: a checkpoint saw entry {seq} but the log ends at {last}",
            }
        )
    elif seq and seq not in hashes:
        report.problems.append({"checkpoint": seq, "problem": f"entry {seq} of the checkpoint is missing"})
    elif (hashes[seq][0] if seq else GENESIS) != cp.get("hash"):
        report.problems.append(
            {"checkpoint": seq, "problem": f"entry {seq} differs from the checkpoint (log rewritten)"}
        )
    elif seq and cp.get("keyed") and not hashes[seq][1]:
        report.problems.append(
            {"checkpoint": seq, "problem": f"entry {seq} was keyed at the checkpoint and has no MAC now"}
        )
