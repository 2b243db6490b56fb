"""Fast-path engines for the request validator: a schema object compiled for pydantic-core or msgspec.

Each engine returns a :class:`FastPath`: one call that validates a whole record in native code and returns a
dict of declared fields, the exceptions meaning "not accepted here", and post-steps for what the engine
cannot express (dates are checked as ISO strings natively, then parsed; float enums and several patterns
per field run the precise Python check). A fast path may only ever accept a *subset* of what the precise
checks accept: anything it rejects is re-checked precisely (a property test holds both engines to that).

``pydantic-core`` is the default: measured faster than msgspec on a 20-field record, mostly because its
patterns run on the Rust regex engine (see ``benchmarks/bench_contracts.py``).
"""

from __future__ import annotations

import datetime as _dt
import functools
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated, Any, Literal

from trilho.contracts._regex import python_pattern, to_dialect
from trilho.contracts.checks import Check, Invalid, compile_check, value_check
from trilho.contracts.model import Field, SchemaObject

ENGINES = ("pydantic-core", "msgspec")
_I64_MIN, _I64_MAX = -(2**63), 2**63 - 1


@dataclass(frozen=True, slots=True)
class FastPath:
    """A compiled fast path: ``run(record) -> dict``, the exceptions it raises, and post-steps."""

    engine: str
    run: Callable[[Any], dict[str, Any]]
    errors: tuple[type[BaseException], ...]
    post: tuple[tuple[str, Check], ...]


def _parse_or_none(parse: Callable[[str], Any], v: str | None) -> Any:
    return None if v is None else parse(v)


def _post_for(f: Field) -> Check | None:
    """The post-step of a field whose fast type already checked the ISO shape: parse it."""
    if f.kind == "date":
        return functools.partial(_parse_or_none, _dt.date.fromisoformat)
    if f.kind == "timestamp":
        return functools.partial(_parse_or_none, _dt.datetime.fromisoformat)
    return None


def _allowed_enum(f: Field) -> list[Any]:
    """Enum values that also satisfy the field's other constraints (the domain is their intersection)."""
    check = value_check(f)
    out = []
    for v in f.enum or ():
        try:
            check(v)
            out.append(v)
        except Invalid:
            pass
    return out


# --- pydantic-core ------------------------------------------------------------------------------------------
def _core_rust_pattern(pattern: str) -> str | None:
    """The pattern in Rust syntax, or ``None`` when pydantic-core's Rust engine cannot compile it."""
    from pydantic_core import SchemaError, SchemaValidator
    from pydantic_core import core_schema as cs

    src = to_dialect(pattern, "rust")
    try:
        SchemaValidator(cs.str_schema(pattern=src, regex_engine="rust-regex"))
    except SchemaError:
        return None
    return src


def _core_type(f: Field) -> Any | None:
    from pydantic_core import core_schema as cs

    kind = f.kind
    if kind in ("date", "timestamp"):
        if f.enum is not None:
            return None
        src = _core_rust_pattern(f.patterns[0])
        return None if src is None else cs.str_schema(pattern=src, regex_engine="rust-regex", strict=True)
    if f.enum is not None:
        allowed = _allowed_enum(f)
        if not allowed or kind not in ("string", "int"):
            return None
        base = cs.str_schema(strict=True) if kind == "string" else cs.int_schema(strict=True)
        return cs.chain_schema([base, cs.literal_schema(allowed)])
    if kind in ("int", "float"):
        lo, lo_x, hi, hi_x = f.bounds()
        kw = {("gt" if lo_x else "ge"): lo, ("lt" if hi_x else "le"): hi}
        if kind == "int":
            return cs.int_schema(strict=True, **kw)
        return cs.float_schema(strict=True, allow_inf_nan=False, **kw)
    if kind == "bool":
        return cs.bool_schema(strict=True)
    if kind == "string":
        patterns = f.patterns
        if len(patterns) > 1:
            return None
        src = _core_rust_pattern(patterns[0]) if patterns else None
        if patterns and src is None:
            return None
        return cs.str_schema(
            min_length=f.min_length,
            max_length=f.max_length,
            pattern=src,
            regex_engine="rust-regex",
            strict=True,
        )
    assert f.items is not None
    elem = _core_type(f.items)
    if elem is None:
        return None
    if f.shape is None:
        return cs.list_schema(elem, strict=True)
    t = elem
    for n in reversed(f.shape):
        t = cs.list_schema(t, min_length=n, max_length=n, strict=True)
    return t


