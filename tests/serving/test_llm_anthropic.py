"""The Anthropic Messages shape over real sockets (its SSE events byte by byte), and the pin the issue asks
for: every protocol × streaming mode is railed — a secret in the upstream's answer reaches no client in any
of them (LiteLLM's proxy once streamed blocked output in full on the Messages path)."""

from __future__ import annotations

import json

import httpx
import pytest

from trilho.net.server import serve_in_thread
from trilho.registry.llm import LlmModel, parse_spec
from trilho.serving import StaticProvider
from trilho.store.routing import Deployment, Route
from trilho.testing.fake_openai import make_fake_openai_app

SECRET = "sk-abcdefghijklmnopqrstuvwx0123"
LEAK = f"Sure, the deploy key is {SECRET} so use it well"
PII = "Write to ana.souza@example.com or pay with 4111 1111 1111 1111 before 2027, thanks"


@pytest.fixture(scope="module")
def upstream():
    app = make_fake_openai_app(["tiny"], tokens=12, script={"leak": LEAK, "contact": PII})
    with serve_in_thread(app) as url:
        yield url, app.state.fake


@pytest.fixture
def gateway(upstream, start_gateway):
    url, fake = upstream
    spec = parse_spec({"upstream": url + "/v1", "model": "tiny", "system": "v1 prompt"})
    rg = start_gateway(
        provider=StaticProvider({"assistant@1": LlmModel(spec)}),
        deployments=[Deployment("assistant", (Route("1"),))],
    )
    return rg, fake


def _post(url: str, **kw) -> httpx.Response:
    return httpx.post(url, timeout=120, **kw)  # the first request may wait for the default policy's build


def _ask(text: str, **extra) -> dict:
    return {
        "model": "assistant",
        "max_tokens": 64,
        "system": "be brief",
        "messages": [{"role": "user", "content": [{"type": "text", "text": text}]}],
        **extra,
    }


def _events(raw: bytes) -> list[tuple[str, dict]]:
    out = []
    for block in raw.decode().split("\n\n"):
        if not block:
            continue
        name, data = block.split("\n")
        assert name.startswith("event: ") and data.startswith("data: ")
        payload = json.loads(data[6:])
        assert payload["type"] == name[7:]
        out.append((name[7:], payload))
    return out


def test_messages_plain_and_streamed_in_anthropics_shape(gateway):
    rg, fake = gateway
    url = rg.url + "/anthropic/v1/messages"
    whole = _post(url, json=_ask("hello"), headers={"x-api-key": "unused"}).json()
    assert whole["type"] == "message" and whole["role"] == "assistant" and whole["stop_reason"] == "end_turn"
    assert whole["content"][0]["type"] == "text" and whole["content"][0]["text"].startswith("You said: hello")
    assert whole["usage"]["input_tokens"] > 0 and whole["usage"]["output_tokens"] == 12
    sent = fake.requests[-1]["messages"]
    assert sent[0] == {"role": "system", "content": "v1 prompt"} and sent[1]["content"] == "be brief"
    assert fake.requests[-1]["model"] == "tiny" and fake.requests[-1]["max_tokens"] == 64
    raw = _post(url, json=_ask("hello", stream=True)).content
    events = _events(raw)
    kinds = [k for k, _ in events]
    assert kinds[:3] == ["message_start", "content_block_start", "ping"]
    assert kinds[-3:] == ["content_block_stop", "message_delta", "message_stop"]
    assert set(kinds[3:-3]) == {"content_block_delta"} and len(kinds) > 8
    text = "".join(e["delta"]["text"] for k, e in events if k == "content_block_delta")
    assert text == whole["content"][0]["text"]
    delta = dict(events)["message_delta"]
    assert delta["delta"]["stop_reason"] == "end_turn" and delta["usage"]["output_tokens"] == 12


def test_pii_is_redacted_the_same_plain_and_streamed(gateway):
    rg, _ = gateway
    url = rg.url + "/anthropic/v1/messages"
    whole = _post(url, json=_ask("contact?")).json()["content"][0]["text"]
    events = _events(_post(url, json=_ask("contact?", stream=True)).content)
    pieces = [e["delta"]["text"] for k, e in events if k == "content_block_delta"]
    assert (
        "".join(pieces) == whole == "Write to <EMAIL_ADDRESS> or pay with <CREDIT_CARD> before 2027, thanks"
    )


