"""LLM-as-judge: one judge (a model + a rubric through a :class:`JudgeClient`), k repeats, pairwise judging in
both orders, the content-addressed cache, and panels of several judges aggregated by majority or mean with the
variance reported."""

from __future__ import annotations

import asyncio
import statistics
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from trilho.errors import EvalError
from trilho.evals.judges.cache import JudgeCache, cache_key
from trilho.evals.judges.client import JudgeClient
from trilho.evals.judges.rubric import Rubric, Verdict, combine_pairwise, length_baseline


@dataclass(frozen=True)
class JudgeResult:
    """A judge's aggregated verdict on one item (over k repeats, and both orders for pairwise)."""

    judge: str
    value: float | str
    verdicts: tuple[Verdict, ...]
    variance: float = 0.0
    consistent: bool | None = None  # pairwise: did both orders agree?
    cached_calls: int = 0
    baseline: float | None = None  # pairwise: the length-only baseline's value for A

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {
            "judge": self.judge,
            "value": self.value,
            "variance": self.variance,
            "consistent": self.consistent,
            "cached_calls": self.cached_calls,
            "length_baseline": self.baseline,
            "verdicts": [v.to_dict() for v in self.verdicts],
        }


def aggregate(values: Sequence[float | str]) -> tuple[float | str, float]:
    """Mean and variance of numbers, or majority label and disagreement rate (1 − share of the mode)."""
    if not values:
        raise EvalError("nothing to aggregate")
    if all(isinstance(v, int | float) for v in values):
        nums = [float(v) for v in values]  # type: ignore[arg-type]
        return statistics.fmean(nums), statistics.pvariance(nums) if len(nums) > 1 else 0.0
    counts = Counter(values)
    top = max(counts.values())
    winner = sorted(k for k, c in counts.items() if c == top)[0]  # deterministic tie-break
    return winner, 1.0 - top / len(values)


@dataclass
class Judge:
    """One judge model with one rubric; ``await judge.judge(item)`` returns a :class:`JudgeResult`."""

    client: JudgeClient
    rubric: Rubric
    model: str
    name: str = ""
    params: Mapping[str, Any] = field(default_factory=lambda: {"temperature": 0})
    repeats: int = 1
    cache: JudgeCache | None = None

    def __post_init__(self) -> None:
        self.name = self.name or f"{self.model}:{self.rubric.name}"
        if self.repeats < 1:
            raise EvalError("repeats must be ≥ 1", field="repeats", value=self.repeats)

    async def _call(self, item: Mapping[str, Any], *, swap: bool, repeat: int) -> tuple[Verdict, bool]:
        key = cache_key(
            model=self.model,
            template_hash=self.rubric.template_hash,
            rubric_version=self.rubric.version,
            params=self.params,
            item=item,
            swap=swap,
            repeat=repeat,
        )
        if self.cache is not None:
            hit = await asyncio.to_thread(self.cache.get, key)
            if hit is not None:
                self.client.usage.cache_hits += 1
                return self.rubric.parse(hit["content"]), True
        params = dict(self.params)
        if repeat and "seed" in params:
            params["seed"] = int(params["seed"]) + repeat
        out = await self.client.complete(
            self.model,
            self.rubric.messages(item, swap=swap),
            params=params,
            response_format=self.rubric.response_format(),
        )
        verdict = self.rubric.parse(out.content)  # raises before anything is cached
        if self.cache is not None:
            await asyncio.to_thread(
                self.cache.put,
                key,
                model=self.model,
                template_hash=self.rubric.template_hash,
                rubric_version=self.rubric.version,
                content=out.content or "",
                prompt_tokens=out.prompt_tokens,
                completion_tokens=out.completion_tokens,
            )
        return verdict, False

    async def judge(self, item: Mapping[str, Any]) -> JudgeResult:
        """Judge one item (``input``, ``output``, and ``reference`` or ``output_b`` as the rubric needs)."""
        if self.rubric.kind == "pairwise" and "output_b" not in item:
            raise EvalError("a pairwise judge needs 'output_b' in each item", field="output_b")
        if self.rubric.kind == "reference" and "reference" not in item:
            raise EvalError("a reference-based judge needs 'reference' in each item", field="reference")
        verdicts: list[Verdict] = []
        values: list[float | str] = []
        cached = 0
        consistent: bool | None = None
        for r in range(self.repeats):
            if self.rubric.kind == "pairwise":
                (v1, c1), (v2, c2) = await asyncio.gather(
                    self._call(item, swap=False, repeat=r), self._call(item, swap=True, repeat=r)
                )
                value, ok = combine_pairwise(v1, v2)
                consistent = ok if consistent is None else (consistent and ok)
                verdicts += [v1, v2]
                values.append(value)
                cached += c1 + c2
            else:
                v, c = await self._call(item, swap=False, repeat=r)
                verdicts.append(v)
                values.append(v.value)
                cached += c
        value, variance = aggregate(values)
        baseline = (
            length_baseline(str(item["output"]), str(item["output_b"]))
            if self.rubric.kind == "pairwise"
            else None
        )
        return JudgeResult(self.name, value, tuple(verdicts), variance, consistent, cached, baseline)

    async def judge_many(self, items: Sequence[Mapping[str, Any]]) -> list[JudgeResult]:
        """Judge many items concurrently (bounded by the client's concurrency limit)."""
        return list(await asyncio.gather(*(self.judge(it) for it in items)))


@dataclass(frozen=True)
class PanelResult:
    """Several judges' verdicts on one item, aggregated."""

    value: float | str
    variance: float
    results: tuple[JudgeResult, ...]

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {"value": self.value, "variance": self.variance, "judges": [r.to_dict() for r in self.results]}


@dataclass
class JudgePanel:
    """Several judges on the same rubric kind, aggregated by mean (numbers) or majority (labels)."""

    judges: list[Judge]

    def __post_init__(self) -> None:
        if not self.judges:
            raise EvalError("a judge panel needs at least one judge", field="judges")
        kinds = {j.rubric.kind for j in self.judges}
        if len(kinds) > 1:
            raise EvalError(
                f"a panel's judges must share one rubric kind, got {sorted(kinds)}", field="judges"
            )

    async def judge(self, item: Mapping[str, Any]) -> PanelResult:
        """All judges on one item, aggregated with the between-judge variance."""
        results = await asyncio.gather(*(j.judge(item) for j in self.judges))
        value, variance = aggregate([r.value for r in results])
        return PanelResult(value, variance, tuple(results))
