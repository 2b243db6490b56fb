"""The loopback OpenAI-compatible upstream, driven by the official ``openai`` client over a real socket."""

from __future__ import annotations

import time

import httpx
import openai
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from trilho.net.server import serve_in_thread
from trilho.testing.fake_openai import FakeOpenAIState, make_fake_openai_app, reply_tokens


@pytest.fixture
def fake():
    app = make_fake_openai_app(["tiny"], tokens=12)
    with serve_in_thread(app) as url:
        yield url, app.state.fake


def _client(url: str) -> openai.OpenAI:
    return openai.OpenAI(base_url=url + "/v1", api_key="unused", max_retries=0)


def test_non_stream_is_deterministic_with_usage(fake):
    url, _ = fake
    client = _client(url)
    msgs = [{"role": "system", "content": "be brief"}, {"role": "user", "content": "hello there"}]
    a = client.chat.completions.create(model="tiny", messages=msgs)
    b = client.chat.completions.create(model="tiny", messages=msgs)
    assert a.choices[0].message.content == b.choices[0].message.content
    assert a.choices[0].message.content.startswith("You said: hello there")
    assert a.choices[0].finish_reason == "stop"
    assert a.usage.completion_tokens == 12 and a.usage.prompt_tokens == 4 and a.usage.total_tokens == 16


def test_stream_token_by_token_matches_non_stream(fake):
    url, state = fake
    client = _client(url)
    msgs = [{"role": "user", "content": "stream please"}]
    whole = client.chat.completions.create(model="tiny", messages=msgs).choices[0].message.content
    chunks = list(
        client.chat.completions.create(
            model="tiny", messages=msgs, stream=True, stream_options={"include_usage": True}
        )
    )
    deltas = [c.choices[0].delta.content for c in chunks if c.choices and c.choices[0].delta.content]
    assert len(deltas) == 12 and "".join(deltas) == whole
    assert [c.choices[0].finish_reason for c in chunks if c.choices][-1] == "stop"
    assert chunks[-1].usage.completion_tokens == 12 and chunks[-1].choices == []
    assert state.streams_finished == 1


def test_sse_framing_bytes(fake):
    url, _ = fake
    body = {"model": "tiny", "messages": [{"role": "user", "content": "x"}], "stream": True, "max_tokens": 3}
    raw = httpx.post(url + "/v1/chat/completions", json=body).content
    events = raw.split(b"\n\n")
    assert events[-1] == b"" and events[-2] == b"data: [DONE]"
    assert all(e.startswith(b"data: {") for e in events[:-2])
    assert len(events[:-2]) == 4 and b'"finish_reason":"length"' in events[-3]


def test_models_faults_and_unknown_model(fake):
    url, state = fake
    client = _client(url)
    assert [m.id for m in client.models.list()] == ["tiny"]
    with pytest.raises(openai.NotFoundError):
        client.chat.completions.create(model="nope", messages=[{"role": "user", "content": "x"}])
    httpx.post(url + "/admin/faults", json={"responses": [429, 503]})
    with pytest.raises(openai.RateLimitError):
        client.chat.completions.create(model="tiny", messages=[{"role": "user", "content": "x"}])
    with pytest.raises(openai.InternalServerError):
        client.chat.completions.create(model="tiny", messages=[{"role": "user", "content": "x"}])
    assert httpx.get(url + "/admin/stats").json()["queued_faults"] == 0


def test_client_disconnect_cancels_the_stream():
    app = make_fake_openai_app(["tiny"], tokens=400, token_delay_s=0.01)
    with serve_in_thread(app) as url:
        client = _client(url)
        stream = client.chat.completions.create(
            model="tiny", messages=[{"role": "user", "content": "long"}], stream=True
        )
        next(iter(stream))
        stream.close()
        state = app.state.fake
        for _ in range(200):  # the server notices the closed socket on its next write
            if state.streams_cancelled:
                break
            time.sleep(0.02)
        assert state.streams_cancelled == 1 and state.streams_finished == 0


@settings(max_examples=50, deadline=None)
@given(st.text(max_size=40), st.integers(0, 30))
def test_reply_is_a_pure_function_of_the_prompt(text, n):
    state = FakeOpenAIState(tokens=n)
    msgs = [{"role": "user", "content": text}]
    first = reply_tokens(state, "m", msgs)
    assert first == reply_tokens(state, "m", msgs)
    assert len(first) >= n
    assert "".join(first).split() == first[0].split() + [t.strip() for t in first[1:]]
