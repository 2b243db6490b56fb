"""Online evaluation in the gateway: deterministic checks on every LLM response (inline, enforcing their
actions), and judging of a stratified sample off the request path through a bounded queue, with
inverse-probability weights so population estimates stay unbiased, and a spend cap.

The serving gateway calls, per request::

    evaluator = OnlineEvaluator(Policy.load("policy.yaml"), judge=my_judge, sampler=StratifiedSampler(0.05))
    verdict = await evaluator.check_response(request, response, model="copilot", version="3")
    send(verdict.response)                      # possibly redacted, or the policy's fallback answer
    evaluator.submit_for_judging(request, verdict.response, model="copilot", version="3")

and runs ``await evaluator.drain()`` (or ``run_worker``) in a background task — what
``trilho.evals.online_gateway.GatewayEvals`` does inside the serving gateway (``trilho serve --evals``).
``request`` / ``response`` are OpenAI-style chat dicts (``messages`` / ``choices[0].message.content``) or
plain ``{"input"}`` / ``{"output"}`` dicts. If the checks themselves fail (a bug, a timeout), the hook never
raises: it fails open (the response goes out, counted) or closed (the fallback goes out, counted) as
configured.
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import json
import time
import uuid
from collections import defaultdict
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from trilho.clock import Clock, SystemClock
from trilho.errors import EvalError
from trilho.evals.checks import CheckContext
from trilho.evals.policy import Action, Policy, PolicyVerdict
from trilho.evals.queues import InProcessQueue, JudgeQueue
from trilho.evals.sampling import StratifiedSampler, WeightedEstimate, hajek_estimate
from trilho.obs import counter, gauge, get_logger, histogram

log = get_logger("trilho.evals.online")

_checked = counter("trilho_evals_online_checked_total", "LLM responses checked inline.", ["model", "version"])
_violations = counter(
    "trilho_evals_online_violations_total",
    "Inline check violations.",
    ["model", "version", "check", "action"],
)
_errors = counter(
    "trilho_evals_online_errors_total",
    "Inline check failures (fail-open/closed).",
    ["model", "version", "mode"],
)
_sampled = counter("trilho_evals_online_sampled_total", "Responses queued for judging.", ["model", "version"])
_drops = counter(
    "trilho_evals_online_queue_drops_total", "Sampled responses dropped (queue full).", ["model", "version"]
)
_judged = counter(
    "trilho_evals_online_judged_total",
    "Responses judged off the request path.",
    ["model", "version", "outcome"],
)
_scores = histogram(
    "trilho_evals_online_judge_score",
    "Judge scores of sampled responses.",
    ["model", "version"],
    buckets=(0.0, 0.25, 0.5, 0.75, 1.0, 2.0, 3.0, 4.0, 5.0),
)
_coverage = gauge(
    "trilho_evals_online_coverage_ratio", "Share of responses evaluated inline.", ["model", "version"]
)
_check_seconds = histogram(
    "trilho_evals_online_check_seconds", "Inline check time per response.", ["model", "version"]
)

JudgeFn = Callable[[dict[str, Any]], Awaitable[float]]
ANY = "_any"  # key in a stored window's violations: responses with at least one violation


def merge_verdicts(vin: PolicyVerdict, vout: PolicyVerdict, fallback: str) -> PolicyVerdict:
    """One verdict for a request/response pair: a blocking input check blocks the answer; any other failing
    input check can only flag it (an input cannot be redacted out of an answer)."""
    action = vout.action
    if vin.action is Action.BLOCK:
        action = Action.BLOCK
    elif vin.violations and action is Action.ALLOW:
        action = Action.FLAG
    text = fallback if action is Action.BLOCK else vout.text
    return PolicyVerdict(
        action,
        text,
        vin.results + vout.results,
        vin.violations + vout.violations,
        vin.errors + vout.errors,
        max(vin.seconds, vout.seconds),
    )


def request_text(request: Mapping[str, Any]) -> str:
    """The user's text in a chat request (last user message) or a plain ``input`` / ``prompt``."""
    msgs = request.get("messages")
    if isinstance(msgs, list):
        for m in reversed(msgs):
            if isinstance(m, Mapping) and m.get("role", "user") == "user":
                return str(m.get("content") or "")
    return str(request.get("input", request.get("prompt", "")) or "")


