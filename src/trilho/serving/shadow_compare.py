"""One shadow step, wherever it runs (the shadow child process or a shadow thread): call the shadow version on
a batch of mirrored requests and compare its outputs with the primary's, request by request, reducing them to
tallies per (primary version, comparator). Only the tallies travel back to the gateway's event loop, so live
requests share neither the shadow model's time nor the comparisons' with it.

A record the shadow version fails on fails only its own pair: a chunk whose call raises (or miscounts) is
isolated before anyone's pair is lost — bisected by record, the halves that answer compared — and a record
that still fails alone, or whose output the contract rejects, counts as one candidate error of its pair
(``Tally.errors``). A chunk is the shadow version's failure as a whole (the outcome's ``error``) only when
the model is down: it fails on ``good``, a record it answered before, or, with none known, on both halves
of the chunk; and a step where no record was answered at all is the outcome's error too.

Both sides of every comparison are first put in the shadow version's output-contract form (coerced to the
contract's types, as the live path does to the primary's answers): comparators compare contract values, so a
float64 field compares as float64 whatever numpy or int type the model returned.

Latency: the outcome's ``calls`` hold (seconds, records) for each model call that answered a whole chunk at
once — the same unit as the primary's batches (``WindowAggregator.record_batch``), so the controller compares
the two arms' model time per record (docs/decisions.md "Shadow latency is model time per record"). Calls
spent isolating a failing chunk are not latency observations, as a primary batch that raised is not.

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
    errors: int = 0  # records the shadow version failed on (raised alone, or an output its contract rejects)


@dataclass(frozen=True, slots=True)
class ShadowOutcome:
    """What a shadow step reports: the tallies, or the error that stopped it, and the model's time."""

    seconds: float  # the whole step (every chunk, isolation included)
    tallies: tuple[Tally, ...] = ()
    error: str | None = None
    record_error: str | None = None  # the first record failure among the tallies' errors (for the log)
    calls: tuple[tuple[float, int], ...] = ()  # (seconds, records) of each call that answered a whole chunk


@dataclass(frozen=True, slots=True)
class Failed:
    """A record the shadow version failed on: its pair is a candidate error, not a comparison."""

    error: str


def _failed(exc: BaseException) -> Failed:
    return Failed(f"{type(exc).__name__}: {exc}")


def tally(
    comparators: Sequence[tuple[str, Comparator]],
    jobs: Sequence[tuple[str, int]],
    primary: Sequence[dict[str, Any]],
    shadow: Sequence[dict[str, Any]],
) -> tuple[Tally, ...]:
    """Pair outputs by position (``jobs`` says which primary version answered each slice) and sum the
    comparisons per (primary version, comparator), in first-seen order; a :class:`Failed` shadow output is
    one error of its (primary version, comparator), not a comparison."""
    if len(primary) != len(shadow) or len(primary) != sum(n for _, n in jobs):
        raise ValueError(
            f"{len(shadow)} shadow outputs for {len(primary)} primary outputs of {len(jobs)} requests"
        )
    out: list[Tally] = []
    for spec, compare in comparators:
        sums: dict[str, list] = {}
        offset = 0
        for primary_version, n in jobs:
            s = sums.setdefault(primary_version, [0, 0, 0.0, 0])
            for p, q in zip(primary[offset : offset + n], shadow[offset : offset + n], strict=True):
                if isinstance(q, Failed):
                    s[3] += 1
                    continue
                c = compare(p, q)
                s[0] += 1
                s[1] += c.agreed
                s[2] += c.score
            offset += n
        out += [Tally(v, spec, n, int(a), float(sc), e) for v, (n, a, sc, e) in sums.items()]
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


def _call(predict: Callable[[list[dict[str, Any]]], Any], records: list[dict[str, Any]]) -> list[Any]:
    """The model's outputs for ``records``; a wrong number of outputs raises like a failed call."""
    outputs = list(predict(records))
    if len(outputs) != len(records):
        raise ValueError(f"shadow returned {len(outputs)} outputs for {len(records)} records")
    return outputs


