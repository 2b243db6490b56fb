"""Secrets and credentials in text: cloud keys, tokens, private keys, passwords in connection strings.

Rules are anchored on well-known prefixes and shapes (few false positives); ``generic`` adds
``api_key = "..."`` style assignments with a long high-entropy value.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from typing import Any

from trilho.errors import EvalError
from trilho.evals.checks.base import Check, CheckContext, CheckResult, Finding, register
from trilho.evals.checks.normalize import normalize, to_original

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
GENERIC_TRIGGERS = ("key", "secret", "token", "passw", "passwd", "pwd", "contrase")
# a key name that contains a secret-ish word anywhere (``aws_secret_access_key``, ``SECRET_KEY``,
# ``client_secret``: ``_`` is a word character, so ``\bsecret\b`` missed them), then = : := or =>,
# then a value
GENERIC = (
    r"(?i)(?<![A-Za-z0-9])[A-Za-z0-9_.\-]*(?:api[_-]?key|auth[_-]?key|access[_-]?key|secret|token|passwd|"
    r"password|pwd|priv(?:ate)?[_-]?key|client[_-]?key|contrase[nñ]a)[A-Za-z0-9_.\-]*[\"']?\s*(?::=|=>|[:=])\s*"
    r"[\"']?([^\s\"'`,;]{8,})"
)
_PLACEHOLDER = re.compile(r"^(?:[A-Z_]+|<[^>]*>|\$\{?[A-Za-z_].*|x+|\*+|\.+)$", re.IGNORECASE)

# detect-secrets 1.5.0's plugin catalogue (their ``denylist`` regexes), each with literal prefilters: a
# pattern runs only when, for every group of triggers, one of them occurs in the (lower-cased when the pattern
# ignores case) text. ``()`` means "always run" (the pattern is cheap). Public IPs are PII, not secrets.
DS_TRIGGERS: dict[str, tuple[tuple[tuple[str, ...], ...], ...]] = {
    "Artifactory Credentials": ((("AKC",),), (("AP",),)),
    "AWS Access Key": ((("A3T", "ABIA", "ACCA", "AKIA", "ASIA"),), (("aws",),)),
    "Azure Storage Account access key": ((("AccountKey=",),),),
    "Basic Auth Credentials": ((("://",),),),
    "Cloudant Credentials": (
        (("cl",), ("key", "pw", "pass", "tok", "secret")),
        (("cl",), ("key", "pw", "pass", "tok", "secret")),
        (("cloudant.com",),),
        (("cloudant.com",),),
    ),
    "Discord Bot Token": ((),),
    "GitHub Token": ((("ghp_", "gho_", "ghu_", "ghs_", "ghr_"),),),
    "GitLab Token": (
        (("glpat-", "gldt-", "glft-", "glsoat-", "glrt-"),),
        (("GR1348941",),),
        (("glcbt-",),),
        (("glimt-",),),
        (("glptt-",),),
        (("glagent-",),),
        (("gloas-",),),
    ),
    "IBM Cloud IAM Key": ((("ibm", "iam"), ("key", "pw", "pass", "tok", "secret")),),
    "IBM COS HMAC Credentials": ((("secret",), ("key",)),),
    "JSON Web Token": ((("eyJ",),),),
    "Mailchimp Access Key": ((("-us",),),),
    "NPM tokens": ((("_authToken",),),),
    "OpenAI Token": ((("T3BlbkFJ",),),),
    "Private Key": tuple(
        ((t,),)
        for t in ("BEGIN DSA", "BEGIN EC", "BEGIN OPENSSH", "BEGIN PGP")
        + ("BEGIN PRIVATE", "BEGIN RSA", "BEGIN SSH2", "PuTTY-User")
    ),
    "PyPI Token": ((("pypi-",),), (("pypi-",),)),
    "SendGrid API Key": ((("SG.",),),),
    "Slack Token": ((("xox",),), (("hooks.slack.com",),)),
    "SoftLayer Credentials": (
        (("softlayer", "sl"), ("key", "pw", "pass", "tok", "secret")),
        (("softlayer",),),
    ),
    "Square OAuth Secret": ((("sq0csp-",),),),
    "Stripe Access Key": ((("k_live_",),),),
    "Telegram Bot Token": ((),),
    "Twilio API Key": ((("AC",),), (("SK",),)),
}


def detect_secrets_rules() -> list[tuple[str, tuple[tuple[str, ...], ...], bool, Any]]:
    """(type, trigger groups, ignore-case, compiled regex) for every detect-secrets plugin pattern."""
    import regex
    from detect_secrets.core.plugins.util import get_mapping_from_secret_type_to_class

    out = []
    for kind, plugin in get_mapping_from_secret_type_to_class().items():
        if kind not in DS_TRIGGERS:
            continue
        patterns = list(getattr(plugin, "denylist", None) or ())
        triggers = DS_TRIGGERS[kind]
        if len(patterns) != len(triggers):
            raise EvalError(
                f"detect-secrets plugin {kind!r} has {len(patterns)} patterns, trilho knows {len(triggers)}",
                field="detect-secrets",
                value=kind,
                fix="install the pinned detect-secrets==1.5.0 or update DS_TRIGGERS",
            )
        for rx, trig in zip(patterns, triggers, strict=True):
            out.append((kind, trig, bool(rx.flags & re.IGNORECASE), regex.compile(rx.pattern, rx.flags)))
    return out


def shannon_entropy(s: str) -> float:
    """Bits per character of ``s``."""
    if not s:
        return 0.0
    counts = Counter(s)
    return -sum(c / len(s) * math.log2(c / len(s)) for c in counts.values())


class _Triggers:
    """Rules with literal trigger groups, the groups stored as sets of indices into one list of distinct
    (literal, ignore-case) tests: a text pays one substring search per distinct literal, and a rule fires when
    each of its groups meets the set of literals present (set operations in C, not nested generators)."""

    def __init__(self, rules: list[tuple[str, tuple[tuple[str, ...], ...], bool, Any]]) -> None:
        index: dict[tuple[str, bool], int] = {}
        self.rules = []
        for kind, groups, ignore_case, rx in rules:
            keys = [[(t.lower() if ignore_case else t, ignore_case) for t in g] for g in groups]
            idx = tuple(frozenset(index.setdefault(k, len(index)) for k in g) for g in keys)
            self.rules.append((kind, idx, rx))
        self.literals = list(index)

    def firing(self, text: str, lowered: str) -> list[tuple[str, Any]]:
        """(kind, regex) of the rules whose every trigger group has a literal in the text."""
        present = {i for i, (t, ic) in enumerate(self.literals) if t in (lowered if ic else text)}
        return [(kind, rx) for kind, idx, rx in self.rules if all(not g.isdisjoint(present) for g in idx)]


@register
class SecretsCheck(Check):
    """Credentials and keys: trilho's prefix rules, detect-secrets' plugin catalogue and key-name assignments
    with a high-entropy value, on normalised text (spans in the original). Options: ``rules`` (subset of
    trilho's names), ``catalogue`` (detect-secrets plugins, default True), ``generic`` (bool, default True),
    ``min_entropy`` (bits/char for generic assignments, default 3.0)."""

    name = "secrets"
    redactable = True

    def __init__(
        self,
        rules: list[str] | None = None,
        generic: bool = True,
        min_entropy: float = 3.0,
        catalogue: bool = True,
    ) -> None:
        super().__init__(rules=rules, generic=generic, min_entropy=min_entropy, catalogue=catalogue)
        unknown = sorted(set(rules or ()) - set(RULES))
        if unknown:
            raise EvalError(
                f"unknown secret rule(s) {unknown}",
                fix=f"use any of: {', '.join(RULES)}",
                field="rules",
                value=unknown,
            )
        chosen = {k: v for k, v in RULES.items() if rules is None or k in rules}
        self._rules = _Triggers([(k, (TRIGGERS[k],), False, re.compile(v)) for k, v in chosen.items()])
        self._catalogue = _Triggers(detect_secrets_rules() if catalogue else [])
        self._generic = re.compile(GENERIC) if generic else None
        self._min_entropy = min_entropy

    def _find(self, text: str) -> list[Finding]:
        found = []
        lowered = text.lower()
        for kind, rx in self._rules.firing(text, lowered):
            found.extend(Finding(kind, m.start(), m.end(), m.group()) for m in rx.finditer(text))
        for kind, rx in self._catalogue.firing(text, lowered):
            for m in rx.finditer(text):
                if not any(f.start is not None and f.start <= m.start() < (f.end or 0) for f in found):
                    found.append(Finding(f"detect_secrets:{kind}", m.start(), m.end(), m.group(), 0.9))
        # every generic match has an assignment (= : := =>) after a secret-ish key name
        if (
            self._generic is not None
            and ("=" in text or ":" in text)
            and any(t in lowered for t in GENERIC_TRIGGERS)
        ):
            for m in self._generic.finditer(text):
                value = m.group(1)
                if (
                    shannon_entropy(value) >= self._min_entropy
                    and not _PLACEHOLDER.match(value)
                    and not any(f.start is not None and f.start <= m.start(1) < (f.end or 0) for f in found)
                ):
                    found.append(Finding("generic_secret", m.start(1), m.end(1), value, 0.8))
        return sorted(found, key=lambda f: f.start or 0)

    def run(self, text: str, ctx: CheckContext) -> CheckResult:
        """Find credentials in ``text`` (normalised first; spans and values from the original)."""
        norm = normalize(text)
        return self.result(to_original(self._find(norm.text), norm))