def response_text(response: Mapping[str, Any]) -> str:
    """The assistant text of a chat completion or a plain ``output`` / ``text``."""
    choices = response.get("choices")
    if isinstance(choices, list) and choices:
        msg = choices[0].get("message") or {}
        return str(msg.get("content") or choices[0].get("text") or "")
    return str(response.get("output", response.get("text", "")) or "")


def with_text(response: Mapping[str, Any], text: str) -> dict[str, Any]:
    """A copy of ``response`` whose assistant text is ``text``."""
    out = copy.deepcopy(dict(response))
    choices = out.get("choices")
    if isinstance(choices, list) and choices:
        choices[0].setdefault("message", {})["content"] = text
    elif "text" in out and "output" not in out:
        out["text"] = text
    else:
        out["output"] = text
    return out


@dataclass(frozen=True)
class OnlineVerdict:
    """What the gateway sends on and why."""

    action: Action
    response: dict[str, Any]
    violations: tuple[str, ...] = ()
    errors: tuple[str, ...] = ()
    failed: str | None = None  # "open" / "closed" when the checks themselves failed
    seconds: float = 0.0

    @property
    def blocked(self) -> bool:
        """True when the response was replaced by the fallback answer."""
        return self.action is Action.BLOCK

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {
            "action": str(self.action),
            "violations": list(self.violations),
            "errors": list(self.errors),
            "failed": self.failed,
            "seconds": self.seconds,
        }


@dataclass
class _Stats:
    seen: int = 0
    checked: int = 0
    failed_open: int = 0
    failed_closed: int = 0
    violating: int = 0  # responses with at least one violation
    violations: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    actions: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    offered: int = 0
    sampled: int = 0
    drops: int = 0
    skipped_budget: int = 0
    judged: int = 0
    judge_failures: int = 0
    scores: list[tuple[float, float]] = field(default_factory=list)


