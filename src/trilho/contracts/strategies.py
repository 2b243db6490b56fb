"""Hypothesis strategies that draw records a contract accepts (for property tests of anything behind it).

``records(contract, role)`` draws valid records as JSON would carry them (dates and timestamps as ISO
strings). Requires ``hypothesis``; imported only by tests and benchmarks.
"""

from __future__ import annotations

import math
from typing import Any

from hypothesis import strategies as st

from trilho.contracts.checks import Invalid, compile_check
from trilho.contracts.model import Field, SchemaObject


def _ok(f: Field) -> Any:
    check = compile_check(f)

    def accepts(v: Any) -> bool:
        try:
            check(v)
        except Invalid:
            return False
        return True

    return accepts


def _int_range(f: Field) -> tuple[int, int]:
    lo, lo_x, hi, hi_x = f.bounds()
    lo_i = math.floor(lo) + 1 if lo_x or lo != math.floor(lo) else int(lo)
    hi_i = math.ceil(hi) - 1 if hi_x or hi != math.ceil(hi) else int(hi)
    return lo_i, hi_i


def values(f: Field) -> st.SearchStrategy[Any]:
    """Non-null values valid for ``f``."""
    accepts = _ok(f)
    if f.enum is not None:
        valid = [v for v in f.enum if accepts(v)]
        return st.sampled_from(valid) if valid else st.nothing()
    kind = f.kind
    if kind == "int":
        lo, hi = _int_range(f)
        edges = [v for v in (lo, hi, lo + 1, hi - 1, 0) if lo <= v <= hi]
        return st.one_of(st.integers(lo, hi), st.sampled_from(edges)) if edges else st.integers(lo, hi)
    if kind == "float":
        lo, lo_x, hi, hi_x = f.bounds()
        floats = st.floats(
            min_value=lo,
            max_value=hi,
            exclude_min=lo_x,
            exclude_max=hi_x,
            allow_nan=False,
            allow_infinity=False,
        )
        return floats.filter(accepts)
    if kind == "bool":
        return st.booleans()
    if kind == "date":
        return st.dates().map(lambda d: d.isoformat())
    if kind == "timestamp":
        return st.datetimes().map(lambda d: d.isoformat())
    if kind == "string":
        if f.pattern is not None or f.format is not None:
            from trilho.contracts._regex import FORMAT_PATTERNS, python_pattern

            src = f.pattern if f.pattern is not None else FORMAT_PATTERNS[f.format]  # type: ignore[index]
            return st.from_regex(python_pattern(src)).filter(accepts)
        return st.text(min_size=f.min_length or 0, max_size=f.max_length if f.max_length is not None else 12)
    assert f.items is not None
    elem = values(f.items)
    if f.shape is None:
        return st.lists(elem, max_size=4)
    s: st.SearchStrategy[Any] = elem
    for n in reversed(f.shape):
        s = st.lists(s, min_size=n, max_size=n)
    return s


def records(obj: SchemaObject | Any, role: str | None = "input") -> st.SearchStrategy[dict[str, Any]]:
    """Records valid for a schema object (or a ``Contract`` and a role); optional fields may be absent."""
    if not isinstance(obj, SchemaObject):
        obj = obj.object(role)
    required = {f.name: values(f) for f in obj.fields if f.required}
    optional = {f.name: st.one_of(st.none(), values(f)) for f in obj.fields if not f.required}
    return st.fixed_dictionaries(required, optional=optional)
