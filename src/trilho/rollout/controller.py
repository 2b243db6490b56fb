"""The controller loop: every interval, read each active rollout's aggregates, analyse, decide, act.

One controller acts at a time (a lease in the store). Each tick it re-asserts persisted kill switches (no
analysis or metrics needed), finishes gates interrupted by a crash, and for every rollout in
shadow/canary: reads the step's windows, runs the checks, and applies the decision as one idempotent
transition (state + routing + audit in one transaction). Rollbacks are timed from the decision until every
known gateway reports the new routing generation (``trilho_rollout_rollback_duration_seconds``). Time
comes from an injected clock."""

from __future__ import annotations

import os
import socket
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import httpx

from trilho.clock import Clock, ManualClock, SystemClock
from trilho.errors import GateFailed, TrilhoError
from trilho.obs import counter, get_logger, histogram
from trilho.rollout.analysis import decide, run_checks
from trilho.rollout.business import read_lifts, record_readings
from trilho.rollout.gates import GateRunner
from trilho.rollout.lease import Lease
from trilho.rollout.machine import Phase
from trilho.rollout.runbooks import run_runbooks
from trilho.rollout.service import Rollout, RolloutService
from trilho.rollout.windows import read_step, with_online, with_prometheus

log = get_logger("trilho.rollout.controller")
ROLLBACK_SECONDS = histogram(
    "trilho_rollout_rollback_duration_seconds",
    "Rollback decision until the last gateway applied the new routing table.",
    ["model", "version"],
    buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 5.0, 10.0, 30.0),
)
DECISIONS = counter(
    "trilho_rollout_decisions_total", "Controller decisions by action.", ["model", "version", "action"]
)
#: A standby controller says it is waiting for the lease when it starts, then at most this often.
LEASE_WAIT_LOG_SECONDS = 60.0
TICKS = counter(
    "trilho_rollout_ticks_total", "Controller ticks by whether this controller held the lease.", ["leader"]
)


@dataclass
class TickReport:
    """What one tick did."""

    leader: bool
    actions: list[dict[str, Any]] = field(default_factory=list)