class OnlineEvaluator:
    """Inline checks on every response plus sampled, weighted judging off the request path."""

    def __init__(
        self,
        policy: Policy,
        *,
        judge: JudgeFn | Any | None = None,
        sampler: StratifiedSampler | None = None,
        queue: JudgeQueue | None = None,
        fail_mode: str = "open",
        spend_cap_usd: float | None = None,
        cost_per_judgment_usd: float = 0.0,
        clock: Clock | None = None,
    ) -> None:
        if fail_mode not in ("open", "closed"):
            raise EvalError(
                f"fail_mode must be 'open' or 'closed', got {fail_mode!r}", field="fail_mode", value=fail_mode
            )
        self.policy = policy
        self.judge = judge
        self.sampler = sampler or StratifiedSampler()
        self.queue: JudgeQueue = queue if queue is not None else InProcessQueue()
        self.fail_closed = fail_mode == "closed"
        self.spend_cap_usd = spend_cap_usd
        self.cost_per_judgment_usd = cost_per_judgment_usd
        self.spent_usd = 0.0
        self._reserved_usd = 0.0
        self.clock = clock or SystemClock()
        self._stats: dict[tuple[str, str], _Stats] = defaultdict(_Stats)
        self._flushed: dict[tuple[str, str], dict[str, Any]] = {}

    # --- on the request path -------------------------------------------------------------------------------
    async def check_request(self, request: Mapping[str, Any], *, model: str, version: str) -> OnlineVerdict:
        """Input checks (e.g. prompt injection) before the model is called; never raises."""
        return await self._check(request_text(request), {"output": ""}, "input", model, str(version), None)

    async def check_response(
        self,
        request: Mapping[str, Any],
        response: Mapping[str, Any],
        *,
        model: str,
        version: str,
        inputs: bool = False,
    ) -> OnlineVerdict:
        """Output checks on one response, enforcing block / redact / flag; never raises. With ``inputs`` the
        policy's input checks run on the request too (concurrently), merged into one verdict counted once:
        a blocking input check blocks the answer, any other failing input check flags it."""
        return await self._check(
            response_text(response),
            response,
            "output",
            model,
            str(version),
            request_text(request),
            inputs and bool(self.policy.specs_for("input")),
        )

    async def _check(
        self,
        text: str,
        response: Mapping[str, Any],
        on: str,
        model: str,
        version: str,
        user_input: str | None,
        with_inputs: bool = False,
    ) -> OnlineVerdict:
        st = self._stats[(model, version)]
        st.seen += 1
        t0 = time.perf_counter()
        try:
            if with_inputs:
                vin, v = await asyncio.gather(
                    self.policy.aevaluate(user_input or "", on="input", ctx=CheckContext()),
                    self.policy.aevaluate(text, on=on, ctx=CheckContext(input=user_input)),
                )
                v = merge_verdicts(vin, v, self.policy.fallback)
            else:
                v = await self.policy.aevaluate(text, on=on, ctx=CheckContext(input=user_input))
        except Exception as exc:  # the hook must never take the gateway down
            return self.failed(response, exc, model=model, version=version, seconds=time.perf_counter() - t0)
        st.checked += 1
        st.violating += bool(v.violations)
        st.actions[str(v.action)] += 1
        _checked.labels(model, version).inc()
        for cid in v.violations:
            st.violations[cid] += 1
            _violations.labels(model, version, cid, str(v.action)).inc()
        if v.errors:
            _errors.labels(model, version, "check").inc(len(v.errors))
        seconds = time.perf_counter() - t0
        _check_seconds.labels(model, version).observe(seconds)
        self._update_coverage(model, version, st)
        out = dict(response) if v.action in (Action.ALLOW, Action.FLAG) else with_text(response, v.text)
        return OnlineVerdict(v.action, out, v.violations, v.errors, None, seconds)

    def failed(
        self,
        response: Mapping[str, Any],
        exc: BaseException,
        *,
        model: str,
        version: str,
        seen: bool = True,
        seconds: float = 0.0,
    ) -> OnlineVerdict:
        """The verdict when checking itself failed: count it, and fail open (send ``response``) or closed
        (send the fallback). ``seen=False`` also counts the response as seen (a failure before the checks)."""
        version = str(version)
        st = self._stats[(model, version)]
        st.seen += 0 if seen else 1
        mode = "closed" if self.fail_closed else "open"
        setattr(st, f"failed_{mode}", getattr(st, f"failed_{mode}") + 1)
        _errors.labels(model, version, mode).inc()
        log.error("online checks failed", model=model, version=version, mode=mode, error=repr(exc))
        action = Action.BLOCK if self.fail_closed else Action.ALLOW
        out = with_text(response, self.policy.fallback) if self.fail_closed else dict(response)
        self._update_coverage(model, version, st)
        return OnlineVerdict(action, out, (), (f"{type(exc).__name__}: {exc}",), mode, seconds)

    def _update_coverage(self, model: str, version: str, st: _Stats) -> None:
        _coverage.labels(model, version).set(st.checked / st.seen if st.seen else 0.0)

    def submit_for_judging(
        self,
        request: Mapping[str, Any],
        response: Mapping[str, Any],
        *,
        model: str,
        version: str,
        stratum: str | None = None,
        key: str | None = None,
    ) -> bool:
        """Sample this response for judging (stratum defaults to model@version); True when it was queued.
        Cheap and non-blocking: a full queue drops (and counts) instead of waiting."""
        version = str(version)
        st = self._stats[(model, version)]
        st.offered += 1
        stratum = stratum or f"{model}@{version}"
        chosen, weight = self.sampler.sample(key or uuid.uuid4().hex, stratum)
        if not chosen:
            return False
        if self.spend_cap_usd is not None and (
            self.spent_usd + self._reserved_usd + self.cost_per_judgment_usd > self.spend_cap_usd
        ):
            st.skipped_budget += 1
            return False
        item = {
            "input": request_text(request),
            "output": response_text(response),
            "model": model,
            "version": version,
            "stratum": stratum,
            "weight": weight,
        }
        if not self.queue.put(item):
            st.drops += 1
            _drops.labels(model, version).inc()
            return False
        self._reserved_usd += self.cost_per_judgment_usd
        st.sampled += 1
        _sampled.labels(model, version).inc()
        return True

    # --- off the request path ------------------------------------------------------------------------------
    async def drain(self, max_items: int | None = None, batch: int = 16) -> int:
        """Judge queued items until the queue is empty (or ``max_items``); returns how many were judged."""
        if self.judge is None:
            raise EvalError("no judge configured for online evaluation", field="judge")
        done = 0
        while max_items is None or done < max_items:
            n = batch if max_items is None else min(batch, max_items - done)
            items = await asyncio.to_thread(self.queue.get_batch, n)
            if not items:
                break
            results = await asyncio.gather(*(self._judge_one(it) for _, it in items), return_exceptions=True)
            await asyncio.to_thread(self.queue.ack, [eid for eid, _ in items])
            for (_, it), res in zip(items, results, strict=True):
                st = self._stats[(it["model"], it["version"])]
                self._reserved_usd = max(0.0, self._reserved_usd - self.cost_per_judgment_usd)
                if isinstance(res, BaseException):
                    st.judge_failures += 1
                    _judged.labels(it["model"], it["version"], "error").inc()
                    log.warning("online judging failed", model=it["model"], error=repr(res))
                    continue
                value, cost = res
                self.spent_usd += cost
                st.judged += 1
                st.scores.append((value, float(it["weight"])))
                _judged.labels(it["model"], it["version"], "ok").inc()
                _scores.labels(it["model"], it["version"]).observe(value)
                done += 1
        return done

    async def _judge_one(self, item: dict[str, Any]) -> tuple[float, float]:
        judge = self.judge
        if hasattr(judge, "judge") and hasattr(judge, "client"):  # a trilho Judge
            before = judge.client.usage.cost_usd
            res = await judge.judge({"input": item["input"], "output": item["output"]})
            cost = judge.client.usage.cost_usd - before
            return float(res.value), cost if cost > 0 else self.cost_per_judgment_usd
        return float(await judge(item)), self.cost_per_judgment_usd

    async def run_worker(self, stop: asyncio.Event, *, idle_s: float = 0.2) -> None:
        """Judge continuously until ``stop`` is set."""
        while not stop.is_set():
            if await self.drain(max_items=64) == 0:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), idle_s)

    # --- to the store (the rollout analysis reads these) -------------------------------------------------
    def _snapshot(self, st: _Stats) -> dict[str, Any]:
        ys = list(st.scores)  # a copy: flush runs in a thread while the loop appends
        return {
            "seen": st.seen, "checked": st.checked, "violations": {**st.violations, ANY: st.violating},
            "sampled": st.sampled,
            "drops": st.drops, "judged": len(ys), "sum_w": sum(w for _, w in ys),
            "sum_wy": sum(w * y for y, w in ys), "sum_w2": sum(w * w for _, w in ys),
            "sum_w2y": sum(w * w * y for y, w in ys), "sum_w2y2": sum(w * w * y * y for y, w in ys),
        }  # fmt: skip

    def flush(self, store) -> int:
        """Write what changed since the last flush as one window row per model version; returns the rows."""
        from trilho.evals.online_store import write_windows

        rows, snaps = [], {}
        now = self.clock.now()
        for key, st in list(self._stats.items()):
            snap = self._snapshot(st)
            prev = self._flushed.get(key)
            if prev == snap:
                continue
            prev = prev or {k: ({} if k == "violations" else 0) for k in snap}
            row = {k: snap[k] - prev[k] for k in snap if k != "violations"}
            row["violations_json"] = json.dumps(
                {
                    c: n - prev["violations"].get(c, 0)
                    for c, n in snap["violations"].items()
                    if n != prev["violations"].get(c, 0)
                },
                sort_keys=True,
            )
            rows.append({"model": key[0], "version": key[1], "window_end": now, **row})
            snaps[key] = snap
        written = write_windows(store, rows)
        self._flushed.update(snaps)  # only after the transaction committed
        return written

    # --- reporting -----------------------------------------------------------------------------------------
    def estimate(self, model: str, version: str) -> WeightedEstimate:
        """Population mean judge score for a model version (inverse-probability weighted)."""
        scores = self._stats[(model, str(version))].scores
        return hajek_estimate([s for s, _ in scores], [w for _, w in scores])

    def stats(self) -> dict[str, Any]:
        """Per model@version: coverage, violations per check, actions, sampling, drops, judge estimate."""
        out: dict[str, Any] = {}
        for (model, version), st in self._stats.items():
            out[f"{model}@{version}"] = {
                "seen": st.seen,
                "checked": st.checked,
                "coverage": st.checked / st.seen if st.seen else 0.0,
                "failed_open": st.failed_open,
                "failed_closed": st.failed_closed,
                "violations": dict(st.violations),
                "violating": st.violating,
                "actions": dict(st.actions),
                "offered": st.offered,
                "sampled": st.sampled,
                "queue_drops": st.drops,
                "skipped_budget": st.skipped_budget,
                "judged": st.judged,
                "judge_failures": st.judge_failures,
                "judge_estimate": self.estimate(model, version).to_dict(),
            }
        out["_spend_usd"] = self.spent_usd
        return out
