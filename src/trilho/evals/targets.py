"""Targets an eval suite can call: a Python callable, an OpenAI-compatible chat endpoint, a trilho-served
model (``type: trilho``: the gateway's ``POST /v1/models/NAME:predict`` with ``{"instances": [...]}``), or any
HTTP endpoint that takes and returns JSON (``type: http``). Each maps a dataset row to an output string."""

from __future__ import annotations

import asyncio
import importlib
import inspect
from collections.abc import Callable, Mapping
from typing import Any

import httpx

from trilho.errors import EvalError

TargetFn = Callable[[Mapping[str, Any]], Any]


def import_callable(spec: str) -> Callable[..., Any]:
    """Import ``"package.module:function"``."""
    mod, _, attr = spec.partition(":")
    if not mod or not attr:
        raise EvalError(
            f"callable {spec!r} must look like 'package.module:function'", field="target.callable", value=spec
        )
    try:
        obj: Any = importlib.import_module(mod)
        for part in attr.split("."):
            obj = getattr(obj, part)
    except (ImportError, AttributeError) as exc:
        raise EvalError(
            f"cannot import {spec!r}: {exc}",
            fix="check the module path and that it is importable",
            field="target.callable",
            value=spec,
        ) from exc
    if not callable(obj):
        raise EvalError(f"{spec!r} is not callable", field="target.callable", value=spec)
    return obj


class Target:
    """Turns one dataset row into the model's output text."""

    def __init__(self, spec: Mapping[str, Any], *, max_concurrency: int = 8) -> None:
        if not isinstance(spec, Mapping) or "type" not in spec:
            raise EvalError("target needs a 'type': callable, openai, trilho or http", field="target")
        self.spec = dict(spec)
        self.kind = str(spec["type"])
        self._sem = asyncio.Semaphore(max_concurrency)
        if self.kind == "callable":
            fn = spec.get("callable")
            self._fn = fn if callable(fn) else import_callable(str(fn))
        elif self.kind == "openai":
            for key in ("base_url", "model"):
                if key not in spec:
                    raise EvalError(f"an openai target needs {key!r}", field=f"target.{key}")
        elif self.kind in ("http", "trilho"):
            if "url" not in spec:
                raise EvalError(f"an {self.kind} target needs 'url'", field="target.url")
        else:
            raise EvalError(
                f"unknown target type {self.kind!r}",
                fix="use callable, openai, trilho or http",
                field="target.type",
                value=self.kind,
            )
        self._client: Any = None

    async def __call__(self, row: Mapping[str, Any]) -> str:
        async with self._sem:
            if self.kind == "callable":
                out = self._fn(row.get("input"), **({"row": row} if _takes_row(self._fn) else {}))
                if inspect.isawaitable(out):
                    out = await out
                return str(out)
            if self.kind == "openai":
                return await self._openai(row)
            return await self._http(row)

    async def _openai(self, row: Mapping[str, Any]) -> str:
        import openai

        if self._client is None:
            self._client = openai.AsyncOpenAI(
                base_url=self.spec["base_url"], api_key=self.spec.get("api_key", "not-needed"), max_retries=3
            )
        messages = [{"role": "system", "content": self.spec["system"]}] if self.spec.get("system") else []
        messages.append({"role": "user", "content": str(row.get("input", ""))})
        try:
            resp = await self._client.chat.completions.create(
                model=self.spec["model"], messages=messages, **self.spec.get("params", {})
            )
        except openai.OpenAIError as exc:
            raise EvalError(f"target {self.spec['model']!r} failed: {exc}", field="target") from exc
        return resp.choices[0].message.content or ""

    async def _http(self, row: Mapping[str, Any]) -> str:
        if self._client is None:
            self._client = httpx.AsyncClient(timeout=self.spec.get("timeout_s", 30))
        field_in = self.spec.get("input_field", "input")
        field_out = self.spec.get("output_field", "output")
        payload = {field_in: row.get("input")}
        try:
            r = await self._client.post(
                self.spec["url"], json={"instances": [payload]} if self.kind == "trilho" else payload
            )
            r.raise_for_status()
            body = r.json()
        except (httpx.HTTPError, ValueError) as exc:
            raise EvalError(f"target {self.spec['url']} failed: {exc}", field="target.url") from exc
        if self.kind == "trilho":
            preds = body.get("predictions") if isinstance(body, dict) else None
            if not isinstance(preds, list) or not preds:
                raise EvalError("the trilho model answered without 'predictions'", field="target.url")
            body = preds[0]
        if field_out not in body:
            raise EvalError(
                f"target response has no {field_out!r} field",
                field="target.output_field",
                value=sorted(body) if isinstance(body, dict) else None,
            )
        return str(body[field_out])

    async def aclose(self) -> None:
        """Close any HTTP client."""
        if self._client is not None:
            await self._client.close() if self.kind == "openai" else await self._client.aclose()


def _takes_row(fn: Callable[..., Any]) -> bool:
    try:
        return "row" in inspect.signature(fn).parameters
    except (TypeError, ValueError):
        return False