@dataclass
class RunReport:
    """What :meth:`Controller.run` did: iterations, the timeline and the measured recovery times."""

    iterations: int
    timeline: list[dict[str, Any]]
    rollback_seconds: list[float]
    recoveries: list[dict[str, Any]] = field(default_factory=list)

    @property
    def time_to_recover(self) -> float | None:
        """Seconds from the failing step's start until every gateway applied the rollback (the last one)."""
        return self.recoveries[-1]["time_to_recover_s"] if self.recoveries else None

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready."""
        return {
            "iterations": self.iterations,
            "timeline": self.timeline,
            "rollback_seconds": self.rollback_seconds,
            "recoveries": self.recoveries,
            "time_to_recover_s": self.time_to_recover,
        }


def gateway_generations(
    urls: Sequence[str], client: httpx.Client, model: str | None = None
) -> list[int | None]:
    """The routing generation each gateway reports on ``/readyz`` (None when it does not answer): the one
    fully in effect there, or with ``model`` the one that model serves (a gateway still loading another
    model's new version has that model's change in effect, not the whole table's)."""
    out: list[int | None] = []
    for url in urls:
        try:
            status = client.get(url.rstrip("/") + "/readyz", timeout=0.5).json()
            served = status.get("models", {}).get(model, {}) if model is not None else {}
            out.append(int(served.get("generation", status["generation"])))
        except Exception:
            out.append(None)
    return out


class Controller:
    """Runs rollouts to completion against one store."""

    def __init__(
        self,
        store,
        *,
        clock: Clock | None = None,
        holder: str | None = None,
        interval: float | None = None,
        lease_ttl: float = 15.0,
        stale_after: float | None = None,
        gateways: Sequence[str] = (),
        propagation_timeout: float = 5.0,
        gates: GateRunner | None = None,
        http: httpx.Client | None = None,
        checkpoint_file: str | os.PathLike[str] | None = None,
        exposures: str | os.PathLike[str] | None = None,
    ) -> None:
        self.clock = clock or SystemClock()
        self.service = RolloutService(store, clock=self.clock, gates=gates)
        self.store = store
        self.holder = holder or f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"
        self.lease = Lease(store, self.holder, ttl=lease_ttl, clock=self.clock)
        self.interval = interval
        self.stale_after = stale_after
        self.gateways = list(gateways)
        self.propagation_timeout = propagation_timeout
        self.http = http or httpx.Client()
        self._last: dict[int, float] = {}
        self._t0 = self.clock.monotonic()
        self.timeline: list[dict[str, Any]] = []
        self.rollback_seconds: list[float] = []
        self.recoveries: list[dict[str, Any]] = []
        self._leader: bool | None = None  # unknown until the first tick
        self._waiting_since: float | None = None
        self._wait_logged_at = 0.0
        self.checkpoint_file = checkpoint_file
        self.exposures = exposures  # the gateways' exposure log, for plans with business metrics
        self._checkpointed: int | None = None  # the audit seq of the last exported checkpoint

    # --- the loop ------------------------------------------------------------------------------------------
    def run(
        self,
        *,
        seconds: float | None = None,
        iterations: int | None = None,
        tick_every: float | None = None,
        sleep: Callable[[float], None] | None = None,
        on_tick: Callable[[Controller], None] | None = None,
    ) -> RunReport:
        """Tick until ``seconds`` of clock time or ``iterations`` ticks have passed (forever if neither).

        With a :class:`~trilho.clock.ManualClock` the default ``sleep`` advances the clock, so a plan of
        minutes runs in milliseconds; ``on_tick`` runs before each tick (tests use it to play traffic).
        """
        if sleep is None:
            sleep = self.clock.advance if isinstance(self.clock, ManualClock) else time.sleep
        period = tick_every or self.interval or 1.0
        start = self.clock.monotonic()
        n = 0
        while True:
            if iterations is not None and n >= iterations:
                break
            if seconds is not None and self.clock.monotonic() - start >= seconds:
                break
            began = self.clock.monotonic()
            if on_tick is not None:
                on_tick(self)
            try:
                self.tick()
            except TrilhoError as exc:  # the store is down: keep trying, say so once per tick
                log.error("controller tick failed", error=str(exc))
            except Exception as exc:  # never let one bad tick end the loop that rolls back bad versions
                log.error("controller tick crashed", error=f"{type(exc).__name__}: {exc}")
            n += 1
            spent = self.clock.monotonic() - began
            sleep(max(0.0, period - spent))
        return RunReport(n, list(self.timeline), list(self.rollback_seconds), list(self.recoveries))

    def start_in_thread(self, *, tick_every: float | None = None) -> Callable[[], None]:
        """Run the loop in a daemon thread (to embed it in ``trilho serve``); returns ``stop()``."""
        import threading

        stop = threading.Event()

        def loop() -> None:
            while not stop.is_set():
                self.run(iterations=1, tick_every=0.0)
                stop.wait(tick_every or self.interval or 1.0)

        thread = threading.Thread(target=loop, name="trilho-controller", daemon=True)
        thread.start()

        def halt() -> None:
            stop.set()
            thread.join(10)
            self.close()

        return halt

    def tick(self) -> TickReport:
        """One pass over every active rollout (only while holding the lease)."""
        if not self.lease.acquire():
            TICKS.labels("false").inc()
            self._standby()
            return TickReport(False)
        TICKS.labels("true").inc()
        if self._leader is not True:
            waited = None if self._waiting_since is None else self.clock.monotonic() - self._waiting_since
            log.info(
                "controller holds the lease; acting",
                holder=self.holder,
                lease=self.lease.name,
                waited_s=None if waited is None else round(waited, 3),
            )
            self._leader, self._waiting_since = True, None
        report = TickReport(True)
        for model in self.service.enforce_kills():
            self._mark(model, None, "kill_reasserted", "persisted kill switch re-applied")
        for ro in self.service.active():
            try:
                action = self._work(ro)
            except Exception as exc:  # one broken rollout must not stop the others
                log.error("rollout step failed", model=ro.model, rollout=ro.id, error=f"{type(exc).__name__}")
                action = {"rollout": ro.id, "action": "error", "error": f"{type(exc).__name__}: {exc}"[:300]}
            if action:
                report.actions.append(action)
        self._export_checkpoint()
        return report

    def _export_checkpoint(self) -> None:
        """When the audit log grew, sign its head and export it: the log stream, and the checkpoint file."""
        if self.store.audit_key is None:
            return
        try:
            cp = self.service.audit_checkpoint()
            if cp["seq"] == self._checkpointed:
                return
            log.info("audit checkpoint", **cp)
            if self.checkpoint_file is not None:
                from trilho.rollout.checkpoints import append_checkpoint

                append_checkpoint(self.checkpoint_file, cp)
            self._checkpointed = cp["seq"]
        except Exception as exc:  # exporting must never stop the rollouts
            log.warning("audit checkpoint not exported", error=f"{type(exc).__name__}: {exc}"[:300])

    def _standby(self) -> None:
        """Log that this controller waits for the lease: when it starts waiting, then at a bounded rate."""
        now = self.clock.monotonic()
        if self._waiting_since is None:
            self._waiting_since = now
        elif now - self._wait_logged_at < LEASE_WAIT_LOG_SECONDS:
            return
        self._leader, self._wait_logged_at = False, now
        log.info(
            "standby: another controller holds the lease; waiting",
            holder=self.holder,
            lease=self.lease.name,
            leader=self.lease.holder_now(),
            waited_s=round(now - self._waiting_since, 3),
            lease_ttl_s=self.lease.ttl,
        )

    def close(self) -> None:
        """Give the lease up and close the HTTP client."""
        try:
            self.lease.release()
        finally:
            self.http.close()

    # --- one rollout ---------------------------------------------------------------------------------------
    def _due(self, ro: Rollout) -> bool:
        period = self.interval or ro.plan.interval
        last = self._last.get(ro.id)
        now = self.clock.monotonic()
        if last is not None and now - last < period - 1e-9:
            return False
        self._last[ro.id] = now
        return True

    def _work(self, ro: Rollout) -> dict[str, Any] | None:
        if ro.state.phase in (Phase.PENDING, Phase.GATES):
            try:
                after = self.service.run_gates(ro.id, actor="controller")
                self._mark(ro.model, ro.id, "gates_passed", f"entered {after.state.phase.value}")
            except GateFailed as exc:
                self._mark(ro.model, ro.id, "gates_failed", exc.message)
            return {"rollout": ro.id, "action": "gates"}
        if ro.state.effective_phase not in (Phase.SHADOW, Phase.CANARY) or not self._due(ro):
            return None
        now = self.clock.now()
        started = ro.state.step_started_at or now.timestamp()
        step_age = now.timestamp() - started
        stale = self.stale_after or max(3 * (self.interval or ro.plan.interval), 10.0)
        shadow = ro.state.effective_phase is Phase.SHADOW
        try:
            data = read_step(
                self.store,
                ro.model,
                ro.baseline,
                ro.candidate,
                since=datetime.fromtimestamp(started, UTC),
                shadow=shadow,
                comparator=_agreement_comparator(ro.plan, ro.state.step) if shadow else None,
            )
            if not shadow and ro.plan.analysis_for(ro.state.step).online_eval is not None:
                data = with_online(self.store, ro.model, data, since=datetime.fromtimestamp(started, UTC))
            missing = step_age >= stale and (
                data.newest is None or (now - data.newest).total_seconds() > stale
            )
        except Exception as exc:  # metrics unreadable for any reason: that is "missing", never "pass"
            data, missing = None, True
            log.warning("metrics unavailable", model=ro.model, error=f"{type(exc).__name__}: {exc}"[:300])
        if missing or data is None:
            return self._missing(ro)
        base, cand = data.base, data.cand
        user = ro.plan.analysis_for(ro.state.step).user_metrics
        if any(u.prometheus for u in user):
            base = with_prometheus(base, ro.model, user, self.http)
            cand = with_prometheus(cand, ro.model, user, self.http)
        business = None if shadow else ro.plan.analysis_for(ro.state.step).business
        lifts = None
        if business is not None:
            weight = ro.plan.steps[ro.state.step].body.weight / 100.0  # type: ignore[union-attr]
            lifts = read_lifts(
                business,
                ro.model,
                ro.baseline,
                ro.candidate,
                since=datetime.fromtimestamp(started, UTC),
                weights={ro.baseline: 1.0 - weight, ro.candidate: weight},
                exposures=self.exposures,
            )
        results = run_checks(ro.plan, ro.state.step, base, cand, lifts)
        if business is not None:
            try:  # the dashboard's lift over time; never a reason to skip a decision
                record_readings(self.store, ro.id, ro.state.step, now, results)
            except Exception as exc:
                log.warning(
                    "business readings not stored", model=ro.model, error=f"{type(exc).__name__}: {exc}"
                )
        decision = decide(
            ro.plan,
            ro.state.step,
            results,
            elapsed=step_age,
            cand_requests=data.cand.requests,
            extensions=ro.state.extensions,
        )
        evidence = {
            "decision": decision.to_dict(),
            "baseline": data.base.to_dict(),
            "candidate": data.cand.to_dict(),
            "step": ro.state.step,
            "step_age_s": step_age,
        }
        if decision.action != "rollback" and any(r.status == "error" for r in results):
            return self._missing(ro)  # an erroring metric source counts toward the missing-metrics fail-safe
        if ro.missing_intervals:
            self.service.set_missing(ro.id, 0)
        if ro.state.phase is Phase.PAUSED and decision.action != "rollback":
            return {"rollout": ro.id, "action": "hold", "reason": "paused"}
        if decision.action == "hold":
            return {"rollout": ro.id, "action": "hold", "reason": decision.reason}
        DECISIONS.labels(ro.model, ro.candidate, decision.action).inc()
        if decision.action == "rollback":
            self._rollback(ro, decision.reason, evidence, event="check_failed")
        elif decision.action == "advance":
            res = self.service.transition(
                ro.id,
                "advance",
                actor="controller",
                reason=decision.reason,
                evidence=evidence,
                from_step=ro.state.step,
            )
            if res.changed:
                new = res.rollout
                kind = "promoted" if new.state.phase is Phase.PROMOTED else "step_passed"
                self._mark(
                    ro.model,
                    ro.id,
                    kind,
                    f"{ro.position()['position']} → {new.position()['position']}",
                )
                run_runbooks(
                    new.plan,
                    kind,
                    service=self.service,
                    rollout=new,
                    reason=decision.reason,
                    client=self.http,
                )
        elif decision.action == "extend":
            self.service.transition(
                ro.id,
                "extend",
                actor="controller",
                reason=decision.reason,
                evidence=evidence,
                from_step=ro.state.step,
            )
            self._mark(ro.model, ro.id, "extended", decision.reason)
        elif decision.action == "abort":
            res = self.service.transition(
                ro.id, "abort", actor="controller", reason=decision.reason, evidence=evidence
            )
            self._mark(ro.model, ro.id, "aborted", decision.reason)
            run_runbooks(
                ro.plan,
                "aborted",
                service=self.service,
                rollout=res.rollout,
                reason=decision.reason,
                client=self.http,
            )
        return {"rollout": ro.id, "action": decision.action, "reason": decision.reason}

    def _missing(self, ro: Rollout) -> dict[str, Any]:
        count = ro.missing_intervals + 1
        self.service.set_missing(ro.id, count)
        policy = ro.plan.missing_metrics
        reason = f"no metrics for {count} consecutive interval(s)"
        if count == policy.intervals:
            self.service.record(
                actor="controller",
                action="metrics_missing",
                model=ro.model,
                rollout_id=ro.id,
                reason=f"{reason}; fail-safe: {policy.action}",
                evidence={"intervals": count},
            )
            self._mark(ro.model, ro.id, "metrics_missing", f"{reason}; fail-safe: {policy.action}")
            run_runbooks(
                ro.plan, "metrics_missing", service=self.service, rollout=ro, reason=reason, client=self.http
            )
        if count >= policy.intervals and policy.action == "rollback":
            self._rollback(ro, f"fail-safe: {reason}", {"missing_intervals": count}, event=None)
            return {"rollout": ro.id, "action": "rollback", "reason": reason}
        return {"rollout": ro.id, "action": "hold", "reason": reason}

    def _rollback(self, ro: Rollout, reason: str, evidence: dict[str, Any], *, event: str | None) -> None:
        decided = time.perf_counter()
        res = self.service.transition(ro.id, "rollback", actor="controller", reason=reason, evidence=evidence)
        if not res.changed:
            return
        detected = self.clock.now().timestamp() - (ro.state.step_started_at or self.clock.now().timestamp())
        self._mark(ro.model, ro.id, "rolled_back", reason, detected_after_s=round(detected, 3))
        seconds = self._propagation(ro.model, res.generation, decided)
        self.recoveries.append(
            {
                "model": ro.model,
                "rollout": ro.id,
                "candidate": ro.candidate,
                "step": ro.state.step,
                "detected_after_s": detected,
                "applied_s": seconds,
                "time_to_recover_s": detected + (seconds or 0.0),
            }
        )
        if seconds is not None:
            ROLLBACK_SECONDS.labels(ro.model, ro.candidate).observe(seconds)
            self.rollback_seconds.append(seconds)
            self.service.set_rollback_seconds(ro.id, seconds)
            self._mark(
                ro.model,
                ro.id,
                "gateways_applied",
                f"{seconds * 1000:.0f} ms after the decision",
                seconds=seconds,
            )
        if event:
            run_runbooks(
                res.rollout.plan,
                event,
                service=self.service,
                rollout=res.rollout,
                reason=reason,
                client=self.http,
            )
        run_runbooks(
            res.rollout.plan,
            "rolled_back",
            service=self.service,
            rollout=res.rollout,
            reason=reason,
            client=self.http,
        )

    def _propagation(self, model: str, generation: int | None, decided: float) -> float | None:
        """Seconds from the decision until every gateway serves ``model`` from ``generation`` on (or until
        commit)."""
        if generation is None:
            return None
        if not self.gateways:
            return time.perf_counter() - decided
        deadline = decided + self.propagation_timeout
        while time.perf_counter() < deadline:
            gens = gateway_generations(self.gateways, self.http, model)
            if all(g is not None and g >= generation for g in gens):
                return time.perf_counter() - decided
            time.sleep(0.01)
        log.warning(
            "gateways did not apply the rollback in time",
            generation=generation,
            timeout=self.propagation_timeout,
        )
        return None

    def _mark(self, model: str, rollout_id: int | None, kind: str, detail: str, **extra: Any) -> None:
        entry = {
            "t": round(self.clock.monotonic() - self._t0, 3),
            "at": self.clock.now().isoformat(),
            "model": model,
            "rollout": rollout_id,
            "event": kind,
            "detail": detail,
            **extra,
        }
        self.timeline.append(entry)
        log.info(
            "rollout event", **{("kind" if k == "event" else k): v for k, v in entry.items() if k != "at"}
        )


def _agreement_comparator(plan: Any, step: int) -> str | None:
    """The comparator whose pairs a shadow step's agreement check reads (None: the first by name)."""
    agreement = plan.analysis_for(step).shadow_agreement
    return agreement.comparator if agreement is not None else None
