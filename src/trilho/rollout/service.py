"""The rollout Python API over the store: start, transitions, pause/resume/promote/rollback, kill switch,
history.

Every change is ONE transaction holding the state change, the routing-table write and the audit entry, so
the gateways never see a routing table the audit log does not explain, and bad input changes nothing.
Transitions are idempotent (see :mod:`trilho.rollout.machine`), so a controller that restarts mid-step
cannot double-step."""

from __future__ import annotations

from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, delete, insert, select, update

from trilho.clock import Clock, SystemClock
from trilho.errors import GateFailed, RolloutError
from trilho.names import check_name
from trilho.rollout import audit
from trilho.rollout.gates import GateReport, GateRunner, registry_gates
from trilho.rollout.machine import TERMINAL, Event, Phase, RolloutState, apply, initial_state
from trilho.rollout.plan import Plan, load_plan
from trilho.rollout.routes import desired
from trilho.store.routing import (  # one transaction with our own writes
    KILL_MODES,
    Deployment,
    Route,
    bump_generation,
    read_deployment,
    write_deployment,
)
from trilho.store.tables.rollout import rollout_kills, rollout_plans, rollouts

ROLLBACK_HISTORY = 5  # `rollback --to` may pick among the last N stable versions


@dataclass(frozen=True)
class Rollout:
    """One rollout as stored: who, what, which plan, and where it is."""

    id: int
    model: str
    candidate: str
    baseline: str
    plan: Plan
    state: RolloutState
    created_at: str
    updated_at: str
    created_by: str
    missing_intervals: int = 0
    rollback_generation: int | None = None
    rollback_decided_at: float | None = None
    rollback_seconds: float | None = None
    plan_source: str | None = None  # the plan file's path, "saved:NAME" or "inline"

    @property
    def active(self) -> bool:
        return self.state.phase not in TERMINAL

    @property
    def plan_label(self) -> str:
        """The plan as people know it: its file, its saved name, or inline."""
        return plan_label(self.plan.name, self.plan_source)

    def position(self) -> dict[str, Any]:
        """Where the rollout stands, in one unit (percent of live traffic): the step (0-based, None outside
        the plan's steps), its kind (``shadow``, ``canary``, or ``full`` once promoted), the candidate's live
        share, the share mirrored to it, and a one-line label."""
        phase, n, i = self.state.effective_phase, len(self.plan.steps), self.state.step
        inside = 0 <= i < n
        if phase is Phase.PROMOTED:
            return _where(None, "full", 100.0, 0.0, "full 100%")
        if phase in (Phase.SHADOW, Phase.CANARY) and inside:
            step = self.plan.steps[i]
            if step.kind == "shadow":
                pct = _pct(step.body.percent)  # type: ignore[union-attr]
                return _where(i, "shadow", 0.0, pct, f"step {i + 1}/{n} shadow {pct:g}%")
            pct = _pct(step.body.weight)  # type: ignore[union-attr]
            return _where(i, "canary", pct, 0.0, f"step {i + 1}/{n} canary {pct:g}%")
        if phase in (Phase.PENDING, Phase.GATES):
            return _where(None, None, 0.0, 0.0, f"gates, before step 1/{n}")
        label = f"stopped at step {i + 1}/{n}" if inside else "stopped before step 1"
        return _where(i if inside else None, None, 0.0, 0.0, label)

    def minimums(self) -> dict[str, Any] | None:
        """What the current step waits for (duration, requests, each check's minimum); None between steps."""
        if self.state.effective_phase not in (Phase.SHADOW, Phase.CANARY):
            return None
        return self.plan.minimums(self.state.step) if 0 <= self.state.step < len(self.plan.steps) else None

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready; traffic shares are percent (``weight_pct``, ``shadow_pct``)."""
        return {
            "id": self.id, "model": self.model, "candidate": self.candidate, "baseline": self.baseline,
            "phase": self.state.phase.value, "steps": len(self.plan.steps), **self.position(),
            "minimums": self.minimums(),
            "state": self.state.to_dict(), "plan": self.plan.name, "plan_source": self.plan_source,
            "created_at": self.created_at, "updated_at": self.updated_at, "created_by": self.created_by,
            "missing_intervals": self.missing_intervals, "rollback_seconds": self.rollback_seconds,
        }  # fmt: skip


def plan_label(name: str, source: str | None) -> str:
    """How a rollout's plan is named to people: the file given, the saved plan's name, or inline."""
    if not source or source == "inline":
        return f"inline plan {name!r}"
    return f"saved plan {source[6:]!r}" if source.startswith("saved:") else f"plan {source}"


def waits_for(minimums: dict[str, Any]) -> str:
    """What a step waits for, in one line: its duration and requests, then each check's minimum."""
    checks = ", ".join(f"{name} {m['min']} {m['of']}" for name, m in minimums["checks"].items())
    head = f"≥ {minimums['min_duration_s']:g} s and ≥ {minimums['min_requests']} candidate requests"
    return head + (f"; checks: {checks}" if checks else "")


