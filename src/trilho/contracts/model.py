"""The contract's in-memory model: immutable dataclasses every validator, the diff and the exporters read.

The model is already normalised: physical types are resolved against the catalogue, ODCS quality entries that
constrain single values (``validValues``, patterns) are folded into the field, and dataset-level ones
(null values, duplicates, row counts) are :class:`DatasetCheck` objects. Nothing here does I/O.
"""

from __future__ import annotations

import math
import operator
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

from trilho.contracts._regex import DATE_PATTERN, FORMAT_PATTERNS, TIMESTAMP_PATTERN
from trilho.contracts.types import PhysicalType

Role = Literal["input", "output"]
ROLES: tuple[str, ...] = ("input", "output")
ExtraPolicy = Literal["forbid", "ignore"]

#: ODCS comparison keys on quality entries, and how each compares a measured value with its threshold.
COMPARATORS: dict[str, Callable[[float, Any], bool]] = {
    "mustBe": operator.eq,
    "mustNotBe": operator.ne,
    "mustBeGreaterThan": operator.gt,
    "mustBeGreaterOrEqualTo": operator.ge,
    "mustBeLessThan": operator.lt,
    "mustBeLessOrEqualTo": operator.le,
    "mustBeBetween": lambda v, t: t[0] <= v <= t[1],
    "mustNotBeBetween": lambda v, t: not t[0] <= v <= t[1],
}
#: Spellings seen in the wild for the same comparisons.
COMPARATOR_ALIASES = {
    "mustBeGreaterThanOrEqualTo": "mustBeGreaterOrEqualTo",
    "mustBeLessThanOrEqualTo": "mustBeLessOrEqualTo",
}
DATASET_METRICS = ("nullValues", "duplicateValues", "rowCount", "missingValues")


@dataclass(frozen=True, slots=True)
class Tolerance:
    """How far an output value may drift from a reference and still count as equal."""

    abs: float = 0.0
    rel: float = 0.0

    def close(self, expected: float, actual: float) -> bool:
        """True when ``actual`` is within ``abs`` or ``rel``·|expected| of ``expected``."""
        if math.isnan(expected) or math.isnan(actual):
            return math.isnan(expected) and math.isnan(actual)
        return abs(actual - expected) <= max(self.abs, self.rel * abs(expected))


@dataclass(frozen=True, slots=True)
class DatasetCheck:
    """A dataset-level quality rule: a metric (null values, duplicates, rows) compared with a threshold."""

    metric: str
    op: str
    threshold: Any
    unit: Literal["rows", "percent"] = "rows"

    def passes(self, count: int, total: int) -> bool:
        """Whether ``count`` offending rows out of ``total`` satisfy the rule."""
        measured: float = count if self.unit == "rows" else (100.0 * count / total if total else 0.0)
        return bool(COMPARATORS[self.op](measured, self.threshold))

    def describe(self) -> str:
        """A short human description, e.g. ``nullValues mustBeLessThan 5 percent``."""
        return f"{self.metric} {self.op} {self.threshold} {self.unit}"


@dataclass(frozen=True, slots=True)
class Field:
    """One property of a schema object: its type and every constraint on its values."""

    name: str
    type: PhysicalType
    required: bool = False
    unique: bool = False
    description: str | None = None
    minimum: int | float | None = None
    maximum: int | float | None = None
    exclusive_minimum: bool = False
    exclusive_maximum: bool = False
    min_length: int | None = None
    max_length: int | None = None
    pattern: str | None = None
    format: str | None = None
    enum: tuple[Any, ...] | None = None
    items: Field | None = None
    shape: tuple[int, ...] | None = None
    checks: tuple[DatasetCheck, ...] = ()
    tolerance: Tolerance | None = None
    examples: tuple[Any, ...] = ()
    default: Any = None  # what a missing or null optional value becomes before the model sees it (None: none)
    physical_type_raw: str | None = None
    logical_type_raw: str | None = None
    extra: dict[str, Any] = field(default_factory=dict, compare=False, hash=False)
    unenforced: tuple[dict[str, Any], ...] = field(default=(), compare=False, hash=False)

    @property
    def kind(self) -> str:
        """The value kind: int, float, bool, string, date, timestamp or array."""
        return self.type.kind

    @property
    def patterns(self) -> tuple[str, ...]:
        """Every pattern a string value must match (its own, its format's, its date/timestamp shape)."""
        out: list[str] = []
        if self.kind == "date":
            out.append(DATE_PATTERN)
        elif self.kind == "timestamp":
            out.append(TIMESTAMP_PATTERN)
        if self.pattern is not None:
            out.append(self.pattern)
        if self.format is not None and FORMAT_PATTERNS[self.format] not in out:
            out.append(FORMAT_PATTERNS[self.format])
        return tuple(out)

    def bounds(self) -> tuple[float | int | None, bool, float | int | None, bool]:
        """Effective numeric bounds (lo, lo_exclusive, hi, hi_exclusive) from the type and the contract."""
        lo, lo_x, hi, hi_x = self.type.lo, False, self.type.hi, False
        if self.minimum is not None and (lo is None or self.minimum >= lo):
            lo, lo_x = self.minimum, self.exclusive_minimum
        if self.maximum is not None and (hi is None or self.maximum <= hi):
            hi, hi_x = self.maximum, self.exclusive_maximum
        return lo, lo_x, hi, hi_x

    @property
    def depth(self) -> int:
        """How many list levels an array value has (1 for a plain vector)."""
        return len(self.shape) if self.shape else 1


@dataclass(frozen=True, slots=True)
class SchemaObject:
    """One ``schema[]`` entry: a table, a request or a response, with its fields."""

    name: str
    fields: tuple[Field, ...]
    role: Role | None = None
    extra_policy: ExtraPolicy = "forbid"
    physical_name: str | None = None
    description: str | None = None
    examples: tuple[dict[str, Any], ...] = ()
    checks: tuple[DatasetCheck, ...] = ()
    extra: dict[str, Any] = field(default_factory=dict, compare=False, hash=False)
    unenforced: tuple[dict[str, Any], ...] = field(default=(), compare=False, hash=False)

    def field(self, name: str) -> Field:
        """The field called ``name`` (``KeyError`` when absent)."""
        for f in self.fields:
            if f.name == name:
                return f
        raise KeyError(name)

    @property
    def names(self) -> tuple[str, ...]:
        """Field names in declaration order."""
        return tuple(f.name for f in self.fields)
