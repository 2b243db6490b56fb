"""Text normalisation before the PII, secrets, injection and refusal checks (pure), with a map back to the
original text so findings report spans the caller can redact.

What it does, in order: NFKC (full-width digits and letters become ASCII, ligatures expand), format
characters removed (zero-width spaces and joiners, soft hyphens, bidi marks: Unicode category ``Cf``), and
digit runs re-joined across single spaces, dots and dashes when the joined run is long enough to be a card,
account or key number (``JOIN_MIN_DIGITS``; dotted IPv4 addresses are left alone). ASCII text with no
split digit run costs one ``isascii`` and one regex scan.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

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
    chars: list[str] = []
    origin: list[int] = []
    i, n = 0, len(text)
    while i < n:
        j = i + 1
        while j < n and unicodedata.combining(text[j]):
            j += 1
        cluster = "".join(c for c in text[i:j] if unicodedata.category(c) != "Cf")
        for c in unicodedata.normalize("NFKC", cluster):
            if unicodedata.category(c) == "Cf":
                continue
            chars.append(c)
            origin.append(i)
        i = j
    return "".join(chars), origin


def normalize(text: str) -> Normalized:
    """NFKC, format characters removed, split digit runs re-joined; spans map back via ``Normalized.span``."""
    if text.isascii():
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
