"""Prompt-injection heuristics on user inputs: instruction overrides, role hijacks, system-prompt extraction,
delimiter smuggling and encoded payloads. Each rule has a weight; the check fails at ``threshold``."""

from __future__ import annotations

import re

from trilho.evals.checks.base import Check, CheckContext, CheckResult, Finding, register
from trilho.evals.checks.normalize import normalize, to_original


def _override(verbs: str, qualifiers: str, nouns: str) -> str:
    """An instruction-override pattern: a verb, then a qualifier and a noun in either order, nearby."""
    return (
        rf"\b(?:{verbs})\b[^.\n]{{0,40}}(?:\b(?:{qualifiers})\b[^.\n]{{0,25}}\b(?:{nouns})\b|"
        rf"\b(?:{nouns})\b[^.\n]{{0,25}}\b(?:{qualifiers})\b)"
    )


RULES: dict[str, tuple[str, float]] = {
    "ignore_instructions": (
        r"\b(?:ignore|disregard|forget|override|bypass)\b[^.\n]{0,40}\b(?:previous|prior|above|earlier|all|system|"
        r"your)\b[^.\n]{0,20}\b(?:instructions?|prompts?|rules|directions|guidelines|context)\b",
        1.0,
    ),
    "reveal_system_prompt": (
        r"\b(?:reveal|show|print|repeat|output|tell me|what (?:is|are))\b[^.\n]{0,30}\b(?:system|hidden|initial|"  # noqa: E501
        r"original)\s+(?:prompt|instructions?|message)",
        0.9,
    ),
    "role_hijack": (
        r"\b(?:you are now|from now on,? you (?:are|will)|act as|pretend (?:to be|you are)|roleplay as)\b[^.\n]{0,40}"  # noqa: E501
        r"\b(?:DAN|jailbr\w*|unfiltered|uncensored|no (?:rules|restrictions|limits)|developer mode|evil)\b",
        1.0,
    ),
    "developer_mode": (r"\b(?:developer|god|debug|sudo)\s+mode\b", 0.6),
    "fake_delimiters": (
        r"(?:<\|?(?:im_start|im_end|system|endoftext)\|?>|\[/?INST\]|###\s*(?:system|instruction))",
        0.8,
    ),
    "new_instructions": (r"\b(?:new|updated|real|actual)\s+instructions?\s*:", 0.7),
    "encoded_payload": (r"(?:[A-Za-z0-9+/]{80,}={0,2})", 0.4),
    "do_anything_now": (r"\bdo anything now\b", 1.0),
    # pt / es / de / fr: instruction overrides (a verb, then "previous/all/your" and "instructions" in either
    # order, so "ignore o barulho e siga as instruções" passes) and system-prompt extraction
    "ignore_instructions_pt_es": (
        _override(
            r"ignore|ignora|ignorar|desconsidere|desconsidera|esque[cç]a|olvida|olvide|descarta",
            r"anteriores|acima|pr[eé]vias|previas|todas|todos|suas|tus|sus|del sistema|do sistema",
            r"instru[cç][õoó]es|instrucciones|instru[cç][aã]o|instrucci[oó]n|regras|reglas|diretrizes|directrices",
        ),
        1.0,
    ),
    "ignore_instructions_de": (
        _override(
            r"ignoriere|ignorieren|vergiss|vergessen|missachte",
            r"vorherigen|bisherigen|obigen|alle|deine|Ihre|System",
            r"Anweisungen|Anweisung|Regeln|Vorgaben|Instruktionen",
        ),
        1.0,
    ),
    "ignore_instructions_fr": (
        _override(
            r"ignore[zr]?|oublie[zr]?|n[eé]glige[zr]?",
            r"pr[eé]c[eé]dentes?|ci-dessus|toutes|tous|tes|vos|syst[eè]me",
            r"instructions?|consignes?|r[eè]gles|directives",
        ),
        1.0,
    ),
    "reveal_system_prompt_intl": (
        r"\b(?:revele|revela|mostre|muestra|mostra|diga|dime|imprima|imprime|repita|repite|zeige?|verrate|"
        r"gib|nenne|r[eé]v[eè]le[zr]?|montre[zr]?|affiche[zr]?|donne[zr]?)\b[^.\n]{0,40}\b(?:prompt|"
        r"instru[cç][õo]es|instrucciones|Anweisungen|Systemprompt|Systemnachricht|instructions)\b"
        r"[^.\n]{0,20}\b(?:sistema|System|syst[eè]me|inicial|ocult[oa]s?|initial|initiales|versteckten?)?",
        0.9,
    ),
}


@register
class InjectionCheck(Check):
    """Prompt-injection heuristics (for inputs). Options: ``threshold`` (sum of rule weights, default 0.8)."""

    name = "prompt_injection"
    default_applies_to = "input"

    def __init__(self, threshold: float = 0.8) -> None:
        super().__init__(threshold=threshold)
        self._threshold = threshold
        self._rules = [(rid, re.compile(rx, re.IGNORECASE), w) for rid, (rx, w) in RULES.items()]

    def run(self, text: str, ctx: CheckContext) -> CheckResult:
        """Score ``text`` for injection attempts (on the normalised text; spans in the original)."""
        norm = normalize(text)
        found = []
        for rid, rx, w in self._rules:
            m = rx.search(norm.text)
            if m:
                found.append(Finding(rid, m.start(), m.end(), m.group(), w))
        found = to_original(found, norm)
        score = min(1.0, sum(f.score for f in found))
        passed = score < self._threshold
        return CheckResult(self.name, passed, tuple(found) if not passed else (), score)
