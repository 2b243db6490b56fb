"""``POST /openai/v1/chat/completions`` and ``GET /openai/v1/models`` on the gateway: the OpenAI shape over
``llm`` versions (point the ``openai`` client's ``base_url`` at ``http://HOST:PORT/openai/v1``).

The request's ``model`` names the trilho model; its sticky unit is the ``x-trilho-unit`` header, else the
``user`` field, else the request id — routed through the gateway's routing table, so canary weights, the
kill switch and rollbacks apply as to every model (and each request lands in the exposure log). Input rails
run on the last user message before the upstream is called (a block answers the policy's fallback with
``finish_reason: content_filter`` and never calls the upstream); output rails run on the whole answer, or on
the stream as it arrives (:class:`trilho.evals.stream_rails.StreamRail`): a blocked stream ends with a
``content_filter`` chunk, an SSE ``error`` event and ``data: [DONE]``. Every rail decision is logged and kept
(``decisions``) with the checks that ran. Usage becomes tokens and cost per version; the time to the first
answer text sent is ``trilho_llm_ttft_seconds``.
"""

from __future__ import annotations

import asyncio
import functools
import itertools
import time
import uuid
from collections import deque
from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from trilho.errors import TrilhoError
from trilho.evals.checks import CheckContext
from trilho.evals.policy import Action, Policy, default_policy
from trilho.evals.stream_rails import DEFAULT_HOLDBACK, RailRecord, RailStep, StreamRail, check_text
from trilho.net import openai_wire as wire
from trilho.obs import get_logger
from trilho.registry.llm import LlmSpec, upstream_body
from trilho.serving.gateway import UnknownModel
from trilho.serving.llm import anthropic, text_routes
from trilho.serving.llm import metrics as m
from trilho.serving.llm.cache import ResponseCache
from trilho.serving.llm.limits import KeyLimits, KeyPolicy, Refusal
from trilho.serving.llm.upstream import Hooks, Upstream, UpstreamError

log = get_logger("serving.llm")
PREFIX = "/openai/v1"


def llm_spec_of(loaded: Any) -> LlmSpec | None:
    """The spec of a loaded ``llm`` version (a registry ``Predictor`` or an ``LlmModel`` served directly)."""
    fn = loaded.predict
    spec = getattr(fn, "llm_spec", None) or getattr(getattr(fn, "__self__", None), "llm_spec", None)
    return spec if isinstance(spec, LlmSpec) else None


def error_response(
    status: int, message: str, kind: str, headers: dict[str, str] | None = None
) -> JSONResponse:
    return JSONResponse(wire.error_body(message, kind, status), status_code=status, headers=headers)


def _refused(refusal: Refusal) -> JSONResponse:
    """A key refusal in OpenAI's error shape (429s with ``Retry-After`` when waiting helps)."""
    body = wire.error_body(refusal.message, refusal.kind, refusal.code)
    headers = {"Retry-After": str(refusal.retry_after_s)} if refusal.retry_after_s is not None else None
    return JSONResponse(body, status_code=refusal.status, headers=headers)


def _with_last_user(messages: list[dict[str, Any]], text: str) -> list[dict[str, Any]]:
    """``messages`` with the last user message's content replaced by ``text``."""
    out = list(messages)
    i = max(i for i, msg in enumerate(out) if msg.get("role") == "user")
    out[i] = {**out[i], "content": text}
    return out


class _Routed(Hooks):
    """One request's route: the version, its role, spec, metric labels, key, and the upstream target that
    answered (the spec or one of its fallbacks: its prices make the cost)."""

    def __init__(self, model: str, version: str, role: str, spec: LlmSpec) -> None:
        self.model, self.version, self.role, self.spec = model, version, role, spec
        self.labels = (model, version, role)
        self.target = spec
        self.key: KeyPolicy | None = None
        self.start = time.perf_counter()
        self.completion_tokens = 0

    def retried(self) -> None:
        """Count one upstream retry for this version."""
        m.RETRIES.labels(*self.labels).inc()

    def fell_back(self, status: int) -> None:
        """Count one fallback to the version's next upstream."""
        m.FALLBACKS.labels(*self.labels, str(status)).inc()

    def served(self, target: LlmSpec) -> None:
        """Remember which upstream answered."""
        self.target = target


