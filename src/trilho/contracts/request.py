"""The per-request validator for the serving hot path, compiled once from a schema object.

Fast path: the whole record is checked by one native call (pydantic-core by default, msgspec optionally; see
:mod:`trilho.contracts._fast`). When the fast path rejects a record, the precise checks of
:mod:`trilho.contracts.checks` re-check every field to either accept it after a lossless coercion (JSON's
``5.0`` for an integer, ``NaN`` as missing, ``date`` objects) or raise a ``SchemaViolation`` naming each
failing field, its value and the rule.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from typing import Any

from trilho.contracts._fast import build
from trilho.contracts.checks import Invalid, compile_check
from trilho.contracts.model import Field, SchemaObject
from trilho.errors import SchemaViolation

__all__ = [
    "Invalid",
    "RequestValidator",
    "compile_check",
    "declared_defaults",
    "fill_defaults",
    "show",
    "with_defaults",
]


class RequestValidator:
    """Validates one record (a mapping) against a schema object; compiled once, called per request."""

    __slots__ = ("object", "engine", "_run", "_errors", "_post", "_names", "_checks", "_forbid", "_defaults")

    def __init__(self, obj: SchemaObject, engine: str = "pydantic-core") -> None:
        self.object = obj
        fast = build(obj, engine)
        self.engine = fast.engine
        self._run, self._errors, self._post = fast.run, fast.errors, fast.post
        self._names = tuple(obj.names)
        self._checks = tuple((f.name, compile_check(f)) for f in obj.fields)
        self._forbid = obj.extra_policy == "forbid"
        self._defaults = declared_defaults(obj)

    @property
    def fields(self) -> tuple[Field, ...]:
        """The fields this validator checks."""
        return self.object.fields

    def validate(self, record: Mapping[str, Any]) -> dict[str, Any]:
        """Return the normalised record (declared fields only, declared defaults filled in where a value is
        missing or null) or raise ``SchemaViolation``."""
        try:
            out = self._run(record)
        except self._errors:
            return self._precise(record)
        if self._post:
            try:
                for name, check in self._post:
                    out[name] = check(out[name])
            except Invalid:
                return self._precise(record)
        if self._defaults:
            fill_defaults(out, self._defaults)
        return out

    def validate_many(self, records: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
        """Validate a batch; the first invalid record raises ``SchemaViolation`` carrying its ``index``."""
        out = []
        validate = self.validate
        for i, rec in enumerate(records):
            try:
                out.append(validate(rec))
            except SchemaViolation as exc:
                exc.fields["index"] = i
                exc.message = f"record {i}: {exc.message}"
                exc.args = (str(exc),)
                raise
        return out

    def errors(self, record: Any) -> list[dict[str, Any]]:
        """Every violation in ``record`` as ``{field, value, rule, message}`` (empty when valid)."""
        try:
            self.validate(record)
        except SchemaViolation as exc:
            return list(exc.fields["violations"])
        return []

    def is_valid(self, record: Any) -> bool:
        """True when ``record`` satisfies the contract."""
        try:
            self.validate(record)
        except SchemaViolation:
            return False
        return True

    def _precise(self, record: Any) -> dict[str, Any]:
        if not isinstance(record, Mapping):
            raise SchemaViolation(
                f"a {self.object.name} record must be a mapping, got {type(record).__name__}",
                field="<record>",
                value=show(record),
                rule="type",
                violations=[
                    {"field": "<record>", "value": show(record), "rule": "type", "message": "not a mapping"}
                ],
            )
        violations: list[dict[str, Any]] = []
        out: dict[str, Any] = {}
        for name, check in self._checks:
            v = record.get(name)
            try:
                out[name] = check(v)
            except Invalid as bad:
                violations.append({"field": name, "value": show(v), "rule": bad.rule, "message": bad.message})
        names = self._names
        for key in record:
            if key not in names and self._forbid:
                violations.append(
                    {
                        "field": str(key),
                        "value": show(record[key]),
                        "rule": "unknown-field",
                        "message": f"'{key}' is not a field of {self.object.name}",
                    }
                )
        if violations:
            first = violations[0]
            more = f" (and {len(violations) - 1} more)" if len(violations) > 1 else ""
            fix = (
                ("send only the contract's fields: " + ", ".join(names))
                if first["rule"] == "unknown-field"
                else f"send a value that satisfies rule '{first['rule']}'"
            )
            raise SchemaViolation(
                first["message"] + more,
                fix=fix,
                field=first["field"],
                value=first["value"],
                rule=first["rule"],
                violations=violations,
            )
        return fill_defaults({name: out[name] for name in names}, self._defaults)


Defaults = tuple[tuple[str, Any], ...]


def declared_defaults(obj: SchemaObject) -> Defaults:
    """``(field, default)`` for each field of ``obj`` that declares a default (``x-trilho: {default: …}``)."""
    return tuple((f.name, f.default) for f in obj.fields if f.default is not None)


def fill_defaults(record: dict[str, Any], defaults: Defaults) -> dict[str, Any]:
    """Each defaulted field whose value is missing or null takes its default, in place; returns ``record``.
    The one way records get their contract defaults: the request validators (gateway, registration) and the
    registry's ``Predictor`` (golden runs, direct ``predict`` calls) call it."""
    for name, value in defaults:
        if record.get(name) is None:
            record[name] = value
    return record


def with_defaults(record: Mapping[str, Any], defaults: Defaults) -> Mapping[str, Any]:
    """``record`` when it lacks no default, else a copy with them filled in (the caller's record is kept)."""
    for name, _ in defaults:
        if record.get(name) is None:
            return fill_defaults(dict(record), defaults)
    return record


def show(v: Any) -> Any:
    """A JSON-friendly rendering of an offending value."""
    if v is None or isinstance(v, bool | int | str):
        return v
    if isinstance(v, float):
        return v if math.isfinite(v) else repr(v)
    text = repr(v)
    return text if len(text) <= 200 else text[:197] + "..."
