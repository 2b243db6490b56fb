"""The ASGI app (Starlette): KServe V1, Open Inference Protocol V2, health, readiness, metrics and the
OpenAPI document, over a ``Gateway``. Bad input always gets a 4xx JSON body naming the problem."""

from __future__ import annotations

import contextlib
import itertools
import time
import uuid
from typing import Any

import msgspec
from starlette.applications import Starlette
from starlette.convertors import Convertor, register_url_convertor
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from starlette.types import Receive, Scope, Send

from trilho import __version__
from trilho.errors import InputError, SchemaViolation, TrilhoError
from trilho.net import HttpLimits
from trilho.net.body import BodyGuard
from trilho.net.errors import RequestRejected
from trilho.net.jsonbody import decode_json, nesting_too_deep, too_deep
from trilho.obs import get_logger, get_tracer
from trilho.obs.metrics import CONTENT_TYPE, render_latest
from trilho.obs.tracing import parent_context, tracing_enabled
from trilho.serving.batching import QueueFull
from trilho.serving.gateway import Answer, Gateway, RecordUnanswered, Unavailable, UnknownModel
from trilho.serving.llm.limits import KeyLimits
from trilho.serving.llm.proxy import LlmRoutes
from trilho.serving.oip_meta import contract_tensors, model_metadata, v2_unit
from trilho.serving.oip_v2 import (
    EXTENSIONS,
    HEADER_LENGTH,
    FramingError,
    check_datatypes,
    decode_request,
    format_v2,
    split_body,
)
from trilho.serving.oip_v2 import encode_response as encode_v2
from trilho.serving.openapi import build_openapi
from trilho.serving.protocols import BadRequest, deadline_ms, parse_v1, v2_error

log = get_logger("serving.access")
tracer = get_tracer("trilho.serving")
_encode = msgspec.json.Encoder().encode


class ModelName(Convertor):
    """A model name in a path: no slash and no colon (so ``{name}:predict`` splits cleanly)."""

    regex = "[^/:]+"

    def convert(self, value: str) -> str:
        """The path segment as the model name."""
        return value

    def to_string(self, value: str) -> str:
        """The model name as a path segment."""
        return value


register_url_convertor("model", ModelName())


class Problem(Exception):
    """An HTTP error with a JSON body."""

    def __init__(self, status: int, error: str, message: str, **fields: Any) -> None:
        super().__init__(message)
        self.status = status
        self.body = {"error": error, "message": message, **{k: v for k, v in fields.items() if v is not None}}


