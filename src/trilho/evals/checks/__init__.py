"""Deterministic checks (fast rules run on every request/response): PII, secrets, terms, injection, format,
length, citations, refusal, an offline classifier. ``make_check(name, options)`` builds one by name."""

from trilho.evals.checks.base import (
    Check,
    CheckContext,
    CheckResult,
    Finding,
    check_names,
    make_check,
    register,
)

__all__ = ["Check", "CheckContext", "CheckResult", "Finding", "check_names", "make_check", "register"]

_loaded = False


def _load_builtins() -> None:
    global _loaded
    if _loaded:
        return
    from trilho.evals.checks import classifier, fmt, injection, pii, refusal, secrets, terms  # noqa: F401

    _loaded = True
