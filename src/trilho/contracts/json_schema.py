"""JSON Schema (draft 2020-12) export of a schema object, and a ``jsonschema`` validator for it.

The schema is the third compiled form of the contract and accepts exactly the records the request validator
accepts (JSON's view of them: dates and timestamps are strings). Calendar validity of dates and timestamps is
expressed as a pattern, so any draft 2020-12 validator agrees without format assertion. A field's declared
default is exported as ``default`` and filled in by :func:`validator_for`'s validator where the record's value
is missing or null, as the request and frame validators fill it.
"""

from __future__ import annotations

import functools
from typing import Any

from trilho.contracts._regex import FORMAT_PATTERNS, compile_python
from trilho.contracts.model import Field, SchemaObject

DRAFT = "https://json-schema.org/draft/2020-12/schema"


def field_schema(f: Field) -> dict[str, Any]:
    """The JSON Schema of one field's non-null values."""
    out: dict[str, Any] = {}
    kind = f.kind
    if kind in ("int", "float"):
        out["type"] = "integer" if kind == "int" else "number"
        lo, lo_x, hi, hi_x = f.bounds()
        out["exclusiveMinimum" if lo_x else "minimum"] = lo
        out["exclusiveMaximum" if hi_x else "maximum"] = hi
    elif kind == "bool":
        out["type"] = "boolean"
    elif kind in ("string", "date", "timestamp"):
        out["type"] = "string"
        if f.min_length is not None:
            out["minLength"] = f.min_length
        if f.max_length is not None:
            out["maxLength"] = f.max_length
        patterns = list(f.patterns)
        if kind == "date":
            out["format"] = "date"
        elif f.format is not None:
            out["format"] = f.format
        if len(patterns) == 1:
            out["pattern"] = patterns[0]
        elif patterns:
            out["allOf"] = [{"pattern": p} for p in patterns]
    elif kind == "array":
        assert f.items is not None
        inner = field_schema(f.items)
        if f.shape is None:
            out = {"type": "array", "items": inner}
        else:
            for n in reversed(f.shape):
                inner = {"type": "array", "items": inner, "minItems": n, "maxItems": n}
            out = inner
    if f.enum is not None:
        out["enum"] = list(f.enum)
    if f.description:
        out["description"] = f.description
    out["x-physicalType"] = f.type.name
    if f.shape is not None:
        out["x-shape"] = list(f.shape)
    return out


def object_schema(obj: SchemaObject, *, contract_id: str, version: str, role: str | None) -> dict[str, Any]:
    """The JSON Schema of one record of ``obj``."""
    props: dict[str, Any] = {}
    for f in obj.fields:
        s = field_schema(f)
        if not f.required:
            s = {"anyOf": [s, {"type": "null"}]}
            if f.description:
                s["description"] = f.description
            if f.default is not None:
                s["default"] = f.default  # the validator below fills it in, as the others do
        props[f.name] = s
    schema: dict[str, Any] = {
        "$schema": DRAFT,
        "$id": f"urn:trilho:contract:{contract_id}:{version}:{role or obj.name}",
        "title": obj.name,
        "type": "object",
        "properties": props,
        "required": [f.name for f in obj.fields if f.required],
        "additionalProperties": obj.extra_policy != "forbid",
    }
    if obj.description:
        schema["description"] = obj.description
    return schema


def _ecma_pattern(validator: Any, pattern: str, instance: Any, schema: Any) -> Any:
    """The ``pattern`` keyword with ECMA-262 semantics (``jsonschema`` uses Python ``re`` as is, where ``$``
    also matches before a final newline and ``\\d`` matches any Unicode digit)."""
    from jsonschema.exceptions import ValidationError

    if validator.is_type(instance, "string") and compile_python(pattern).search(instance) is None:
        yield ValidationError(f"{instance!r} does not match {pattern!r}")


def _filling_properties(validate_properties: Any) -> Any:
    """The ``properties`` keyword, filling each property's ``default`` into the record where its value is
    missing or null (the jsonschema FAQ recipe), then validating as before."""

    def properties(validator: Any, props: Any, instance: Any, schema: Any) -> Any:
        if validator.is_type(instance, "object"):
            for name, sub in props.items():
                if isinstance(sub, dict) and "default" in sub and instance.get(name) is None:
                    instance[name] = sub["default"]
        yield from validate_properties(validator, props, instance, schema)

    return properties


@functools.lru_cache(maxsize=1)
def _validator_class() -> Any:
    from jsonschema import Draft202012Validator, validators

    keywords = {
        "pattern": _ecma_pattern,
        "properties": _filling_properties(Draft202012Validator.VALIDATORS["properties"]),
    }
    return validators.extend(Draft202012Validator, keywords)


def validator_for(schema: dict[str, Any]) -> Any:
    """A ``jsonschema`` Draft 2020-12 validator for ``schema`` whose ``pattern`` keyword follows ECMA-262 and
    whose ``properties`` fill declared defaults into the record it validates."""
    cls = _validator_class()
    cls.check_schema(schema)
    return cls(schema)


__all__ = ["DRAFT", "FORMAT_PATTERNS", "field_schema", "object_schema", "validator_for"]
