"""The physical type catalogue: every type a contract field may have, its value domain and its aliases.

Types are judged by *value*, the same way in every validator: an ``int32`` field accepts any integer in
[-2^31, 2^31-1] (JSON's ``5.0`` counts as the integer 5), a ``float32`` field any finite number whose
magnitude fits a float32, a ``date`` an ISO 8601 full date. Plain ODCS files may use SQL-ish physical types
(``bigint``, ``varchar(255)``, ``double``...): :func:`resolve_type` maps them onto the catalogue.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

Kind = Literal["int", "float", "bool", "string", "date", "timestamp", "array"]

FLOAT32_MAX = 3.4028234663852886e38
FLOAT64_MAX = 1.7976931348623157e308


@dataclass(frozen=True, slots=True)
class PhysicalType:
    """One physical type: its canonical name, value kind, bounds and ODCS logical type."""

    name: str
    kind: Kind
    logical: str
    lo: int | float | None = None
    hi: int | float | None = None

    def contains(self, other: PhysicalType) -> bool:
        """True when every value valid for ``other`` is valid for this type."""
        if self.kind == other.kind == "array":
            return True  # element types are compared separately
        numeric = ("int", "float")
        if self.kind in numeric and other.kind in numeric:
            if self.kind == "int" and other.kind == "float":
                return False
            return self.lo <= other.lo and other.hi <= self.hi  # type: ignore[operator]
        return self.kind == other.kind


def _int(name: str, bits: int, signed: bool) -> PhysicalType:
    lo, hi = (-(2 ** (bits - 1)), 2 ** (bits - 1) - 1) if signed else (0, 2**bits - 1)
    return PhysicalType(name, "int", "integer", lo, hi)


TYPES: dict[str, PhysicalType] = {
    t.name: t
    for t in (
        _int("int8", 8, True),
        _int("int16", 16, True),
        _int("int32", 32, True),
        _int("int64", 64, True),
        _int("uint8", 8, False),
        _int("uint16", 16, False),
        _int("uint32", 32, False),
        _int("uint64", 64, False),
        PhysicalType("float32", "float", "number", -FLOAT32_MAX, FLOAT32_MAX),
        PhysicalType("float64", "float", "number", -FLOAT64_MAX, FLOAT64_MAX),
        PhysicalType("bool", "bool", "boolean"),
        PhysicalType("string", "string", "string"),
        PhysicalType("date", "date", "date"),
        PhysicalType("timestamp", "timestamp", "timestamp"),
        PhysicalType("array", "array", "array"),
    )
}

#: Physical type names accepted besides the canonical ones (lower-case, parameters stripped).
ALIASES: dict[str, str] = {
    "tinyint": "int8",
    "byte": "int8",
    "smallint": "int16",
    "short": "int16",
    "int2": "int16",
    "int": "int32",
    "integer": "int32",
    "int4": "int32",
    "bigint": "int64",
    "long": "int64",
    "int8_t": "int8",
    "float": "float32",
    "real": "float32",
    "float4": "float32",
    "double": "float64",
    "float8": "float64",
    "double precision": "float64",
    "number": "float64",
    "numeric": "float64",
    "decimal": "float64",
    "boolean": "bool",
    "bit": "bool",
    "varchar": "string",
    "char": "string",
    "text": "string",
    "str": "string",
    "utf8": "string",
    "character varying": "string",
    "nvarchar": "string",
    "uuid": "string",
    "enum": "string",
    "timestamptz": "timestamp",
    "timestamp_ntz": "timestamp",
    "timestamp_tz": "timestamp",
    "timestamp_ltz": "timestamp",
    "datetime": "timestamp",
    "timestamp with time zone": "timestamp",
    "timestamp without time zone": "timestamp",
    "datetime64": "timestamp",
    "list": "array",
    "vector": "array",
    "tensor": "array",
}
#: Aliases that lose precision: loading them records a warning on the contract.
LOSSY_ALIASES = {
    "decimal": "decimal is validated as float64",
    "numeric": "numeric is validated as float64",
    "number": "number is validated as float64",
}

#: The default physical type for each ODCS logical type.
LOGICAL_DEFAULTS: dict[str, str] = {
    "integer": "int64",
    "number": "float64",
    "boolean": "bool",
    "string": "string",
    "date": "date",
    "timestamp": "timestamp",
    "array": "array",
}

_PARAMS = re.compile(r"\s*\(.*\)\s*$")


def valid_type_names() -> list[str]:
    """Canonical physical type names, for error messages."""
    return list(TYPES)


def resolve_type(raw: str) -> tuple[PhysicalType, str | None]:
    """Map a physical type as written (``Int32``, ``bigint``, ``varchar(64)``) to the catalogue.

    Returns the type and a precision warning (or ``None``); raises ``KeyError`` when the name is unknown.
    """
    key = _PARAMS.sub("", raw.strip().lower())
    if key in TYPES:
        return TYPES[key], None
    if key in ALIASES:
        return TYPES[ALIASES[key]], LOSSY_ALIASES.get(key)
    raise KeyError(raw)
