"""Per-key rate limits and spend budgets of the LLM routes (pure: the caller passes the clock).

A client's key is its ``Authorization: Bearer <key>``; the keys file names each key by the environment
variable that holds it (never the key itself) and says what it may use::

    keys:
      - name: team-a                 # how logs and metrics call the key
        key_env: TEAM_A_LLM_KEY      # the variable holding the key (or key_sha256: <hex of its SHA-256>)
        requests_per_minute: 60      # optional
        tokens_per_minute: 20000     # optional: prompt + completion tokens, charged from the upstream's usage
        budget_usd: 5.0              # optional: spend (tokens x the version's prices) per budget_window
        budget_window: day           # day | month (UTC) | total (default)
    anonymous: refuse                # refuse (default when keys are listed) | allow: a request without a
                                     # listed key is refused with 401, or served without limits

Requests and tokens are token buckets (a minute's worth of capacity, refilled continuously); tokens are
charged after the answer (a key may go below zero and then waits). A refusal is a 429 with ``Retry-After`` in
seconds (until a request or its tokens are back, or the budget window ends; a spent ``total`` budget has
none) and an OpenAI-shaped error (code ``requests``, ``tokens`` or ``insufficient_quota``). The clock is
seconds since the epoch (budget windows are UTC days/months). State is per gateway process.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import math
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from trilho.errors import ConfigError

_KEY_FIELDS = {"name", "key_env", "key_sha256", "requests_per_minute", "tokens_per_minute", "budget_usd"}
_KEY_FIELDS |= {"budget_window"}
WINDOWS = ("day", "month", "total")


@dataclass(frozen=True)
class KeyPolicy:
    """What one key may use."""

    name: str
    requests_per_minute: float | None = None
    tokens_per_minute: float | None = None
    budget_usd: float | None = None
    budget_window: str = "total"


@dataclass(frozen=True)
class Refusal:
    """Why a request is refused: HTTP status, OpenAI error type and code, message, ``Retry-After`` seconds."""

    status: int
    kind: str
    code: str
    message: str
    retry_after_s: int | None = None

    @property
    def reason(self) -> str:
        """The metric label: ``requests``, ``tokens``, ``budget`` or ``key``."""
        return {"requests": "requests", "tokens": "tokens", "insufficient_quota": "budget"}.get(
            self.code, "key"
        )


@dataclass
class _Bucket:
    capacity: float
    level: float
    at: float

    def take(self, amount: float, now: float) -> None:
        self.level = min(self.capacity, self.level + (now - self.at) * self.capacity / 60.0) - amount
        self.at = now

    def wait_s(self, now: float, need: float = 1.0) -> float:
        """Seconds until ``need`` is available (0 when it is)."""
        level = min(self.capacity, self.level + (now - self.at) * self.capacity / 60.0)
        return 0.0 if level >= need else (need - level) * 60.0 / self.capacity


@dataclass
class _Usage:
    policy: KeyPolicy
    requests: _Bucket | None
    tokens: _Bucket | None
    window: str = ""
    spent_usd: float = 0.0


def window_of(kind: str, now_unix: float) -> tuple[str, float | None]:
    """The budget window holding ``now_unix`` and the seconds until it ends (None for ``total``)."""
    if kind == "total":
        return "total", None
    t = dt.datetime.fromtimestamp(now_unix, dt.UTC)
    if kind == "day":
        start = t.replace(hour=0, minute=0, second=0, microsecond=0)
        end = start + dt.timedelta(days=1)
        return start.date().isoformat(), (end - t).total_seconds()
    start = t.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    end = (start + dt.timedelta(days=32)).replace(day=1)
    return start.strftime("%Y-%m"), (end - t).total_seconds()


@dataclass
class KeyLimits:
    """The keys, their policies and their usage so far."""

    policies: dict[str, KeyPolicy]  # SHA-256 hex of the key → policy
    allow_anonymous: bool = False
    _usage: dict[str, _Usage] = field(default_factory=dict)

    @classmethod
    def from_dict(cls, doc: Any, source: str = "<keys>", env: Mapping[str, str] | None = None) -> KeyLimits:
        """Validate a keys document; every problem is a ``ConfigError`` naming the field and the fix."""
        env = os.environ if env is None else env
        if not isinstance(doc, Mapping) or not isinstance(doc.get("keys"), list):
            raise _bad(f"{source}: a keys file is a mapping with a 'keys' list", "keys", None)
        if set(doc) - {"keys", "anonymous"}:
            raise _bad(f"{source}: unknown key(s) {sorted(set(doc) - {'keys', 'anonymous'})}", "keys", None)
        anonymous = doc.get("anonymous", "refuse")
        if anonymous not in ("refuse", "allow"):
            raise _bad(f"{source}: anonymous must be refuse or allow", "anonymous", anonymous)
        policies: dict[str, KeyPolicy] = {}
        for i, item in enumerate(doc["keys"]):
            where = f"keys[{i}]"
            if (
                not isinstance(item, Mapping)
                or set(item) - _KEY_FIELDS
                or not isinstance(item.get("name"), str)
            ):
                raise _bad(
                    f"{source}: {where} must be a mapping with a name and only {sorted(_KEY_FIELDS)}", where
                )
            digest = _digest_of(item, where, source, env)
            numbers = {}
            for f in ("requests_per_minute", "tokens_per_minute", "budget_usd"):
                v = item.get(f)
                if v is not None and (isinstance(v, bool) or not isinstance(v, int | float) or v <= 0):
                    raise _bad(f"{source}: {where}.{f} must be a number > 0", f"{where}.{f}", v)
                numbers[f] = None if v is None else float(v)
            window = item.get("budget_window", "total")
            if window not in WINDOWS:
                raise _bad(
                    f"{source}: {where}.budget_window must be one of {WINDOWS}",
                    f"{where}.budget_window",
                    window,
                )
            if digest in policies:
                raise _bad(
                    f"{source}: {where} repeats the key of {policies[digest].name!r}", where, item["name"]
                )
            policies[digest] = KeyPolicy(item["name"], budget_window=window, **numbers)
        return cls(policies, anonymous == "allow")

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> KeyLimits:
        """Read a keys file (YAML)."""
        p = Path(path)
        try:
            doc = yaml.safe_load(p.read_text(encoding="utf-8"))
        except (OSError, yaml.YAMLError) as exc:
            raise ConfigError(
                f"cannot read the LLM keys file {str(p)!r}: {exc}",
                fix="pass a YAML keys file (see trilho.serving.llm.limits)",
                field="llm_keys",
                value=str(p),
            ) from exc
        return cls.from_dict(doc, p.name)

    def identify(self, authorization: str | None) -> tuple[KeyPolicy | None, Refusal | None]:
        """The policy of the request's key (None: anonymous, allowed) or a 401 refusal."""
        token = (authorization or "").removeprefix("Bearer ").strip()
        policy = self.policies.get(hashlib.sha256(token.encode()).hexdigest()) if token else None
        if policy is None and not self.allow_anonymous:
            return None, Refusal(
                401,
                "invalid_request_error",
                "invalid_api_key",
                "unknown or missing API key: send Authorization: Bearer <a key in the gateway's keys file>",
            )
        return policy, None

    def admit(self, policy: KeyPolicy, now: float) -> Refusal | None:
        """Take one request for ``policy``'s key at ``now`` (seconds since the epoch), or the refusal."""
        use = self._use(policy, now)
        if policy.budget_usd is not None:
            window, left_s = window_of(policy.budget_window, now)
            if window != use.window:
                use.window, use.spent_usd = window, 0.0
            if use.spent_usd >= policy.budget_usd:
                return Refusal(
                    429,
                    "insufficient_quota",
                    "insufficient_quota",
                    f"key {policy.name!r} has spent its budget of ${policy.budget_usd:g}"
                    f" ({'per ' + policy.budget_window if left_s is not None else 'in total'}):"
                    f" ${use.spent_usd:.6f}",
                    None if left_s is None else max(1, math.ceil(left_s)),
                )
        if use.tokens is not None and (wait := use.tokens.wait_s(now, 0.0 + 1e-9)) > 0:
            return self._limited(policy, "tokens", "tokens_per_minute", wait)
        if use.requests is not None:
            if (wait := use.requests.wait_s(now)) > 0:
                return self._limited(policy, "requests", "requests_per_minute", wait)
            use.requests.take(1.0, now)
        return None

    def charge(self, policy: KeyPolicy, tokens: int, cost_usd: float, now: float) -> None:
        """Count an answer's tokens and cost against ``policy``'s key."""
        use = self._use(policy, now)
        if use.tokens is not None:
            use.tokens.take(float(tokens), now)
        if policy.budget_usd is not None:
            window, _ = window_of(policy.budget_window, now)
            if window != use.window:
                use.window, use.spent_usd = window, 0.0
        use.spent_usd += cost_usd

    def spent(self, policy: KeyPolicy) -> float:
        """Spend in the key's current window (USD)."""
        use = self._usage.get(policy.name)
        return use.spent_usd if use else 0.0

    def _use(self, policy: KeyPolicy, now: float) -> _Usage:
        use = self._usage.get(policy.name)
        if use is None:
            rpm, tpm = policy.requests_per_minute, policy.tokens_per_minute
            use = _Usage(
                policy,
                None if rpm is None else _Bucket(rpm, rpm, now),
                None if tpm is None else _Bucket(tpm, tpm, now),
            )
            self._usage[policy.name] = use
        return use

    @staticmethod
    def _limited(policy: KeyPolicy, code: str, what: str, wait_s: float) -> Refusal:
        limit = getattr(policy, what)
        return Refusal(
            429,
            "requests" if code == "requests" else "tokens",
            code,
            f"rate limit of key {policy.name!r} reached: {limit:g} {what.replace('_', ' ')};"
            f" retry in {wait_s:.1f} s",
            max(1, math.ceil(wait_s)),
        )


def _digest_of(item: Mapping[str, Any], where: str, source: str, env: Mapping[str, str]) -> str:
    if ("key_env" in item) == ("key_sha256" in item):
        raise _bad(f"{source}: {where} needs exactly one of key_env or key_sha256", where, item.get("name"))
    if "key_sha256" in item:
        digest = str(item["key_sha256"]).lower()
        if len(digest) != 64 or any(c not in "0123456789abcdef" for c in digest):
            raise _bad(
                f"{source}: {where}.key_sha256 must be 64 hex digits", f"{where}.key_sha256", "<hidden>"
            )
        return digest
    name = item["key_env"]
    key = env.get(name) if isinstance(name, str) else None
    if not key:
        raise ConfigError(
            f"{source}: {where}.key_env names {name!r}, which is not set",
            fix=f"export {name}=<the key> where the gateway runs, or use key_sha256",
            field=f"{where}.key_env",
            value=str(name),
        )
    return hashlib.sha256(key.encode()).hexdigest()


def _bad(message: str, fieldname: str, value: Any = None) -> ConfigError:
    return ConfigError(
        message,
        fix="see the keys file format in trilho.serving.llm.limits",
        field=fieldname,
        value=None if value is None else str(value),
    )
