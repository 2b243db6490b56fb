"""The edge client to OpenAI-compatible upstreams: one pooled ``httpx.AsyncClient``, the version's timeout,
retries on 429 / 5xx / connection errors with backoff under a shared retry budget (retries never add more than
``ratio`` of the calls, so a failing upstream is not hammered), fallbacks to the spec's next upstream/model
when one fails (429, 5xx, connection error, timeout) before its answer starts — a stream counts as started at
its first event, read here before anything is sent to the client, so a fallback never follows sent bytes —
and SSE parsing of streamed answers. Closing a stream closes the upstream connection (the upstream sees the
client go away). :class:`Hooks` hears of retries, fallbacks and which target answered."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx

from trilho.errors import ServingError
from trilho.registry.llm import LlmSpec

RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})
FALLBACK_STATUSES = RETRY_STATUSES  # (connection errors are 502, timeouts 504)


class Hooks:
    """What the caller hears of one call: each retry, each fallback (with the failed status) and the target
    that answered (no-ops here; the LLM routes count them)."""

    def retried(self) -> None:
        """One retry of the same target."""

    def fell_back(self, status: int) -> None:
        """The target failed with ``status``; the next one is tried."""

    def served(self, target: LlmSpec) -> None:
        """``target`` answered."""


_NO_HOOKS = Hooks()


class UpstreamError(ServingError):
    """The upstream answered with an error (or not at all); ``status`` and ``body`` are passed on."""

    def __init__(self, status: int, body: dict[str, Any], retry_after: str | None = None) -> None:
        message = str((body.get("error") or {}).get("message") or body)[:300]
        super().__init__(
            f"upstream answered {status}: {message}", fix="see the upstream's error", status=status
        )
        self.status = status
        self.body = body
        self.retry_after = retry_after


class RetryBudget:
    """A token bucket: each call deposits ``ratio`` of a retry, each retry spends one; starts (and refills up
    to) ``floor``..``cap`` so a quiet gateway may still retry a few times."""

    def __init__(self, ratio: float = 0.2, floor: float = 10.0, cap: float = 100.0) -> None:
        self.ratio, self.tokens, self.cap = ratio, floor, max(cap, floor)

    def on_call(self) -> None:
        """Count one first attempt."""
        self.tokens = min(self.cap, self.tokens + self.ratio)

    def try_spend(self) -> bool:
        """Take one retry if the budget holds one."""
        if self.tokens >= 1.0:
            self.tokens -= 1.0
            return True
        return False


class Upstream:
    """Calls upstreams for the LLM routes (one per gateway process)."""

    def __init__(
        self,
        retries: int = 2,
        budget: RetryBudget | None = None,
        backoff_s: float = 0.05,
    ) -> None:
        self.retries, self.backoff_s = retries, backoff_s
        self.budget = budget or RetryBudget()
        self._client: httpx.AsyncClient | None = None

    def client(self) -> httpx.AsyncClient:
        """The pooled client (made on first use, in the serving loop)."""
        if self._client is None:
            self._client = httpx.AsyncClient(
                limits=httpx.Limits(max_connections=1000, max_keepalive_connections=200)
            )
        return self._client

    async def aclose(self) -> None:
        """Close the pooled connections."""
        if self._client is not None:
            await self._client.aclose()
            self._client = None

    async def complete(
        self, spec: LlmSpec, body: dict[str, Any], hooks: Hooks = _NO_HOOKS, path: str = "/chat/completions"
    ) -> tuple[dict[str, Any], LlmSpec]:
        """A non-streaming call (a chat completion; ``path`` ``/completions`` or ``/embeddings`` for the
        others) and the target that answered (falling back in order); raises the last target's
        :class:`UpstreamError`."""
        targets = spec.targets()
        for i, target in enumerate(targets):
            try:
                sent = _for(target, body, stream=None if path == "/embeddings" else False)
                resp = await self._send(target, sent, hooks, path)
                try:
                    await resp.aread()
                    answer = resp.json()
                except (ValueError, httpx.HTTPError) as exc:
                    raise UpstreamError(
                        502, {"error": {"message": f"unreadable upstream answer: {exc}"}}
                    ) from exc
                finally:
                    await resp.aclose()
            except UpstreamError as exc:
                if i == len(targets) - 1 or exc.status not in FALLBACK_STATUSES:
                    raise
                hooks.fell_back(exc.status)
                continue
            hooks.served(target)
            return answer, target
        raise AssertionError("unreachable")  # pragma: no cover

    @asynccontextmanager
    async def stream(
        self, spec: LlmSpec, body: dict[str, Any], hooks: Hooks = _NO_HOOKS, path: str = "/chat/completions"
    ) -> AsyncIterator[AsyncIterator[dict[str, Any]]]:
        """A streaming chat completion: ``async with up.stream(spec, body) as chunks`` (parsed chunks). The
        first event is awaited here (within the target's timeout), so a target that fails before it — or
        sends nothing in time — is replaced by the next one before the caller sends a byte."""
        targets = spec.targets()
        for i, target in enumerate(targets):
            try:
                resp = await self._send(target, _for(target, body, stream=True), hooks, path)
                events = _events(resp)
                try:
                    first = await asyncio.wait_for(anext(events, None), target.timeout_s)
                except TimeoutError as exc:
                    await resp.aclose()
                    raise UpstreamError(504, {"error": {"message": "no first event in time"}}) from exc
                except httpx.HTTPError as exc:
                    await resp.aclose()
                    raise UpstreamError(
                        502, {"error": {"message": f"upstream stream broke: {exc!r}"}}
                    ) from exc
                except BaseException:  # cancelled (the client went away): close the upstream request too
                    await asyncio.shield(resp.aclose())
                    raise
            except UpstreamError as exc:
                if i == len(targets) - 1 or exc.status not in FALLBACK_STATUSES:
                    raise
                hooks.fell_back(exc.status)
                continue
            hooks.served(target)
            try:
                yield _chain(first, events)
            finally:
                await resp.aclose()
            return

    async def _send(
        self, spec: LlmSpec, body: dict[str, Any], hooks: Hooks, path: str = "/chat/completions"
    ) -> httpx.Response:
        client = self.client()
        key = spec.api_key()
        headers = {"Authorization": f"Bearer {key}"} if key else {}
        timeout = httpx.Timeout(spec.timeout_s, connect=min(spec.timeout_s, 5.0))
        self.budget.on_call()
        attempt = 0
        while True:
            request = client.build_request(
                "POST", spec.upstream + path, json=body, headers=headers, timeout=timeout
            )
            try:
                resp = await client.send(request, stream=True)
            except httpx.TimeoutException as exc:
                failure: UpstreamError = UpstreamError(
                    504, {"error": {"message": f"upstream timed out: {exc!r}"}}
                )
            except httpx.TransportError as exc:
                failure = UpstreamError(502, {"error": {"message": f"upstream unreachable: {exc!r}"}})
            else:
                if resp.status_code < 400:
                    return resp
                await resp.aread()
                await resp.aclose()
                try:
                    payload = resp.json()
                except ValueError:
                    payload = {"error": {"message": resp.text[:300]}}
                failure = UpstreamError(
                    resp.status_code,
                    payload if isinstance(payload, dict) else {},
                    resp.headers.get("retry-after"),
                )
                if resp.status_code not in RETRY_STATUSES:
                    raise failure
            if attempt >= self.retries or not self.budget.try_spend():
                raise failure
            attempt += 1
            hooks.retried()
            await asyncio.sleep(self.backoff_s * 2 ** (attempt - 1))


def _for(target: LlmSpec, body: dict[str, Any], stream: bool | None) -> dict[str, Any]:
    """The body for one target: its model name (the prompt and parameters are the version's)."""
    out = {**body, "model": target.model}
    if stream is not None:
        out["stream"] = stream
    return out


async def _chain(
    first: dict[str, Any] | None, rest: AsyncIterator[dict[str, Any]]
) -> AsyncIterator[dict[str, Any]]:
    if first is None:
        return
    yield first
    async for event in rest:
        yield event


async def _events(resp: httpx.Response) -> AsyncIterator[dict[str, Any]]:
    """The JSON payloads of an SSE response's ``data:`` lines, up to ``[DONE]``."""
    async for line in resp.aiter_lines():
        if not line.startswith("data:"):
            continue
        data = line[5:].strip()
        if data == "[DONE]":
            return
        try:
            yield json.loads(data)
        except ValueError:
            continue
