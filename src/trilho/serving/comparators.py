"""Comparators for shadow outputs: pure functions of (primary output, shadow output) → score in [0, 1] and
whether they agree. Named by a spec string so deployments can choose them:

``exact`` · ``numeric[:TOL[:FIELD]]`` · ``label:FIELD`` · ``topk:K:FIELD[:MIN_OVERLAP]`` ·
``cosine:FIELD[:MIN_SIMILARITY]`` (the grammar, shared with the deployment file and plan validators, is
``trilho.contracts.comparator_specs``)

They are defined on contract values (the shadow step puts both sides in the output contract's form
first). Where they test equality (``exact``, ``label``, ``topk``'s items) two floating-point numbers are
equal when they differ by float64 round-off only (``ROUNDOFF``, relative above 1, absolute below): a model
gives the same last bits only for the same batch, and the gateway batches a shadow copy differently from its
primary request (BLAS kernels round by batch shape). Integers, strings and booleans compare exactly.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import msgspec

from trilho.contracts.comparator_specs import parse_comparator_spec


@dataclass(frozen=True)
class Comparison:
    """One pairwise comparison: a similarity score in [0, 1] and the verdict."""

    score: float
    agreed: bool


Comparator = Callable[[Mapping[str, Any], Mapping[str, Any]], Comparison]
_YES, _NO = Comparison(1.0, True), Comparison(0.0, False)


ROUNDOFF = 1e-12  # float64 round-off between batch shapes is ~1e-16; float32 models are bit-stable per row


def _canonical(value: Any) -> bytes:
    return msgspec.json.encode(value, order="sorted")


def same(a: Any, b: Any) -> bool:
    """Equal contract values: floats up to float64 round-off (``ROUNDOFF``), everything else exactly (a bool
    is not a number; mappings regardless of key order)."""
    if isinstance(a, bool) or isinstance(b, bool):
        return isinstance(a, bool) and isinstance(b, bool) and a == b
    if isinstance(a, float) or isinstance(b, float):
        return isinstance(a, int | float) and isinstance(b, int | float) and _close(a, b, ROUNDOFF)
    if isinstance(a, Mapping) and isinstance(b, Mapping):
        return a.keys() == b.keys() and all(same(a[k], b[k]) for k in a)
    if isinstance(a, list | tuple) and isinstance(b, list | tuple):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b, strict=True))
    return a == b


def exact(primary: Mapping[str, Any], shadow: Mapping[str, Any]) -> Comparison:
    """The same contract values (key order does not matter; floats up to round-off)."""
    return _YES if same(primary, shadow) else _NO


def _close(a: Any, b: Any, tol: float) -> bool:
    """Same structure, numbers within tolerance (relative above 1, absolute below), everything else equal."""
    if isinstance(a, bool) or isinstance(b, bool):
        return a == b
    if isinstance(a, int | float) and isinstance(b, int | float):
        if math.isnan(a) or math.isnan(b):
            return math.isnan(a) and math.isnan(b)
        return abs(a - b) <= tol * max(1.0, abs(a), abs(b))
    if isinstance(a, Mapping) and isinstance(b, Mapping):
        return a.keys() == b.keys() and all(_close(a[k], b[k], tol) for k in a)
    if isinstance(a, list | tuple) and isinstance(b, list | tuple):
        return len(a) == len(b) and all(_close(x, y, tol) for x, y in zip(a, b, strict=True))
    return a == b


def numeric(tolerance: float = 1e-6, field: str | None = None) -> Comparator:
    """Every numeric leaf (of ``field``, or of the whole output) within a relative/absolute tolerance."""

    def compare(primary: Mapping[str, Any], shadow: Mapping[str, Any]) -> Comparison:
        a = primary.get(field) if field else primary
        b = shadow.get(field) if field else shadow
        return _YES if _close(a, b, tolerance) else _NO

    return compare


def label(field: str) -> Comparator:
    """The same value in one field (a class label, a decision)."""

    def compare(primary: Mapping[str, Any], shadow: Mapping[str, Any]) -> Comparison:
        return _YES if same(primary.get(field), shadow.get(field)) else _NO

    return compare


def topk(k: int, field: str, min_overlap: float = 0.8) -> Comparator:
    """Overlap of the first ``k`` items of two ranked lists: |A ∩ B| / k; agree at ``min_overlap`` or more."""

    def compare(primary: Mapping[str, Any], shadow: Mapping[str, Any]) -> Comparison:
        a, b = primary.get(field) or [], shadow.get(field) or []
        top_a, top_b = {_key(x) for x in list(a)[:k]}, {_key(x) for x in list(b)[:k]}
        denom = max(1, min(k, max(len(top_a), len(top_b))))
        score = len(top_a & top_b) / denom if (top_a or top_b) else 1.0
        return Comparison(score, score >= min_overlap)

    return compare


def _key(x: Any) -> Any:
    """A ranked item as a set member: floats rounded to 12 significant digits (round-off apart, see
    ``same``), mappings and lists canonically encoded."""
    if isinstance(x, float):
        return float(f"{x:.12g}")
    if isinstance(x, dict | list | tuple):
        return _canonical(_rounded(x))
    return x


def _rounded(x: Any) -> Any:
    if isinstance(x, float):
        return float(f"{x:.12g}")
    if isinstance(x, Mapping):
        return {str(k): _rounded(v) for k, v in x.items()}
    if isinstance(x, list | tuple):
        return [_rounded(v) for v in x]
    return x


def cosine(field: str, min_similarity: float = 0.99) -> Comparator:
    """Cosine similarity of two embedding vectors, clipped to [0, 1]; agree at ``min_similarity`` or more."""

    def compare(primary: Mapping[str, Any], shadow: Mapping[str, Any]) -> Comparison:
        a, b = primary.get(field), shadow.get(field)
        if not isinstance(a, list | tuple) or not isinstance(b, list | tuple) or len(a) != len(b) or not a:
            return _NO
        try:
            dot = sum(float(x) * float(y) for x, y in zip(a, b, strict=True))
            na = math.sqrt(sum(float(x) ** 2 for x in a))
            nb = math.sqrt(sum(float(y) ** 2 for y in b))
        except (TypeError, ValueError):
            return _NO
        if na == 0.0 or nb == 0.0:
            return _YES if na == nb else _NO
        score = max(0.0, min(1.0, dot / (na * nb)))
        return Comparison(score, score >= min_similarity)

    return compare


def parse_comparator(spec: str) -> Comparator:
    """Build a comparator from its spec string (the grammar: ``trilho.contracts.comparator_specs``)."""
    c = parse_comparator_spec(spec)
    if c.kind == "exact":
        return exact
    if c.kind == "numeric":
        return numeric(c.tolerance, c.field)
    if c.kind == "label":
        return label(c.field or "")
    if c.kind == "topk":
        return topk(c.k, c.field or "", c.threshold)
    return cosine(c.field or "", c.threshold)