def _pct(value: float) -> float:
    return round(value, 6)  # 0.07 * 100 is 7.000000000000001


def _check_comparators(plan: Plan, dep: Deployment) -> None:
    """A shadow step's agreement check reads a comparator the deployment computes (else it never passes)."""
    for i, step in enumerate(plan.steps):
        agreement = plan.analysis_for(i).shadow_agreement
        if step.kind != "shadow" or agreement is None or agreement.comparator is None:
            continue
        if agreement.comparator not in dep.comparators:
            raise RolloutError(
                f"plan step {i + 1} (shadow): shadow_agreement.comparator {agreement.comparator!r} is not "
                f"one of the deployment's comparators {list(dep.comparators)}: no pair would be compared",
                fix="name one of the deployment's comparators, or add it to the deployment file's list",
                field="analysis.shadow_agreement.comparator",
                value=agreement.comparator,
            )


def _where(step: int | None, kind: str | None, weight: float, shadow: float, label: str) -> dict[str, Any]:
    return {"step": step, "step_kind": kind, "weight_pct": weight, "shadow_pct": shadow, "position": label}


@dataclass
class TransitionResult:
    """What a transition did: the new state, whether it changed anything, the routing generation written."""

    rollout: Rollout
    changed: bool
    generation: int | None = None
    audit_seq: int | None = None
    extra: dict[str, Any] = field(default_factory=dict)


def _row_to_rollout(row: Any) -> Rollout:
    return Rollout(
        id=row["id"], model=row["model"], candidate=row["candidate"], baseline=row["baseline"],
        plan=load_plan(row["plan"]), state=RolloutState.from_dict(row["state"]), created_at=row["created_at"],
        updated_at=row["updated_at"], created_by=row["created_by"],
        missing_intervals=row["missing_intervals"],
        rollback_generation=row["rollback_generation"], rollback_decided_at=row["rollback_decided_at"],
        rollback_seconds=row["rollback_seconds"], plan_source=row.get("plan_source"),
    )  # fmt: skip


