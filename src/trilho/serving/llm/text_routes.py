"""``POST /openai/v1/completions`` and ``POST /openai/v1/embeddings``: the legacy completions and the
embeddings shapes over the same ``llm`` versions, routes, keys, fallbacks and accounting as chat completions
(:mod:`trilho.serving.llm.proxy`).

Rails where they mean something: a completion's prompt goes through the input rails (blocked: the policy's
fallback with ``finish_reason: content_filter``, the upstream is not called; redacted: the upstream gets the
redacted prompt) and its text through the output rails, whole or streamed through
:class:`~trilho.evals.stream_rails.StreamRail` (a blocked stream ends with a ``content_filter`` chunk, an SSE
error event and ``data: [DONE]``). An embedding's inputs go through the input rails (blocked: 400
``content_filter`` naming the input; redacted: the redacted text is embedded); vectors have no output rail.
Prompts must be text (token-id prompts cannot be railed and are refused). The version's system prompt and
template belong to chat and are not applied here; its parameters are (completions only).
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any

import httpx
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse

from trilho.errors import TrilhoError
from trilho.evals.checks import CheckContext
from trilho.evals.policy import Action, Policy
from trilho.evals.stream_rails import RailStep, check_text
from trilho.net import openai_wire as wire
from trilho.serving.llm import metrics as m
from trilho.serving.llm.upstream import UpstreamError

if TYPE_CHECKING:
    from trilho.serving.llm.proxy import LlmRoutes


def _bad(message: str) -> JSONResponse:
    return JSONResponse(wire.error_body(message, "invalid_request_error", 400), status_code=400)


async def _json(request: Request) -> dict[str, Any] | Response:
    try:
        body = await request.json()
    except ValueError:
        return _bad("the body is not JSON")
    return body if isinstance(body, dict) else _bad("the body must be a JSON object")


def _texts(value: Any, name: str) -> list[str] | Response:
    if isinstance(value, str):
        return [value]
    if isinstance(value, list) and value and all(isinstance(v, str) for v in value):
        return list(value)
    return _bad(f"'{name}' must be a string or a non-empty list of strings (token ids cannot be railed)")


async def completions(routes: LlmRoutes, request: Request) -> Response:
    """``POST /openai/v1/completions`` (one text prompt; ``stream`` true or false)."""
    start = time.perf_counter()
    body = await _json(request)
    if isinstance(body, Response):
        return body
    prompts = _texts(body.get("prompt"), "prompt")
    if isinstance(prompts, Response):
        return prompts
    if len(prompts) != 1 or body.get("n") not in (None, 1):
        return _bad("one prompt and n = 1 per request here")
    begun = routes.begin(request, body)
    if isinstance(begun, Response):
        return begun
    routed, request_id, headers = begun
    stream = bool(body.get("stream"))
    policy = await routes.policy_for(routed.model)
    verdict, record = check_text(policy, prompts[0], "input")
    routes.decided(routed, request_id, record)
    cid = wire.completion_id().replace("chatcmpl", "cmpl")
    if verdict.blocked:
        m.REQUESTS.labels(*routed.labels, "input_blocked", str(stream).lower()).inc()
        routes.finished(routed, 200)
        canned = wire.text_completion(cid, routed.model, verdict.text, finish_reason="content_filter")
        if not stream:
            return JSONResponse({**canned, "usage": wire.usage(0, 0)}, headers=headers)
        events = wire.sse(canned) + wire.SSE_DONE
        return Response(events, media_type="text/event-stream", headers=headers)
    upstream = {**routed.spec.params, **body, "prompt": verdict.text}
    ctx = CheckContext(input=verdict.text)
    if stream:
        wants_usage = bool((body.get("stream_options") or {}).get("include_usage"))
        upstream["stream_options"] = {"include_usage": True}
        opened = routes.upstream.stream(routed.spec, upstream, routed, path="/completions")
        try:
            chunks = await opened.__aenter__()
        except UpstreamError as exc:
            return routes.upstream_failed(routed, exc, True)
        except TrilhoError as exc:
            return JSONResponse(wire.error_body(exc.message, "server_error", 500), status_code=500)
        return StreamingResponse(
            _stream(routes, routed, opened, chunks, policy, ctx, request_id, start, cid, wants_usage),
            media_type="text/event-stream",
            headers={**headers, "Cache-Control": "no-cache"},
        )
    try:
        answer, _ = await routes.upstream.complete(routed.spec, upstream, routed, path="/completions")
    except UpstreamError as exc:
        return routes.upstream_failed(routed, exc, False)
    except TrilhoError as exc:
        return JSONResponse(wire.error_body(exc.message, "server_error", 500), status_code=500)
    for choice in answer.get("choices") or []:
        text = choice.get("text") if isinstance(choice, dict) else None
        if isinstance(text, str):
            out, record = check_text(policy, text, "output", ctx)
            routes.decided(routed, request_id, record)
            if out.action in (Action.BLOCK, Action.REDACT):
                choice["text"] = out.text
            if out.blocked:
                choice["finish_reason"] = "content_filter"
    routes.account(routed, answer.get("usage"))
    m.TTFT.labels(*routed.labels).observe(time.perf_counter() - start)
    m.REQUESTS.labels(*routed.labels, "ok", "false").inc()
    routes.finished(routed, 200)
    text = ((answer.get("choices") or [{}])[0] or {}).get("text")
    if isinstance(text, str):
        routes.judge_sample(routed, request_id, verdict.text, text)
    return JSONResponse({**answer, "model": routed.model}, headers=headers)


async def _stream(
    routes: LlmRoutes,
    routed: Any,
    opened: Any,
    chunks: AsyncIterator[dict[str, Any]],
    policy: Policy,
    ctx: CheckContext,
    request_id: str,
    start: float,
    cid: str,
    wants_usage: bool,
) -> AsyncIterator[bytes]:
    rail = routes.rail(policy, routes.holdback, ctx)
    ttft: float | None = None
    model, first, outcome, usage_event = routed.model, True, "cancelled", b""

    def emit(step: RailStep) -> tuple[bytes, bool]:
        nonlocal first, ttft
        out = b""
        if step.release:
            if first:
                ttft = time.perf_counter() - start
                m.TTFT.labels(*routed.labels).observe(ttft)
                first = False
            out = wire.sse(wire.text_completion(cid, model, step.release))
        if step.blocked is None:
            return out, False
        message = f"the answer was stopped by the output rails ({', '.join(rail.record.violations)})"
        out += wire.sse(wire.text_completion(cid, model, "", finish_reason="content_filter"))
        out += wire.sse(wire.error_body(message, "content_filter", "output_blocked")) + wire.SSE_DONE
        return out, True

    try:
        finish = "stop"
        async for chunk in chunks:
            if chunk.get("usage") and not chunk.get("choices"):
                routes.account(routed, chunk["usage"])
                usage_event = wire.sse({**chunk, "id": cid, "model": model}) if wants_usage else b""
                continue
            choice = (chunk.get("choices") or [{}])[0]
            piece = choice.get("text")
            if isinstance(piece, str) and piece:
                out, stop = emit(rail.feed(piece))
                if out:
                    yield out
                if stop:
                    outcome = "output_blocked"
                    return
            if choice.get("finish_reason"):
                finish = choice["finish_reason"]
        out, stop = emit(rail.finish())
        yield out
        if stop:
            outcome = "output_blocked"
            return
        yield (
            wire.sse(wire.text_completion(cid, model, "", finish_reason=finish)) + usage_event + wire.SSE_DONE
        )
        outcome = "ok"
        routes.judge_sample(routed, request_id, ctx.input or "", getattr(rail, "sent", ""))
    except httpx.HTTPError as exc:  # the upstream broke off mid-stream
        outcome = "upstream_broken"
        yield wire.sse(wire.error_body(f"the upstream stream broke: {exc!r}", "upstream_error", 502))
        yield wire.SSE_DONE
    finally:
        await opened.__aexit__(None, None, None)
        routes.decided(routed, request_id, rail.record)
        m.REQUESTS.labels(*routed.labels, outcome, "true").inc()
        routes.finished(routed, 502 if outcome == "upstream_broken" else 200, ttft)


async def embeddings(routes: LlmRoutes, request: Request) -> Response:
    """``POST /openai/v1/embeddings`` (a text or a list of texts)."""
    body = await _json(request)
    if isinstance(body, Response):
        return body
    texts = _texts(body.get("input"), "input")
    if isinstance(texts, Response):
        return texts
    begun = routes.begin(request, body)
    if isinstance(begun, Response):
        return begun
    routed, request_id, headers = begun
    policy = await routes.policy_for(routed.model)
    sent = []
    for i, text in enumerate(texts):
        verdict, record = check_text(policy, text, "input")
        routes.decided(routed, request_id, record)
        if verdict.blocked:
            m.REQUESTS.labels(*routed.labels, "input_blocked", "false").inc()
            routes.finished(routed, 200)
            message = f"input[{i}] was blocked by the input rails ({', '.join(record.violations)})"
            return JSONResponse(
                wire.error_body(message, "invalid_request_error", "content_filter"),
                status_code=400,
                headers=headers,
            )
        sent.append(verdict.text)
    upstream = {**body, "input": sent if isinstance(body.get("input"), list) else sent[0]}
    try:
        answer, _ = await routes.upstream.complete(routed.spec, upstream, routed, path="/embeddings")
    except UpstreamError as exc:
        return routes.upstream_failed(routed, exc, False)
    except TrilhoError as exc:
        return JSONResponse(wire.error_body(exc.message, "server_error", 500), status_code=500)
    routes.account(routed, answer.get("usage"))
    m.REQUESTS.labels(*routed.labels, "ok", "false").inc()
    routes.finished(routed, 200)
    return JSONResponse({**answer, "model": routed.model}, headers=headers)
