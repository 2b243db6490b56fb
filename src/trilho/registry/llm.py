"""The ``llm`` flavour: a version is a content-addressed spec of an LLM call, never code and never a key.

The artifact is a YAML or JSON file::

    upstream: http://127.0.0.1:8000/v1      # any OpenAI-compatible base URL (OpenAI, vLLM, llama.cpp, Ollama)
    model: gpt-4o-mini                      # the upstream's model name
    system: "You are a concise support agent."     # optional system prompt, sent first
    template: "Customer question: {input}"  # optional: the last user message goes through it
    params: {temperature: 0.2, max_tokens: 256}     # defaults the request may override
    api_key_env: SUPPORT_LLM_KEY            # the NAME of the environment variable holding the key
    timeout_s: 30
    prices: {input_per_1k: 0.15, output_per_1k: 0.6}   # optional, for cost accounting
    cache_ttl_s: 300                        # optional: exact-match cache of non-streaming answers
    fallbacks:                              # optional: tried in order when the upstream fails first
      - {upstream: http://backup:8000/v1, model: gpt-4o-mini, api_key_env: BACKUP_KEY}

A fallback names another upstream and model (with ``api_key_env``, ``timeout_s``, ``prices`` — the version's
when not given); the prompt and parameters are the version's. The artifact store hashes the file, so a prompt
or parameter change is a new artifact and a new version. The pure parts (parse, the messages and body sent
upstream) are separate from the one blocking call (:class:`LlmModel`, the batch function ``[{"input": str} |
{"messages": [...]}] -> [{"output": str}]`` that registration, golden runs and eval gates call; it calls the
first upstream only). The gateway's streaming proxy reads ``llm_spec`` and falls back in order.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from trilho.errors import ConfigError, RegistryError

_FALLBACK_KEYS = {"upstream", "model", "api_key_env", "timeout_s", "prices"}
_KEYS = _FALLBACK_KEYS | {"system", "template", "params", "fallbacks", "cache_ttl_s"}
_ENV_NAME = re.compile(r"[A-Z_][A-Z0-9_]*")
_PRICE_KEYS = {"input_per_1k", "output_per_1k"}
_RESERVED_PARAMS = {"model", "messages", "stream", "stream_options"}


@dataclass(frozen=True)
class LlmSpec:
    """One LLM version: where to call, which model, the prompt, the parameters and the key's variable."""

    upstream: str
    model: str
    system: str | None = None
    template: str | None = None
    params: Mapping[str, Any] = field(default_factory=dict)
    api_key_env: str | None = None
    timeout_s: float = 30.0
    prices: Mapping[str, float] = field(default_factory=dict)
    fallbacks: tuple[LlmSpec, ...] = ()
    cache_ttl_s: float | None = None  # exact-match cache of non-streaming answers (trilho.serving.llm.cache)

    def targets(self) -> tuple[LlmSpec, ...]:
        """The upstreams to try, in order: this one, then its fallbacks."""
        return (self, *self.fallbacks)

    def api_key(self) -> str | None:
        """The key from ``api_key_env`` (``None`` when the spec names no variable); a named but unset
        variable is a ``ConfigError``."""
        if self.api_key_env is None:
            return None
        key = os.environ.get(self.api_key_env)
        if not key:
            raise ConfigError(
                f"environment variable {self.api_key_env} (the spec's api_key_env) is not set",
                fix=f"export {self.api_key_env}=<the upstream's API key> where the gateway runs",
                field="api_key_env",
                value=self.api_key_env,
            )
        return key

    def cost(self, prompt_tokens: int, completion_tokens: int) -> float:
        """The price of one call from its token usage (0 without ``prices``)."""
        return (
            prompt_tokens * float(self.prices.get("input_per_1k", 0.0))
            + completion_tokens * float(self.prices.get("output_per_1k", 0.0))
        ) / 1000.0


def _bad(message: str, fieldname: str, value: Any, fix: str) -> RegistryError:
    return RegistryError(message, fix=fix, field=fieldname, value=None if value is None else str(value))


