"""Secrets and credentials in text: cloud keys, tokens, private keys, passwords in connection strings.

Rules are anchored on well-known prefixes and shapes (few false positives); ``generic`` adds
``api_key = "..."`` style assignments with a long high-entropy value.
"""

from __future__ import annotations

import math
import re
from collections import Counter

from trilho.evals.checks.base import Check, CheckContext, CheckResult, Finding, register

RULES: dict[str, str] = {
    "aws_access_key_id": r"\b(?:AKIA|ASIA|AGPA|AIDA|AROA|ANPA|ANVA)[0-9A-Z]{16}\b",
    "github_token": r"\b(?:gh[pousr]_[A-Za-z0-9]{36,255}|github_pat_[A-Za-z0-9_]{22,255})\b",
    "gitlab_token": r"\bglpat-[A-Za-z0-9_\-]{20,}\b",
    "slack_token": r"\bxox[abprs]-[A-Za-z0-9-]{10,}\b",
    "openai_api_key": r"\bsk-(?:proj-|svcacct-)?[A-Za-z0-9_\-]{20,}\b",
    "anthropic_api_key": r"\bsk-ant-[A-Za-z0-9_\-]{20,}\b",
    "google_api_key": r"\bAIza[0-9A-Za-z_\-]{35}\b",
    "stripe_key": r"\b(?:sk|rk)_(?:live|test)_[0-9a-zA-Z]{16,}\b",
    "jwt": r"\beyJ[A-Za-z0-9_\-]{8,}\.eyJ[A-Za-z0-9_\-]{8,}\.[A-Za-z0-9_\-]{8,}\b",
    "private_key": r"-----BEGIN (?:RSA |EC |DSA |OPENSSH |PGP |ENCRYPTED )?PRIVATE KEY(?: BLOCK)?-----",
    "url_credentials": r"\b[a-z][a-z0-9+.\-]*://[^\s:/@]+:[^\s/@]{3,}@[^\s/]+",
}
# Literal substrings at least one of which every match of a rule contains: a cheap prefilter so clean text
# (almost all traffic) never runs the rule's regex.
TRIGGERS: dict[str, tuple[str, ...]] = {
    "aws_access_key_id": ("AKIA", "ASIA", "AGPA", "AIDA", "AROA", "ANPA", "ANVA"),
    "github_token": ("ghp_", "gho_", "ghu_", "ghs_", "ghr_", "github_pat_"),
    "gitlab_token": ("glpat-",),
    "slack_token": ("xoxa-", "xoxb-", "xoxp-", "xoxr-", "xoxs-"),
    "openai_api_key": ("sk-",),
    "anthropic_api_key": ("sk-ant-",),
    "google_api_key": ("AIza",),
    "stripe_key": ("_live_", "_test_"),
    "jwt": ("eyJ",),
    "private_key": ("PRIVATE KEY",),
    "url_credentials": ("://",),
}
GENERIC_TRIGGERS = ("key", "secret", "token", "passw", "passwd")
GENERIC = r"(?i)\b(?:api[_-]?key|secret|token|passwd|password|access[_-]?key)\b\s*[:=]\s*[\"']?([A-Za-z0-9_\-+/=.]{16,})"  # noqa: E501


def shannon_entropy(s: str) -> float:
    """Bits per character of ``s``."""
    if not s:
        return 0.0
    counts = Counter(s)
    return -sum(c / len(s) * math.log2(c / len(s)) for c in counts.values())


@register
class SecretsCheck(Check):
    """Credentials and keys. Options: ``rules`` (subset of names), ``generic`` (bool, default True),
    ``min_entropy`` (bits/char for generic assignments, default 3.0)."""

    name = "secrets"
    redactable = True

    def __init__(
        self, rules: list[str] | None = None, generic: bool = True, min_entropy: float = 3.0
    ) -> None:
        super().__init__(rules=rules, generic=generic, min_entropy=min_entropy)
        from trilho.errors import EvalError

        unknown = sorted(set(rules or ()) - set(RULES))
        if unknown:
            raise EvalError(
                f"unknown secret rule(s) {unknown}",
                fix=f"use any of: {', '.join(RULES)}",
                field="rules",
                value=unknown,
            )
        chosen = {k: v for k, v in RULES.items() if rules is None or k in rules}
        self._rules = [(k, TRIGGERS[k], re.compile(v)) for k, v in chosen.items()]
        self._generic = re.compile(GENERIC) if generic else None
        self._min_entropy = min_entropy

    def run(self, text: str, ctx: CheckContext) -> CheckResult:
        """Find credentials in ``text``."""
        found = []
        for kind, triggers, rx in self._rules:
            if any(t in text for t in triggers):
                found.extend(Finding(kind, m.start(), m.end(), m.group()) for m in rx.finditer(text))
        found.sort(key=lambda f: f.start or 0)
        lowered = text.lower() if self._generic is not None else ""
        if self._generic is not None and any(t in lowered for t in GENERIC_TRIGGERS):
            for m in self._generic.finditer(text):
                value = m.group(1)
                if shannon_entropy(value) >= self._min_entropy and not any(
                    f.start is not None and f.start <= m.start(1) < (f.end or 0) for f in found
                ):
                    found.append(Finding("generic_secret", m.start(1), m.end(1), value, 0.8))
        return self.result(found)