class LlmRoutes:
    """The OpenAI-compatible routes over a :class:`~trilho.serving.gateway.Gateway`."""

    def __init__(
        self,
        gateway: Any,
        upstream: Upstream | None = None,
        holdback: int = DEFAULT_HOLDBACK,
        rail: Callable[[Policy, int, CheckContext], Any] = StreamRail,
        limits: KeyLimits | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.gateway = gateway
        self.limits = limits  # per-key rate limits and budgets (None: every request is served)
        self.cache = ResponseCache()  # used by versions whose spec sets cache_ttl_s
        self.clock = clock
        self.upstream = upstream or Upstream()
        self.holdback = holdback
        self.rail = rail  # the stream rail's class (the benchmark swaps in its old fixed-holdback baseline)
        self.decisions: deque[dict[str, Any]] = deque(maxlen=512)
        self._default_policy: asyncio.Future[Policy] | None = None
        self._prefix = uuid.uuid4().hex[:12]
        self._ids = itertools.count()

    def routes(self) -> list[Route]:
        """The Starlette routes to add to the gateway's app."""
        return [
            Route(PREFIX + "/chat/completions", self.chat, methods=["POST"]),
            Route(PREFIX + "/models", self.models, methods=["GET"]),
            Route(
                PREFIX + "/completions", functools.partial(text_routes.completions, self), methods=["POST"]
            ),
            Route(PREFIX + "/embeddings", functools.partial(text_routes.embeddings, self), methods=["POST"]),
            Route(anthropic.PATH, functools.partial(anthropic.messages, self), methods=["POST"]),
        ]

    def warm(self) -> None:
        """Start building the default policy in the background when a served ``llm`` model has no policy of
        its own (so its first request does not wait); called once the gateway's first table is loaded."""
        own = getattr(self.gateway.evals, "models", None) or {}
        needed = any(
            llm_spec_of(vr.loaded) is not None
            for name, mr in self.gateway.models.items()
            if name not in own
            for vr in mr.versions.values()
        )
        if needed and self._default_policy is None:
            self._default_policy = asyncio.ensure_future(asyncio.to_thread(self._build_default))

    def _build_default(self) -> Policy:
        """The default policy; its detectors (presidio, detect-secrets: a large heap built after the routing
        table froze the collector's view) are frozen out of garbage collection too when the gateway freezes
        (``trilho serve``), else every full collection walks them: pauses that stalled streams under load."""
        policy = default_policy()
        if getattr(self.gateway.settings, "freeze_gc", False):
            import gc

            gc.collect()
            gc.freeze()
        return policy

    async def aclose(self) -> None:
        """Close the upstream connections."""
        await self.upstream.aclose()

    async def policy_for(self, model: str) -> Policy:
        """The model's online-evaluation policy when ``trilho serve --evals`` names one, else the default
        (built once, off the event loop: loading its PII recognizers takes seconds)."""
        me = (getattr(self.gateway.evals, "models", None) or {}).get(model)
        if me is not None:
            return me.evaluator.policy
        if self._default_policy is None:
            self._default_policy = asyncio.ensure_future(asyncio.to_thread(self._build_default))
        return await asyncio.shield(self._default_policy)

    async def models(self, request: Request) -> Response:
        """The served models whose stable version is an ``llm`` version."""
        names = []
        for name, mr in sorted(self.gateway.models.items()):
            vr = mr.versions.get(mr.deployment.stable.version)
            if vr is not None and llm_spec_of(vr.loaded) is not None:
                names.append(name)
        return JSONResponse(wire.models_list(names))

    def _route(self, name: Any, unit: str, request_id: str) -> _Routed | Response:
        if not isinstance(name, str):
            return error_response(400, "'model' must name a trilho model", "invalid_request_error")
        try:
            mr = self.gateway.model(name)
        except UnknownModel as exc:
            return error_response(404, exc.message, "model_not_found")
        dep = mr.deployment
        if dep.kill == "all":
            return error_response(
                503, f"model {name!r} is killed (kill switch)", "service_unavailable", {"Retry-After": "5"}
            )
        route = mr.assigner.route_for(unit)
        vr = mr.versions.get(route.version)
        if vr is None or not vr.ready:
            return error_response(
                503, f"{name}@{route.version} is not ready", "service_unavailable", {"Retry-After": "1"}
            )
        spec = llm_spec_of(vr.loaded)
        if spec is None:
            return error_response(
                400,
                f"model {name!r} is not an llm model; use /v1/models/{name}:predict",
                "invalid_request_error",
            )
        if self.gateway.exposures is not None:
            self.gateway.exposures.record(unit, name, route.version, route.role, mr.generation, request_id)
        return _Routed(name, route.version, route.role, spec)

    def begin(self, request: Request, body: dict[str, Any]) -> tuple[_Routed, str, dict[str, str]] | Response:
        """What every LLM route does first: the request id, the key's limits, the route (sticky on the
        ``x-trilho-unit`` header, else ``user``), and the response headers naming the version."""
        request_id = request.headers.get("x-request-id", "")[:128] or f"{self._prefix}-{next(self._ids):x}"
        unit = request.headers.get("x-trilho-unit") or (
            body.get("user") if isinstance(body.get("user"), str) else None
        )
        key, refusal = self._key(request)
        if refusal is not None:
            return refusal
        routed = self._route(body.get("model"), unit or request_id, request_id)
        if isinstance(routed, Response):
            return routed
        routed.key = key
        headers = {
            "x-request-id": request_id,
            "x-trilho-version": routed.version,
            "x-trilho-variant": routed.role,
        }
        return routed, request_id, headers

    async def chat(self, request: Request) -> Response:
        """``POST /openai/v1/chat/completions`` (``stream`` true or false)."""
        start = time.perf_counter()
        try:
            body = await request.json()
        except ValueError:
            return error_response(400, "the body is not JSON", "invalid_request_error")
        if not isinstance(body, dict) or not isinstance(body.get("messages"), list) or not body["messages"]:
            return error_response(400, "'messages' must be a non-empty list", "invalid_request_error")
        if not all(isinstance(msg, dict) for msg in body["messages"]):
            return error_response(400, "each message must be an object", "invalid_request_error")
        begun = self.begin(request, body)
        if isinstance(begun, Response):
            return begun
        routed, request_id, headers = begun
        stream = bool(body.get("stream"))
        if stream and body.get("n") not in (None, 1):  # one rail per stream: not several choices yet
            return error_response(400, "'n' must be 1 when 'stream' is true", "invalid_request_error")
        policy = await self.policy_for(routed.model)
        users = [wire.message_text(msg) for msg in body["messages"] if msg.get("role") == "user"]
        verdict, record = check_text(policy, users[-1] if users else "", "input")
        self.decided(routed, request_id, record)
        if verdict.blocked:
            m.REQUESTS.labels(*routed.labels, "input_blocked", str(stream).lower()).inc()
            self.finished(routed, 200)
            return self._canned(routed, verdict.text, stream, headers)
        if verdict.action is Action.REDACT:  # the upstream gets the redacted question
            body = {**body, "messages": _with_last_user(body["messages"], verdict.text)}
        upstream = upstream_body(routed.spec, body)
        ctx = CheckContext(input=verdict.text if users else None)
        if stream:
            wants_usage = bool((body.get("stream_options") or {}).get("include_usage"))
            upstream["stream_options"] = {"include_usage": True}
            opened = self.upstream.stream(routed.spec, upstream, routed)
            try:  # open before answering, so an upstream refusal keeps its HTTP status
                chunks = await opened.__aenter__()
            except UpstreamError as exc:
                return self.upstream_failed(routed, exc, True)
            except TrilhoError as exc:
                m.REQUESTS.labels(*routed.labels, "config_error", "true").inc()
                return error_response(500, exc.message, "server_error")
            if routed.target is not routed.spec:
                headers["x-trilho-upstream-model"] = routed.target.model
            return StreamingResponse(
                self._stream(routed, opened, chunks, policy, ctx, request_id, start, wants_usage),
                media_type="text/event-stream",
                headers={**headers, "Cache-Control": "no-cache"},
            )
        cache_key, answer = None, None
        if routed.spec.cache_ttl_s:
            cache_key = self.cache.key(routed.model, routed.version, upstream)
            answer = self.cache.get(cache_key, self.clock())
            m.CACHE.labels(*routed.labels, "miss" if answer is None else "hit").inc()
            headers["x-trilho-cache"] = "miss" if answer is None else "hit"
        if answer is None:
            try:
                answer, _ = await self.upstream.complete(routed.spec, upstream, routed)
            except UpstreamError as exc:
                return self.upstream_failed(routed, exc, False)
            except TrilhoError as exc:
                m.REQUESTS.labels(*routed.labels, "config_error", "false").inc()
                return error_response(500, exc.message, "server_error")
            self.account(routed, answer.get("usage"))
            if cache_key is not None and routed.spec.cache_ttl_s:
                self.cache.put(cache_key, answer, self.clock() + routed.spec.cache_ttl_s)
        for choice in answer.get("choices") or []:  # every choice is railed (n > 1 included)
            message = choice.get("message") if isinstance(choice, dict) else None
            content = message.get("content") if isinstance(message, dict) else None
            if isinstance(content, str):
                out, record = check_text(policy, content, "output", ctx)
                self.decided(routed, request_id, record)
                if out.action in (Action.BLOCK, Action.REDACT):
                    message["content"] = out.text
                if out.blocked:
                    choice["finish_reason"] = "content_filter"
        m.TTFT.labels(*routed.labels).observe(time.perf_counter() - start)
        m.REQUESTS.labels(*routed.labels, "ok", "false").inc()
        self.finished(routed, 200)
        first = (answer.get("choices") or [{}])[0]
        content = (first.get("message") or {}).get("content") if isinstance(first, dict) else None
        if isinstance(content, str):
            self.judge_sample(routed, request_id, users[-1] if users else "", content)
        answer["model"] = routed.model
        if routed.target is not routed.spec:
            headers["x-trilho-upstream-model"] = routed.target.model
        return JSONResponse(answer, headers=headers)

    async def _stream(
        self,
        routed: _Routed,
        opened: Any,
        chunks: AsyncIterator[dict[str, Any]],
        policy: Policy,
        ctx: CheckContext,
        request_id: str,
        start: float,
        wants_usage: bool,
    ) -> AsyncIterator[bytes]:
        rail = self.rail(policy, self.holdback, ctx)
        cid = wire.completion_id()
        first = True
        outcome = "cancelled"  # until the stream ends on its own
        model = routed.model

        ttft: float | None = None

        def text_chunk(text: str) -> bytes:
            nonlocal first, ttft
            if first:
                ttft = time.perf_counter() - start
                m.TTFT.labels(*routed.labels).observe(ttft)
            role = "assistant" if first else None
            first = False
            return wire.sse(wire.chunk(cid, model, content=text, role=role))

        def emit(step: RailStep) -> tuple[bytes, bool]:
            """The bytes a rail step sends, and whether the stream stops (blocked: finish, error, done)."""
            out = text_chunk(step.release) if step.release else b""
            if step.blocked is None:
                return out, False
            return out + self._blocked_events(cid, model, rail), True

        usage_event = b""
        try:
            finish = "stop"
            async for chunk in chunks:
                if chunk.get("usage"):
                    self.account(routed, chunk["usage"])
                    if wants_usage:  # sent last, as the upstream would
                        usage_event = wire.sse({**chunk, "id": cid, "model": model})
                    continue
                choice = (chunk.get("choices") or [{}])[0]
                delta = choice.get("delta") or {}
                piece = delta.get("content")
                if isinstance(piece, str) and piece:
                    out, stop = emit(rail.feed(piece))
                    if out:
                        yield out
                    if stop:
                        outcome = "output_blocked"
                        return
                other = {k: v for k, v in delta.items() if k not in ("content", "role")}
                if other:  # tool calls and the like pass through as they come
                    yield wire.sse({**chunk, "id": cid, "model": model})
                if choice.get("finish_reason"):
                    finish = choice["finish_reason"]
            out, stop = emit(rail.finish())
            yield out
            if stop:
                outcome = "output_blocked"
                return
            yield wire.sse(wire.chunk(cid, model, finish_reason=finish)) + usage_event + wire.SSE_DONE
            outcome = "ok"
            self.judge_sample(routed, request_id, ctx.input or "", getattr(rail, "sent", ""))
        except httpx.HTTPError as exc:  # the upstream broke off mid-stream
            outcome = "upstream_broken"
            yield wire.sse(wire.error_body(f"the upstream stream broke: {exc!r}", "upstream_error", 502))
            yield wire.SSE_DONE
        finally:
            # closes the upstream connection: a client gone away cancels the upstream request too
            await opened.__aexit__(None, None, None)
            self.decided(routed, request_id, rail.record)
            m.REQUESTS.labels(*routed.labels, outcome, "true").inc()
            self.finished(routed, 502 if outcome == "upstream_broken" else 200, ttft)

    def _blocked_events(self, cid: str, model: str, rail: StreamRail) -> bytes:
        message = f"the answer was stopped by the output rails ({', '.join(rail.record.violations)})"
        return (
            wire.sse(wire.chunk(cid, model, finish_reason="content_filter"))
            + wire.sse(wire.error_body(message, "content_filter", "output_blocked"))
            + wire.SSE_DONE
        )

    def _canned(self, routed: _Routed, text: str, stream: bool, headers: dict[str, str]) -> Response:
        """The policy's fallback answer (an input rail blocked the request; the upstream was not called)."""
        if not stream:
            return JSONResponse(
                wire.completion(routed.model, text, 0, 0, finish_reason="content_filter"), headers=headers
            )
        cid = wire.completion_id()
        events = [
            wire.sse(wire.chunk(cid, routed.model, content=text, role="assistant")),
            wire.sse(wire.chunk(cid, routed.model, finish_reason="content_filter")),
            wire.SSE_DONE,
        ]
        return Response(b"".join(events), media_type="text/event-stream", headers=headers)

    def finished(self, routed: _Routed, code: int, ttft: float | None = None) -> None:
        """Count one answered request in the gateway's metrics and in the window the controller judges
        (latency: the time to the first answer text for streams, the whole answer otherwise; a 5xx is an
        error), as every other model's requests are; a stream's tokens per second after its first text."""
        now = time.perf_counter()
        seconds = ttft if ttft is not None else now - routed.start
        generating = now - routed.start - seconds
        if ttft is not None and routed.completion_tokens and generating > 0:
            m.TOKENS_PER_SECOND.labels(*routed.labels).observe(routed.completion_tokens / generating)
        self.gateway.account(routed.model, routed.version, routed.role, code, seconds, transport="llm")

    def judge_sample(self, routed: _Routed, request_id: str, question: str, answer: str) -> None:
        """Offer the answer the client received to the model's online judge (``trilho serve --evals`` with a
        ``judge``): sampled with its inverse-probability weight like the predict path's answers, judged off
        the request path, scores into the windows the rollout analysis reads."""
        me = (getattr(self.gateway.evals, "models", None) or {}).get(routed.model)
        if me is None or me.evaluator.judge is None:
            return
        submit = functools.partial(
            me.evaluator.submit_for_judging,
            {"input": question},
            {"output": answer},
            model=routed.model,
            version=routed.version,
            key=f"{request_id}:0",
        )
        if me.submitter is None:
            submit()
        else:
            me.submitter.submit(submit)

    def upstream_failed(self, routed: _Routed, exc: UpstreamError, stream: bool) -> Response:
        """The upstream's refusal passed on (its status, body and Retry-After), counted."""
        self.finished(routed, exc.status)
        m.REQUESTS.labels(*routed.labels, f"upstream_{exc.status}", str(stream).lower()).inc()
        headers = {"Retry-After": exc.retry_after} if exc.retry_after else None
        body = (
            exc.body
            if isinstance(exc.body.get("error"), dict)
            else wire.error_body(exc.message, "upstream_error", exc.status)
        )
        return JSONResponse(body, status_code=exc.status, headers=headers)

    def account(self, routed: _Routed, usage: Any) -> None:
        """Count an answer's ``usage``: tokens and cost per version, and against the request's key."""
        if not isinstance(usage, dict):
            return
        prompt, completion = int(usage.get("prompt_tokens") or 0), int(usage.get("completion_tokens") or 0)
        routed.completion_tokens += completion
        m.TOKENS.labels(*routed.labels, "prompt").inc(prompt)
        m.TOKENS.labels(*routed.labels, "completion").inc(completion)
        cost = routed.target.cost(prompt, completion)
        if cost:
            m.COST.labels(*routed.labels).inc(cost)
        if routed.key is not None and self.limits is not None:
            self.limits.charge(routed.key, prompt + completion, cost, self.clock())
            m.KEY_TOKENS.labels(routed.key.name).inc(prompt + completion)
            if cost:
                m.KEY_SPEND.labels(routed.key.name).inc(cost)

    def _key(self, request: Request) -> tuple[KeyPolicy | None, Response | None]:
        """The request's key policy, or the refusal (unknown key, rate limit, spent budget) as a response."""
        if self.limits is None:
            return None, None
        api_key = request.headers.get("x-api-key")  # the Anthropic clients' header
        auth = request.headers.get("authorization") or (f"Bearer {api_key}" if api_key else None)
        key, refusal = self.limits.identify(auth)
        if refusal is None and key is not None:
            refusal = self.limits.admit(key, self.clock())
        if refusal is None:
            return key, None
        m.KEY_REFUSALS.labels(key.name if key else "", refusal.reason).inc()
        return key, _refused(refusal)

    def decided(self, routed: _Routed, request_id: str, record: RailRecord) -> None:
        """Keep, count and (unless it allowed) log one rail decision."""
        entry = {
            "request_id": request_id,
            "model": routed.model,
            "version": routed.version,
            **record.to_dict(),
        }
        self.decisions.append(entry)
        m.RAILS.labels(*routed.labels, record.stage, record.action).inc()
        if record.action != "allow":
            log.info("llm rail decision", **entry)
