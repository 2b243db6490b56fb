"""The precise per-value checks: the specification every validator agrees with.

``compile_check(field)`` returns a function that normalises one value (JSON's ``5.0`` → ``5`` for integers,
ISO strings → ``date``/``datetime``, ``NaN`` → missing) or raises :class:`Invalid` naming the rule it broke.
The request validator's fast path, the dataframe validator's object columns and the test strategies all
defer to these checks.
"""

from __future__ import annotations

import dataclasses
import datetime as _dt
import math
import numbers
import re
from collections.abc import Callable
from typing import Any

from trilho.contracts._regex import FORMAT_PATTERNS, compile_python
from trilho.contracts.model import Field


class Invalid(Exception):
    """One value that breaks one rule (internal: turned into a ``SchemaViolation``)."""

    def __init__(self, rule: str, message: str) -> None:
        self.rule = rule
        self.message = message
        super().__init__(message)


Check = Callable[[Any], Any]


def _is_nan(v: Any) -> bool:
    return isinstance(v, float) and v != v


def compile_check(f: Field) -> Check:
    """The precise check for one field: returns the normalised value or raises :class:`Invalid`."""
    check_value = value_check(f)
    required = f.required

    def check(v: Any) -> Any:
        if v is None or _is_nan(v) or _is_missing_scalar(v):
            if required:
                raise Invalid("required", f"'{f.name}' is required and must not be null")
            return None
        return check_value(v)

    return check


def _is_missing_scalar(v: Any) -> bool:
    """NaN-like values from numpy / pandas (``np.float32('nan')``, ``pd.NA``, ``NaT``) count as missing."""
    if isinstance(v, bool | int | str | list | dict | tuple):
        return False
    try:
        return bool(v != v)
    except Exception:  # pd.NA raises on truth testing
        return type(v).__name__ in ("NAType", "NaTType")


def value_check(f: Field) -> Check:
    """The check for a non-null value of ``f`` (no null handling)."""
    kind = f.kind
    base = {
        "int": _int_check,
        "float": _float_check,
        "bool": _bool_check,
        "string": _string_check,
        "date": _date_check,
        "timestamp": _timestamp_check,
        "array": _array_check,
    }[kind](f)
    if f.enum is None:
        return base
    allowed = f.enum

    def check_enum(v: Any) -> Any:
        out = base(v)
        if out not in allowed:
            raise Invalid("enum", f"'{f.name}' must be one of {list(allowed)}, got {v!r}")
        return out

    return check_enum


def _range_checks(f: Field) -> Callable[[Any, Any], None]:
    lo_t, hi_t = f.type.lo, f.type.hi
    mn, mx, xmn, xmx = f.minimum, f.maximum, f.exclusive_minimum, f.exclusive_maximum
    name, tname = f.name, f.type.name

    def check(out: Any, raw: Any) -> None:
        if not (lo_t <= out <= hi_t):
            raise Invalid("range", f"'{name}' = {raw!r} is outside the {tname} range [{lo_t}, {hi_t}]")
        if mn is not None and (out <= mn if xmn else out < mn):
            rule = "exclusiveMinimum" if xmn else "minimum"
            raise Invalid(rule, f"'{name}' = {raw!r} must be {'>' if xmn else '>='} {mn}")
        if mx is not None and (out >= mx if xmx else out > mx):
            rule = "exclusiveMaximum" if xmx else "maximum"
            raise Invalid(rule, f"'{name}' = {raw!r} must be {'<' if xmx else '<='} {mx}")

    return check


def _int_check(f: Field) -> Check:
    ranges = _range_checks(f)
    name, tname = f.name, f.type.name

    def check(v: Any) -> Any:
        if isinstance(v, bool):
            raise Invalid("type", f"'{name}' must be an integer ({tname}), got a boolean")
        integral = isinstance(v, numbers.Integral)
        if integral or (isinstance(v, numbers.Real) and math.isfinite(v) and float(v).is_integer()):
            out = int(v)
        else:
            raise Invalid("type", f"'{name}' must be an integer ({tname}), got {type(v).__name__} {v!r}")
        ranges(out, v)
        return out

    return check


def _float_check(f: Field) -> Check:
    ranges = _range_checks(f)
    name, tname = f.name, f.type.name

    def check(v: Any) -> Any:
        if isinstance(v, bool) or not isinstance(v, numbers.Real):
            raise Invalid("type", f"'{name}' must be a number ({tname}), got {type(v).__name__} {v!r}")
        try:
            out = float(v)  # constraints apply to the normalised float64 value
        except OverflowError:
            raise Invalid("range", f"'{name}' = {v!r} is outside the {tname} range") from None
        if not math.isfinite(out):
            raise Invalid("range", f"'{name}' must be finite, got {v!r}")
        ranges(out, v)
        return out

    return check


