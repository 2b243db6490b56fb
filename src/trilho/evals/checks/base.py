"""What every deterministic check shares: findings, results, the ``Check`` base class and the name registry.

A check is a small object with ``name``, ``applies_to`` (``"input"`` or ``"output"``) and a pure
``run(text, ctx) -> CheckResult``. ``inline`` checks are cheap (regex-bound) and run in the caller; the others
(NER, big JSON Schemas) run off the event loop with a timeout.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar

from trilho.errors import EvalError


@dataclass(frozen=True)
class Finding:
    """One thing a check found: a kind (entity type, rule id), an optional span and a confidence score."""

    kind: str
    start: int | None = None
    end: int | None = None
    text: str | None = None
    score: float = 1.0

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form (the matched text is kept out: it may be the very PII we report)."""
        return {"kind": self.kind, "start": self.start, "end": self.end, "score": round(self.score, 4)}


@dataclass(frozen=True)
class CheckResult:
    """The outcome of one check on one text: passed or not, what it found, and any error."""

    check: str
    passed: bool
    findings: tuple[Finding, ...] = ()
    score: float | None = None
    error: str | None = None
    seconds: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {
            "check": self.check,
            "passed": self.passed,
            "findings": [f.to_dict() for f in self.findings],
            "score": self.score,
            "error": self.error,
            "seconds": self.seconds,
        }


@dataclass(frozen=True)
class CheckContext:
    """What a check may look at beside the text: the user's input (for output checks) and request metadata."""

    input: str | None = None
    metadata: Mapping[str, Any] = field(default_factory=dict)


class Check:
    """Base class of deterministic checks; subclasses set ``name`` and implement ``run``."""

    name: ClassVar[str] = ""
    default_applies_to: ClassVar[str] = "output"
    inline: ClassVar[bool] = True
    redactable: ClassVar[bool] = False

    def __init__(self, **options: Any) -> None:
        self.options = options

    def run(self, text: str, ctx: CheckContext) -> CheckResult:  # pragma: no cover - abstract
        """Run the check on ``text``."""
        raise NotImplementedError

    def result(
        self, findings: list[Finding] | tuple[Finding, ...], *, score: float | None = None
    ) -> CheckResult:
        """A result that passes when there are no findings."""
        return CheckResult(self.name, not findings, tuple(findings), score)


_REGISTRY: dict[str, Callable[..., Check]] = {}


def register(cls: type[Check]) -> type[Check]:
    """Class decorator: make a check available to policies under ``cls.name``."""
    _REGISTRY[cls.name] = cls
    return cls


def check_names() -> list[str]:
    """Every registered check name."""
    from trilho.evals.checks import _load_builtins

    _load_builtins()
    return sorted(_REGISTRY)


def builtin_check_names() -> list[str]:
    """The check names trilho ships (not ones a user or a test registered at run time)."""
    return [name for name in check_names() if _REGISTRY[name].__module__.startswith("trilho.")]


def make_check(name: str, options: Mapping[str, Any] | None = None) -> Check:
    """Build the check registered as ``name``; ``EvalError`` for an unknown name or bad options."""
    names = check_names()
    if name not in _REGISTRY:
        raise EvalError(
            f"unknown check {name!r}", fix=f"use one of: {', '.join(names)}", field="check", value=name
        )
    try:
        return _REGISTRY[name](**dict(options or {}))
    except TypeError as exc:
        raise EvalError(
            f"bad options for check {name!r}: {exc}",
            fix="see the check's docstring for its options",
            field="options",
            value=name,
        ) from exc


def spans_overlap(a: Finding, b: Finding) -> bool:
    """True when two spans share at least one character."""
    return a.start is not None and b.start is not None and a.start < (b.end or 0) and b.start < (a.end or 0)
