"""Comparators: pure functions that judge one output field of a golden case against its expected value.

Written in suites as ``exact``, ``class``, ``set``, ``{abs: 0.01}``, ``{rel: 0.05}`` and
``{topk: 10, min_overlap: 0.8}``; ``{abs: a, rel: r}`` together is the contract's tolerance rule
(|actual − expected| ≤ max(a, r·|expected|)), the default for output fields whose contract declares one.
Each returns a score in [0, 1] (1 = as expected) and a verdict.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from typing import Any

from trilho.errors import GoldenError

KINDS = ("exact", "abs", "rel", "tol", "class", "topk", "set")


def _is_number(v: Any) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool)


def json_safe(value: Any) -> Any:
    """``value`` with non-finite floats as strings (``"nan"``, ``"inf"``), so reports stay valid JSON."""
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    if isinstance(value, list | tuple):
        return [json_safe(v) for v in value]
    if isinstance(value, dict):
        return {k: json_safe(v) for k, v in value.items()}
    return value


def _canon(v: Any) -> str:
    return json.dumps(v, sort_keys=True, separators=(",", ":"), default=str)


def exact_equal(expected: Any, actual: Any) -> bool:
    """JSON equality: same types (``True`` is not ``1``), numbers equal by value, NaN equals NaN."""
    if _is_number(expected) and _is_number(actual):
        if isinstance(expected, float) and isinstance(actual, float) and math.isnan(expected):
            return math.isnan(actual)
        return expected == actual
    if isinstance(expected, list) and isinstance(actual, list):
        return len(expected) == len(actual) and all(
            exact_equal(e, a) for e, a in zip(expected, actual, strict=True)
        )
    if isinstance(expected, dict) and isinstance(actual, dict):
        return expected.keys() == actual.keys() and all(exact_equal(expected[k], actual[k]) for k in expected)
    return type(expected) is type(actual) and expected == actual


def _numeric_pairs(expected: Any, actual: Any) -> list[tuple[float, float]] | None:
    if _is_number(expected) and _is_number(actual):
        return [(float(expected), float(actual))]
    if isinstance(expected, list) and isinstance(actual, list) and len(expected) == len(actual):
        pairs: list[tuple[float, float]] = []
        for e, a in zip(expected, actual, strict=True):
            sub = _numeric_pairs(e, a)
            if sub is None:
                return None
            pairs.extend(sub)
        return pairs
    return None


def within_abs(expected: Any, actual: Any, tolerance: float) -> bool:
    """|actual − expected| ≤ tolerance for a number or element-wise for equal-length lists."""
    pairs = _numeric_pairs(expected, actual)
    if pairs is None:
        return False
    return all((math.isnan(e) and math.isnan(a)) or abs(a - e) <= tolerance for e, a in pairs)


def within_rel(expected: Any, actual: Any, tolerance: float) -> bool:
    """|actual − expected| ≤ tolerance · max(|actual|, |expected|) (symmetric), number or element-wise."""
    pairs = _numeric_pairs(expected, actual)
    if pairs is None:
        return False
    return all(
        (math.isnan(e) and math.isnan(a)) or e == a or abs(a - e) <= tolerance * max(abs(a), abs(e))
        for e, a in pairs
    )


def within_tolerance(expected: Any, actual: Any, abs_tol: float, rel_tol: float) -> bool:
    """|actual − expected| ≤ max(abs_tol, rel_tol · |expected|): the contract's tolerance rule."""
    pairs = _numeric_pairs(expected, actual)
    if pairs is None:
        return False
    return all(
        (math.isnan(e) and math.isnan(a)) or abs(a - e) <= max(abs_tol, rel_tol * abs(e)) for e, a in pairs
    )


def _label(v: Any) -> str:
    if isinstance(v, list) and v and all(_is_number(x) for x in v):
        return str(max(range(len(v)), key=lambda i: v[i]))  # a score vector's class is its argmax
    if isinstance(v, float) and v.is_integer():
        return str(int(v))
    return str(v)


def same_class(expected: Any, actual: Any) -> bool:
    """Class equality: labels compared as text (``1`` = ``"1"``); score vectors compared by their argmax."""
    return _label(expected) == _label(actual)


def topk_overlap(expected: Any, actual: Any, k: int) -> float:
    """Share of the expected top-k items that appear in the actual top-k (1.0 when nothing is expected)."""
    if not isinstance(expected, list) or not isinstance(actual, list):
        return 0.0
    want = {_canon(x) for x in expected[:k]}
    if not want:
        return 1.0
    got = {_canon(x) for x in actual[:k]}
    return len(want & got) / len(want)


def set_equal(expected: Any, actual: Any) -> bool:
    """Set equality of two lists (order and duplicates ignored)."""
    if not isinstance(expected, list) or not isinstance(actual, list):
        return False
    return {_canon(x) for x in expected} == {_canon(x) for x in actual}