def json_response(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    """A JSON response encoded with msgspec."""
    return Response(_encode(body), status, headers, "application/json")


def _problem_response(p: Problem, headers: dict[str, str] | None = None, *, v2: bool = False) -> Response:
    return json_response(v2_error(p.body) if v2 else p.body, p.status, headers)


def is_v2_path(path: str) -> bool:
    """Whether ``path`` is an OIP V2 endpoint (whose errors are ``{"error": "<message>"}``)."""
    return path == "/v2" or path.startswith("/v2/")


def _wire(body: dict[str, Any], protocol: str) -> dict[str, Any]:
    """An error body in the protocol's shape (V2: the spec's ``{"error": "<message>"}``; V1: trilho's)."""
    return v2_error(body) if protocol == "v2" else body


_JSON_TYPE = (b"content-type", b"application/json")


_V2_BINARY = HEADER_LENGTH.encode()


def _check_content(headers: dict[bytes, bytes], limit: int) -> None:
    raw = headers.get(b"content-type")
    if raw is not None:
        ctype = raw.decode("latin-1")
        media = ctype.split(";", 1)[0].strip().lower()
        binary = media == "application/octet-stream" and _V2_BINARY in headers  # OIP binary tensor data
        if not binary and not media.endswith(("/json", "+json")):
            raise Problem(
                415,
                "UnsupportedMediaType",
                f"content type {ctype!r} is not JSON",
                fix="send Content-Type: application/json",
                field="content-type",
                value=ctype[:100],
            )
    length = headers.get(b"content-length")
    if length is not None:
        try:
            declared = int(length)
        except ValueError:
            raise Problem(
                400, "BadRequest", "Content-Length is not a number", field="content-length"
            ) from None
        if declared > limit:
            raise Problem(
                413,
                "PayloadTooLarge",
                f"body of {declared} bytes exceeds the {limit}-byte limit",
                fix="send fewer instances per request",
                field="body",
                value=declared,
                rule=f"maxBytes:{limit}",
            )


class _Disconnected(Exception):
    """The client went away before its body arrived: nothing to answer."""


async def _read_json(headers: dict[bytes, bytes], receive: Receive, limit: int, max_depth: int = 64) -> Any:
    """The request body as JSON, read straight from the ASGI ``receive`` (413 beyond ``limit`` bytes, 400 when
    it nests deeper than ``max_depth``)."""
    body = await _read_body(headers, receive, limit)
    try:
        return decode_json(body, max_depth=max_depth)
    except RequestRejected as exc:
        raise _problem(exc) from None


def _problem(exc: RequestRejected) -> Problem:
    fields = exc.to_dict()
    return Problem(exc.status, fields.pop("error"), fields.pop("message"), **fields)


def _refuse_deep(text: bytes | memoryview, max_depth: int) -> None:
    """400 when the JSON ``text`` nests deeper than ``max_depth`` (checked before it is parsed)."""
    if too_deep(bytes(text), max_depth):
        raise _problem(nesting_too_deep(max_depth))


async def _read_body(headers: dict[bytes, bytes], receive: Receive, limit: int) -> bytes:
    """The request body's bytes, read straight from the ASGI ``receive`` (413 beyond ``limit`` bytes)."""
    _check_content(headers, limit)
    message = await receive()
    if message["type"] != "http.request":
        raise _Disconnected()
    body = message.get("body", b"")
    if message.get("more_body", False):
        chunks, size = [body], len(body)
        while True:
            if size > limit:
                break
            message = await receive()
            if message["type"] != "http.request":
                raise _Disconnected()
            chunk = message.get("body", b"")
            chunks.append(chunk)
            size += len(chunk)
            if not message.get("more_body", False):
                break
        body = b"".join(chunks)
    if len(body) > limit:
        raise Problem(
            413,
            "PayloadTooLarge",
            f"body exceeds the {limit}-byte limit",
            fix="send fewer instances per request",
            field="body",
            rule=f"maxBytes:{limit}",
        )
    return body


def _deadline(headers: dict[bytes, bytes]) -> float | None:
    raw = headers.get(b"x-trilho-deadline-ms")
    if raw is None:
        return None
    try:
        return deadline_ms(raw.decode("latin-1"), "X-Trilho-Deadline-Ms")
    except BadRequest as exc:
        body = exc.to_dict()
        body.pop("error")
        raise Problem(400, "BadRequest", body.pop("message"), **body) from None


def predict_route(path: str) -> tuple[str, str] | None:
    """(model name, protocol) when ``path`` is a predict endpoint (``/v1/models/{name}:predict`` or
    ``/v2/models/{name}/infer``, the name without ``/`` or ``:``), else None."""
    if path.startswith("/v1/models/") and path.endswith(":predict"):
        name, protocol = path[11:-8], "v1"
    elif path.startswith("/v2/models/") and path.endswith("/infer"):
        name, protocol = path[11:-6], "v2"
    else:
        return None
    if not name or "/" in name or ":" in name:
        return None
    return name, protocol


async def _send_json(send: Send, status: int, body: Any, headers: list[tuple[bytes, bytes]]) -> None:
    await _send(send, status, _encode(body), [_JSON_TYPE, *headers])


_BINARY_TYPE = (b"content-type", b"application/octet-stream")


async def _send(send: Send, status: int, payload: bytes, headers: list[tuple[bytes, bytes]]) -> None:
    raw = [(b"content-length", str(len(payload)).encode()), *headers]
    await send({"type": "http.response.start", "status": status, "headers": raw})
    await send({"type": "http.response.body", "body": payload})


def _retry_headers(request_id: str) -> list[tuple[bytes, bytes]]:
    return [(b"retry-after", b"1"), (b"x-request-id", request_id.encode("latin-1"))]


class GatewayApp:
    """Request handlers bound to one gateway. The predict endpoints are plain ASGI (the hot path: no
    Request/Response objects, headers read once); everything else goes through Starlette."""

    def __init__(self, gateway: Gateway) -> None:
        self.gateway = gateway
        self.limit = gateway.settings.max_body_bytes
        self.max_depth = gateway.settings.http_limits().max_json_depth
        self.max_instances = gateway.settings.max_instances
        self._prefix = uuid.uuid4().hex[
            :12
        ]  # unique per process; a counter makes each id (no syscall per request)
        self._ids = itertools.count()

    def _next_id(self) -> str:
        return f"{self._prefix}-{next(self._ids):x}"

    async def predict(self, scope: Scope, receive: Receive, send: Send, name: str, protocol: str) -> None:
        """Serve one predict request (KServe V1 or OIP V2) on raw ASGI; unexpected errors answer 500."""
        try:
            await self._serve(scope, receive, send, name, protocol)
        except _Disconnected:
            return
        except Exception as exc:
            log.error("unhandled error", path=scope.get("path"), error=f"{type(exc).__name__}: {exc}")
            body = (
                exc.to_dict()
                if isinstance(exc, TrilhoError)
                else {"error": "InternalError", "message": str(exc)}
            )
            with contextlib.suppress(Exception):  # the response may have started already
                await _send_json(send, 500, _wire(body, protocol), [])

    async def _serve(self, scope: Scope, receive: Receive, send: Send, name: str, protocol: str) -> None:
        start = time.perf_counter()
        gw = self.gateway
        headers: dict[bytes, bytes] = dict(scope["headers"])
        rid = headers.get(b"x-request-id")
        request_id = rid.decode("latin-1")[:128] if rid else self._next_id()
        v2 = None
        labels = (name, "", "")
        try:
            mr = gw.model(name)  # 404 before reading the body
            if protocol == "v1":
                body = await _read_json(headers, receive, self.limit, self.max_depth)
                records = parse_v1(body, self.max_instances, contract_tensors(mr).input_names)
            else:
                raw = await _read_body(headers, receive, self.limit)
                _refuse_deep(split_body(raw, headers.get(_V2_BINARY))[0], self.max_depth)
                v2 = decode_request(raw, headers.get(_V2_BINARY), self.max_instances)
                check_datatypes(v2.datatypes, contract_tensors(mr).kinds)
                records = v2.records
            deadline = _deadline(headers)
            raw_unit = headers.get(b"x-trilho-unit")
            unit = raw_unit.decode("latin-1") if raw_unit is not None else v2_unit(v2)
            if tracing_enabled():
                parent = parent_context(headers)  # W3C traceparent: join the caller's trace
                with tracer.start_as_current_span("trilho.serving.predict", context=parent) as span:
                    answer: Answer = await gw.predict(
                        name, records, unit=unit, request_id=request_id, deadline_ms=deadline
                    )
                    span.set_attributes(
                        {
                            "model": name,
                            "version": answer.chosen_version,
                            "variant": answer.variant,
                            "request_id": request_id,
                            "fallback": answer.fallback_reason or "",
                        }
                    )
            else:
                answer = await gw.predict(
                    name, records, unit=unit, request_id=request_id, deadline_ms=deadline
                )
        except Problem as p:
            return await self._fail(send, p, labels, start, request_id, protocol)
        except UnknownModel as exc:
            p = Problem(404, "UnknownModel", exc.message, fix=exc.fix, **exc.fields)
            return await self._fail(send, p, labels, start, request_id, protocol)
        except SchemaViolation as exc:
            body = exc.to_dict()
            p = Problem(422, body.pop("error"), body.pop("message"), **body)
            return await self._fail(send, p, labels, start, request_id, protocol)
        except BadRequest as exc:
            body = exc.to_dict()
            # malformed (not JSON, binary framing that does not add up): 400; well-formed but wrong: 422
            malformed = isinstance(exc, FramingError) or exc.fields.get("field") in (None, "body")
            p = Problem(400 if malformed else 422, body.pop("error"), body.pop("message"), **body)
            return await self._fail(send, p, labels, start, request_id, protocol)
        except QueueFull as exc:
            version, variant = str(exc.fields.get("version", "")), str(exc.fields.get("variant", ""))
            gw.shed(name, version, variant, "queue_full")
            gw.account(name, version, variant, 503, time.perf_counter() - start, shed=True)
            p = Problem(503, "Shed", exc.message, fix=exc.fix, reason="queue_full")
            return await _send_json(send, 503, _wire(p.body, protocol), _retry_headers(request_id))
        except RecordUnanswered as exc:  # the caller's record made the model (and its fallbacks) fail
            body = {k: v for k, v in exc.fields.items() if k not in ("model", "version", "variant")}
            p = Problem(422, "ModelError", exc.message, fix=exc.fix, **body)
            return await self._fail(send, p, labels, start, request_id, protocol)
        except Unavailable as exc:
            version, variant = str(exc.fields.get("version", "")), str(exc.fields.get("variant", ""))
            p = Problem(503, "Unavailable", exc.message, fix=exc.fix, reason=exc.fields.get("reason"))
            gw.account(
                name,
                version,
                variant,
                503,
                time.perf_counter() - start,
                fallback_reason=exc.fields.get("reason"),
            )
            return await _send_json(send, 503, _wire(p.body, protocol), _retry_headers(request_id))
        except InputError as exc:
            body = exc.to_dict()
            p = Problem(400, body.pop("error"), body.pop("message"), **body)
            return await self._fail(send, p, labels, start, request_id, protocol)
        chunks: list[bytes] = []
        if v2 is None:
            out: dict[str, Any] = {"predictions": answer.outputs}
        else:
            try:
                out, chunks = format_v2(
                    answer.outputs,
                    name,
                    answer.version,
                    v2.id,
                    declared=contract_tensors(mr).declared,
                    requested=v2.outputs,
                    binary_output=v2.binary_output,
                )
            except BadRequest as exc:
                body = exc.to_dict()
                body.pop("error")
                p = Problem(400, "BadRequest", body.pop("message"), **body)
                return await self._fail(send, p, labels, start, request_id, protocol)
        reply = [
            (b"x-trilho-model-version", answer.version.encode("latin-1")),
            (b"x-trilho-variant", answer.variant.encode("latin-1")),
            (b"x-request-id", request_id.encode("latin-1")),
        ]
        if answer.fallback_reason is not None:
            out["fallback"] = {"reason": answer.fallback_reason, "source": answer.fallback_source}
            reply.append(
                (b"x-trilho-fallback", f"{answer.fallback_reason}; source={answer.fallback_source}".encode())
            )
            if v2 is not None:
                out["parameters"] = {
                    "fallback_reason": answer.fallback_reason,
                    "fallback_source": answer.fallback_source,
                }
                del out["fallback"]
        seconds = time.perf_counter() - start
        gw.account(
            name, answer.chosen_version, answer.variant, 200, seconds, fallback_reason=answer.fallback_reason
        )
        if gw.sample_access_log():
            log.info(
                "request",
                model=name,
                version=answer.version,
                variant=answer.variant,
                status=200,
                duration_ms=round(seconds * 1000, 3),
                request_id=request_id,
                protocol=protocol,
                fallback=answer.fallback_reason,
            )
        if v2 is None:
            await _send_json(send, 200, out, reply)
        else:
            payload, header_length = encode_v2(out, chunks)
            if header_length is None:
                await _send(send, 200, payload, [_JSON_TYPE, *reply])
            else:
                framing = (_V2_BINARY, str(header_length).encode())
                await _send(send, 200, payload, [_BINARY_TYPE, framing, *reply])
        if answer.shadow is not None:  # after the response is sent, like a background task
            gw.offer_shadow(answer.shadow)

    async def _fail(
        self,
        send: Send,
        p: Problem,
        labels: tuple[str, str, str],
        start: float,
        request_id: str,
        protocol: str,
    ) -> None:
        # client errors are counted per served model (an unknown name is not a label: bounded cardinality),
        # never against a version's window
        model = labels[0] if labels[0] in self.gateway.models else ""
        self.gateway.count_client_error(model, p.status)
        if self.gateway.sample_access_log():
            log.info(
                "request",
                model=labels[0],
                status=p.status,
                error=p.body.get("error"),
                duration_ms=round((time.perf_counter() - start) * 1000, 3),
                request_id=request_id,
            )
        body = _wire(p.body, protocol)
        await _send_json(send, p.status, body, [(b"x-request-id", request_id.encode("latin-1"))])

    def _model_or_404(self, request: Request):
        try:
            return self.gateway.model(request.path_params["name"])
        except UnknownModel as exc:
            raise Problem(404, "UnknownModel", exc.message, fix=exc.fix, **exc.fields) from None

    async def v1_models(self, request: Request) -> Response:
        """GET /v1/models: the names of the models served (KServe V1 list)."""
        return json_response({"models": sorted(self.gateway.models)})

    async def v1_model(self, request: Request) -> Response:
        """GET /v1/models/{name}."""
        try:
            mr = self._model_or_404(request)
        except Problem as p:
            return _problem_response(p)
        return json_response({"name": mr.name, "ready": mr.ready})

    async def v2_model(self, request: Request) -> Response:
        """GET /v2/models/{name}: versions and the contract's fields."""
        try:
            mr = self._model_or_404(request)
        except Problem as p:
            return _problem_response(p, v2=True)
        return json_response(model_metadata(mr))

    async def v2_model_ready(self, request: Request) -> Response:
        """GET /v2/models/{name}/ready."""
        try:
            mr = self._model_or_404(request)
        except Problem as p:
            return _problem_response(p, v2=True)
        return json_response({"ready": mr.ready}, 200 if mr.ready else 400)

    async def v2_server(self, request: Request) -> Response:
        """GET /v2: server metadata."""
        return json_response({"name": "trilho", "version": __version__, "extensions": list(EXTENSIONS)})

    async def live(self, request: Request) -> Response:
        """GET /v2/health/live."""
        return json_response({"ready": True})

    async def v2_ready(self, request: Request) -> Response:
        """GET /v2/health/ready."""
        ready = self.gateway.ready
        return json_response({"ready": ready}, 200 if ready else 400)

    async def healthz(self, request: Request) -> Response:
        """GET /healthz: the process answers."""
        return json_response({"status": "ok"})

    async def readyz(self, request: Request) -> Response:
        """GET /readyz: 200 only after every live version's warm-up passed."""
        status = self.gateway.status()
        return json_response(status, 200 if status["ready"] else 503)

    async def metrics(self, request: Request) -> Response:
        """GET /metrics: Prometheus text format."""
        return Response(render_latest(), 200, media_type=CONTENT_TYPE)

    async def openapi(self, request: Request) -> Response:
        """GET /openapi.json."""
        schemas = {}
        for name, mr in self.gateway.models.items():
            contract = mr.stable.loaded.contract if mr.stable is not None else None
            try:
                schemas[name] = contract.json_schema("input") if hasattr(contract, "json_schema") else None
            except Exception:  # a contract without a JSON Schema export keeps the generic path only
                schemas[name] = None
        tensors = {name: contract_tensors(mr).inputs for name, mr in self.gateway.models.items()}
        return json_response(build_openapi(list(self.gateway.models), schemas, tensors))


async def _http_exception(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    names = {404: "NotFound", 405: "MethodNotAllowed"}
    error = names.get(exc.status_code, "HTTPError")
    body = {"error": error, "message": str(exc.detail), "path": request.url.path}
    v2 = is_v2_path(request.url.path)
    return json_response(v2_error(body) if v2 else body, exc.status_code, dict(exc.headers or {}))


async def _unexpected(request: Request, exc: Exception) -> Response:
    log.error("unhandled error", path=request.url.path, error=f"{type(exc).__name__}: {exc}")
    body = exc.to_dict() if isinstance(exc, TrilhoError) else {"error": "InternalError", "message": str(exc)}
    return json_response(v2_error(body) if is_v2_path(request.url.path) else body, 500)


def create_app(gateway: Gateway, *, lifespan: bool = True) -> GatewayASGI:
    """The Starlette app over ``gateway``; with ``lifespan`` the app starts and stops the gateway."""
    h = GatewayApp(gateway)
    routes = [
        Route("/v1/models/{name:model}:predict", _PredictEndpoint(h, "v1"), methods=["POST"]),
        Route("/v1/models/{name:model}", h.v1_model, methods=["GET"]),
        Route("/v1/models", h.v1_models, methods=["GET"]),
        Route("/v2/models/{name:model}/infer", _PredictEndpoint(h, "v2"), methods=["POST"]),
        Route("/v2/models/{name:model}/ready", h.v2_model_ready, methods=["GET"]),
        Route("/v2/models/{name:model}", h.v2_model, methods=["GET"]),
        Route("/v2/health/live", h.live, methods=["GET"]),
        Route("/v2/health/ready", h.v2_ready, methods=["GET"]),
        Route("/v2", h.v2_server, methods=["GET"]),
        Route("/healthz", h.healthz, methods=["GET"]),
        Route("/readyz", h.readyz, methods=["GET"]),
        Route("/metrics", h.metrics, methods=["GET"]),
        Route("/openapi.json", h.openapi, methods=["GET"]),
    ]
    keys = gateway.settings.llm_keys
    # OpenAI-compatible chat completions over llm versions, under /openai/v1
    llm = LlmRoutes(gateway, limits=KeyLimits.load(keys) if keys else None)
    routes += llm.routes()

    @contextlib.asynccontextmanager
    async def _lifespan(app):
        await gateway.start()
        llm.warm()
        grpc = await _start_grpc(gateway, app.state)
        try:
            yield
        finally:
            if grpc is not None:
                await grpc.stop()
            await llm.aclose()
            await gateway.stop()

    app = Starlette(
        routes=routes,
        lifespan=_lifespan if lifespan else None,
        exception_handlers={HTTPException: _http_exception, Exception: _unexpected},
    )
    app.state.gateway = gateway
    app.state.llm = llm
    return GatewayASGI(app, h, gateway.settings.http_limits())


async def _start_grpc(gateway: Gateway, state: Any) -> Any:
    """The OIP V2 gRPC transport over the same gateway, when ``settings.grpc_port`` asks for one; its bound
    port goes to ``state.grpc_port``."""
    gs = gateway.settings
    if gs.grpc_port is None:
        return None
    from trilho.serving.grpc_server import GrpcTransport

    transport = GrpcTransport(gateway, gs.host, gs.grpc_port, reuse_port=gs.workers > 1)
    await transport.start()
    state.grpc_port = transport.port
    return transport


class _PredictEndpoint:
    """A Starlette route endpoint for a predict path (reached only when the fast path did not take it)."""

    def __init__(self, handlers: GatewayApp, protocol: str) -> None:
        self.handlers = handlers
        self.protocol = protocol

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await self.handlers.predict(scope, receive, send, scope["path_params"]["name"], self.protocol)


class GatewayASGI:
    """The gateway's ASGI app: predict requests go straight to their handler, the rest to Starlette
    (``.starlette``: routes, lifespan, error handlers, ``state``); every request behind the body size and
    time limits of the gateway's settings (:class:`~trilho.net.body.BodyGuard`)."""

    def __init__(self, starlette: Starlette, handlers: GatewayApp, limits: HttpLimits | None = None) -> None:
        self.starlette = starlette
        self.handlers = handlers
        self.state = starlette.state
        self._guarded: Any = self._route
        if limits is not None:
            gateway = handlers.gateway
            self._guarded = BodyGuard(
                self._route,
                limits,
                lambda scope, exc: gateway.count_client_error("", exc.status),
                lambda scope, exc: v2_error(exc.to_dict()) if is_v2_path(scope.get("path", "")) else None,
            )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await self._guarded(scope, receive, send)

    async def _route(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] == "POST":
            route = predict_route(scope["path"])
            if route is not None:
                await self.handlers.predict(scope, receive, send, *route)
                return
        await self.starlette(scope, receive, send)