def parse_spec(doc: Any, source: str = "<spec>") -> LlmSpec:
    """Validate a spec document (a mapping) into an :class:`LlmSpec`; errors name the field and the fix."""
    if not isinstance(doc, Mapping):
        raise _bad(
            f"{source}: an llm spec is a mapping", "spec", type(doc).__name__, "see trilho.registry.llm"
        )
    unknown = sorted(set(doc) - _KEYS)
    if unknown:
        hint = (
            " (name the environment variable in api_key_env, never the key)" if "api_key" in unknown else ""
        )
        raise _bad(
            f"{source}: unknown key(s) {unknown}{hint}",
            unknown[0],
            None,
            f"use only: {', '.join(sorted(_KEYS))}",
        )
    upstream = doc.get("upstream")
    if not isinstance(upstream, str) or not re.match(r"https?://[^\s/]+", upstream):
        raise _bad(
            f"{source}: upstream must be an http(s) base URL",
            "upstream",
            upstream,
            "e.g. http://host:8000/v1",
        )
    model = doc.get("model")
    if not isinstance(model, str) or not model.strip():
        raise _bad(
            f"{source}: model must be the upstream's model name", "model", model, "e.g. model: gpt-4o-mini"
        )
    for key in ("system", "template"):
        if doc.get(key) is not None and not isinstance(doc[key], str):
            raise _bad(f"{source}: {key} must be text", key, doc[key], f"write {key} as a string")
    template = doc.get("template")
    if template is not None and "{input}" not in template:
        raise _bad(f"{source}: template has no {{input}} placeholder", "template", template, "add {input}")
    params = doc.get("params") or {}
    if not isinstance(params, Mapping) or set(params) & _RESERVED_PARAMS:
        raise _bad(
            f"{source}: params must be a mapping of upstream parameters without {sorted(_RESERVED_PARAMS)}",
            "params",
            params,
            "e.g. params: {temperature: 0.2, max_tokens: 256}",
        )
    env = doc.get("api_key_env")
    if env is not None and (not isinstance(env, str) or not _ENV_NAME.fullmatch(env)):
        raise _bad(
            f"{source}: api_key_env must be an environment variable's NAME",
            "api_key_env",
            "<hidden>",
            "e.g. api_key_env: OPENAI_API_KEY (the key itself never goes in a spec)",
        )
    timeout = doc.get("timeout_s", 30.0)
    if isinstance(timeout, bool) or not isinstance(timeout, int | float) or not 0 < timeout <= 600:
        raise _bad(f"{source}: timeout_s must be in (0, 600]", "timeout_s", timeout, "e.g. timeout_s: 30")
    prices = doc.get("prices") or {}
    if (
        not isinstance(prices, Mapping)
        or set(prices) - _PRICE_KEYS
        or not all(isinstance(v, int | float) and not isinstance(v, bool) and v >= 0 for v in prices.values())
    ):
        raise _bad(f"{source}: prices must map {sorted(_PRICE_KEYS)} to numbers >= 0", "prices", prices, "")
    cache_ttl = doc.get("cache_ttl_s")
    if cache_ttl is not None and (
        isinstance(cache_ttl, bool) or not isinstance(cache_ttl, int | float) or not 0 < cache_ttl <= 86400
    ):
        raise _bad(
            f"{source}: cache_ttl_s must be in (0, 86400]", "cache_ttl_s", cache_ttl, "e.g. cache_ttl_s: 300"
        )
    fallbacks = doc.get("fallbacks") or []
    if not isinstance(fallbacks, list):
        raise _bad(f"{source}: fallbacks must be a list", "fallbacks", fallbacks, "fallbacks: [{…}, …]")
    parsed = []
    for i, fb in enumerate(fallbacks):
        where = f"fallbacks[{i}]"
        if not isinstance(fb, Mapping) or set(fb) - _FALLBACK_KEYS or not {"upstream", "model"} <= set(fb):
            raise _bad(
                f"{source}: {where} must be a mapping with upstream and model (and optionally "
                f"api_key_env, timeout_s, prices)",
                where,
                sorted(fb) if isinstance(fb, Mapping) else type(fb).__name__,  # the keys: never a value
                "e.g. {upstream: http://backup:8000/v1, model: gpt-4o-mini}",
            )
        inherited = {k: doc.get(k) for k in ("system", "template", "params", "api_key_env", "timeout_s")}
        inherited["prices"] = doc.get("prices")
        parsed.append(parse_spec({**{k: v for k, v in inherited.items() if v is not None}, **fb}, where))
    return LlmSpec(
        upstream.rstrip("/"),
        model,
        doc.get("system"),
        template,
        dict(params),
        env,
        float(timeout),
        {k: float(v) for k, v in prices.items()},
        tuple(parsed),
        None if cache_ttl is None else float(cache_ttl),
    )


