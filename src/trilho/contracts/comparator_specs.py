"""The grammar of shadow comparator specs — the strings a deployment names in ``comparators`` and a rollout
plan in ``analysis.shadow_agreement.comparator``:

``exact`` · ``numeric[:TOL[:FIELD]]`` · ``label:FIELD`` · ``topk:K:FIELD[:MIN_OVERLAP]`` ·
``cosine:FIELD[:MIN_SIMILARITY]``

One parser, pure and free of serving: the gateway builds the comparator from the parsed spec
(``trilho.serving.comparators``), the deployment file and the plan loader reject a spec it does not parse
before anything is written, naming the field, the value and the allowed forms."""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Literal

from trilho.errors import InputError

FORMS = (
    "exact",
    "numeric[:TOL[:FIELD]]",
    "label:FIELD",
    "topk:K:FIELD[:MIN_OVERLAP]",
    "cosine:FIELD[:MIN_SIMILARITY]",
)
ALLOWED = ", ".join(FORMS)
_NUM, _NAME = r"[-+0-9.eE]+", r"[^:]+"
PATTERN = (  # the forms as one regular expression, for JSON Schemas (editors); the parser also checks ranges
    rf"^(exact|numeric(:{_NUM}(:{_NAME})?)?|label:{_NAME}|topk:[0-9]+:{_NAME}(:{_NUM})?|cosine:{_NAME}(:{_NUM})?)$"
)
_FORM = re.compile(PATTERN)
Kind = Literal["exact", "numeric", "label", "topk", "cosine"]


@dataclass(frozen=True)
class ComparatorSpec:
    """A parsed spec: its kind and arguments (``threshold``: topk's overlap or cosine's similarity)."""

    kind: Kind
    field: str | None = None
    tolerance: float = 1e-6
    k: int = 0
    threshold: float = 0.0


def parse_comparator_spec(spec: object, *, field: str = "comparators") -> ComparatorSpec:
    """The spec ``spec`` names; an :class:`~trilho.errors.InputError` naming ``field``, the value and the
    allowed forms when it names none (tolerances ≥ 0, K ≥ 1, thresholds in [0, 1], fields not empty)."""
    parsed = _parse(spec) if isinstance(spec, str) else None
    if parsed is None:
        raise InputError(
            f"{field}: {spec!r} is not a comparator (allowed: {ALLOWED})",
            fix=f"use one of {ALLOWED}; e.g. numeric:0.01:score or label:churn",
            field=field,
            value=spec,
            allowed=list(FORMS),
        )
    return parsed


def _parse(spec: str) -> ComparatorSpec | None:
    if _FORM.fullmatch(spec) is None:  # the syntax: the parser accepts no more than the schema's pattern
        return None
    kind, *args = spec.split(":")
    try:
        if kind == "exact" and not args:
            return ComparatorSpec("exact")
        if kind == "numeric" and len(args) <= 2:
            tol, field = float(args[0]) if args else 1e-6, args[1] if len(args) > 1 else None
            return (
                ComparatorSpec("numeric", field, tolerance=tol) if math.isfinite(tol) and tol >= 0 else None
            )
        if kind == "label" and len(args) == 1:
            return ComparatorSpec("label", args[0])
        if kind == "topk" and len(args) in (2, 3):
            k, least = int(args[0]), float(args[2]) if len(args) == 3 else 0.8
            ok = k >= 1 and 0 <= least <= 1
            return ComparatorSpec("topk", args[1], k=k, threshold=least) if ok else None
        if kind == "cosine" and len(args) in (1, 2):
            least = float(args[1]) if len(args) == 2 else 0.99
            return ComparatorSpec("cosine", args[0], threshold=least) if 0 <= least <= 1 else None
    except ValueError:
        return None
    return None


__all__ = ["ALLOWED", "FORMS", "PATTERN", "ComparatorSpec", "parse_comparator_spec"]
