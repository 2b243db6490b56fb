"""The OpenAI wire shape (chat completions, legacy completions, embeddings), shared by every trilho server
that speaks it (the offline judge's server, the loopback upstream in :mod:`trilho.testing.fake_openai`, the
gateway's LLM routes): completion and chunk bodies, the error body, the model list and Server-Sent-Events
framing (``data: …\\n\\n``, ending with ``data: [DONE]\\n\\n``). Pure functions over dicts and bytes; nothing
here does I/O."""

from __future__ import annotations

import time
from typing import Any

import msgspec

_encode = msgspec.json.Encoder().encode

SSE_DONE = b"data: [DONE]\n\n"


def completion_id() -> str:
    """A fresh ``chatcmpl-…`` id."""
    return f"chatcmpl-trilho-{time.time_ns()}"


def usage(prompt_tokens: int, completion_tokens: int) -> dict[str, int]:
    """The ``usage`` object."""
    return {
        "prompt_tokens": prompt_tokens,
        "completion_tokens": completion_tokens,
        "total_tokens": prompt_tokens + completion_tokens,
    }


def completion(
    model: str,
    content: str,
    prompt_tokens: int,
    completion_tokens: int,
    *,
    finish_reason: str = "stop",
    id: str | None = None,
) -> dict[str, Any]:
    """A non-streaming ``chat.completion`` body with one assistant choice."""
    return {
        "id": id or completion_id(),
        "object": "chat.completion",
        "created": int(time.time()),
        "model": model,
        "choices": [
            {"index": 0, "finish_reason": finish_reason, "message": {"role": "assistant", "content": content}}
        ],
        "usage": usage(prompt_tokens, completion_tokens),
    }


def chunk(
    id: str,
    model: str,
    *,
    content: str | None = None,
    role: str | None = None,
    finish_reason: str | None = None,
    usage_: dict[str, int] | None = None,
) -> dict[str, Any]:
    """One ``chat.completion.chunk``: a delta (role and/or content), a finish reason, or (with ``usage_``
    and no delta) the final usage chunk whose ``choices`` is empty."""
    body: dict[str, Any] = {"id": id, "object": "chat.completion.chunk", "created": int(time.time())}
    body["model"] = model
    if usage_ is not None and content is None and role is None and finish_reason is None:
        body["choices"] = []
        body["usage"] = usage_
        return body
    delta: dict[str, Any] = {}
    if role is not None:
        delta["role"] = role
    if content is not None:
        delta["content"] = content
    body["choices"] = [{"index": 0, "delta": delta, "finish_reason": finish_reason}]
    return body


def text_completion(
    id: str,
    model: str,
    text: str | None,
    *,
    finish_reason: str | None = None,
    usage_: dict[str, int] | None = None,
) -> dict[str, Any]:
    """A legacy ``text_completion`` body (or, streamed, one chunk: ``text`` then a ``finish_reason``; with
    ``usage_`` and no text the final usage chunk whose ``choices`` is empty)."""
    body: dict[str, Any] = {
        "id": id,
        "object": "text_completion",
        "created": int(time.time()),
        "model": model,
    }
    if usage_ is not None and text is None and finish_reason is None:
        return {**body, "choices": [], "usage": usage_}
    body["choices"] = [{"index": 0, "text": text or "", "finish_reason": finish_reason, "logprobs": None}]
    if usage_ is not None:
        body["usage"] = usage_
    return body


def embeddings(model: str, vectors: list[Any], prompt_tokens: int) -> dict[str, Any]:
    """The ``/v1/embeddings`` body (``vectors``: float lists, or base64 strings when asked for)."""
    return {
        "object": "list",
        "data": [{"object": "embedding", "index": i, "embedding": v} for i, v in enumerate(vectors)],
        "model": model,
        "usage": {"prompt_tokens": prompt_tokens, "total_tokens": prompt_tokens},
    }


def error_body(message: str, kind: str, code: int | str | None = None) -> dict[str, Any]:
    """The ``{"error": {...}}`` body OpenAI clients read (``type`` e.g. ``invalid_request_error``)."""
    return {"error": {"message": message, "type": kind, "code": code}}


def models_list(ids: list[str], owned_by: str = "trilho") -> dict[str, Any]:
    """The ``GET /v1/models`` body."""
    return {"object": "list", "data": [{"id": i, "object": "model", "owned_by": owned_by} for i in ids]}


def sse(data: Any) -> bytes:
    """One Server-Sent Event carrying ``data`` as JSON: ``data: {...}\\n\\n``."""
    return b"data: " + _encode(data) + b"\n\n"


def count_tokens(text: str) -> int:
    """trilho's stand-in token count (whitespace words) where no upstream reported one."""
    return len(text.split())


def prompt_tokens(messages: list[dict[str, Any]]) -> int:
    """Stand-in prompt token count over every message's text content."""
    return sum(count_tokens(message_text(m)) for m in messages)


def message_text(message: dict[str, Any]) -> str:
    """The text of a message: a string ``content``, or the ``text`` parts of a list of content parts."""
    content = message.get("content")
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(str(p.get("text", "")) for p in content if isinstance(p, dict))
    return ""