def build_core(obj: SchemaObject) -> FastPath:
    """Compile ``obj`` to one pydantic-core ``typed_dict`` validator."""
    from pydantic_core import SchemaValidator, ValidationError
    from pydantic_core import core_schema as cs

    fields: dict[str, Any] = {}
    post: list[tuple[str, Check]] = []
    for f in obj.fields:
        t = _core_type(f)
        if t is None:
            post.append((f.name, compile_check(f)))
            t = cs.any_schema()
        elif (step := _post_for(f)) is not None:
            post.append((f.name, step))
        if f.required:
            fields[f.name] = cs.typed_dict_field(t, required=True)
        else:
            nullable = t if t["type"] == "any" else cs.nullable_schema(t)
            fields[f.name] = cs.typed_dict_field(
                cs.with_default_schema(nullable, default=None), required=False
            )
    extra = "forbid" if obj.extra_policy == "forbid" else "ignore"
    validator = SchemaValidator(cs.typed_dict_schema(fields, extra_behavior=extra))
    return FastPath("pydantic-core", validator.validate_python, (ValidationError,), tuple(post))


# --- msgspec -----------------------------------------------------------------------------------------------
def _msgspec_type(f: Field) -> Any | None:
    import msgspec

    kind = f.kind
    if kind in ("date", "timestamp"):
        if f.enum is not None:
            return None
        return Annotated[str, msgspec.Meta(pattern=python_pattern(f.patterns[0]))]
    if kind == "bool":
        return None if f.enum else bool
    if kind == "array":
        elem = _msgspec_type(f.items) if f.items is not None else None
        if elem is None:
            return None
        if f.shape is None:
            return list[elem]  # type: ignore[valid-type]
        t: Any = elem
        for n in reversed(f.shape):
            t = Annotated[list[t], msgspec.Meta(min_length=n, max_length=n)]
        return t
    if f.enum is not None:
        allowed = _allowed_enum(f)
        if kind == "float" or not allowed:
            return None
        return Literal[tuple(allowed)]  # type: ignore[valid-type]
    if kind in ("int", "float"):
        lo, lo_x, hi, hi_x = f.bounds()
        if kind == "int":  # msgspec bounds must fit an int64; wider values take the precise path
            if lo < _I64_MIN:
                lo, lo_x = _I64_MIN, False
            if hi > _I64_MAX:
                hi, hi_x = _I64_MAX, False
        meta = msgspec.Meta(**{("gt" if lo_x else "ge"): lo, ("lt" if hi_x else "le"): hi})
        return Annotated[int if kind == "int" else float, meta]
    patterns = f.patterns
    if len(patterns) > 1:
        return None
    kw: dict[str, Any] = {}
    if f.min_length is not None:
        kw["min_length"] = f.min_length
    if f.max_length is not None:
        kw["max_length"] = f.max_length
    if patterns:
        kw["pattern"] = python_pattern(patterns[0])
    return Annotated[str, msgspec.Meta(**kw)] if kw else str


def _ident(name: str) -> str:
    out = re.sub(r"\W", "_", name.title())
    return out if out and out[0].isalpha() else f"C{out}"


def build_msgspec(obj: SchemaObject) -> FastPath:
    """Compile ``obj`` to a msgspec Struct (fields renamed ``f0``, ``f1``... to allow any field name)."""
    import msgspec

    attrs: list[tuple[Any, ...]] = []
    rename: dict[str, str] = {}
    post: list[tuple[str, Check]] = []
    for i, f in enumerate(obj.fields):
        attr = f"f{i}"
        rename[attr] = f.name
        t = _msgspec_type(f)
        if t is None:
            post.append((f.name, compile_check(f)))
            t = Any
        elif (step := _post_for(f)) is not None:
            post.append((f.name, step))
        if f.required:
            attrs.append((attr, t))
        else:
            attrs.append((attr, t if t is Any else t | None, None))
    struct = msgspec.defstruct(
        f"{_ident(obj.name)}Record",
        attrs,
        rename=rename,
        forbid_unknown_fields=obj.extra_policy == "forbid",
        kw_only=True,
    )
    names = obj.names
    convert, astuple = msgspec.convert, msgspec.structs.astuple

    def run(record: Any) -> dict[str, Any]:
        return dict(zip(names, astuple(convert(record, struct)), strict=True))

    return FastPath("msgspec", run, (msgspec.ValidationError, TypeError), tuple(post))


def build(obj: SchemaObject, engine: str = "pydantic-core") -> FastPath:
    """Compile the fast path of ``obj`` with ``engine`` (``pydantic-core`` or ``msgspec``)."""
    if engine == "pydantic-core":
        return build_core(obj)
    if engine == "msgspec":
        return build_msgspec(obj)
    raise ValueError(f"unknown engine {engine!r}; use one of {ENGINES}")
