"""Regular expressions shared by every validator, and pattern translation between regex dialects.

Contract patterns follow JSON Schema semantics: ECMA-262 syntax, *search* (unanchored) matching, ``\\d`` and
``\\w`` meaning ASCII only. Python's ``re`` and the Rust ``regex`` crate (used by polars) differ in three
places that matter here, and :func:`to_dialect` rewrites a pattern so all three engines agree:

* ``$`` in Python also matches before a trailing newline → rewritten to ``\\Z`` for Python;
* ``\\d`` / ``\\w`` are Unicode-aware in Python (str patterns) and Rust → rewritten to ASCII classes;
* ``\\Z`` is not ECMA, so patterns are stored in ECMA form and translated only when compiled.
"""

from __future__ import annotations

import functools
import re
from typing import Literal

_YEAR = "(?:[0-9]{3}[1-9]|[0-9]{2}[1-9][0-9]|[0-9][1-9][0-9]{2}|[1-9][0-9]{3})"
_LEAP_YEAR = "(?:[0-9]{2}(?:0[48]|[2468][048]|[13579][26])|(?:0[48]|[2468][048]|[13579][26])00)"
_MONTH_DAY = (
    "(?:(?:0[13578]|1[02])-(?:0[1-9]|[12][0-9]|3[01])"
    "|(?:0[469]|11)-(?:0[1-9]|[12][0-9]|30)"
    "|02-(?:0[1-9]|1[0-9]|2[0-8]))"
)
#: A calendar-valid ISO 8601 / RFC 3339 full date (years 0001-9999, leap years included), no anchors.
DATE_CORE = f"(?:{_YEAR}-{_MONTH_DAY}|{_LEAP_YEAR}-02-29)"
_TIME = "(?:[01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9](?:\\.[0-9]{1,6})?"
_OFFSET = "(?:Z|[+-](?:[01][0-9]|2[0-3]):[0-5][0-9])"
#: Anchored date pattern (ECMA form).
DATE_PATTERN = f"^{DATE_CORE}$"
#: Anchored timestamp pattern: date, ``T`` or space, time with up to 6 fractional digits, optional offset.
TIMESTAMP_PATTERN = f"^{DATE_CORE}[T ]{_TIME}{_OFFSET}?$"

#: ``format`` values a contract may use on strings, with the pattern each one asserts (ECMA form).
FORMAT_PATTERNS: dict[str, str] = {
    "email": "^[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]+@[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
    "(?:\\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)+$",
    "uuid": "^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$",
    "ipv4": "^(?:(?:25[0-5]|2[0-4][0-9]|1[0-9]{2}|[1-9]?[0-9])\\.){3}"
    "(?:25[0-5]|2[0-4][0-9]|1[0-9]{2}|[1-9]?[0-9])$",
    "date": DATE_PATTERN,
    "date-time": TIMESTAMP_PATTERN,
    "uri": "^[A-Za-z][A-Za-z0-9+.-]*:[^\\s]*$",
}

Dialect = Literal["python", "rust"]

_ASCII_CLASSES = {"d": "0-9", "w": "0-9A-Za-z_"}


def to_dialect(pattern: str, dialect: Dialect) -> str:
    """Rewrite an ECMA-style contract ``pattern`` so ``dialect``'s engine matches exactly the same strings."""
    out: list[str] = []
    i, n, in_class = 0, len(pattern), False
    while i < n:
        ch = pattern[i]
        if ch == "\\" and i + 1 < n:
            nxt = pattern[i + 1]
            if nxt in "dwDW":
                body = _ASCII_CLASSES[nxt.lower()]
                if in_class:
                    if nxt.isupper():  # a negated class inside a class cannot be inlined: keep the escape
                        out.append(ch + nxt)
                    else:
                        out.append(body)
                else:
                    out.append(f"[^{body}]" if nxt.isupper() else f"[{body}]")
            else:
                out.append(ch + nxt)
            i += 2
            continue
        if in_class:
            if ch == "]":
                in_class = False
        elif ch == "[":
            in_class = True
            out.append(ch)
            i += 1
            if i < n and pattern[i] == "^":
                out.append("^")
                i += 1
            if i < n and pattern[i] == "]":  # a literal ']' first in a class
                out.append("\\]")
                i += 1
            continue
        elif ch == "$" and dialect == "python":
            out.append("\\Z")
            i += 1
            continue
        out.append(ch)
        i += 1
    return "".join(out)


def python_pattern(pattern: str) -> str:
    """The Python ``re`` source equivalent to an ECMA-style contract pattern (ASCII classes, strict ``$``)."""
    return "(?a)" + to_dialect(pattern, "python")


@functools.lru_cache(maxsize=512)
def compile_python(pattern: str) -> re.Pattern[str]:
    """Compile an ECMA-style contract pattern for Python's ``re`` (search semantics)."""
    return re.compile(python_pattern(pattern))


def check_pattern(pattern: str) -> str | None:
    """Return why ``pattern`` cannot be used by every validator, or ``None`` when it can."""
    try:
        compile_python(pattern)
    except re.error as exc:
        return f"invalid regular expression: {exc}"
    if re.search(r"\(\?<?[=!]", pattern):
        return "look-around assertions are not supported by the dataframe engine (polars)"
    if re.search(r"\\[1-9]", pattern):
        return "back-references are not supported by the dataframe engine (polars)"
    return None
