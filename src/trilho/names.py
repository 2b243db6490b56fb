"""Names that become keys or paths (models, aliases, plans, tokens, queues, projects): one rule each.

Every rule is applied with ``re.fullmatch``: ``^…$`` with ``re.match`` accepts a trailing newline
(``"champion\\n"``), which then becomes a key no one can type again or a file name with a newline in it.
"""

from __future__ import annotations

import re

from trilho.errors import InputError

NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,199}")
NAME_FIX = "use letters, digits, '.', '_' or '-' (start with a letter or digit, at most 200 characters)"
WORD = re.compile(r"[A-Za-z][A-Za-z0-9_-]{0,63}")
WORD_FIX = "use a word: letters, digits, '_' or '-', starting with a letter, at most 64 characters"
DIGITS = re.compile(r"[0-9]{1,18}")


def is_name(value: object, rule: re.Pattern[str] = NAME) -> bool:
    """True when ``value`` is a string the whole of which matches ``rule``."""
    return isinstance(value, str) and rule.fullmatch(value) is not None


def check_name(
    value: object,
    kind: str,
    *,
    field: str = "name",
    rule: re.Pattern[str] = NAME,
    fix: str = NAME_FIX,
    error: type[InputError] = InputError,
) -> str:
    """Return ``value`` when it fully matches ``rule``; else raise ``error`` naming the field and the fix."""
    if not is_name(value, rule):
        raise error(f"{kind} {value!r} is not valid", fix=fix, field=field, value=value, rule="name")
    return value  # type: ignore[return-value]
