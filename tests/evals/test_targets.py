"""Suite targets over real sockets: a trilho-served model (v1 predict shape), a plain HTTP endpoint and an
OpenAI-compatible chat endpoint (the offline judge server answers chat completions too)."""

from __future__ import annotations

import asyncio

import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from trilho.errors import EvalError
from trilho.evals._serve import serve_in_thread
from trilho.evals.demo import answer
from trilho.evals.targets import Target


async def predict(request: Request) -> JSONResponse:
    body = await request.json()
    return JSONResponse({"predictions": [{"answer": answer(i["question"])} for i in body["instances"]]})


async def plain(request: Request) -> JSONResponse:
    body = await request.json()
    if body["q"] == "boom":
        return JSONResponse({"error": "boom"}, status_code=500)
    return JSONResponse({"text": body["q"].upper()})


APP = Starlette(
    routes=[
        Route("/v1/models/copilot:predict", predict, methods=["POST"]),
        Route("/echo", plain, methods=["POST"]),
    ]
)


def call(spec, row):
    async def go():
        t = Target(spec)
        try:
            return await t(row)
        finally:
            await t.aclose()

    return asyncio.run(go())


def test_trilho_and_http_targets():
    with serve_in_thread(APP) as url:
        out = call(
            {
                "type": "trilho",
                "url": f"{url}/v1/models/copilot:predict",
                "input_field": "question",
                "output_field": "answer",
            },
            {"input": "How do I reset my password?"},
        )
        assert out.startswith("Open Settings")
        assert (
            call(
                {"type": "http", "url": f"{url}/echo", "input_field": "q", "output_field": "text"},
                {"input": "hi"},
            )
            == "HI"
        )
        with pytest.raises(EvalError, match="failed"):
            call({"type": "http", "url": f"{url}/echo", "input_field": "q"}, {"input": "boom"})
        with pytest.raises(EvalError, match="no 'output' field"):
            call({"type": "http", "url": f"{url}/echo", "input_field": "q"}, {"input": "x"})


def test_openai_target_against_a_chat_server(judge_server):
    url, _ = judge_server
    out = call(
        {"type": "openai", "base_url": f"{url}/v1", "model": "trilho-refusal-minilm"},
        {"input": "<question>\nq\n</question>\n<response>\nI'm sorry, I can't.\n</response>"},
    )
    assert '"verdict"' in out  # the offline judge answers any chat completion with a JSON verdict
    with pytest.raises(EvalError, match="needs 'model'"):
        Target({"type": "openai", "base_url": url})
