"""One shadow step, wherever it runs (the shadow child process or a shadow thread): call the shadow version on
a batch of mirrored requests and compare its outputs with the primary's, request by request, reducing them to
tallies per (primary version, comparator). Only the tallies travel back to the gateway's event loop, so live
requests share neither the shadow model's time nor the comparisons' with it.

Both sides of every comparison are first put in the shadow version's output-contract form (coerced to the
contract's types, as the live path does to the primary's answers): comparators compare contract values, so a
float64 field compares as float64 whatever numpy or int type the model returned.

Pure logic apart from the model call it is given; property-tested in tests/serving/test_shadow_compare.py."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from trilho.errors import SchemaViolation
from trilho.serving.comparators import Comparator

Normalise = Callable[[dict[str, Any]], dict[str, Any]]


@dataclass(frozen=True, slots=True)
class ShadowBatch:
    """Mirrored requests for one shadow version, in order: ``jobs`` holds (primary version, record count)
    per request; ``records`` and ``primary`` are the requests' records and primary outputs, concatenated."""

    model: str
    version: str
    comparators: tuple[str, ...]
    jobs: tuple[tuple[str, int], ...]
    records: list[dict[str, Any]]
    primary: list[dict[str, Any]]
    max_batch_size: int = 32


@dataclass(frozen=True, slots=True)
class Tally:
    """Comparisons of one comparator for the requests one primary version answered."""

    primary_version: str
    comparator: str
    compared: int
    agreed: int
    score_sum: float


@dataclass(frozen=True, slots=True)
class ShadowOutcome:
    """What a shadow step reports: the tallies, or the error that stopped it, and the model's time."""

    seconds: float
    tallies: tuple[Tally, ...] = ()
    error: str | None = None


def tally(
    comparators: Sequence[tuple[str, Comparator]],
    jobs: Sequence[tuple[str, int]],
    primary: Sequence[dict[str, Any]],
    shadow: Sequence[dict[str, Any]],
) -> tuple[Tally, ...]:
    """Pair outputs by position (``jobs`` says which primary version answered each slice) and sum the
    comparisons per (primary version, comparator), in first-seen order."""
    if len(primary) != len(shadow) or len(primary) != sum(n for _, n in jobs):
        raise ValueError(
            f"{len(shadow)} shadow outputs for {len(primary)} primary outputs of {len(jobs)} requests"
        )
    out: list[Tally] = []
    for spec, compare in comparators:
        sums: dict[str, list] = {}
        offset = 0
        for primary_version, n in jobs:
            s = sums.setdefault(primary_version, [0, 0, 0.0])
            for p, q in zip(primary[offset : offset + n], shadow[offset : offset + n], strict=True):
                c = compare(p, q)
                s[1] += c.agreed
                s[2] += c.score
            s[0] += n
            offset += n
        out += [Tally(v, spec, n, int(a), float(sc)) for v, (n, a, sc) in sums.items()]
    return tuple(out)


def in_contract_form(normalise: Normalise | None, outputs: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """``outputs`` coerced by ``normalise`` (a version's output validator); an output it rejects stays as it
    is (a primary answer in its own contract's form when the two versions' contracts differ)."""
    if normalise is None:
        return list(outputs)
    out = []
    for o in outputs:
        try:
            out.append(normalise(o))
        except SchemaViolation:
            out.append(o)
    return out


def run_shadow_batch(
    predict: Callable[[list[dict[str, Any]]], Any],
    comparators: Sequence[tuple[str, Comparator]],
    batch: ShadowBatch,
    normalise: Normalise | None = None,
) -> ShadowOutcome:
    """Call ``predict`` on the batch's records in chunks of ``max_batch_size`` and tally the comparisons of
    both sides in ``normalise``'s form (the shadow version's output contract); a failing model call, a wrong
    number of outputs or a shadow output its contract rejects becomes the outcome's error (never an
    exception), as each would be an error of a live request."""
    start = time.perf_counter()
    size = max(1, batch.max_batch_size)
    try:
        outputs: list[dict[str, Any]] = []
        for i in range(0, len(batch.records), size):
            outputs += list(predict(batch.records[i : i + size]))
        seconds = time.perf_counter() - start
        if len(outputs) != len(batch.primary):
            return ShadowOutcome(
                seconds, error=f"shadow returned {len(outputs)} outputs for {len(batch.primary)} records"
            )
        if normalise is not None:
            outputs = [normalise(o) for o in outputs]
        primary = in_contract_form(normalise, batch.primary)
        return ShadowOutcome(seconds, tally(comparators, batch.jobs, primary, outputs))
    except Exception as exc:  # the shadow model's failure is data for the control plane, not a crash
        return ShadowOutcome(time.perf_counter() - start, error=f"{type(exc).__name__}: {exc}")