def load_spec(path: str | os.PathLike[str]) -> LlmSpec:
    """Read and validate a spec file (YAML or JSON)."""
    p = Path(path)
    try:
        doc = yaml.safe_load(p.read_text())
    except (OSError, yaml.YAMLError) as exc:
        raise _bad(
            f"cannot read the llm spec {str(p)!r}: {exc}", "artifact", p, "pass a YAML or JSON spec file"
        ) from exc
    return parse_spec(doc, p.name)


def build_messages(spec: LlmSpec, messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The messages sent upstream: the spec's system prompt first, the last user message through the
    template; the caller's own messages otherwise unchanged and in order."""
    out = [dict(m) for m in messages]
    if spec.template is not None:
        for i in range(len(out) - 1, -1, -1):
            if out[i].get("role") == "user" and isinstance(out[i].get("content"), str):
                out[i]["content"] = spec.template.replace("{input}", out[i]["content"])
                break
    if spec.system is not None:
        out.insert(0, {"role": "system", "content": spec.system})
    return out


def upstream_body(spec: LlmSpec, request: Mapping[str, Any]) -> dict[str, Any]:
    """The chat-completions body for the upstream: the spec's params as defaults under the request's own,
    the spec's model and messages."""
    body = {**spec.params, **{k: v for k, v in request.items() if k not in ("model", "messages")}}
    body["model"] = spec.model
    body["messages"] = build_messages(spec, list(request.get("messages") or []))
    return body


def record_messages(record: Mapping[str, Any]) -> list[dict[str, Any]]:
    """A batch record as chat messages: ``{"messages": [...]}`` as is, ``{"input": text}`` as one user
    turn."""
    if isinstance(record.get("messages"), list):
        return list(record["messages"])
    return [{"role": "user", "content": str(record.get("input", ""))}]


class LlmModel:
    """The batch function of an ``llm`` version: one non-streaming upstream call per record."""

    accepts_shadow = False

    def __init__(self, spec: LlmSpec) -> None:
        self.llm_spec = spec

    def __call__(self, records: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """``[{"input": ...} | {"messages": [...]}] -> [{"output": text}]``."""
        import httpx

        spec = self.llm_spec
        key = spec.api_key()
        headers = {"Authorization": f"Bearer {key}"} if key else {}
        out = []
        with httpx.Client(timeout=spec.timeout_s) as client:
            for record in records:
                body = upstream_body(spec, {"messages": record_messages(record)})
                r = client.post(spec.upstream + "/chat/completions", json=body, headers=headers)
                r.raise_for_status()
                out.append({"output": r.json()["choices"][0]["message"]["content"] or ""})
        return out


def load_llm(path: Path) -> LlmModel:
    """The flavour loader: the spec file (or the one ``*.yaml``/``*.json`` in a folder) as a model."""
    if path.is_dir():
        found = sorted(p for p in path.iterdir() if p.suffix in (".yaml", ".yml", ".json"))
        if len(found) != 1:
            raise _bad(
                f"an llm artifact folder holds one spec file, found {len(found)}", "artifact", path, ""
            )
        path = found[0]
    return LlmModel(load_spec(path))
