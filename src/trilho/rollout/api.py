"""The control API (Starlette): rollouts, kill switch, audit and tokens over HTTP, with token auth and roles.

``Authorization: Bearer trl_…``; roles ``viewer`` (read), ``deployer`` (start, pause, resume, promote,
rollback, kill), ``admin`` (tokens). Every call — allowed or not — is appended to the audit log with its
actor; secrets never reach the log (tokens are looked up by hash, webhook URLs are redacted). The OpenAPI
document is written by hand in :data:`OPENAPI` and served at ``/openapi.json``."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from trilho.errors import CheckFailed, InputError, StoreError, TrilhoError
from trilho.net import HttpLimits
from trilho.net.body import BodyGuard
from trilho.net.errors import RequestRejected
from trilho.net.jsonbody import decode_json
from trilho.net.ops import ops_routes
from trilho.net.refusals import REFUSED, RefusalSummary, audit_writer
from trilho.obs import get_logger
from trilho.rollout.auth import Principal, authenticate, create_token, revoke_token
from trilho.rollout.service import RolloutService

log = get_logger("trilho.rollout.api")


class _Denied(Exception):
    def __init__(self, status: int, message: str, actor: str, reason: str) -> None:
        self.status, self.message, self.actor, self.reason = status, message, actor, reason


def _json(data: Any, status: int = 200) -> Response:
    body = json.dumps(
        data, default=lambda v: v.to_dict() if hasattr(v, "to_dict") else str(v), allow_nan=False
    )
    return Response(body, status, media_type="application/json")


def _opt_str(value: Any) -> str | None:
    """A JSON field that must be text (or absent); anything else is an input error naming it."""
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, int | float) and not isinstance(value, bool):
        return str(value)
    raise InputError(
        f"expected text, got {type(value).__name__}", fix="send a string", value=repr(value)[:80]
    )


def _error_status(exc: TrilhoError) -> int:
    if isinstance(exc, RequestRejected):
        return exc.status
    if isinstance(exc, StoreError):
        return 503
    if isinstance(exc, CheckFailed):
        return 409  # a gate refused the candidate: the request is well formed, the candidate not ready
    if isinstance(exc, InputError) and any(s in exc.message for s in _MISSING):
        return 404
    return 409 if "cannot" in exc.message or "already" in exc.message else 400


#: What an error message says when the thing a (well-formed) request names is not there: 404.
_MISSING = ("does not exist", "has no rollout", "has no deployment", "no saved plan", "not found")


def create_app(
    service: RolloutService, *, limits: HttpLimits | None = None, refusals: RefusalSummary | None = None
) -> BodyGuard:
    """The control API over ``service`` (its store holds the tokens and the audit log), behind the request
    limits of ``limits`` (``TRILHO_HTTP_*`` by default). The token is checked from the headers before any of
    the body is read; refused calls are counted and summarised in the audit log (``refusals``)."""
    store = service.store
    limits = limits or HttpLimits.from_env()
    refusals = refusals or RefusalSummary("control_api", audit_writer(service, "control API"))

    def principal_for(request: Request, role: str) -> Principal:
        auth = request.headers.get("authorization", "")
        secret = auth[7:].strip() if auth.lower().startswith("bearer ") else None
        principal = authenticate(store, secret)
        if principal is None:
            raise _Denied(401, "a valid bearer token is required", "anonymous", "Unauthorized")
        if not principal.allows(role):
            raise _Denied(
                403, f"role {principal.role} may not do this; it needs {role}", principal.actor, "Forbidden"
            )
        return principal

    def refuse(request: Request, exc: _Denied) -> Response:
        evidence = {
            "method": request.method,
            "path": request.url.path,
            "status": exc.status,
            "model": request.path_params.get("model"),
        }
        refusals.refused(exc.actor, exc.reason, evidence)
        return _json({"error": exc.reason, "message": exc.message}, exc.status)

    def endpoint(role: str, fn: Callable[[Request, Principal], Any], *, body: bool = False):
        def handler(request: Request, principal: Principal, raw: bytes) -> Response:
            status = 500
            try:
                payload: Any = {}
                if body:
                    payload = decode_json(raw or b"{}", max_depth=limits.max_json_depth)
                    if not isinstance(payload, dict):
                        raise InputError("request body must be a JSON object", field="body")
                request.state.payload = payload
                out = fn(request, principal)
                status = 201 if request.method == "POST" and fn.__name__ in ("_start", "_token") else 200
                return _json(out, status)
            except TrilhoError as exc:
                status = _error_status(exc)
                return _json({"ok": False, **exc.to_dict()}, status)
            finally:
                try:
                    service.record(
                        actor=principal.actor,
                        action="api",
                        model=request.path_params.get("model"),
                        reason=f"{request.method} {request.url.path} → {status}",
                        evidence={
                            "method": request.method,
                            "path": request.url.path,
                            "status": status,
                            "role": principal.role,
                        },
                    )
                except TrilhoError as exc:  # the store is down: the call already failed with 503
                    log.error("could not audit an API call", error=str(exc))

        async def asgi(request: Request) -> Response:
            try:
                principal = await run_in_threadpool(principal_for, request, role)
            except _Denied as exc:
                return await run_in_threadpool(refuse, request, exc)
            except TrilhoError as exc:  # the store is down
                return _json({"ok": False, **exc.to_dict()}, _error_status(exc))
            raw = await request.body() if body else b""
            return await run_in_threadpool(handler, request, principal, raw)

        return asgi

    def who(p: Principal) -> str:
        return p.actor

    def _list(req: Request, p: Principal) -> Any:
        return {"rollouts": [r.to_dict() for r in service.active()], "kills": list(service.kills().values())}

    def _status(req: Request, p: Principal) -> Any:
        return service.latest(req.path_params["model"]).to_dict()

    def _history(req: Request, p: Principal) -> Any:
        limit = req.query_params.get("limit")
        return service.history(
            req.path_params["model"], limit=int(limit) if limit and limit.isdigit() else None
        )

    def _start(req: Request, p: Principal) -> Any:
        b = req.state.payload
        for key in ("model", "candidate", "plan"):
            if key not in b:
                raise InputError(
                    f"field {key!r} is required", fix="send model, candidate and plan", field=key
                )
        plan = b["plan"]
        one_line = isinstance(plan, str) and "\n" not in plan.strip() and not plan.lstrip().startswith("{")
        if one_line and plan not in service.plans():
            # one line: the name of a saved plan (the control API never reads a file of the server's)
            raise InputError(
                f"there is no saved plan named {plan[:80]!r}",
                fix="save it first (PUT /v1/plans/NAME) or send the plan's YAML text or object",
                field="plan",
                value=plan[:80],
            )
        ro = service.start(
            str(b["model"]),
            str(b["candidate"]),
            plan,
            actor=who(p),
            baseline=_opt_str(b.get("baseline")),
        )
        return ro.to_dict()

    def _verb(name: str):
        def run(req: Request, p: Principal) -> Any:
            reason = _opt_str(req.state.payload.get("reason")) or f"{name} via API by {who(p)}"
            return getattr(service, name)(req.path_params["model"], actor=who(p), reason=reason).to_dict()

        run.__name__ = f"_{name}"
        return run

    def _rollback(req: Request, p: Principal) -> Any:
        b = req.state.payload
        return service.rollback(
            req.path_params["model"],
            actor=who(p),
            to=_opt_str(b.get("to")),
            reason=_opt_str(b.get("reason")) or f"rollback via API by {who(p)}",
        )

    def _kill(req: Request, p: Principal) -> Any:
        b = req.state.payload
        model = req.path_params["model"]
        if b.get("release"):
            return service.release_kill(
                model, actor=who(p), reason=_opt_str(b.get("reason")) or "released via API"
            )
        return service.kill(
            model,
            actor=who(p),
            mode=str(b.get("mode", "candidates")),
            reason=_opt_str(b.get("reason")) or f"kill via API by {who(p)}",
        )

    def _verify(req: Request, p: Principal) -> Any:
        return service.verify_audit().to_dict()

    def _token(req: Request, p: Principal) -> Any:
        b = req.state.payload
        name, role = b.get("name"), b.get("role", "viewer")
        if not name:
            raise InputError("field 'name' is required", field="name")
        return {"name": name, "role": role, "token": create_token(store, str(name), str(role), actor=who(p))}

    def _plans(req: Request, p: Principal) -> Any:
        return {name: plan.redacted() for name, plan in service.plans().items()}

    def _save_plan(req: Request, p: Principal) -> Any:
        if "plan" not in req.state.payload:
            raise InputError(
                "field 'plan' is required", fix='send {"plan": YAML text or object}', field="plan"
            )
        return service.save_plan(req.path_params["name"], req.state.payload["plan"], actor=who(p)).redacted()

    def _revoke(req: Request, p: Principal) -> Any:
        return {"revoked": revoke_token(store, req.path_params["name"], actor=who(p))}

    async def openapi(request: Request) -> Response:
        return JSONResponse(OPENAPI)

    routes = [
        *ops_routes(),
        Route("/openapi.json", openapi, methods=["GET"]),
        Route("/v1/rollouts", endpoint("viewer", _list), methods=["GET"]),
        Route("/v1/rollouts", endpoint("deployer", _start, body=True), methods=["POST"]),
        Route("/v1/rollouts/{model}", endpoint("viewer", _status), methods=["GET"]),
        Route("/v1/rollouts/{model}/history", endpoint("viewer", _history), methods=["GET"]),
        Route(
            "/v1/rollouts/{model}/pause", endpoint("deployer", _verb("pause"), body=True), methods=["POST"]
        ),
        Route(
            "/v1/rollouts/{model}/resume", endpoint("deployer", _verb("resume"), body=True), methods=["POST"]
        ),
        Route(
            "/v1/rollouts/{model}/promote",
            endpoint("deployer", _verb("promote"), body=True),
            methods=["POST"],
        ),
        Route("/v1/rollouts/{model}/rollback", endpoint("deployer", _rollback, body=True), methods=["POST"]),
        Route("/v1/rollouts/{model}/kill", endpoint("deployer", _kill, body=True), methods=["POST"]),
        Route("/v1/audit/verify", endpoint("viewer", _verify), methods=["GET"]),
        Route("/v1/plans", endpoint("viewer", _plans), methods=["GET"]),
        Route("/v1/plans/{name}", endpoint("admin", _save_plan, body=True), methods=["PUT"]),
        Route("/v1/tokens", endpoint("admin", _token, body=True), methods=["POST"]),
        Route("/v1/tokens/{name}", endpoint("admin", _revoke), methods=["DELETE"]),
    ]
    return BodyGuard(Starlette(routes=routes), limits, _count_refusal)


def _count_refusal(scope: dict[str, Any], exc: RequestRejected) -> None:
    REFUSED.labels("control_api", exc.error).inc()


def _op(
    summary: str,
    role: str | None,
    *,
    body: dict[str, Any] | None = None,
    params: tuple[str, ...] = (),
    ok: int = 200,
    result: dict[str, Any] | None = None,
) -> dict[str, Any]:
    error = {"$ref": "#/components/responses/Error"}
    ok_body = {"application/json": {"schema": result or {"type": "object"}}}
    op: dict[str, Any] = {
        "summary": summary,
        "responses": {str(ok): {"description": "OK", "content": ok_body}, "400": error},
    }
    if params or body is not None:
        op["responses"].update({"404": error, "409": error, "503": error})
    if body is not None:
        op["responses"].update({"408": error, "413": error})
    if role:
        op["security"] = [{"bearer": []}]
        op["description"] = f"Requires role `{role}` or higher."
        op["responses"].update(
            {"401": {"$ref": "#/components/responses/Error"}, "403": {"$ref": "#/components/responses/Error"}}
        )
    if params:
        op["parameters"] = [
            {"name": n, "in": "path", "required": True, "schema": {"type": "string", "pattern": NAME_PATTERN}}
            for n in params
        ]
    if body is not None:
        op["requestBody"] = {"required": True, "content": {"application/json": {"schema": body}}}
    return op


NAME_PATTERN = "^[A-Za-z0-9][A-Za-z0-9._-]{0,199}$"  # trilho.names.NAME
_NAME = {"type": "string", "pattern": NAME_PATTERN}
_REASON = {"type": "object", "properties": {"reason": {"type": "string"}}}
OPENAPI: dict[str, Any] = {
    "openapi": "3.1.0",
    "info": {"title": "trilho rollout control API", "version": "1"},
    "components": {
        "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
        "responses": {
            "Error": {
                "description": "An error naming the field and the fix",
                "content": {
                    "application/json": {
                        "schema": {
                            "type": "object",
                            "properties": {
                                "error": {"type": "string"},
                                "message": {"type": "string"},
                                "fix": {"type": "string"},
                                "field": {"type": "string"},
                            },
                        }
                    }
                },
            }
        },
    },
    "paths": {
        "/healthz": {"get": _op("Liveness", None)},
        "/v1/rollouts": {
            "get": _op("Active rollouts and kill switches", "viewer"),
            "post": _op(
                "Start a rollout (gates run first)",
                "deployer",
                ok=201,
                body={
                    "type": "object",
                    "required": ["model", "candidate", "plan"],
                    "properties": {
                        "model": _NAME,
                        "candidate": _NAME,
                        "baseline": _NAME,
                        "plan": {
                            **_NAME,
                            "description": "The name of a saved plan (PUT /v1/plans/NAME). The plan's YAML "
                            "text or an object is accepted too; it is checked against the plan rules (400).",
                        },
                    },
                },
            ),
        },
        "/v1/rollouts/{model}": {"get": _op("The model's latest rollout", "viewer", params=("model",))},
        "/v1/rollouts/{model}/history": {
            "get": _op(
                "Audit entries of the model",
                "viewer",
                params=("model",),
                result={"type": "array", "items": {"type": "object"}},
            )
        },
        **{
            f"/v1/rollouts/{{model}}/{verb}": {
                "post": _op(f"{verb.capitalize()} the rollout", "deployer", params=("model",), body=_REASON)
            }
            for verb in ("pause", "resume", "promote")
        },
        "/v1/rollouts/{model}/rollback": {
            "post": _op(
                "Roll back now (optionally to a recent stable)",
                "deployer",
                params=("model",),
                body={
                    "type": "object",
                    "properties": {"to": {"type": "string"}, "reason": {"type": "string"}},
                },
            )
        },
        "/v1/rollouts/{model}/kill": {
            "post": _op(
                "Kill switch (candidates / all) or release",
                "deployer",
                params=("model",),
                body={
                    "type": "object",
                    "properties": {
                        "mode": {"enum": ["candidates", "all"]},
                        "release": {"type": "boolean"},
                        "reason": {"type": "string"},
                    },
                },
            )
        },
        "/v1/audit/verify": {"get": _op("Verify the hash chain and replay", "viewer")},
        "/v1/tokens": {
            "post": _op(
                "Create a token (secret returned once)",
                "admin",
                ok=201,
                body={
                    "type": "object",
                    "required": ["name"],
                    "properties": {
                        "name": _NAME,
                        "role": {"enum": ["annotator", "viewer", "deployer", "admin"]},
                    },
                },
            )
        },
        "/v1/tokens/{name}": {"delete": _op("Revoke a token", "admin", params=("name",))},
    },
}


def serve_api(store, *, host: str = "127.0.0.1", port: int = 8090, limits: HttpLimits | None = None) -> None:
    """Run the control API with uvicorn (blocking), under ``limits`` (``TRILHO_HTTP_*`` by default)."""
    from trilho.net.server import run

    limits = limits or HttpLimits.from_env()
    run(create_app(RolloutService(store), limits=limits), host=host, port=port, limits=limits)
