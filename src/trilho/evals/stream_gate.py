"""Which words of a streamed answer could be part of a match, per policy: the gate of the streaming rails.

A span check (secrets, pattern PII with known entities, banned terms) finds nothing in text that lacks all of
its *triggers* — literals or short patterns every match contains (a digit or ``@`` for the PII entities
below, ``sk-``/``AKIA``/``key``/``BEGIN``… for secrets, the first word of a banned term). The stream rail
(:mod:`trilho.evals.stream_rails`) lets words with no trigger through as soon as they are complete and runs
the checks only on windows that hold a trigger, holding back from the first word with a trigger until it is
``holdback`` characters old (the match it starts may still grow). Every match starts in the same word as its
first trigger (the patterns below were read for it), so nothing a later piece could make into a match has
left. A check the gate does not know is *ungated* — every word counts as a trigger (the fixed-holdback
behaviour). Checks that judge the whole answer (length, JSON, citations) are *whole* checks: they run once
on the finished answer.

Pure: this module builds regular expressions from check options and the checks' public trigger tables.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass

from trilho.evals.policy import CheckSpec, Policy

WHOLE_CHECKS = frozenset({"length", "json_valid", "json_schema", "citations"})
UNGATED = r"\S+"  # every word is a trigger
NON_ASCII = r"[^\x00-\x7f]"  # normalisation (NFKC, format characters) may turn it into anything

# PII entity → a pattern every match of the pattern engine's recognizers for it contains, in the match's first
# word (presidio's and trilho's patterns for these start with a digit, ``+``, ``(``, ``bc1``, a country code
# glued to its check digits, or an e-mail's local part).
PII_TRIGGERS: dict[str, str] = {
    "CREDIT_CARD": r"\d+",
    "IBAN_CODE": r"\d+",
    "US_SSN": r"\d+",
    "US_ITIN": r"\d+",
    "UK_NHS": r"\d+",
    "CRYPTO": r"\d+",
    "PHONE_NUMBER": r"\d+",
    "US_BANK_NUMBER": r"\d+",
    "EMAIL_ADDRESS": "@",
    "IP_ADDRESS": r"\d+|:[0-9A-Fa-f]*:",  # IPv4 has digits; every IPv6 form has two colons with hex between
}
# detect-secrets plugins whose patterns run on every text (no literal trigger): a pattern inside every match
DS_ALWAYS: dict[str, str] = {
    "Discord Bot Token": r"[MNO][A-Za-z0-9_\-]{23,25}\.",
    "Telegram Bot Token": r"\d{8}",
}


@dataclass(frozen=True)
class Gate:
    """A policy's streaming gate: the output checks to run on windows (``span``), those that run once on
    the whole answer (``whole``), and what finds every trigger: ``exact`` on the text, ``folded`` (literals
    that match in any case) on the lower-cased text; ``ungated`` names span checks the gate does not know —
    with one, every word is a trigger."""

    span: Policy | None
    whole: tuple[str, ...]
    exact: re.Pattern[str]
    folded: re.Pattern[str] | None
    ungated: tuple[str, ...]

    @functools.cached_property
    def any_case(self) -> re.Pattern[str]:
        """``folded`` matching in any case (for text where lower-casing would move positions)."""
        return re.compile(self.folded.pattern if self.folded else "(?!)", re.IGNORECASE)


@dataclass(frozen=True)
class Triggers:
    """One check's triggers: patterns on the text as it is, and literals that match in any case."""

    exact: tuple[str, ...] = ()
    folded: tuple[str, ...] = ()


def _alternation(literals: list[str] | set[str]) -> str:
    """A flat alternation (``re`` then skips positions by their first character)."""
    return "|".join(re.escape(t) for t in sorted(set(literals), key=len, reverse=True))


@functools.cache
def _secrets_triggers() -> Triggers | None:
    """Triggers of trilho's secret rules, key-name assignments and detect-secrets' catalogue."""
    from trilho.evals.checks.secrets import GENERIC_TRIGGERS, TRIGGERS, detect_secrets_rules

    exact = {t for ts in TRIGGERS.values() for t in ts} | {"BEGIN", "PRIVATE"}  # a key header, word by word
    folded = {t.lower() for t in GENERIC_TRIGGERS}
    patterns = []
    for kind, groups, ignore_case, _rx in detect_secrets_rules():
        if not groups or not all(groups):
            if kind not in DS_ALWAYS:
                return None
            patterns.append(DS_ALWAYS[kind])
            continue
        # one group's literal lies in every match; take the group with the longest shortest literal
        group = max(reversed(groups), key=lambda g: min(len(t) for t in g))
        (folded if ignore_case else exact).update(t.lower() if ignore_case else t for t in group)
    return Triggers((_alternation(exact), *patterns), tuple(sorted(folded)))


def check_triggers(spec: CheckSpec) -> Triggers | None:
    """The triggers of one span check, or None when the gate does not know the check."""
    check, opts = spec.check, spec.check.options
    if check.name == "secrets":
        return _secrets_triggers()
    if check.name == "pii":
        entities = opts.get("entities")
        if opts.get("engine", "pattern") != "pattern" or not entities:
            return None
        if any(e not in PII_TRIGGERS for e in entities):
            return None
        return Triggers(tuple(sorted({PII_TRIGGERS[e] for e in entities})))
    if check.name == "banned_terms":
        firsts = [str(t).split()[0].lower() for t in opts.get("terms") or () if str(t).strip()]
        return Triggers(folded=tuple(firsts)) if firsts else None
    return None


def gate_for(policy: Policy) -> Gate:
    """The streaming gate of ``policy``'s output checks (built once per policy object)."""
    gate = policy.__dict__.get("_stream_gate")
    if gate is None:
        gate = _build(policy)
        policy.__dict__["_stream_gate"] = gate
    return gate


def _build(policy: Policy) -> Gate:
    specs = policy.specs_for("output")
    whole = tuple(s.id for s in specs if s.check.name in WHOLE_CHECKS)
    span_specs = [s for s in specs if s.check.name not in WHOLE_CHECKS]
    exact, folded, ungated = [NON_ASCII], set(), []
    for s in span_specs:
        found = check_triggers(s)
        if found is None:
            ungated.append(s.id)
        else:
            exact += found.exact
            folded.update(found.folded)
    span = Policy(policy.name, span_specs, policy.fallback) if span_specs else None
    return Gate(
        span,
        whole,
        re.compile(UNGATED if ungated else "|".join(exact)),
        re.compile(_alternation(folded)) if folded and not ungated else None,
        tuple(ungated),
    )