class RolloutService:
    """The control plane's operations on one store; ``clock`` decides every timestamp."""

    def __init__(self, store, *, clock: Clock | None = None, gates: GateRunner | None = None) -> None:
        self.store = store
        self.clock = clock or SystemClock()
        self.gates = gates or registry_gates(store)

    # --- reads ---------------------------------------------------------------------------------------------
    def get(self, rollout_id: int) -> Rollout:
        """One rollout by id."""
        with self.store.connect() as conn:
            return self._get(conn, rollout_id)

    def _get(self, conn: Connection, rollout_id: int, *, lock: bool = False) -> Rollout:
        q = select(rollouts).where(rollouts.c.id == rollout_id)
        if lock and conn.dialect.name == "postgresql":
            q = q.with_for_update()
        row = conn.execute(q).mappings().first()
        if row is None:
            raise RolloutError(
                f"rollout {rollout_id} does not exist",
                fix="list rollouts with `trilho rollout status`",
                field="rollout",
                value=rollout_id,
            )
        return _row_to_rollout(row)

    def latest(self, model: str) -> Rollout:
        """The newest rollout of ``model`` (active or not)."""
        with self.store.connect() as conn:
            row = (
                conn.execute(
                    select(rollouts).where(rollouts.c.model == model).order_by(rollouts.c.id.desc()).limit(1)
                )
                .mappings()
                .first()
            )
        if row is None:
            raise RolloutError(
                f"model {model!r} has no rollout",
                fix=f"start one: trilho rollout start {model} --candidate VERSION --plan PLAN",
                field="model",
                value=model,
            )
        return _row_to_rollout(row)

    def active(self) -> list[Rollout]:
        """Every rollout that is not finished (what the controller works on)."""
        with self.store.connect() as conn:
            rows = (
                conn.execute(
                    select(rollouts)
                    .where(rollouts.c.phase.notin_([p.value for p in TERMINAL]))
                    .order_by(rollouts.c.id)
                )
                .mappings()
                .all()
            )
        return [_row_to_rollout(r) for r in rows]

    def list(self, model: str | None = None) -> list[Rollout]:
        """Every rollout (of one model), newest first."""
        q = select(rollouts).order_by(rollouts.c.id.desc())
        if model:
            q = q.where(rollouts.c.model == model)
        with self.store.connect() as conn:
            return [_row_to_rollout(r) for r in conn.execute(q).mappings().all()]

    def history(
        self,
        model: str | None = None,
        *,
        rollout_id: int | None = None,
        limit: int | None = None,
        exclude_actions: Collection[str] = (),
    ) -> list[dict[str, Any]]:
        """Audit entries for a model or a rollout, oldest first (without ``exclude_actions``)."""
        with self.store.connect() as conn:
            return audit.entries(
                conn, model=model, rollout_id=rollout_id, limit=limit, exclude_actions=exclude_actions
            )

    def kills(self) -> dict[str, dict[str, Any]]:
        """Persisted kill switches by model."""
        with self.store.connect() as conn:
            return {r["model"]: dict(r) for r in conn.execute(select(rollout_kills)).mappings()}

    def verify_audit(self, checkpoints: Sequence[dict[str, Any]] = ()) -> audit.VerifyReport:
        """Check the audit chain, its MACs and ``checkpoints``; replay it to reproduce each state."""
        with self.store.connect() as conn:
            return audit.verify(conn, checkpoints=list(checkpoints))

    def audit_checkpoint(self) -> dict[str, Any]:
        """A signed (seq, head hash) of the audit log, to export where the store's writer cannot rewrite."""
        key = self.store.audit_key
        if key is None:
            raise RolloutError(
                "this store was opened without an audit key, so it cannot sign a checkpoint",
                fix="open it through trilho.store.open_store (TRILHO_AUDIT_KEY or the home's signing key)",
                field="audit_key",
            )
        with self.store.connect() as conn:
            return audit.checkpoint(conn, key, at=self.clock.now())

    # --- start and gates -----------------------------------------------------------------------------------
    def start(
        self,
        model: str,
        candidate: str,
        plan: Plan | str | Path | dict,
        *,
        actor: str,
        baseline: str | None = None,
    ) -> Rollout:
        """Create a rollout, run its gates before any traffic, and enter the first step (or abort, audited).

        Raises ``GateFailed`` (exit 1) after recording the failure when a gate says no.
        """
        plan, source = self.resolve_plan_source(plan)
        candidate = str(candidate)
        now = self.clock.now()
        with self.store.transaction() as conn:
            dep = self._deployment(conn, model)
            baseline = str(baseline or dep.stable.version)
            if candidate == baseline:
                raise RolloutError(
                    f"version {candidate} is already the stable version of {model!r}",
                    fix="pass the version you want to roll out with --candidate",
                    field="candidate",
                    value=candidate,
                )
            if dep.kill != "off":
                raise RolloutError(
                    f"model {model!r} has its kill switch on ({dep.kill})",
                    fix=f"release it first: trilho rollout kill {model} --release",
                    field="kill",
                    value=dep.kill,
                )
            _check_comparators(plan, dep)
            busy = _running(conn, model)
            if busy is not None:
                raise RolloutError(
                    f"model {model!r} already has rollout {busy[0]} of version {busy[1]} running",
                    fix=f"finish it first (trilho rollout promote/rollback {model})",
                    field="model",
                    value=model,
                )
            state = initial_state()
            rid = conn.execute(
                insert(rollouts).values(
                    model=model,
                    candidate=candidate,
                    baseline=baseline,
                    plan=plan.to_yaml(),
                    plan_source=source,
                    state=state.to_dict(),
                    phase=state.phase.value,
                    created_at=now.isoformat(),
                    updated_at=now.isoformat(),
                    created_by=actor,
                )
            ).inserted_primary_key[0]
            audit.append(
                conn,
                at=now,
                actor=actor,
                action="create",
                model=model,
                rollout_id=rid,
                state=state,
                reason=f"rollout of {model} {baseline} → {candidate} with plan {plan.name!r} ({source})",
                evidence={
                    "plan": plan.redacted(),
                    "plan_source": source,
                    "baseline": baseline,
                    "candidate": candidate,
                },
            )
        return self.run_gates(rid, actor=actor)

    def run_gates(self, rollout_id: int, *, actor: str) -> Rollout:
        """Run the candidate's gates and enter the first step, or abort with the failure as audited evidence.

        Safe to call again after a crash between the two (the transitions are idempotent).
        """
        ro = self.get(rollout_id)
        self.transition(rollout_id, "gates_started", actor=actor, reason="gates run before any traffic")
        report = self.gates(ro.model, ro.candidate, ro.baseline)
        if report.passed:
            self.transition(
                rollout_id, "gates_passed", actor=actor, reason=report.summary, evidence=report.to_dict()
            )
        else:
            self.transition(
                rollout_id, "gates_failed", actor=actor, reason=report.summary, evidence=report.to_dict()
            )
            raise GateFailed(
                f"{ro.model} version {ro.candidate} failed its gates: {report.summary}",
                fix="fix the candidate and register a new version; the failure is in the audit log",
                field="candidate",
                value=ro.candidate,
                rollout=rollout_id,
                gates=report.to_dict()["gates"],
            )
        return self.get(rollout_id)

    # --- named plans (admin) -------------------------------------------------------------------------------
    def save_plan(self, name: str, plan: Plan | str | Path | dict, *, actor: str) -> Plan:
        """Store (or replace) a named plan; validated first, audited."""
        plan = plan if isinstance(plan, Plan) else load_plan(plan)
        check_name(name, "plan name", error=RolloutError)
        now = self.clock.now()
        with self.store.transaction() as conn:
            conn.execute(delete(rollout_plans).where(rollout_plans.c.name == name))
            conn.execute(
                insert(rollout_plans).values(
                    name=name, plan=plan.to_yaml(), updated_at=now.isoformat(), updated_by=actor
                )
            )
            audit.append(
                conn,
                at=now,
                actor=actor,
                action="plan_save",
                reason=f"plan {name!r} saved",
                evidence={"name": name, "plan": plan.redacted()},
            )
        return plan

    def plans(self) -> dict[str, Plan]:
        """Every named plan."""
        with self.store.connect() as conn:
            rows = conn.execute(select(rollout_plans).order_by(rollout_plans.c.name)).mappings().all()
        return {r["name"]: load_plan(r["plan"]) for r in rows}

    def resolve_plan(self, plan: Plan | str | Path | dict) -> Plan:
        """A plan object from a Plan, a dict, YAML text, a file path, or the name of a saved plan."""
        return self.resolve_plan_source(plan)[0]

    def resolve_plan_source(self, plan: Plan | str | Path | dict) -> tuple[Plan, str]:
        """The plan and where it came from: the file's absolute path, ``saved:NAME`` or ``inline``."""
        if isinstance(plan, Plan | dict):
            return (plan if isinstance(plan, Plan) else load_plan(plan)), "inline"
        text = str(plan)
        if "\n" not in text and not text.endswith((".yaml", ".yml", ".json")):
            with self.store.connect() as conn:
                row = conn.execute(select(rollout_plans.c.plan).where(rollout_plans.c.name == text)).first()
            if row is not None:
                return load_plan(row[0]), f"saved:{text}"
        loaded = load_plan(plan)
        path = Path(text) if "\n" not in text else None
        return loaded, str(path.resolve()) if path is not None and path.is_file() else "inline"

    def _deployment(self, conn: Connection, model: str) -> Deployment:
        dep = read_deployment(conn, model)
        if dep is None:
            raise RolloutError(
                f"model {model!r} has no deployment in the routing table",
                fix="deploy a stable version first: trilho deploy apply deployment.yaml (docs/deployment.md)",
                field="model",
                value=model,
            )
        return dep

    # --- transitions ---------------------------------------------------------------------------------------
    def _transition_once(
        self,
        rollout_id: int,
        kind: str,
        *,
        actor: str,
        reason: str,
        evidence: dict[str, Any] | None = None,
        from_step: int | None = None,
        to_version: str | None = None,
        action: str | None = None,
        precheck: Callable[[Rollout], None] | None = None,
    ) -> TransitionResult:
        """Apply one event in ONE transaction: state, routing table and audit entry together (or nothing)."""
        now = self.clock.now()
        event = Event(kind, now.timestamp(), from_step=from_step, to_version=to_version)
        with self.store.transaction() as conn:
            ro = self._get(conn, rollout_id, lock=True)
            if precheck is not None:
                precheck(ro)
            new, changed = apply(ro.state, event, ro.plan)
            if not changed:
                return TransitionResult(ro, False)
            generation = None
            dep = read_deployment(conn, ro.model)
            if dep is not None:
                want = desired(dep, new, ro.plan, baseline=ro.baseline, candidate=ro.candidate)
                if want != dep:
                    generation = bump_generation(conn)
                    write_deployment(conn, want, generation, f"rollout:{actor}")
            values: dict[str, Any] = {
                "state": new.to_dict(),
                "phase": new.phase.value,
                "updated_at": now.isoformat(),
            }
            if kind in ("rollback", "kill", "abort") and generation is not None:
                values.update(
                    rollback_generation=generation,
                    rollback_decided_at=self.clock.monotonic(),
                    rollback_seconds=None,
                )
            if new.step != ro.state.step:
                values["missing_intervals"] = 0
            conn.execute(update(rollouts).where(rollouts.c.id == rollout_id).values(**values))
            ev = dict(evidence or {})
            if generation is not None:
                ev["routing_generation"] = generation
            entry = audit.append(
                conn,
                at=now,
                actor=actor,
                action=action or kind,
                model=ro.model,
                rollout_id=rollout_id,
                event=event,
                state=new,
                reason=reason,
                evidence=ev,
            )
            updated = self._get(conn, rollout_id)
        return TransitionResult(updated, True, generation, entry["seq"])

    def transition(self, rollout_id: int, kind: str, **kwargs: Any) -> TransitionResult:
        """Apply one event in ONE transaction: state, routing table and audit entry together (or nothing).

        Retried when a concurrent writer took the audit log's next place first (transitions are idempotent).
        """
        return _retrying(lambda: self._transition_once(rollout_id, kind, **kwargs))

    def _for_model(self, model: str) -> Rollout:
        ro = self.latest(model)
        return ro

    def pause(self, model: str, *, actor: str, reason: str = "paused by operator") -> Rollout:
        """Hold the current step (traffic stays; a failing check still rolls back)."""
        return self.transition(self._for_model(model).id, "pause", actor=actor, reason=reason).rollout

    def resume(self, model: str, *, actor: str, reason: str = "resumed by operator") -> Rollout:
        """Continue a paused rollout; the step's clock restarts."""
        return self.transition(self._for_model(model).id, "resume", actor=actor, reason=reason).rollout

    def promote(self, model: str, *, actor: str, reason: str = "promoted by operator") -> Rollout:
        """Skip the remaining steps: the candidate becomes stable now."""
        return self.transition(self._for_model(model).id, "promote", actor=actor, reason=reason).rollout

    def rollback(
        self, model: str, *, actor: str, to: str | None = None, reason: str = "rolled back by operator"
    ) -> dict[str, Any]:
        """Back to the previous stable at once, or ``to`` one of the last few stable versions."""
        ro = self._for_model(model)
        allowed = self._rollback_targets(model)
        if to is not None and str(to) not in allowed:
            raise RolloutError(
                f"version {to} is not among the last {ROLLBACK_HISTORY} stable versions of "
                f"{model!r}: {', '.join(allowed) or 'none'}",
                fix="pick one of those with --to",
                field="to",
                value=to,
            )
        if ro.active:
            res = self.transition(ro.id, "rollback", actor=actor, reason=reason, to_version=to)
            return {"rollout": res.rollout.to_dict(), "generation": res.generation, "changed": res.changed}
        out = self.route_to(model, str(to or ro.baseline), actor=actor, reason=reason, action="rollback")
        return {"rollout": ro.to_dict(), **out}

    def route_to(
        self, model: str, version: str, *, actor: str, reason: str, action: str = "route_to"
    ) -> dict[str, Any]:
        """Send every request of ``model`` to ``version`` (the only stable route), audited."""
        now = self.clock.now()
        with self.store.transaction() as conn:
            dep = self._deployment(conn, model)
            if dep.stable.version == version and len(dep.routes) == 1:
                return {"generation": None, "changed": False, "stable": version}
            gen = bump_generation(conn)
            write_deployment(
                conn,
                replace(dep, routes=(Route(version, "stable", 1.0),), shadow_fraction=0.0),
                gen,
                f"rollout:{actor}",
            )
            audit.append(
                conn,
                at=now,
                actor=actor,
                action=action,
                model=model,
                reason=reason,
                evidence={"from": dep.stable.version, "to": version, "routing_generation": gen},
            )
        return {"generation": gen, "changed": True, "stable": version}

    def _rollback_targets(self, model: str) -> list[str]:
        out: list[str] = []
        for ro in self.list(model):
            for v in (ro.baseline,) + ((ro.candidate,) if ro.state.phase is Phase.PROMOTED else ()):
                if v not in out:
                    out.append(v)
        latest = self.list(model)[0] if self.list(model) else None
        if latest is not None and latest.state.phase is Phase.PROMOTED and latest.candidate in out:
            out.remove(latest.candidate)  # the current stable is not a rollback target
        return out[:ROLLBACK_HISTORY]

    # --- kill switch ---------------------------------------------------------------------------------------
    def kill(
        self, model: str, *, actor: str, mode: str = "candidates", reason: str = "kill switch"
    ) -> dict[str, Any]:
        """Instant: 0 % to every non-stable version (``candidates``) or the static fallback (``all``).

        Needs nothing but the store: no analysis, no metrics. Persisted, so it survives restarts; the
        controller re-asserts it if the routing table ever disagrees.
        """
        if mode not in KILL_MODES or mode == "off":
            raise RolloutError(
                f"kill mode {mode!r} is not one of candidates, all",
                fix="use --all for the static fallback, nothing for candidates",
                field="mode",
                value=mode,
            )
        return _retrying(lambda: self._kill_once(model, actor=actor, mode=mode, reason=reason))

    def _kill_once(self, model: str, *, actor: str, mode: str, reason: str) -> dict[str, Any]:
        """The switch, the running rollout's ``kill`` transition, one routing write and ONE audit entry, in
        one transaction (the rollout's event and state ride on that entry, so the replay still sees them)."""
        now = self.clock.now()
        with self.store.transaction() as conn:
            dep = self._deployment(conn, model)
            conn.execute(delete(rollout_kills).where(rollout_kills.c.model == model))
            conn.execute(
                insert(rollout_kills).values(
                    model=model, mode=mode, at=now.isoformat(), actor=actor, reason=reason
                )
            )
            active = _running(conn, model)
            ro = self._get(conn, active[0], lock=True) if active is not None else None
            event = state = None
            if ro is not None:
                event = Event("kill", now.timestamp())
                state, _ = apply(ro.state, event, ro.plan)
                dep = desired(dep, state, ro.plan, baseline=ro.baseline, candidate=ro.candidate)
            gen = bump_generation(conn)
            write_deployment(conn, replace(dep, kill=mode), gen, f"kill:{actor}")
            if ro is not None and state is not None:
                conn.execute(
                    update(rollouts)
                    .where(rollouts.c.id == ro.id)
                    .values(
                        state=state.to_dict(),
                        phase=state.phase.value,
                        updated_at=now.isoformat(),
                        rollback_generation=gen,
                        rollback_decided_at=self.clock.monotonic(),
                        rollback_seconds=None,
                    )
                )
            audit.append(
                conn,
                at=now,
                actor=actor,
                action="kill",
                model=model,
                rollout_id=ro.id if ro is not None else None,
                event=event,
                state=state,
                reason=reason,
                evidence={"mode": mode, "routing_generation": gen},
            )
            killed = self._get(conn, ro.id).to_dict() if ro is not None else None
        return {"model": model, "mode": mode, "generation": gen, "rollout": killed}

    def release_kill(self, model: str, *, actor: str, reason: str = "kill switch released") -> dict[str, Any]:
        """Turn a model's kill switch off (routes as they are now)."""
        now = self.clock.now()
        with self.store.transaction() as conn:
            dep = self._deployment(conn, model)
            conn.execute(delete(rollout_kills).where(rollout_kills.c.model == model))
            gen = bump_generation(conn)
            write_deployment(conn, replace(dep, kill="off"), gen, f"kill:{actor}")
            audit.append(
                conn,
                at=now,
                actor=actor,
                action="kill_release",
                model=model,
                reason=reason,
                evidence={"routing_generation": gen},
            )
        return {"model": model, "mode": "off", "generation": gen}

    def enforce_kills(self, *, actor: str = "controller") -> list[str]:
        """Re-assert every persisted kill switch the routing table no longer shows; returns those models."""
        fixed = []
        for model, row in self.kills().items():
            with self.store.transaction() as conn:
                dep = read_deployment(conn, model)
                if dep is None or dep.kill == row["mode"]:
                    continue
                gen = bump_generation(conn)
                write_deployment(conn, replace(dep, kill=row["mode"]), gen, f"kill:{actor}")
                audit.append(
                    conn,
                    at=self.clock.now(),
                    actor=actor,
                    action="kill_reassert",
                    model=model,
                    reason=f"routing table showed kill={dep.kill}; the persisted switch says {row['mode']}",
                    evidence={"routing_generation": gen},
                )
            fixed.append(model)
        return fixed

    # --- bookkeeping the controller needs ------------------------------------------------------------------
    def set_missing(self, rollout_id: int, count: int) -> None:
        """Persist the count of consecutive intervals without metrics."""
        with self.store.transaction() as conn:
            conn.execute(update(rollouts).where(rollouts.c.id == rollout_id).values(missing_intervals=count))

    def set_rollback_seconds(self, rollout_id: int, seconds: float) -> None:
        """Record the measured decision → gateways-applied time of a rollback."""
        with self.store.transaction() as conn:
            conn.execute(update(rollouts).where(rollouts.c.id == rollout_id).values(rollback_seconds=seconds))

    def _record_once(
        self,
        *,
        actor: str,
        action: str,
        reason: str,
        model: str | None = None,
        rollout_id: int | None = None,
        evidence: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        """Append an audit entry that is not a transition (API calls, runbook actions, missing metrics)."""
        with self.store.transaction() as conn:
            return audit.append(
                conn,
                at=self.clock.now(),
                actor=actor,
                action=action,
                reason=reason,
                model=model,
                rollout_id=rollout_id,
                evidence=evidence,
            )

    def record(self, **kwargs: Any) -> dict[str, Any]:
        """Append an audit entry that is not a transition (API calls, runbook actions, missing metrics)."""
        return _retrying(lambda: self._record_once(**kwargs))


def _running(conn: Connection, model: str) -> Any:
    """(id, candidate) of the model's rollout that is not finished, or None."""
    return conn.execute(
        select(rollouts.c.id, rollouts.c.candidate).where(
            rollouts.c.model == model, rollouts.c.phase.notin_([p.value for p in TERMINAL])
        )
    ).first()


def _retrying(fn: Callable[[], Any], attempts: int = 8) -> Any:
    """Run ``fn`` again when a concurrent writer won a race (audit seq taken, SQLite busy)."""
    import time

    from sqlalchemy.exc import IntegrityError

    from trilho.errors import StoreError

    for attempt in range(attempts):
        try:
            return fn()
        except (IntegrityError, StoreError) as exc:
            retryable = isinstance(exc, IntegrityError) or "locked" in str(exc) or "busy" in str(exc)
            if not retryable or attempt == attempts - 1:
                raise
            time.sleep(0.005 * (2**attempt))
    raise AssertionError("unreachable")  # pragma: no cover


__all__ = ["GateReport", "Rollout", "RolloutService", "TransitionResult", "plan_label", "waits_for"]
