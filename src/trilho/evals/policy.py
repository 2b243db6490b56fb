"""Guardrail policies: which checks run on inputs and outputs, what happens when one fails, and how.

A policy is YAML (or a dict)::

    name: support-bot
    fallback: "Sorry, I can't help with that."     # the safe answer a block returns
    timeout_ms: 50                                  # default per-check timeout (off-loop checks)
    fail: open                                      # default when a check errors or times out: open | closed
    checks:
      - check: pii                                  # a registered check name (see trilho.evals.checks)
        on: output                                  # input | output (default: the check's own)
        action: redact                              # block | redact | flag
        options: {engine: pattern}
      - check: secrets
        action: block
        fail: closed

Actions rank ``block > redact > flag``. ``redact`` replaces the spans every failing redact check found;
a check that cannot redact (no spans) escalates to ``block``. A check that errors or exceeds its timeout
counts as passed under ``fail: open`` and as a ``block`` under ``fail: closed``; either way it is reported
in ``verdict.errors``. Cheap (inline) checks run in the caller; the rest run concurrently off the loop.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any

from trilho.errors import EvalError
from trilho.evals.checks import Check, CheckContext, CheckResult, make_check
from trilho.evals.checks.pii import redact

DEFAULT_FALLBACK = "Sorry, I can't help with that request."


class Action(StrEnum):
    """What a failing check does to the response."""

    ALLOW = "allow"
    FLAG = "flag"
    REDACT = "redact"
    BLOCK = "block"


_RANK = {Action.ALLOW: 0, Action.FLAG: 1, Action.REDACT: 2, Action.BLOCK: 3}
_CHECK_KEYS = {"check", "id", "on", "action", "options", "timeout_ms", "fail"}
_POLICY_KEYS = {"name", "version", "fallback", "timeout_ms", "fail", "checks", "description"}


@dataclass(frozen=True)
class CheckSpec:
    """One configured check inside a policy."""

    id: str
    check: Check
    on: str
    action: Action
    timeout_s: float
    fail_closed: bool


@dataclass(frozen=True)
class PolicyVerdict:
    """The outcome of a policy on one text: the action taken and the text to send on."""

    action: Action
    text: str
    results: tuple[CheckResult, ...]
    violations: tuple[str, ...]
    errors: tuple[str, ...] = ()
    seconds: float = 0.0

    @property
    def blocked(self) -> bool:
        """True when the text was replaced by the fallback answer."""
        return self.action is Action.BLOCK

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {
            "action": str(self.action),
            "text": self.text,
            "violations": list(self.violations),
            "errors": list(self.errors),
            "seconds": self.seconds,
            "results": [r.to_dict() for r in self.results],
        }


def _bad(msg: str, *, fix: str = "see the policy format in trilho.evals.policy", **fields: Any) -> EvalError:
    return EvalError(msg, fix=fix, **fields)


@dataclass
class Policy:
    """A set of checks with actions, timeouts and fail modes."""

    name: str
    checks: list[CheckSpec]
    fallback: str = DEFAULT_FALLBACK
    _pool: concurrent.futures.ThreadPoolExecutor | None = field(default=None, repr=False)

    # --- loading -------------------------------------------------------------------------------------------
    @classmethod
    def from_dict(cls, doc: Mapping[str, Any], *, source: str = "<dict>") -> Policy:
        """Build and validate a policy; every problem is an ``EvalError`` naming the field."""
        if not isinstance(doc, Mapping):
            raise _bad(f"policy {source} must be a mapping, got {type(doc).__name__}", field="policy")
        unknown = set(doc) - _POLICY_KEYS
        if unknown:
            raise _bad(
                f"policy {source} has unknown key(s) {sorted(unknown)}", field="policy", value=sorted(unknown)
            )
        default_timeout = _timeout(doc.get("timeout_ms", 50), "timeout_ms")
        default_fail = _fail_mode(doc.get("fail", "open"), "fail")
        raw = doc.get("checks")
        if not isinstance(raw, list) or not raw:
            raise _bad(f"policy {source} needs a non-empty 'checks' list", field="checks")
        specs: list[CheckSpec] = []
        for i, item in enumerate(raw):
            where = f"checks[{i}]"
            if not isinstance(item, Mapping) or "check" not in item:
                raise _bad(f"{where} must be a mapping with a 'check' name", field=where)
            extra = set(item) - _CHECK_KEYS
            if extra:
                raise _bad(f"{where} has unknown key(s) {sorted(extra)}", field=where, value=sorted(extra))
            check = make_check(str(item["check"]), item.get("options") or {})
            cid = str(item.get("id") or item["check"])
            if any(s.id == cid for s in specs):
                raise _bad(
                    f"{where}: duplicate check id {cid!r}",
                    fix="give each repeated check an 'id'",
                    field=where,
                )
            on = item.get("on", check.default_applies_to)
            if on not in ("input", "output"):
                raise _bad(
                    f"{where}.on must be 'input' or 'output', got {on!r}", field=f"{where}.on", value=on
                )
            try:
                action = Action(item.get("action", "flag"))
            except ValueError:
                raise _bad(
                    f"{where}.action must be block, redact or flag, got {item.get('action')!r}",
                    field=f"{where}.action",
                    value=item.get("action"),
                ) from None
            if action is Action.ALLOW:
                raise _bad(f"{where}.action 'allow' does nothing", field=f"{where}.action", value="allow")
            specs.append(
                CheckSpec(
                    cid,
                    check,
                    on,
                    action,
                    _timeout(item["timeout_ms"], f"{where}.timeout_ms")
                    if "timeout_ms" in item
                    else default_timeout,
                    _fail_mode(item.get("fail"), f"{where}.fail") if "fail" in item else default_fail,
                )
            )
        fallback = doc.get("fallback", DEFAULT_FALLBACK)
        if not isinstance(fallback, str) or not fallback.strip():
            raise _bad("fallback must be a non-empty string", field="fallback")
        return cls(str(doc.get("name", Path(source).stem)), specs, fallback)

    @classmethod
    def load(cls, path: str | Path) -> Policy:
        """Load a policy YAML file (``"default"`` gives the built-in default policy)."""
        if str(path) == "default":
            return default_policy()
        p = Path(path)
        if not p.is_file():
            raise EvalError(
                f"policy file {str(p)!r} does not exist",
                fix="pass a policy YAML file or 'default'",
                field="policy",
                value=str(p),
            )
        import yaml

        try:
            doc = yaml.safe_load(p.read_text(encoding="utf-8"))
        except yaml.YAMLError as exc:
            raise EvalError(
                f"policy {p.name} is not valid YAML: {exc}", field="policy", value=str(p)
            ) from exc
        return cls.from_dict(doc, source=str(p))

    # --- running -------------------------------------------------------------------------------------------
    def specs_for(self, on: str) -> list[CheckSpec]:
        """The checks that apply to inputs (``"input"``) or outputs (``"output"``)."""
        return [s for s in self.checks if s.on == on]

    def evaluate(self, text: str, *, on: str = "output", ctx: CheckContext | None = None) -> PolicyVerdict:
        """Run the checks for ``on`` synchronously (off-loop checks in a thread pool, each with a timeout)."""
        ctx = ctx or CheckContext()
        t0 = time.perf_counter()
        specs = self.specs_for(on)
        slow = [s for s in specs if not s.check.inline]
        futures = {}
        if slow:
            pool = self._executor()
            futures = {s.id: (pool.submit(_timed, s, text, ctx), time.perf_counter()) for s in slow}
        outcomes: list[tuple[CheckSpec, CheckResult]] = []
        for s in specs:
            if s.check.inline:
                outcomes.append((s, _timed(s, text, ctx)))
        for s in slow:
            fut, started = futures[s.id]
            try:
                res = fut.result(timeout=max(0.0, s.timeout_s - (time.perf_counter() - started)))
            except concurrent.futures.TimeoutError:
                res = CheckResult(s.id, False, error=f"timeout after {s.timeout_s * 1000:.0f} ms")
            outcomes.append((s, res))
        return self._decide(text, outcomes, time.perf_counter() - t0)

    async def aevaluate(
        self, text: str, *, on: str = "output", ctx: CheckContext | None = None
    ) -> PolicyVerdict:
        """Async form of :meth:`evaluate`: off-loop checks run concurrently in threads with their timeouts."""
        ctx = ctx or CheckContext()
        t0 = time.perf_counter()
        specs = self.specs_for(on)
        slow = [s for s in specs if not s.check.inline]
        loop = asyncio.get_running_loop()
        tasks = [
            asyncio.wait_for(loop.run_in_executor(self._executor(), _timed, s, text, ctx), s.timeout_s)
            for s in slow
        ]
        outcomes = [(s, _timed(s, text, ctx)) for s in specs if s.check.inline]
        if tasks:
            done = await asyncio.gather(*tasks, return_exceptions=True)
            for s, res in zip(slow, done, strict=True):
                if isinstance(res, BaseException):
                    kind = "timeout" if isinstance(res, TimeoutError | asyncio.TimeoutError) else "error"
                    res = CheckResult(
                        s.id,
                        False,
                        error=f"{kind}: {res}"
                        if kind == "error"
                        else f"timeout after {s.timeout_s * 1000:.0f} ms",
                    )
                outcomes.append((s, res))
        return self._decide(text, outcomes, time.perf_counter() - t0)

    def _executor(self) -> concurrent.futures.ThreadPoolExecutor:
        if self._pool is None:
            self._pool = concurrent.futures.ThreadPoolExecutor(
                max_workers=4, thread_name_prefix="trilho-check"
            )
        return self._pool

    def close(self) -> None:
        """Stop the worker threads of off-loop checks."""
        if self._pool is not None:
            self._pool.shutdown(wait=False, cancel_futures=True)
            self._pool = None

    def _decide(
        self, text: str, outcomes: list[tuple[CheckSpec, CheckResult]], seconds: float
    ) -> PolicyVerdict:
        action = Action.ALLOW
        violations, errors, redact_findings = [], [], []
        for spec, res in outcomes:
            if res.error is not None:
                errors.append(f"{spec.id}: {res.error}")
                if spec.fail_closed:
                    violations.append(spec.id)
                    action = Action.BLOCK
                continue
            if res.passed:
                continue
            violations.append(spec.id)
            act = spec.action
            if act is Action.REDACT:
                spans = [f for f in res.findings if f.start is not None]
                if spans:
                    redact_findings.extend(spans)
                else:
                    act = Action.BLOCK
            if _RANK[act] > _RANK[action]:
                action = act
        if action is Action.BLOCK:
            out = self.fallback
        elif action is Action.REDACT:
            out = redact(text, redact_findings)
        else:
            out = text
        return PolicyVerdict(
            action, out, tuple(r for _, r in outcomes), tuple(violations), tuple(errors), seconds
        )


def _timed(spec: CheckSpec, text: str, ctx: CheckContext) -> CheckResult:
    t = time.perf_counter()
    try:
        res = spec.check.run(text, ctx)
    except Exception as exc:  # a broken check must never take the request path down
        return CheckResult(
            spec.id, False, error=f"{type(exc).__name__}: {exc}", seconds=time.perf_counter() - t
        )
    return CheckResult(spec.id, res.passed, res.findings, res.score, res.error, time.perf_counter() - t)


def _timeout(value: Any, fieldname: str) -> float:
    if not isinstance(value, int | float) or isinstance(value, bool) or value <= 0:
        raise _bad(
            f"{fieldname} must be a positive number of milliseconds, got {value!r}",
            field=fieldname,
            value=value,
        )
    return float(value) / 1000.0


def _fail_mode(value: Any, fieldname: str) -> bool:
    if value not in ("open", "closed"):
        raise _bad(f"{fieldname} must be 'open' or 'closed', got {value!r}", field=fieldname, value=value)
    return value == "closed"


DEFAULT_POLICY: dict[str, Any] = {
    "name": "default",
    "fallback": DEFAULT_FALLBACK,
    "timeout_ms": 50,
    "fail": "open",
    "checks": [
        {"check": "prompt_injection", "on": "input", "action": "block"},
        {"check": "secrets", "action": "block", "fail": "closed"},
        {
            "check": "pii",
            "action": "redact",
            "options": {
                "engine": "pattern",
                "entities": [
                    "CREDIT_CARD",
                    "IBAN_CODE",
                    "US_SSN",
                    "EMAIL_ADDRESS",
                    "PHONE_NUMBER",
                    "IP_ADDRESS",
                    "US_ITIN",
                    "UK_NHS",
                    "CRYPTO",
                ],
            },
        },
        {"check": "length", "action": "flag", "options": {"max_chars": 8000}},
    ],
}


def default_policy() -> Policy:
    """The built-in default policy: injection on inputs; secrets, pattern PII and length on outputs."""
    return Policy.from_dict(DEFAULT_POLICY, source="default")