def isolated(
    predict: Callable[[list[dict[str, Any]]], Any],
    records: list[dict[str, Any]],
    good: dict[str, Any] | None = None,
    calls: list[tuple[float, int]] | None = None,
    timer: Callable[[], float] = time.perf_counter,
) -> list[Any]:
    """``predict``'s outputs for ``records``, one per record, a record the model fails on as :class:`Failed`
    (bisected out of a failing call). Every record is Failed with the call's error when the model is down:
    it fails on ``good`` (a record it answered before) or, with no good record known, on both halves.
    When the first call answers every record, its (seconds by ``timer``, records) is appended to ``calls``."""
    start = timer()
    try:
        outputs = _call(predict, records)
    except Exception as exc:
        first = exc
    else:
        if calls is not None:
            calls.append((timer() - start, len(records)))
        return outputs
    if len(records) == 1:
        return [_failed(first)]
    healthy: bool | None = None
    if good is not None:
        try:
            _call(predict, [good])
            healthy = True
        except Exception:
            healthy = False
    if healthy is False:
        return [_failed(first)] * len(records)
    return _bisect(predict, records, first, healthy)


def _bisect(
    predict: Callable[[list[dict[str, Any]]], Any], records: list[dict[str, Any]], exc: BaseException,
    healthy: bool | None,
) -> list[Any]:  # fmt: skip
    """Outputs of a failing group, its halves re-run (see :func:`isolated`)."""
    if len(records) == 1:
        return [_failed(exc)]
    mid = len(records) // 2
    halves = (records[:mid], records[mid:])
    answers: list[list[Any] | BaseException] = []
    for half in halves:
        try:
            answers.append(_call(predict, half))
        except Exception as error:
            answers.append(error)
    if not healthy and all(isinstance(a, BaseException) for a in answers):
        return [_failed(exc)] * len(records)  # no record of the group answers: the model's failure
    out: list[Any] = []
    for half, answer in zip(halves, answers, strict=True):
        out += _bisect(predict, half, answer, True) if isinstance(answer, BaseException) else answer
    return out


def run_shadow_batch(
    predict: Callable[[list[dict[str, Any]]], Any],
    comparators: Sequence[tuple[str, Comparator]],
    batch: ShadowBatch,
    normalise: Normalise | None = None,
    good: dict[str, Any] | None = None,
    timer: Callable[[], float] = time.perf_counter,
) -> ShadowOutcome:
    """Call ``predict`` on the batch's records in chunks of ``max_batch_size`` and tally the comparisons of
    both sides in ``normalise``'s form (the shadow version's output contract). A record the model fails on
    (isolated from its chunk, see :func:`isolated`; ``good``: a record it answered before) or whose output
    the contract rejects is one error of its pair; when no record was answered the step's failure is the
    outcome's error. Never raises: the shadow model's failure is data for the control plane. ``timer`` times
    the calls (seconds; tests pass a model-driven clock)."""
    start = timer()
    size = max(1, batch.max_batch_size)
    calls: list[tuple[float, int]] = []
    try:
        outputs: list[Any] = []
        for i in range(0, len(batch.records), size):
            outputs += isolated(predict, batch.records[i : i + size], good, calls, timer)
        seconds = timer() - start
        if normalise is not None:
            outputs = [o if isinstance(o, Failed) else _normalised(normalise, o) for o in outputs]
        failures = [o.error for o in outputs if isinstance(o, Failed)]
        if failures and len(failures) == len(outputs):
            return ShadowOutcome(seconds, error=failures[0])
        primary = in_contract_form(normalise, batch.primary)
        tallies = tally(comparators, batch.jobs, primary, outputs)
        error = failures[0] if failures else None
        return ShadowOutcome(seconds, tallies, record_error=error, calls=tuple(calls))
    except Exception as exc:  # the shadow model's failure is data for the control plane, not a crash
        return ShadowOutcome(timer() - start, error=f"{type(exc).__name__}: {exc}")


def _normalised(normalise: Normalise, output: dict[str, Any]) -> Any:
    """``output`` in contract form, or :class:`Failed` when the contract rejects it."""
    try:
        return normalise(output)
    except Exception as exc:
        return _failed(exc)
