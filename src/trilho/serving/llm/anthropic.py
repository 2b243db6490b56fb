"""``POST /anthropic/v1/messages``: the Anthropic Messages shape as a second protocol over the same ``llm``
versions, routes, keys (``x-api-key`` or ``Authorization``), fallbacks, accounting and rails as
:mod:`trilho.serving.llm.proxy`.

The request becomes a chat completion for the version's (OpenAI-compatible) upstream: ``system`` first, text
content blocks joined, ``max_tokens``, ``temperature``, ``top_p``, ``stop_sequences`` (as ``stop``) and
``metadata.user_id`` (the sticky unit) carried over; other block types (images, tools) are refused with a
400 rather than dropped. The answer comes back as a ``message`` with one text block, ``stop_reason``
``end_turn`` / ``max_tokens`` / ``stop_sequence`` and ``usage`` in input/output tokens. Streams use
Anthropic's events (``message_start``, ``content_block_start``, ``content_block_delta`` with ``text_delta``,
``content_block_stop``, ``message_delta``, ``message_stop``; ``error`` if the upstream breaks). Rails as for
chat: a blocked input is answered with the policy's fallback and ``stop_reason: refusal`` without calling the
upstream; output goes through :class:`~trilho.evals.stream_rails.StreamRail` and a blocked stream ends
cleanly with ``stop_reason: refusal`` (Anthropic's own streaming refusal) — never with the blocked text.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any

import httpx
import msgspec
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse

from trilho.errors import TrilhoError
from trilho.evals.checks import CheckContext
from trilho.evals.policy import Action, Policy
from trilho.evals.stream_rails import RailStep, check_text
from trilho.registry.llm import upstream_body
from trilho.serving.llm import metrics as m
from trilho.serving.llm.upstream import UpstreamError

if TYPE_CHECKING:
    from trilho.serving.llm.proxy import LlmRoutes

PATH = "/anthropic/v1/messages"
STOP_REASONS = {
    "stop": "end_turn",
    "length": "max_tokens",
    "content_filter": "refusal",
    "tool_calls": "tool_use",
}
_encode = msgspec.json.Encoder().encode


# --- the wire shape (pure) --------------------------------------------------------------------------------
def error(status: int, kind: str, message: str) -> JSONResponse:
    """An Anthropic error response (``{"type": "error", "error": {...}}``)."""
    return JSONResponse({"type": "error", "error": {"type": kind, "message": message}}, status_code=status)


def event(kind: str, data: dict[str, Any]) -> bytes:
    """One Anthropic SSE event: ``event: <kind>`` and its JSON ``data`` (which repeats the ``type``)."""
    return b"event: " + kind.encode() + b"\ndata: " + _encode({"type": kind, **data}) + b"\n\n"


def message(
    msg_id: str, model: str, text: str, stop_reason: str | None, usage: dict[str, int]
) -> dict[str, Any]:
    """A ``message`` body with one text block."""
    return {
        "id": msg_id,
        "type": "message",
        "role": "assistant",
        "model": model,
        "content": [{"type": "text", "text": text}] if text or stop_reason else [],
        "stop_reason": stop_reason,
        "stop_sequence": None,
        "usage": usage,
    }


def _text(content: Any, where: str) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list) and all(isinstance(b, dict) for b in content):
        if any(b.get("type") != "text" or not isinstance(b.get("text"), str) for b in content):
            raise ValueError(f"{where}: only text content blocks are served here")
        return "".join(b["text"] for b in content)
    raise ValueError(f"{where} must be a string or a list of text blocks")


def to_chat(body: dict[str, Any]) -> dict[str, Any]:
    """The chat-completions request for an Anthropic Messages request; ``ValueError`` names what is wrong."""
    if not isinstance(body.get("model"), str):
        raise ValueError("'model' must name a trilho model")
    if (
        isinstance(body.get("max_tokens"), bool)
        or not isinstance(body.get("max_tokens"), int)
        or body["max_tokens"] < 1
    ):
        raise ValueError("'max_tokens' must be a positive integer")
    msgs = body.get("messages")
    if not isinstance(msgs, list) or not msgs or not all(isinstance(x, dict) for x in msgs):
        raise ValueError("'messages' must be a non-empty list of objects")
    out: list[dict[str, Any]] = []
    if body.get("system") is not None:
        out.append({"role": "system", "content": _text(body["system"], "system")})
    for i, msg in enumerate(msgs):
        if msg.get("role") not in ("user", "assistant"):
            raise ValueError(f"messages[{i}].role must be user or assistant")
        out.append({"role": msg["role"], "content": _text(msg.get("content"), f"messages[{i}].content")})
    chat: dict[str, Any] = {"model": body["model"], "messages": out, "max_tokens": body["max_tokens"]}
    for key in ("temperature", "top_p"):
        if key in body:
            chat[key] = body[key]
    if body.get("stop_sequences"):
        chat["stop"] = body["stop_sequences"]
    user = (body.get("metadata") or {}).get("user_id")
    if isinstance(user, str):
        chat["user"] = user
    return chat


def _usage(usage: Any) -> dict[str, int]:
    usage = usage if isinstance(usage, dict) else {}
    return {
        "input_tokens": int(usage.get("prompt_tokens") or 0),
        "output_tokens": int(usage.get("completion_tokens") or 0),
    }


# --- the route ---------------------------------------------------------------------------------------------
async def messages(routes: LlmRoutes, request: Request) -> Response:
    """``POST /anthropic/v1/messages`` (``stream`` true or false)."""
    start = time.perf_counter()
    try:
        body = await request.json()
        if not isinstance(body, dict):
            raise ValueError("the body must be a JSON object")
        chat = to_chat(body)
    except ValueError as exc:
        return error(400, "invalid_request_error", str(exc) or "the body is not JSON")
    begun = routes.begin(request, chat)
    if isinstance(begun, Response):
        return begun
    routed, request_id, headers = begun
    stream = bool(body.get("stream"))
    msg_id = f"msg_trilho_{uuid.uuid4().hex[:20]}"
    policy = await routes.policy_for(routed.model)
    users = [i for i, x in enumerate(chat["messages"]) if x["role"] == "user"]
    verdict, record = check_text(policy, chat["messages"][users[-1]]["content"] if users else "", "input")
    routes.decided(routed, request_id, record)
    if verdict.blocked:
        m.REQUESTS.labels(*routed.labels, "input_blocked", str(stream).lower()).inc()
        routes.finished(routed, 200)
        return _canned(msg_id, routed.model, verdict.text, stream, headers)
    if verdict.action is Action.REDACT and users:
        chat["messages"][users[-1]] = {"role": "user", "content": verdict.text}
    upstream = upstream_body(routed.spec, chat)
    ctx = CheckContext(input=verdict.text if users else None)
    if stream:
        upstream["stream_options"] = {"include_usage": True}
        opened = routes.upstream.stream(routed.spec, upstream, routed)
        try:
            chunks = await opened.__aenter__()
        except UpstreamError as exc:
            return _failed(routes, routed, exc, True)
        except TrilhoError as exc:
            return error(500, "api_error", exc.message)
        return StreamingResponse(
            _stream(routes, routed, opened, chunks, policy, ctx, request_id, start, msg_id),
            media_type="text/event-stream",
            headers={**headers, "Cache-Control": "no-cache"},
        )
    try:
        answer, _ = await routes.upstream.complete(routed.spec, upstream, routed)
    except UpstreamError as exc:
        return _failed(routes, routed, exc, False)
    except TrilhoError as exc:
        return error(500, "api_error", exc.message)
    choice = (answer.get("choices") or [{}])[0]
    text = (choice.get("message") or {}).get("content") or ""
    stop = STOP_REASONS.get(choice.get("finish_reason") or "stop", "end_turn")
    out, record = check_text(policy, text, "output", ctx)
    routes.decided(routed, request_id, record)
    if out.action in (Action.BLOCK, Action.REDACT):
        text = out.text
    if out.blocked:
        stop = "refusal"
    routes.account(routed, answer.get("usage"))
    m.TTFT.labels(*routed.labels).observe(time.perf_counter() - start)
    m.REQUESTS.labels(*routed.labels, "ok", "false").inc()
    routes.finished(routed, 200)
    routes.judge_sample(routed, request_id, verdict.text, text)
    return JSONResponse(
        message(msg_id, routed.model, text, stop, _usage(answer.get("usage"))), headers=headers
    )


def _failed(routes: LlmRoutes, routed: Any, exc: UpstreamError, stream: bool) -> Response:
    routes.upstream_failed(routed, exc, stream)  # counted as for chat
    kind = {429: "rate_limit_error", 529: "overloaded_error"}.get(exc.status, "api_error")
    resp = error(exc.status, kind, exc.message)
    if exc.retry_after:
        resp.headers["Retry-After"] = exc.retry_after
    return resp


def _canned(msg_id: str, model: str, text: str, stream: bool, headers: dict[str, str]) -> Response:
    """The policy's fallback answer (an input rail blocked the request; the upstream was not called)."""
    usage = {"input_tokens": 0, "output_tokens": 0}
    if not stream:
        return JSONResponse(message(msg_id, model, text, "refusal", usage), headers=headers)
    events = _opening(msg_id, model) + _delta(text) + _closing("refusal", 0)
    return Response(events, media_type="text/event-stream", headers=headers)