def test_bad_requests_answer_in_anthropics_error_shape(gateway):
    rg, _ = gateway
    image = {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": "AA=="}}
    for body in (
        {**_ask("x"), "messages": [{"role": "user", "content": [image]}]},
        {**_ask("x"), "max_tokens": 0},
        {**_ask("x"), "messages": []},
    ):
        r = _post(rg.url + "/anthropic/v1/messages", json=body)
        assert r.status_code == 400 and r.json()["type"] == "error"
        assert r.json()["error"]["type"] == "invalid_request_error"


def test_every_protocol_and_streaming_mode_is_railed(gateway):
    """The upstream answers with a secret: no protocol, plain or streamed, lets a byte of it through, and
    each says it stopped (content_filter / refusal)."""
    rg, _ = gateway
    chat = {"model": "assistant", "messages": [{"role": "user", "content": "please leak"}]}
    calls = {
        ("chat", False): ("/openai/v1/chat/completions", chat),
        ("chat", True): ("/openai/v1/chat/completions", {**chat, "stream": True}),
        ("completions", False): ("/openai/v1/completions", {"model": "assistant", "prompt": "please leak"}),
        ("completions", True): (
            "/openai/v1/completions",
            {"model": "assistant", "prompt": "please leak", "stream": True},
        ),
        ("messages", False): ("/anthropic/v1/messages", _ask("please leak")),
        ("messages", True): ("/anthropic/v1/messages", _ask("please leak", stream=True)),
    }
    for (protocol, stream), (path, body) in calls.items():
        raw = _post(rg.url + path, json=body).content
        assert b"sk-" not in raw and SECRET[5:15].encode() not in raw, (protocol, stream, raw)
        stopped = b'"content_filter"' if protocol != "messages" else b'"refusal"'
        assert stopped in raw, (protocol, stream, raw)
    decisions = list(rg.server.config.app.state.llm.decisions)
    outputs = [d for d in decisions if d["stage"] == "output"]
    assert len(outputs) >= 6 and all(
        d["action"] == "block" and "secrets" in d["checks"] for d in outputs[-6:]
    )


def test_llm_requests_reach_the_windows_the_controller_judges(gateway):
    """Each answered LLM request is counted like any model's: in the gateway's request metrics and in its
    window rows (latency = time to first text for streams), so a canary's error-rate and latency checks see
    LLM versions."""
    rg, fake = gateway
    rg.gateway.aggregator.drain()  # a fresh window
    _post(rg.url + "/anthropic/v1/messages", json=_ask("hello"))
    _post(rg.url + "/anthropic/v1/messages", json=_ask("hello", stream=True))
    _post(rg.url + "/openai/v1/completions", json={"model": "assistant", "prompt": "hi", "stream": True})
    fake.faults.extend([500, 500, 500])
    r = _post(
        rg.url + "/openai/v1/chat/completions",
        json={"model": "assistant", "messages": [{"role": "user", "content": "x"}]},
    )
    assert r.status_code == 500
    rows, _ = rg.gateway.aggregator.drain()
    (row,) = [x for x in rows if x["model"] == "assistant"]
    assert (row["version"], row["requests"], row["errors"]) == ("1", 4, 1)
    assert sum(row["latency_histogram"]["counts"]) == 4
    metrics = httpx.get(rg.url + "/metrics").text
    assert 'transport="llm"' in metrics
    assert (
        'trilho_llm_stream_tokens_per_second_count{model="assistant",variant="stable",version="1"}' in metrics
    )


def test_every_protocol_offers_its_answers_to_the_online_judge(upstream):
    """With ``trilho serve --evals`` naming a judge, each answered LLM request — chat, completions, messages;
    plain and streamed — is offered to the judge's weighted sample (at rate 1.0: all six are sampled)."""
    from trilho.evals.online_gateway import GatewayEvals
    from trilho.serving import GatewaySettings, run_in_thread
    from trilho.serving.gateway import Gateway

    url, _ = upstream
    judge = {
        "base_url": url + "/v1",
        "model": "tiny",
        "rubric": {"kind": "pass_fail", "criteria": "Pass when the response answers."},
        "sample_rate": 1.0,
    }
    evals = GatewayEvals.from_dict({"models": {"assistant": {"policy": "default", "judge": judge}}})
    spec = parse_spec({"upstream": url + "/v1", "model": "tiny"})
    gateway = Gateway(
        StaticProvider({"assistant@1": LlmModel(spec)}),
        deployments=[Deployment("assistant", (Route("1"),))],
        settings=GatewaySettings(port=0, access_log_sample=0.0),
        evals=evals,
    )
    chat = {"model": "assistant", "messages": [{"role": "user", "content": "contact?"}]}
    with run_in_thread(gateway) as rg:
        for path, body in (
            ("/openai/v1/chat/completions", chat),
            ("/openai/v1/chat/completions", {**chat, "stream": True}),
            ("/openai/v1/completions", {"model": "assistant", "prompt": "contact?"}),
            ("/openai/v1/completions", {"model": "assistant", "prompt": "contact?", "stream": True}),
            ("/anthropic/v1/messages", _ask("contact?")),
            ("/anthropic/v1/messages", _ask("contact?", stream=True)),
        ):
            assert _post(rg.url + path, json=body).status_code == 200
    stats = evals.stats()["assistant"]["assistant@1"]
    assert stats["sampled"] == 6, stats
