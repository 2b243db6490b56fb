"""Banned terms and off-brand claims from a policy: whole-word, case-insensitive terms and regex claims."""

from __future__ import annotations

import re

from trilho.errors import EvalError
from trilho.evals.checks.base import Check, CheckContext, CheckResult, Finding, register


@register
class BannedTermsCheck(Check):
    """Words or phrases that must never appear. Options: ``terms`` (list), ``case_sensitive`` (bool)."""

    name = "banned_terms"
    redactable = True

    def __init__(self, terms: list[str] | None = None, case_sensitive: bool = False) -> None:
        super().__init__(terms=terms, case_sensitive=case_sensitive)
        terms = [t for t in (terms or []) if t and t.strip()]
        if not terms:
            raise EvalError(
                "banned_terms needs a non-empty 'terms' list",
                fix="add options: {terms: [...]}",
                field="terms",
            )
        alternatives = "|".join(re.escape(t.strip()) for t in sorted(terms, key=len, reverse=True))
        self._re = re.compile(rf"(?<!\w)(?:{alternatives})(?!\w)", 0 if case_sensitive else re.IGNORECASE)

    def run(self, text: str, ctx: CheckContext) -> CheckResult:
        """Find banned terms."""
        return self.result(
            [
                Finding("term:" + m.group().lower(), m.start(), m.end(), m.group())
                for m in self._re.finditer(text)
            ]
        )


@register
class ClaimsCheck(Check):
    """Off-brand claims (promises the product must not make). Options: ``claims`` — a mapping of rule id to
    regex, or a list of regexes."""

    name = "claims"

    def __init__(self, claims: dict[str, str] | list[str] | None = None) -> None:
        super().__init__(claims=claims)
        if not claims:
            raise EvalError("claims needs a non-empty 'claims' mapping of id → regex", field="claims")
        items = (
            claims.items() if isinstance(claims, dict) else ((f"claim_{i}", c) for i, c in enumerate(claims))
        )
        self._rules: list[tuple[str, re.Pattern[str]]] = []
        for rid, pattern in items:
            try:
                self._rules.append((rid, re.compile(pattern, re.IGNORECASE)))
            except re.error as exc:
                raise EvalError(
                    f"claim {rid!r} is not a valid regex: {exc}", field="claims", value=pattern
                ) from exc

    def run(self, text: str, ctx: CheckContext) -> CheckResult:
        """Find off-brand claims."""
        found = []
        for rid, rx in self._rules:
            found.extend(Finding(rid, m.start(), m.end(), m.group()) for m in rx.finditer(text))
        return self.result(found)
