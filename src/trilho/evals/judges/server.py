"""trilho's offline judge behind an OpenAI-compatible ``/v1/chat/completions`` endpoint.

Each served model is an :class:`~trilho.evals.judges.offline.OfflineClassifier`. The server reads the
rubric kind from ``response_format.json_schema.name`` (or the ``Rubric (kind):`` line of the prompt),
pulls the ``<question>`` / ``<response>`` (or ``<response_a>`` / ``<response_b>``) blocks out of the user
message, scores them and answers with a JSON verdict in the assistant message, with token usage — so the
whole judge path (HTTP client, retries, cache, strict parsing) runs against a real server.

For tests, ``POST /admin/faults`` with ``{"responses": [429, 500, "garbage"]}`` makes the next requests fail
with those statuses (or return an unparseable verdict); ``GET /admin/stats`` reports the hits.
"""

from __future__ import annotations

import asyncio
import json
import re
from collections import deque
from typing import Any

import numpy as np
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from trilho.evals.judges.embed import Embedder
from trilho.evals.judges.offline import OfflineClassifier, features
from trilho.net import openai_wire as wire

_TAG = {
    name: re.compile(rf"<{name}>\n?(.*?)\n?</{name}>", re.DOTALL)
    for name in ("question", "response", "response_a", "response_b", "reference")
}
_KIND_LINE = re.compile(r"Rubric \((\w+)\):")
_SCALE = re.compile(r"<integer (\d+)-(\d+)>")
_LABELS = re.compile(r"one of (\[.*?\])")


def _error(status: int, message: str, kind: str) -> JSONResponse:
    return JSONResponse(wire.error_body(message, kind, status), status_code=status)


def _tag(text: str, name: str) -> str:
    m = _TAG[name].search(text)
    return m.group(1) if m else ""


class JudgeServerState:
    """Served models, hit counters and the fault queue."""

    def __init__(self, models: dict[str, OfflineClassifier], embedder: Embedder) -> None:
        self.models, self.embedder = models, embedder
        self.hits = 0
        self.completions = 0
        self.faults: deque[int | str] = deque()


def _verdict(
    clf: OfflineClassifier, emb: Embedder, kind: str, prompt: str, schema: dict[str, Any] | None
) -> dict:
    q = _tag(prompt, "question")
    if kind == "pairwise":
        a, b = _tag(prompt, "response_a"), _tag(prompt, "response_b")
        e = emb.encode([q, a, b])
        p = clf.p_good(clf.proba_from_features(features(np.vstack([e[0], e[0]]), e[1:])))
        diff = float(p[0] - p[1])
        winner = "tie" if abs(diff) < 0.05 else ("A" if diff > 0 else "B")
        return {"reason": f"p_good(A)={p[0]:.3f}, p_good(B)={p[1]:.3f}", "winner": winner}
    r = _tag(prompt, "response")
    e = emb.encode([q, r])
    proba = clf.proba_from_features(features(e[:1], e[1:]))[0]
    p_good = float(proba[clf.labels.index(clf.good)])
    if kind == "label":
        allowed = None
        if schema:
            allowed = schema.get("properties", {}).get("label", {}).get("enum")
        if allowed is None:
            m = _LABELS.search(prompt)
            allowed = json.loads(m.group(1)) if m else clf.labels
        order = np.argsort(-proba)
        label = next((clf.labels[i] for i in order if clf.labels[i] in allowed), allowed[0])
        return {"reason": f"p={float(proba.max()):.3f}", "label": label}
    if kind == "scale":
        lo, hi = 1, 5
        if schema:
            s = schema.get("properties", {}).get("score", {})
            lo, hi = int(s.get("minimum", 1)), int(s.get("maximum", 5))
        else:
            m = _SCALE.search(prompt)
            if m:
                lo, hi = int(m.group(1)), int(m.group(2))
        return {"reason": f"p_good={p_good:.3f}", "score": int(round(lo + (hi - lo) * p_good))}
    return {"reason": f"p_good={p_good:.3f}", "verdict": "pass" if p_good >= 0.5 else "fail"}


def make_judge_app(models: dict[str, OfflineClassifier], embedder: Embedder) -> Starlette:
    """The ASGI app serving ``models`` (name → classifier)."""
    state = JudgeServerState(models, embedder)

    async def chat(request: Request) -> JSONResponse:
        state.hits += 1
        if state.faults:
            fault = state.faults.popleft()
            if isinstance(fault, int):
                return _error(
                    fault, "injected fault", "rate_limit_exceeded" if fault == 429 else "server_error"
                )
            garbage = {"garbage": "I think it's fine!", "empty": "", "wrong_key": '{"rating": 3}'}[fault]
            return JSONResponse(wire.completion("judge", garbage, 1, 1))
        try:
            body = await request.json()
        except ValueError:
            return _error(400, "the body is not JSON", "invalid_request_error")
        model = body.get("model")
        messages = body.get("messages")
        if model not in state.models:
            return _error(
                404,
                f"model {model!r} is not served here; try one of {sorted(state.models)}",
                "model_not_found",
            )
        if not isinstance(messages, list) or not messages:
            return _error(400, "'messages' must be a non-empty list", "invalid_request_error")
        prompt = str(messages[-1].get("content", ""))
        rf = body.get("response_format") or {}
        schema = (rf.get("json_schema") or {}).get("schema") if rf.get("type") == "json_schema" else None
        name = (rf.get("json_schema") or {}).get("name", "")
        m = _KIND_LINE.search(prompt)
        kind = (
            name.removesuffix("_verdict") if name.endswith("_verdict") else (m.group(1) if m else "pass_fail")
        )
        verdict = await asyncio.to_thread(_verdict, state.models[model], state.embedder, kind, prompt, schema)
        content = json.dumps(verdict)
        state.completions += 1
        n_prompt = sum(len(str(mm.get("content", "")).split()) for mm in messages)
        return JSONResponse(wire.completion(model, content, n_prompt, len(content.split())))

    async def list_models(request: Request) -> JSONResponse:
        return JSONResponse(wire.models_list(list(state.models)))

    async def faults(request: Request) -> JSONResponse:
        body = await request.json()
        state.faults.extend(body.get("responses", []))
        return JSONResponse({"queued": len(state.faults)})

    async def stats(request: Request) -> JSONResponse:
        return JSONResponse(
            {"hits": state.hits, "completions": state.completions, "queued_faults": len(state.faults)}
        )

    app = Starlette(
        routes=[
            Route("/v1/chat/completions", chat, methods=["POST"]),
            Route("/v1/models", list_models, methods=["GET"]),
            Route("/admin/faults", faults, methods=["POST"]),
            Route("/admin/stats", stats, methods=["GET"]),
        ]
    )
    app.state.judge = state
    return app
