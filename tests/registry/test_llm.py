"""The ``llm`` flavour: specs are validated, registered like any version, served by their batch function."""

from __future__ import annotations

import pytest
import yaml
from hypothesis import given
from hypothesis import strategies as st
from tests.registry.conftest import write_contract

from trilho.errors import RegistryError
from trilho.net.server import serve_in_thread
from trilho.registry.llm import LlmSpec, build_messages, parse_spec, upstream_body
from trilho.testing.fake_openai import make_fake_openai_app

BASE = {"upstream": "http://127.0.0.1:1/v1", "model": "tiny"}


@pytest.fixture
def upstream():
    app = make_fake_openai_app(["tiny"])
    with serve_in_thread(app) as url:
        yield url + "/v1", app.state.fake


def _spec(tmp_path, name: str, **doc) -> str:
    path = tmp_path / name
    path.write_text(yaml.safe_dump(doc))
    return str(path)


def _contract(tmp_path):
    return write_contract(
        tmp_path / "llm-contract.yaml",
        name="assistant",
        inputs={"input": "string"},
        outputs={"output": "string"},
        examples=[{"input": "hi"}],
    )


@pytest.mark.parametrize(
    ("doc", "field"),
    [
        ({**BASE, "api_key": "sk-live"}, "api_key"),
        ({**BASE, "api_key_env": "sk-abc123"}, "api_key_env"),
        ({**BASE, "upstream": "localhost:8000"}, "upstream"),
        ({**BASE, "model": ""}, "model"),
        ({**BASE, "template": "no placeholder"}, "template"),
        ({**BASE, "params": {"model": "other"}}, "params"),
        ({**BASE, "timeout_s": 0}, "timeout_s"),
        ({**BASE, "prices": {"input_per_1k": -1}}, "prices"),
        ({**BASE, "fallbacks": {"upstream": "x"}}, "fallbacks"),
        ({**BASE, "cache_ttl_s": 0}, "cache_ttl_s"),
        ({**BASE, "fallbacks": [{"upstream": "http://b:1/v1"}]}, "fallbacks[0]"),
        (
            {**BASE, "fallbacks": [{"upstream": "http://b:1/v1", "model": "m", "api_key": "sk-live"}]},
            "fallbacks[0]",
        ),
        ({**BASE, "fallbacks": [{"upstream": "b:1", "model": "m"}]}, "upstream"),
    ],
)
def test_bad_specs_name_the_field(doc, field):
    with pytest.raises(RegistryError) as info:
        parse_spec(doc)
    assert info.value.fields["field"] == field
    assert "sk-" not in str(info.value.fields.get("value"))  # a key pasted in by mistake is never echoed


def test_key_comes_from_the_named_variable_only(monkeypatch):
    spec = parse_spec({**BASE, "api_key_env": "TRILHO_TEST_LLM_KEY"})
    monkeypatch.delenv("TRILHO_TEST_LLM_KEY", raising=False)
    with pytest.raises(Exception, match="TRILHO_TEST_LLM_KEY"):
        spec.api_key()
    monkeypatch.setenv("TRILHO_TEST_LLM_KEY", "k-1")
    assert spec.api_key() == "k-1"
    assert "k-1" not in repr(spec)


def test_fallbacks_keep_the_prompt_and_inherit_what_they_do_not_name():
    spec = parse_spec(
        {
            **BASE,
            "system": "be brief",
            "params": {"temperature": 0.1},
            "api_key_env": "PRIMARY_KEY",
            "prices": {"input_per_1k": 1.0},
            "fallbacks": [
                {"upstream": "http://b:1/v1/", "model": "big", "prices": {"input_per_1k": 5.0}},
                {"upstream": "http://c:1/v1", "model": "small", "api_key_env": "OTHER_KEY"},
            ],
        }
    )
    first, second, third = spec.targets()
    assert first is spec and (second.upstream, second.model, third.model) == ("http://b:1/v1", "big", "small")
    assert second.system == third.system == "be brief" and second.params == {"temperature": 0.1}
    assert second.api_key_env == "PRIMARY_KEY" and third.api_key_env == "OTHER_KEY"
    assert second.cost(1000, 0) == 5.0 and third.cost(1000, 0) == 1.0
    assert second.fallbacks == () and parse_spec(BASE).targets() == (parse_spec(BASE),)


def test_cost_from_usage():
    spec = parse_spec({**BASE, "prices": {"input_per_1k": 1.0, "output_per_1k": 2.0}})
    assert spec.cost(1000, 500) == pytest.approx(2.0)


_msgs = st.lists(
    st.fixed_dictionaries({"role": st.sampled_from(["user", "assistant", "system"]), "content": st.text()}),
    max_size=6,
)


@given(_msgs, st.none() | st.text(), st.none() | st.text().map(lambda t: t + "{input}"))
def test_build_messages_keeps_the_conversation(messages, system, template):
    spec = LlmSpec("http://x", "m", system=system, template=template)
    out = build_messages(spec, messages)
    body = out[1:] if system is not None else out
    assert len(body) == len(messages) and [m["role"] for m in body] == [m["role"] for m in messages]
    if system is not None:
        assert out[0] == {"role": "system", "content": system}
    users = [i for i, m in enumerate(messages) if m["role"] == "user"]
    for i, (a, b) in enumerate(zip(messages, body, strict=True)):
        if template is not None and users and i == users[-1]:
            assert b["content"] == template.replace("{input}", a["content"])
        else:
            assert b == a


def test_request_params_override_spec_defaults_but_not_the_model():
    spec = LlmSpec("http://x", "up", params={"temperature": 0.1, "max_tokens": 5})
    body = upstream_body(spec, {"model": "trilho-name", "messages": [], "temperature": 0.7})
    assert body["model"] == "up" and body["temperature"] == 0.7 and body["max_tokens"] == 5


def test_register_and_load_an_llm_version(registry, tmp_path, upstream):
    url, fake = upstream
    contract = _contract(tmp_path)
    v1 = registry.register(
        "assistant", _spec(tmp_path, "v1.yaml", upstream=url, model="tiny"), "llm", contract
    )
    assert v1.flavor == "llm" and v1.examples["outputs"] == [{"output": "You said: hi"}]
    spec2 = _spec(tmp_path, "v2.yaml", upstream=url, model="tiny", system="Be terse.", template="Q: {input}")
    v2 = registry.register("assistant", spec2, "llm", contract)
    assert v2.version == 2 and v2.artifact_sha256 != v1.artifact_sha256  # a prompt change is a new version
    assert fake.requests[-1]["messages"] == [
        {"role": "system", "content": "Be terse."},
        {"role": "user", "content": "Q: hi"},
    ]
    predictor = registry.load_predictor("assistant@2")
    assert predictor.llm_spec.system == "Be terse." and predictor.llm_spec.upstream == url
    assert predictor.predict([{"input": "yo"}]) == [{"output": "You said: Q: yo"}]


def test_registration_fails_closed_without_the_key(registry, tmp_path, upstream, monkeypatch):
    url, _ = upstream
    monkeypatch.delenv("TRILHO_TEST_LLM_KEY", raising=False)
    spec = _spec(tmp_path, "v.yaml", upstream=url, model="tiny", api_key_env="TRILHO_TEST_LLM_KEY")
    with pytest.raises(RegistryError, match="TRILHO_TEST_LLM_KEY"):
        registry.register("assistant", spec, "llm", _contract(tmp_path))
    assert registry.list_models() == []
