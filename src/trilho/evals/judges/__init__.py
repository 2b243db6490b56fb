"""LLM-as-judge: rubrics and strict verdicts, the OpenAI-compatible client, the store cache, judges and
panels, and the offline embedding+classifier judge with its OpenAI-compatible server."""

from trilho.evals.judges.cache import JudgeCache, cache_key
from trilho.evals.judges.client import JudgeClient, JudgeUnavailable, JudgeUsage
from trilho.evals.judges.judge import Judge, JudgePanel, JudgeResult, PanelResult, aggregate
from trilho.evals.judges.rubric import Rubric, Verdict, VerdictError, combine_pairwise, length_baseline

__all__ = [
    "Judge",
    "JudgeCache",
    "JudgeClient",
    "JudgePanel",
    "JudgeResult",
    "JudgeUnavailable",
    "JudgeUsage",
    "PanelResult",
    "Rubric",
    "Verdict",
    "VerdictError",
    "aggregate",
    "cache_key",
    "combine_pairwise",
    "length_baseline",
]