def _bool_check(f: Field) -> Check:
    name = f.name

    def check(v: Any) -> Any:
        if isinstance(v, bool):
            return v
        if type(v).__module__ == "numpy" and type(v).__name__ in ("bool", "bool_"):
            return bool(v)
        raise Invalid("type", f"'{name}' must be a boolean, got {type(v).__name__} {v!r}")

    return check


def _string_rules(f: Field) -> Callable[[str], None]:
    name, mn, mx = f.name, f.min_length, f.max_length
    regexes: list[tuple[str, re.Pattern[str], str]] = []
    if f.pattern is not None:
        regexes.append(("pattern", compile_python(f.pattern), f.pattern))
    if f.format is not None:
        regexes.append(("format", compile_python(FORMAT_PATTERNS[f.format]), f.format))

    def check(v: str) -> None:
        n = len(v)
        if mn is not None and n < mn:
            raise Invalid("minLength", f"'{name}' must have at least {mn} characters, got {n}")
        if mx is not None and n > mx:
            raise Invalid("maxLength", f"'{name}' must have at most {mx} characters, got {n}")
        for rule, rx, src in regexes:
            if rx.search(v) is None:
                what = f"match the pattern {src!r}" if rule == "pattern" else f"be a valid {src}"
                raise Invalid(rule, f"'{name}' must {what}, got {v!r}")

    return check


def _string_check(f: Field) -> Check:
    rules = _string_rules(f)
    name = f.name

    def check(v: Any) -> Any:
        if not isinstance(v, str):
            raise Invalid("type", f"'{name}' must be a string, got {type(v).__name__} {v!r}")
        rules(v)
        return v

    return check


_MIDNIGHT = _dt.time(0)


def _date_check(f: Field) -> Check:
    rx = compile_python(f.patterns[0])
    name = f.name

    def check(v: Any) -> Any:
        if type(v) is _dt.date:
            return v
        if isinstance(v, str):
            if rx.search(v) is None:
                raise Invalid("format", f"'{name}' must be an ISO 8601 date (YYYY-MM-DD), got {v!r}")
            return _dt.date.fromisoformat(v)
        if isinstance(v, _dt.datetime):  # pandas has no date dtype: naive midnight timestamps are dates
            if v.tzinfo is None and v.time() == _MIDNIGHT and not getattr(v, "nanosecond", 0):
                return v.date()
            raise Invalid("type", f"'{name}' must be a date, got a timestamp with a time of day {v!r}")
        raise Invalid("type", f"'{name}' must be a date, got {type(v).__name__} {v!r}")

    return check


def _timestamp_check(f: Field) -> Check:
    rx = compile_python(f.patterns[0])
    name = f.name

    def check(v: Any) -> Any:
        if isinstance(v, _dt.datetime):
            return v
        if isinstance(v, str):
            if rx.search(v) is None:
                raise Invalid("format", f"'{name}' must be an ISO 8601 timestamp, got {v!r}")
            return _dt.datetime.fromisoformat(v)
        raise Invalid("type", f"'{name}' must be a timestamp, got {type(v).__name__} {v!r}")

    return check


def _array_check(f: Field) -> Check:
    assert f.items is not None
    item = value_check(dataclasses.replace(f.items, name=f"{f.name}[]"))
    shape = f.shape
    name = f.name

    def walk(v: Any, level: int, where: str) -> list[Any]:
        if hasattr(v, "tolist") and not isinstance(v, str):
            v = v.tolist()
        if not isinstance(v, list | tuple):
            raise Invalid("type", f"'{name}{where}' must be a list, got {type(v).__name__}")
        if shape is not None and len(v) != shape[level]:
            raise Invalid("shape", f"'{name}{where}' must have {shape[level]} elements, got {len(v)}")
        last = shape is None or level == len(shape) - 1
        out = []
        for i, x in enumerate(v):
            if last:
                if x is None or _is_nan(x):
                    raise Invalid("type", f"'{name}{where}[{i}]' must not be null")
                try:
                    out.append(item(x))
                except Invalid as bad:
                    raise Invalid(bad.rule, f"{bad.message} (at {name}{where}[{i}])") from None
            else:
                out.append(walk(x, level + 1, f"{where}[{i}]"))
        return out

    return lambda v: walk(v, 0, "")