def _opening(msg_id: str, model: str) -> bytes:
    start = message(msg_id, model, "", None, {"input_tokens": 0, "output_tokens": 0})
    return (
        event("message_start", {"message": start})
        + event("content_block_start", {"index": 0, "content_block": {"type": "text", "text": ""}})
        + event("ping", {})
    )


def _delta(text: str) -> bytes:
    return event("content_block_delta", {"index": 0, "delta": {"type": "text_delta", "text": text}})


def _closing(stop_reason: str, output_tokens: int) -> bytes:
    return (
        event("content_block_stop", {"index": 0})
        + event(
            "message_delta",
            {
                "delta": {"stop_reason": stop_reason, "stop_sequence": None},
                "usage": {"output_tokens": output_tokens},
            },
        )
        + event("message_stop", {})
    )


async def _stream(
    routes: LlmRoutes,
    routed: Any,
    opened: Any,
    chunks: AsyncIterator[dict[str, Any]],
    policy: Policy,
    ctx: CheckContext,
    request_id: str,
    start: float,
    msg_id: str,
) -> AsyncIterator[bytes]:
    rail = routes.rail(policy, routes.holdback, ctx)
    ttft: float | None = None
    first, outcome, output_tokens = True, "cancelled", 0

    def emit(step: RailStep) -> tuple[bytes, bool]:
        nonlocal first, ttft
        out = b""
        if step.release:
            if first:
                ttft = time.perf_counter() - start
                m.TTFT.labels(*routed.labels).observe(ttft)
                first = False
            out = _delta(step.release)
        if step.blocked is None:
            return out, False
        return out + _closing("refusal", output_tokens), True

    try:
        yield _opening(msg_id, routed.model)
        finish = "stop"
        async for chunk in chunks:
            if chunk.get("usage"):
                routes.account(routed, chunk["usage"])
                output_tokens = _usage(chunk["usage"])["output_tokens"]
                continue
            choice = (chunk.get("choices") or [{}])[0]
            piece = (choice.get("delta") or {}).get("content")
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
        yield _closing(STOP_REASONS.get(finish, "end_turn"), output_tokens)
        outcome = "ok"
        routes.judge_sample(routed, request_id, ctx.input or "", getattr(rail, "sent", ""))
    except httpx.HTTPError as exc:  # the upstream broke off mid-stream
        outcome = "upstream_broken"
        yield event(
            "error", {"error": {"type": "api_error", "message": f"the upstream stream broke: {exc!r}"}}
        )
    finally:
        await opened.__aexit__(None, None, None)
        routes.decided(routed, request_id, rail.record)
        m.REQUESTS.labels(*routed.labels, outcome, "true").inc()
        routes.finished(routed, 502 if outcome == "upstream_broken" else 200, ttft)