@dataclass(frozen=True)
class FieldResult:
    """One field's verdict: passed or not, a score in [0, 1], and what was compared."""

    field: str
    comparator: str
    passed: bool
    score: float
    expected: Any
    actual: Any
    detail: str = ""

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready fields."""
        return {
            "field": self.field,
            "comparator": self.comparator,
            "passed": self.passed,
            "score": self.score,
            "expected": json_safe(self.expected),
            "actual": json_safe(self.actual),
            "detail": self.detail,
        }


@dataclass(frozen=True)
class Comparator:
    """A parsed comparator: its kind and parameters (tolerance, k, minimum overlap)."""

    kind: str = "exact"
    tolerance: float = 0.0
    rel_tolerance: float = 0.0
    k: int = 0
    min_overlap: float = 1.0

    def describe(self) -> str:
        """Short text such as ``abs≤0.01`` or ``top5≥0.8``."""
        if self.kind in ("abs", "rel"):
            return f"{self.kind}≤{self.tolerance:g}"
        if self.kind == "tol":
            return f"abs≤{self.tolerance:g}|rel≤{self.rel_tolerance:g}"
        if self.kind == "topk":
            return f"top{self.k}≥{self.min_overlap:g}"
        return self.kind

    def compare(self, field: str, expected: Any, actual: Any) -> FieldResult:
        """Judge ``actual`` against ``expected``."""
        if self.kind == "topk":
            score = topk_overlap(expected, actual, self.k)
            passed = score >= self.min_overlap
            detail = "" if passed else f"top-{self.k} overlap {score:.3g} < {self.min_overlap:g}"
            return FieldResult(field, self.describe(), passed, score, expected, actual, detail)
        if self.kind == "exact":
            passed = exact_equal(expected, actual)
        elif self.kind == "abs":
            passed = within_abs(expected, actual, self.tolerance)
        elif self.kind == "rel":
            passed = within_rel(expected, actual, self.tolerance)
        elif self.kind == "tol":
            passed = within_tolerance(expected, actual, self.tolerance, self.rel_tolerance)
        elif self.kind == "class":
            passed = same_class(expected, actual)
        else:
            passed = set_equal(expected, actual)
        detail = "" if passed else f"expected {_short(expected)}, got {_short(actual)} ({self.describe()})"
        return FieldResult(field, self.describe(), passed, 1.0 if passed else 0.0, expected, actual, detail)

    def to_spec(self) -> Any:
        """The suite-file spelling of this comparator."""
        if self.kind in ("abs", "rel"):
            return {self.kind: self.tolerance}
        if self.kind == "tol":
            return {"abs": self.tolerance, "rel": self.rel_tolerance}
        if self.kind == "topk":
            return {"topk": self.k, "min_overlap": self.min_overlap}
        return self.kind


def _short(v: Any, limit: int = 60) -> str:
    text = _canon(v)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def parse_comparator(spec: Any, where: str = "comparator") -> Comparator:
    """Parse ``exact``, ``class``, ``set``, ``{abs: x}``, ``{rel: x}`` or ``{topk: k, min_overlap: x}``."""
    fix = (
        "write one of: exact, class, set, {abs: 0.01}, {rel: 0.05}, {abs: 0.01, rel: 0.05}, "
        "{topk: 10, min_overlap: 0.8}"
    )
    if isinstance(spec, str):
        if spec in ("exact", "class", "set"):
            return Comparator(spec)
        raise GoldenError(f"{where}: unknown comparator {spec!r}", fix=fix, field="comparator", value=spec)
    if isinstance(spec, dict):
        keys = set(spec)
        if keys == {"abs", "rel"}:
            a, r = (
                parse_comparator({"abs": spec["abs"]}, where),
                parse_comparator({"rel": spec["rel"]}, where),
            )
            return Comparator("tol", tolerance=a.tolerance, rel_tolerance=r.tolerance)
        if keys in ({"abs"}, {"rel"}):
            kind = keys.pop()
            tol = spec[kind]
            if not _is_number(tol) or tol < 0 or math.isnan(tol):
                raise GoldenError(
                    f"{where}: tolerance {tol!r} must be a number ≥ 0", fix=fix, field="comparator", value=tol
                )
            return Comparator(kind, tolerance=float(tol))
        if "topk" in keys and keys <= {"topk", "min_overlap"}:
            k, mo = spec["topk"], spec.get("min_overlap", 1.0)
            if not isinstance(k, int) or isinstance(k, bool) or k < 1:
                raise GoldenError(f"{where}: topk {k!r} must be an integer ≥ 1", fix=fix, field="comparator")
            if not _is_number(mo) or not 0 <= mo <= 1:
                raise GoldenError(
                    f"{where}: min_overlap {mo!r} must be in [0, 1]", fix=fix, field="comparator"
                )
            return Comparator("topk", k=k, min_overlap=float(mo))
    raise GoldenError(
        f"{where}: cannot read comparator {spec!r}", fix=fix, field="comparator", value=str(spec)
    )
