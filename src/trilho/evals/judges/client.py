"""The HTTP edge of LLM-as-judge: an OpenAI-compatible chat client (the ``openai`` package with a configurable
base URL — OpenAI, vLLM, llama.cpp, Ollama, or trilho's offline judge server) with retries and backoff on
429/5xx and connection errors, a concurrency limit, and token and cost accounting."""

from __future__ import annotations

import asyncio
import random
from dataclasses import asdict, dataclass
from typing import Any

from trilho.errors import EvalError
from trilho.obs import counter, get_logger

log = get_logger("trilho.evals.judge")


class JudgeUnavailable(EvalError):
    """The judge endpoint could not be reached or kept failing after all retries."""


@dataclass
class JudgeUsage:
    """Running totals for one client: calls, retries, failures, cache hits, tokens and cost."""

    calls: int = 0
    retries: int = 0
    failures: int = 0
    cache_hits: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost_usd: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return asdict(self)


@dataclass(frozen=True)
class Completion:
    """What one chat call returned: the content and its token counts."""

    content: str | None
    prompt_tokens: int
    completion_tokens: int


class JudgeClient:
    """An OpenAI-compatible chat client for judges.

    ``price_in`` / ``price_out`` are USD per million prompt / completion tokens (0 for local models).
    """

    def __init__(
        self,
        base_url: str,
        *,
        api_key: str = "not-needed",
        max_concurrency: int = 8,
        max_retries: int = 4,
        backoff_s: float = 0.5,
        max_backoff_s: float = 20.0,
        timeout_s: float = 60.0,
        price_in: float = 0.0,
        price_out: float = 0.0,
        structured_output: bool = True,
    ) -> None:
        import openai

        self.base_url = base_url
        self._client = openai.AsyncOpenAI(
            base_url=base_url, api_key=api_key, max_retries=0, timeout=timeout_s
        )
        self._sem = asyncio.Semaphore(max_concurrency)
        self.max_retries, self.backoff_s, self.max_backoff_s = max_retries, backoff_s, max_backoff_s
        self.price_in, self.price_out = price_in, price_out
        self.structured_output = structured_output
        self.usage = JudgeUsage()
        self._calls = counter(
            "trilho_evals_judge_calls_total", "Judge API calls by outcome.", ["model", "outcome"]
        )

    async def complete(
        self,
        model: str,
        messages: list[dict[str, str]],
        *,
        params: dict[str, Any] | None = None,
        response_format: dict[str, Any] | None = None,
    ) -> Completion:
        """One chat completion, retried with exponential backoff on 429, 5xx and connection errors."""
        import openai

        kwargs: dict[str, Any] = dict(params or {})
        if response_format is not None and self.structured_output:
            kwargs["response_format"] = response_format
        attempt = 0
        async with self._sem:
            while True:
                try:
                    resp = await self._client.chat.completions.create(
                        model=model, messages=messages, **kwargs
                    )
                    break
                except (openai.RateLimitError, openai.InternalServerError, openai.APIConnectionError) as exc:
                    status = getattr(exc, "status_code", None)
                    if attempt >= self.max_retries:
                        self.usage.failures += 1
                        self._calls.labels(model, "failed").inc()
                        what = f"HTTP {status}" if status else type(exc).__name__
                        raise JudgeUnavailable(
                            f"judge {model!r} at {self.base_url} failed after {attempt + 1} attempts ({what})",  # noqa: E501
                            fix="check the judge endpoint and its rate limits, or raise max_retries",
                            field="judge",
                            value=model,
                            status=status,
                        ) from exc
                    delay = self._delay(attempt, exc)
                    self.usage.retries += 1
                    self._calls.labels(model, "retried").inc()
                    log.warning(
                        "judge call retried", model=model, status=status, attempt=attempt + 1, delay=delay
                    )
                    attempt += 1
                    await asyncio.sleep(delay)
                except openai.APIStatusError as exc:  # other 4xx: our request is wrong, do not retry
                    self.usage.failures += 1
                    self._calls.labels(model, "rejected").inc()
                    raise EvalError(
                        f"judge {model!r} rejected the request: HTTP {exc.status_code} {exc.message}",
                        fix="check the judge model name, API key and parameters",
                        field="judge",
                        value=model,
                        status=exc.status_code,
                    ) from exc
        self._calls.labels(model, "ok").inc()
        u = resp.usage
        pt, ct = (u.prompt_tokens, u.completion_tokens) if u else (0, 0)
        self.usage.calls += 1
        self.usage.prompt_tokens += pt
        self.usage.completion_tokens += ct
        self.usage.cost_usd += (pt * self.price_in + ct * self.price_out) / 1e6
        content = resp.choices[0].message.content if resp.choices else None
        return Completion(content, pt, ct)

    def _delay(self, attempt: int, exc: Exception) -> float:
        response = getattr(exc, "response", None)
        retry_after = response.headers.get("retry-after") if response is not None else None
        if retry_after:
            try:
                return min(self.max_backoff_s, float(retry_after))
            except ValueError:
                pass
        base = min(self.max_backoff_s, self.backoff_s * (2**attempt))
        return base * (0.5 + random.random() / 2)

    async def aclose(self) -> None:
        """Close the HTTP connections."""
        await self._client.close()
