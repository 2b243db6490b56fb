"""A bounded JSON decoder for request bodies: nesting deeper than a limit is refused before parsing (a deep
body would otherwise exhaust the interpreter's recursion limit in the parser or in the code that walks it)."""

from __future__ import annotations

from typing import Any

import msgspec

from trilho.net.errors import RequestRejected

_decode = msgspec.json.Decoder().decode
# every byte but the four brackets is dropped; openers become "(", closers ")"
_BRACKETS = bytes.maketrans(b"[{]}", b"(())")
_NOT_BRACKETS = bytes(b for b in range(256) if b not in b"[]{}")


def too_deep(body: bytes, limit: int) -> bool:
    """True when arrays and objects nest more than ``limit`` levels deep in the JSON text ``body``."""
    if body.count(b"[") + body.count(b"{") <= limit:  # the common case: too few brackets to be too deep
        return False
    return nesting_depth(body, limit) > limit


def nesting_depth(body: bytes, limit: int) -> int:
    """How deeply arrays and objects nest in the JSON text ``body``, counting at most ``limit + 1`` levels
    (so the cost is bounded: a few linear passes in C). Brackets inside strings do not count; text that is not
    JSON gives a number that means nothing (the parser rejects it next)."""
    # escapes first (\\ pairs, then \"), so every remaining quote opens or closes a string
    text = body.replace(b"\\\\", b"").replace(b'\\"', b"")
    outside = b"".join(text.split(b'"')[::2])
    brackets = outside.translate(_BRACKETS, _NOT_BRACKETS)
    depth = 0
    while brackets and depth <= limit:
        shorter = brackets.replace(b"()", b"")  # one pass removes the innermost pairs: one level
        if len(shorter) == len(brackets):
            break  # unbalanced: not JSON
        brackets, depth = shorter, depth + 1
    return depth


def nesting_too_deep(max_depth: int, field: str = "body") -> RequestRejected:
    """The 400 for JSON nesting deeper than ``max_depth``."""
    return RequestRejected(
        400,
        "NestingTooDeep",
        f"the JSON body nests arrays/objects more than {max_depth} levels deep",
        fix=f"send at most {max_depth} levels of nesting",
        field=field,
        rule=f"maxDepth:{max_depth}",
    )


def decode_json(body: bytes, *, max_depth: int, field: str = "body") -> Any:
    """The JSON value of ``body``; a 400 :class:`RequestRejected` when it is not JSON or nests deeper than
    ``max_depth``."""
    if too_deep(body, max_depth):
        raise nesting_too_deep(max_depth, field)
    try:
        return _decode(body)
    except (msgspec.DecodeError, RecursionError) as exc:
        raise RequestRejected(
            400, "MalformedJSON", f"the body is not valid JSON: {exc}", fix="send a JSON object", field=field
        ) from None
