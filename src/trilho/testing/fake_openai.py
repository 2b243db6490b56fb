"""A loopback OpenAI-compatible upstream: deterministic generation with real SSE streaming.

``POST /v1/chat/completions`` (and the legacy ``/v1/completions``, prompt as the one user message) answers
every request with the same text for the same (model, messages): a scripted reply when the last user message
contains one of ``script``'s triggers, else ``You said: <last user message>`` padded with words drawn from a
hash of the prompt up to ``tokens`` words. A token is a word with its leading space. ``stream: true`` sends
one SSE chunk per token: the first after ``ttft_s``, each next one after ``token_delay_s`` (then a
``finish_reason`` chunk, a ``usage`` chunk when ``stream_options.include_usage``, and ``data: [DONE]``).
``max_tokens`` cuts the reply with ``finish_reason: length``; ``n`` (non-streaming) repeats the choice.
``GET /v1/models`` lists the served models (any model name is served when none are given). ``POST
/v1/embeddings`` gives each input a deterministic unit vector (floats, or base64 float32 with
``encoding_format: base64`` as the ``openai`` client asks). With ``tools``, a last user message ``call
<text>`` is answered by a call of the first tool with ``{"text": "<text>"}`` (streamed as ``tool_calls``
deltas).

For tests: ``POST /admin/faults`` with ``{"responses": [429, 500]}`` makes the next requests fail with those
statuses; ``GET /admin/stats`` reports hits, streams started / finished / cancelled (the client went away)
and the last request bodies, so a test can see what the upstream was really sent.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
import struct
from collections import deque
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from trilho.net import openai_wire as wire

_VOCAB = (
    "the", "rail", "carries", "every", "answer", "through", "checks", "and", "canary", "weighs",
    "each", "version", "against", "its", "stable", "twin", "before", "traffic", "moves", "on",
)  # fmt: skip


@dataclass
class FakeOpenAIState:
    """What the fake upstream serves and what it saw."""

    models: list[str] = field(default_factory=list)
    ttft_s: float = 0.0
    token_delay_s: float = 0.0
    tokens: int = 0
    script: dict[str, str] = field(default_factory=dict)
    hits: int = 0
    streams_started: int = 0
    streams_finished: int = 0
    streams_cancelled: int = 0
    faults: deque[int] = field(default_factory=deque)
    requests: deque[dict[str, Any]] = field(default_factory=lambda: deque(maxlen=32))

    def stats(self) -> dict[str, Any]:
        """Counters and the last request bodies."""
        return {
            "hits": self.hits,
            "streams_started": self.streams_started,
            "streams_finished": self.streams_finished,
            "streams_cancelled": self.streams_cancelled,
            "queued_faults": len(self.faults),
            "requests": list(self.requests),
        }


def reply_tokens(state: FakeOpenAIState, model: str, messages: list[dict[str, Any]]) -> list[str]:
    """The deterministic reply for (model, messages) as tokens (words with their leading space)."""
    users = [wire.message_text(m) for m in messages if m.get("role") == "user"]
    last = users[-1] if users else ""
    scripted = next((reply for trigger, reply in state.script.items() if trigger in last), None)
    words = (scripted if scripted is not None else f"You said: {last}").split()
    if scripted is None and len(words) < state.tokens:
        seed = hashlib.sha256(repr((model, messages)).encode()).digest()
        words += [_VOCAB[seed[i % len(seed)] % len(_VOCAB)] for i in range(state.tokens - len(words))]
    return [w if i == 0 else " " + w for i, w in enumerate(words)]


def embed(text: str, dim: int = 8) -> list[float]:
    """A deterministic unit vector for ``text`` (from its SHA-256): equal texts, equal vectors."""
    digest = hashlib.sha256(text.encode()).digest()
    raw = [(b - 127.5) / 127.5 for b in digest[:dim]]
    norm = sum(x * x for x in raw) ** 0.5 or 1.0
    return [x / norm for x in raw]


def _error(status: int, message: str, kind: str) -> JSONResponse:
    return JSONResponse(wire.error_body(message, kind, status), status_code=status)


def make_fake_openai_app(
    models: list[str] | None = None,
    *,
    ttft_s: float = 0.0,
    token_delay_s: float = 0.0,
    tokens: int = 0,
    script: dict[str, str] | None = None,
) -> Starlette:
    """The ASGI app; its state is ``app.state.fake`` (a :class:`FakeOpenAIState`, settable between
    requests)."""
    state = FakeOpenAIState(list(models or []), ttft_s, token_delay_s, tokens, dict(script or {}))

    async def chat(request: Request) -> Response:
        state.hits += 1
        if state.faults:
            fault = state.faults.popleft()
            return _error(fault, "injected fault", "rate_limit_exceeded" if fault == 429 else "server_error")
        try:
            body = await request.json()
        except ValueError:
            return _error(400, "the body is not JSON", "invalid_request_error")
        if not isinstance(body, dict):
            return _error(400, "the body must be a JSON object", "invalid_request_error")
        state.requests.append(body)
        model, messages = body.get("model"), body.get("messages")
        if not isinstance(model, str) or (state.models and model not in state.models):
            return _error(404, f"model {model!r} is not served here; try {state.models}", "model_not_found")
        if not isinstance(messages, list) or not messages or not all(isinstance(m, dict) for m in messages):
            return _error(400, "'messages' must be a non-empty list of objects", "invalid_request_error")
        tool = _tool_call(body, messages)
        if tool is not None:
            return _answer_tool_call(model, tool, bool(body.get("stream")))
        tokens = reply_tokens(state, model, messages)
        finish = "stop"
        limit = body.get("max_tokens") or body.get("max_completion_tokens")
        if isinstance(limit, int) and 0 < limit < len(tokens):
            tokens, finish = tokens[:limit], "length"
        n_prompt = wire.prompt_tokens(messages)
        if not body.get("stream"):
            await asyncio.sleep(state.ttft_s + state.token_delay_s * max(len(tokens) - 1, 0))
            answer = wire.completion(model, "".join(tokens), n_prompt, len(tokens), finish_reason=finish)
            n = body.get("n") if isinstance(body.get("n"), int) and 1 < body["n"] <= 8 else 1
            one = answer["choices"][0]  # ``n`` identical choices (deterministic generation)
            answer["choices"] = [{**one, "index": i, "message": dict(one["message"])} for i in range(n)]
            return JSONResponse(answer)
        include_usage = bool((body.get("stream_options") or {}).get("include_usage"))
        return StreamingResponse(
            _stream(state, model, tokens, finish, n_prompt, include_usage),
            media_type="text/event-stream",
            headers={"Cache-Control": "no-cache"},
        )

    async def _body(request: Request) -> dict[str, Any] | Response:
        state.hits += 1
        if state.faults:
            fault = state.faults.popleft()
            return _error(fault, "injected fault", "rate_limit_exceeded" if fault == 429 else "server_error")
        try:
            body = await request.json()
        except ValueError:
            return _error(400, "the body is not JSON", "invalid_request_error")
        if not isinstance(body, dict):
            return _error(400, "the body must be a JSON object", "invalid_request_error")
        state.requests.append(body)
        model = body.get("model")
        if not isinstance(model, str) or (state.models and model not in state.models):
            return _error(404, f"model {model!r} is not served here; try {state.models}", "model_not_found")
        return body

    async def completions(request: Request) -> Response:
        body = await _body(request)
        if isinstance(body, Response):
            return body
        prompt = body.get("prompt")
        if not isinstance(prompt, str):
            return _error(400, "'prompt' must be a string here", "invalid_request_error")
        messages = [{"role": "user", "content": prompt}]
        tokens = reply_tokens(state, body["model"], messages)
        n_prompt, cid = wire.prompt_tokens(messages), wire.completion_id()
        if not body.get("stream"):
            await asyncio.sleep(state.ttft_s + state.token_delay_s * max(len(tokens) - 1, 0))
            usage = wire.usage(n_prompt, len(tokens))
            return JSONResponse(
                wire.text_completion(cid, body["model"], "".join(tokens), finish_reason="stop", usage_=usage)
            )
        include_usage = bool((body.get("stream_options") or {}).get("include_usage"))

        async def events() -> AsyncIterator[bytes]:
            for i, token in enumerate(tokens):
                await asyncio.sleep(state.ttft_s if i == 0 else state.token_delay_s)
                yield wire.sse(wire.text_completion(cid, body["model"], token))
            yield wire.sse(wire.text_completion(cid, body["model"], "", finish_reason="stop"))
            if include_usage:
                yield wire.sse(
                    wire.text_completion(cid, body["model"], None, usage_=wire.usage(n_prompt, len(tokens)))
                )
            yield wire.SSE_DONE

        return StreamingResponse(events(), media_type="text/event-stream")

    async def embeddings(request: Request) -> Response:
        body = await _body(request)
        if isinstance(body, Response):
            return body
        texts = body.get("input")
        texts = [texts] if isinstance(texts, str) else texts
        if not isinstance(texts, list) or not texts or not all(isinstance(t, str) for t in texts):
            return _error(400, "'input' must be a string or a list of strings", "invalid_request_error")
        vectors = [embed(t) for t in texts]
        if body.get("encoding_format") == "base64":
            out: list[Any] = [base64.b64encode(struct.pack(f"<{len(v)}f", *v)).decode() for v in vectors]
        else:
            out = vectors
        n = sum(len(t.split()) for t in texts)
        return JSONResponse(wire.embeddings(body["model"], out, n))

    async def list_models(request: Request) -> JSONResponse:
        return JSONResponse(wire.models_list(state.models, owned_by="trilho-fake"))

    async def faults(request: Request) -> JSONResponse:
        body = await request.json()
        state.faults.extend(int(s) for s in body.get("responses", []))
        return JSONResponse({"queued": len(state.faults)})

    async def stats(request: Request) -> JSONResponse:
        return JSONResponse(state.stats())

    app = Starlette(
        routes=[
            Route("/v1/chat/completions", chat, methods=["POST"]),
            Route("/v1/completions", completions, methods=["POST"]),
            Route("/v1/embeddings", embeddings, methods=["POST"]),
            Route("/v1/models", list_models, methods=["GET"]),
            Route("/admin/faults", faults, methods=["POST"]),
            Route("/admin/stats", stats, methods=["GET"]),
        ]
    )
    app.state.fake = state
    return app


def _tool_call(body: dict[str, Any], messages: list[dict[str, Any]]) -> dict[str, str] | None:
    """With ``tools`` and a last user message ``call <text>``: a call of the first tool, ``{"text": ...}``."""
    tools = body.get("tools")
    last = wire.message_text(messages[-1]) if messages[-1].get("role") == "user" else ""
    if not isinstance(tools, list) or not tools or not last.startswith("call "):
        return None
    name = str(((tools[0] or {}).get("function") or {}).get("name", "tool"))
    return {"id": "call_trilho_1", "name": name, "arguments": json.dumps({"text": last[5:]})}


def _answer_tool_call(model: str, tool: dict[str, str], stream: bool) -> Response:
    call = {
        "id": tool["id"],
        "type": "function",
        "function": {"name": tool["name"], "arguments": tool["arguments"]},
    }
    if not stream:
        answer = wire.completion(model, "", 1, 1, finish_reason="tool_calls")
        answer["choices"][0]["message"] = {"role": "assistant", "content": None, "tool_calls": [call]}
        return JSONResponse(answer)
    cid = wire.completion_id()
    args = tool["arguments"]
    first = {"index": 0, **call, "function": {"name": tool["name"], "arguments": ""}}
    deltas = [{"role": "assistant", "tool_calls": [first]}] + [
        {"tool_calls": [{"index": 0, "function": {"arguments": args[i : i + 4]}}]}
        for i in range(0, len(args), 4)
    ]
    events = [
        wire.sse({**wire.chunk(cid, model), "choices": [{"index": 0, "delta": d, "finish_reason": None}]})
        for d in deltas
    ]
    events += [wire.sse(wire.chunk(cid, model, finish_reason="tool_calls")), wire.SSE_DONE]
    return Response(b"".join(events), media_type="text/event-stream")


async def _stream(
    state: FakeOpenAIState, model: str, tokens: list[str], finish: str, n_prompt: int, include_usage: bool
) -> AsyncIterator[bytes]:
    state.streams_started += 1
    done = False
    cid = wire.completion_id()
    try:
        for i, token in enumerate(tokens):
            await asyncio.sleep(state.ttft_s if i == 0 else state.token_delay_s)
            yield wire.sse(wire.chunk(cid, model, content=token, role="assistant" if i == 0 else None))
        yield wire.sse(wire.chunk(cid, model, finish_reason=finish))
        if include_usage:
            yield wire.sse(wire.chunk(cid, model, usage_=wire.usage(n_prompt, len(tokens))))
        yield wire.SSE_DONE
        done = True
    finally:
        if done:
            state.streams_finished += 1
        else:  # the client went away: Starlette cancelled this generator
            state.streams_cancelled += 1


def main(argv: list[str] | None = None) -> None:
    """``python -m trilho.testing.fake_openai --port 8000 --ttft-ms 20 --tokens 30 --token-ms 5``."""
    import argparse

    from trilho.net import HttpLimits
    from trilho.net.server import run

    p = argparse.ArgumentParser(description="A deterministic OpenAI-compatible upstream on loopback.")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=8000)
    p.add_argument(
        "--model", action="append", default=[], help="a served model name (repeatable; default: any)"
    )
    p.add_argument("--ttft-ms", type=float, default=0.0)
    p.add_argument("--token-ms", type=float, default=0.0)
    p.add_argument("--tokens", type=int, default=0, help="pad each reply to this many tokens")
    a = p.parse_args(argv)
    app = make_fake_openai_app(
        a.model, ttft_s=a.ttft_ms / 1000, token_delay_s=a.token_ms / 1000, tokens=a.tokens
    )
    run(app, host=a.host, port=a.port, limits=HttpLimits())


if __name__ == "__main__":
    main()
