"""Text normalisation before the PII, secrets, injection and refusal checks (pure), with a map back to the
original text so findings report spans the caller can redact.

What it does, in order: NFKC (full-width digits and letters become ASCII, ligatures expand), format
characters removed (zero-width spaces and joiners, soft hyphens, bidi marks: Unicode category ``Cf``), and
digit runs re-joined across single spaces, dots and dashes when the joined run is long enough to be a card,
account or key number (``JOIN_MIN_DIGITS``; dotted IPv4 addresses are left alone). Text that is already
NFKC with no format character (ASCII, accented European text) skips the per-character pass.
"""

from __future__ import annotations

import functools
import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass

from trilho.evals.checks.base import Finding

JOIN_MIN_DIGITS = 12
_SPLIT_DIGITS = re.compile(r"\d+(?:[ .\-]\d+)+")
_IPV4 = re.compile(r"\d{1,3}(?:\.\d{1,3}){3}")
_GROUPED_KEY = re.compile(r"\b(?:AKIA|ASIA|AGPA|AIDA|AROA|ANPA|ANVA|AIPA)(?:[ .\-][A-Z0-9]{4}){4}\b")


@dataclass(frozen=True)
class Normalized:
    """Normalised text and, per character, the index of the original character it came from."""

    original: str
    text: str
    origin: tuple[int, ...] | None = None  # None: identical to the original

    @property
    def changed(self) -> bool:
        """True when the checks see a different string than the caller sent."""
        return self.origin is not None

    def span(self, start: int, end: int) -> tuple[int, int]:
        """The original-text span of the normalised span ``[start, end)``."""
        if self.origin is None:
            return start, end
        if start >= end or start >= len(self.origin):
            pos = self.origin[start] if start < len(self.origin) else len(self.original)
            return pos, pos
        return self.origin[start], self.origin[end - 1] + 1


def _join_spans(text: str) -> list[tuple[int, int]]:
    """Spans of split digit runs (and grouped AWS key ids) to re-join."""
    out = []
    for m in _SPLIT_DIGITS.finditer(text):
        run = m.group()
        if sum(c.isdigit() for c in run) >= JOIN_MIN_DIGITS and not _IPV4.fullmatch(run):
            out.append(m.span())
    out.extend(m.span() for m in _GROUPED_KEY.finditer(text))
    return sorted(out)


def _unicode_pass(text: str) -> tuple[str, list[int]]:
    kept = [(i, c) for i, c in enumerate(text) if unicodedata.category(c) != "Cf"]
    chars: list[str] = []
    origin: list[int] = []
    k, n = 0, len(kept)
    while k < n:
        j = k + 1
        while j < n and unicodedata.combining(kept[j][1]):
            j += 1
        for c in unicodedata.normalize("NFKC", "".join(c for _, c in kept[k:j])):
            if unicodedata.category(c) != "Cf":
                chars.append(c)
                origin.append(kept[k][0])
        k = j
    return "".join(chars), origin


@functools.cache
def _format_chars() -> re.Pattern[str]:
    """A character class of every Unicode format character (category ``Cf``), built once."""
    points = [c for c in range(0x110000) if unicodedata.category(chr(c)) == "Cf"]
    ranges: list[list[int]] = []
    for c in points:  # consecutive code points as ranges: sre then tests a bitmap, not a list of literals
        if ranges and c == ranges[-1][1] + 1:
            ranges[-1][1] = c
        else:
            ranges.append([c, c])
    return re.compile("[" + "".join(f"\\U{a:08x}-\\U{b:08x}" for a, b in ranges) + "]")


@functools.lru_cache(maxsize=16)
def normalize(text: str) -> Normalized:
    """NFKC, format characters removed, split digit runs re-joined; spans map back via ``Normalized.span``.
    Memoised: the PII, secrets, injection and refusal checks of one policy share one pass over a text."""
    if text.isascii() or (unicodedata.is_normalized("NFKC", text) and not _format_chars().search(text)):
        joins = _join_spans(text)
        if not joins:
            return Normalized(text, text)
        base, origin = text, list(range(len(text)))
    else:
        base, origin = _unicode_pass(text)
        joins = _join_spans(base)
        if not joins and base == text:
            return Normalized(text, text)
    if joins:
        drop = {k for s, e in joins for k in range(s, e) if base[k] in " .-"}
        origin = [o for k, o in enumerate(origin) if k not in drop]
        base = "".join(c for k, c in enumerate(base) if k not in drop)
    return Normalized(text, base, tuple(origin))


def to_original(findings: Sequence[Finding], norm: Normalized) -> list[Finding]:
    """Findings on ``norm.text`` with their spans and matched text moved to the original string."""
    if not norm.changed:
        return list(findings)
    out = []
    for f in findings:
        if f.start is None or f.end is None:
            out.append(f)
            continue
        start, end = norm.span(f.start, f.end)
        out.append(Finding(f.kind, start, end, norm.original[start:end], f.score))
    return out
