"""The dashboard's ASGI app (Starlette, server-rendered Jinja2) mounted at ``/ui``.

Sign-in takes a control-API token (``trl_…``); the secret is kept in an HttpOnly, SameSite=Strict cookie and
checked against the store on every request, so a revoked token stops working at once and roles are the control
API's (viewer reads, deployer acts). Actions call :class:`~trilho.rollout.RolloutService` with the token's
actor, so they land in the hash-chained audit log exactly like API calls; refused ones are audited too.
Errors — unknown ids, bad or revoked tokens, a store that is down — render a readable page with the right
status code, never a traceback.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

import jinja2
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import FileResponse, RedirectResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.templating import Jinja2Templates

from trilho.errors import StoreError, TrilhoError
from trilho.net import HttpLimits
from trilho.net.body import BodyGuard
from trilho.net.errors import RequestRejected
from trilho.net.ops import ops_routes
from trilho.net.origin import CSRF_COOKIE, CSRF_FIELD, OriginGuard, csrf_matches, new_csrf_token
from trilho.net.refusals import REFUSED, RefusalSummary, audit_writer
from trilho.obs import get_logger
from trilho.rollout import RolloutService
from trilho.rollout.auth import Principal, authenticate
from trilho.web import data
from trilho.web.slo import window_label

log = get_logger("trilho.web")
HERE = Path(__file__).parent
COOKIE = "trilho_token"
ACTIONS = ("pause", "resume", "promote", "rollback", "kill")
POLL_SECONDS = 5


def plotly_js_path() -> Path:
    """plotly.min.js as shipped inside the installed ``plotly`` package (served as is: no CDN)."""
    import plotly

    return Path(plotly.__file__).parent / "package_data" / "plotly.min.js"


class _Unauthorized(Exception):
    pass


def create_app(
    store,
    *,
    registry=None,
    reports_dir: str | Path | None = None,
    secure_cookie: bool = False,
    poll_seconds: int = POLL_SECONDS,
    limits: HttpLimits | None = None,
    refusals: RefusalSummary | None = None,
) -> BodyGuard:
    """The dashboard over ``store`` (rollouts, routing, audit), ``registry`` and the reports folder, behind
    the request limits (``TRILHO_HTTP_*`` by default) and the same-origin rule for every post."""
    if registry is None:
        from trilho.registry import Registry

        registry = Registry(store)
    if reports_dir is None:
        from trilho.config import resolve_settings

        reports_dir = resolve_settings().reports_dir
    reports = Path(reports_dir)
    service = RolloutService(store)
    limits = limits or HttpLimits.from_env()
    refusals = refusals or RefusalSummary("dashboard", audit_writer(service, "dashboard"))
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(HERE / "templates"),
        autoescape=jinja2.select_autoescape(["html"]),
        undefined=jinja2.StrictUndefined,
    )
    env.filters["tojson_attr"] = lambda v: json.dumps(v, default=str, allow_nan=False)
    env.filters["pct"] = lambda v, d=1: "—" if not _finite(v) else f"{v * 100:.{d}f}%"
    env.filters["num"] = lambda v, d=2: "—" if not _finite(v) else f"{v:.{d}f}"
    env.filters["window"] = window_label
    templates = Jinja2Templates(env=env)

    def render(request: Request, template: str, code: int = 200, /, **ctx: Any) -> Response:
        ctx.setdefault("principal", getattr(request.state, "principal", None))
        ctx.setdefault("poll", 0)
        return templates.TemplateResponse(request, template, ctx, status_code=code)

    def principal_of(request: Request) -> Principal:
        secret = request.cookies.get(COOKIE)
        if not secret:
            raise _Unauthorized("missing")
        p = authenticate(store, secret)
        if p is None:
            raise _Unauthorized("invalid")
        request.state.principal = p
        return p

    def page(fn: Callable[[Request], Response]):
        """A signed-in page; sync work runs in a thread."""

        async def endpoint(request: Request) -> Response:
            def work() -> Response:
                principal_of(request)
                return fn(request)

            return await run_in_threadpool(work)

        return endpoint

    # --- sign in / out -------------------------------------------------------------------------------------
    def login_page(request: Request, code: int, nxt: str, error: str | None) -> Response:
        csrf = new_csrf_token()
        resp = render(request, "login.html", code, next=nxt, error=error, csrf=csrf)
        resp.set_cookie(
            CSRF_COOKIE, csrf, httponly=True, samesite="strict", secure=secure_cookie, path="/ui/login"
        )
        return resp

    async def login_form(request: Request) -> Response:
        return login_page(request, 200, _safe_next(request.query_params.get("next")), None)

    async def login(request: Request) -> Response:
        form = await request.form()
        secret = str(form.get("token", "")).strip()
        nxt = _safe_next(str(form.get("next", "")))
        if not csrf_matches(request.cookies.get(CSRF_COOKIE), str(form.get(CSRF_FIELD, ""))):
            refusals.refused("anonymous", "LoginCsrf", _evidence(request, None, 403))
            return login_page(
                request, 403, nxt, "The sign-in form expired or came from another site: try again."
            )
        p = await run_in_threadpool(authenticate, store, secret)
        if p is None:
            await run_in_threadpool(
                refusals.refused, "anonymous", "Unauthorized", _evidence(request, None, 401)
            )
            return login_page(request, 401, nxt, "That token is unknown or revoked. Ask an admin.")
        resp = RedirectResponse(nxt, 303)
        resp.delete_cookie(CSRF_COOKIE, path="/ui/login")
        resp.set_cookie(
            COOKIE,
            secret,
            httponly=True,
            samesite="strict",
            secure=secure_cookie,
            path="/ui",
            max_age=8 * 3600,
        )
        return resp

    async def logout(request: Request) -> Response:
        resp = RedirectResponse("/ui/login", 303)
        resp.delete_cookie(COOKIE, path="/ui")
        return resp

    # --- pages ---------------------------------------------------------------------------------------------
    def home(request: Request) -> Response:
        return RedirectResponse("/ui/rollouts", 303)

    def models(request: Request) -> Response:
        return render(request, "models.html", nav="models", models=data.models_overview(registry))

    def model(request: Request) -> Response:
        d = data.model_detail(registry, store, request.path_params["name"])
        return render(request, "model.html", nav="models", **d)

    def rollouts(request: Request) -> Response:
        d = data.rollouts_overview(service)
        return render(request, "rollouts.html", nav="rollouts", poll=poll_seconds, **d)

    def rollout(request: Request) -> Response:
        d = data.rollout_detail(service, request.path_params["model"])
        p: Principal = request.state.principal
        allowed = _allowed_actions(d["rollout_obj"], d["kill"])
        return render(
            request,
            "rollout.html",
            nav="rollouts",
            poll=poll_seconds,
            can_act=p.allows("deployer"),
            allowed=allowed,
            actions=ACTIONS,
            message=request.query_params.get("done"),
            **d,
        )

    def slos(request: Request) -> Response:
        return render(request, "slos.html", nav="slos", poll=poll_seconds, models=data.slos_overview(store))

    def evals(request: Request) -> Response:
        return render(request, "evals.html", nav="evals", **data.evals_overview(store))

    def experiments_page(request: Request) -> Response:
        return render(
            request,
            "experiments.html",
            nav="experiments",
            experiments=data.experiments(reports),
            reports=reports,
        )

    def experiment_page(request: Request) -> Response:
        e = data.experiment(reports, request.path_params["exp"])
        return render(request, "experiment.html", nav="experiments", e=e)

    def experiment_report(request: Request) -> Response:
        return FileResponse(
            data.report_html_path(reports, request.path_params["exp"]), media_type="text/html"
        )

    # --- actions -------------------------------------------------------------------------------------------
    async def act(request: Request) -> Response:
        model, verb = request.path_params["model"], request.path_params["action"]
        try:  # the cookie is checked before a byte of the body is read
            principal = await run_in_threadpool(principal_of, request)
        except _Unauthorized:
            await run_in_threadpool(
                refusals.refused, "anonymous", "Unauthorized", _evidence(request, model, 401)
            )
            raise
        form = await request.form()
        reason = str(form.get("reason", "")).strip()

        def work() -> Response:
            status = 500
            try:
                if verb not in ACTIONS:
                    raise HTTPException(404, f"there is no action {verb!r}; use one of {', '.join(ACTIONS)}")
                if not principal.allows("deployer"):
                    status = 403
                    raise HTTPException(
                        403,
                        f"role {principal.role} may not {verb}; it needs deployer (ask an admin for a token)",
                    )
                actor = principal.actor
                why = reason or f"{verb} from the dashboard by {actor}"
                if verb == "kill":
                    service.kill(model, actor=actor, reason=why)
                elif verb == "rollback":
                    service.rollback(model, actor=actor, reason=why)
                else:
                    getattr(service, verb)(model, actor=actor, reason=why)
                status = 303
                return RedirectResponse(f"/ui/rollouts/{model}?done={verb}", 303)
            except HTTPException as exc:
                status = exc.status_code
                raise
            except TrilhoError as exc:
                status = 503 if isinstance(exc, StoreError) else 409  # the audit notes a refusal
                raise
            finally:
                if status == 403:
                    refusals.refused(principal.actor, "Forbidden", _evidence(request, model, 403, principal))
                elif status != 303:
                    _audit_refusal(service, principal, request, model, status)

        return await run_in_threadpool(work)

    async def plotly_js(request: Request) -> Response:
        return FileResponse(
            plotly_js_path(), media_type="text/javascript", headers={"Cache-Control": "max-age=86400"}
        )

    # --- errors --------------------------------------------------------------------------------------------
    def error_page(request: Request, status: int, title: str, message: str, fix: str = "") -> Response:
        return render(request, "error.html", status, title=title, message=message, fix=fix, status=status)

    async def on_unauthorized(request: Request, exc: Exception) -> Response:
        if str(exc) == "missing" and request.method == "GET":
            return RedirectResponse(f"/ui/login?next={request.url.path}", 303)
        resp = error_page(
            request,
            401,
            "Sign in again",
            "Your token is unknown, revoked or missing, so this page cannot be shown.",
            "Sign in with a valid control-API token (trilho rollout token create).",
        )
        resp.delete_cookie(COOKIE, path="/ui")
        return resp

    async def on_not_found(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, data.NotFound)
        return error_page(request, 404, "Not found", str(exc), exc.fix)

    async def on_http(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, HTTPException)
        titles = {404: "Not found", 403: "Not allowed", 405: "Method not allowed"}
        detail = (
            exc.detail if exc.status_code != 404 or exc.detail != "Not Found" else "No page at this address."
        )
        return error_page(
            request, exc.status_code, titles.get(exc.status_code, "Request failed"), str(detail)
        )

    async def on_trilho(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, TrilhoError)
        if isinstance(exc, StoreError):
            return error_page(request, 503, "The store is unavailable", exc.message, exc.fix or "")
        missing = "does not exist" in exc.message or "has no rollout" in exc.message
        code = 404 if missing else 409 if "cannot" in exc.message or "already" in exc.message else 400
        return error_page(request, code, "That did not work", exc.message, getattr(exc, "fix", "") or "")

    async def on_error(request: Request, exc: Exception) -> Response:
        log.error("dashboard error", path=request.url.path, error=repr(exc))
        return error_page(
            request, 500, "Something went wrong", "The dashboard hit an unexpected error; it is logged."
        )

    routes = [
        Route("/", page(home)),
        Route("/login", login_form, methods=["GET"]),
        Route("/login", login, methods=["POST"]),
        Route("/logout", logout, methods=["POST"]),
        Route("/models", page(models)),
        Route("/models/{name}", page(model)),
        Route("/rollouts", page(rollouts)),
        Route("/rollouts/{model}", page(rollout)),
        Route("/rollouts/{model}/{action}", act, methods=["POST"]),
        Route("/slos", page(slos)),
        Route("/evals", page(evals)),
        Route("/experiments", page(experiments_page)),
        Route("/experiments/{exp:path}/report.html", page(experiment_report)),
        Route("/experiments/{exp:path}", page(experiment_page)),
        Route("/static/plotly.min.js", plotly_js),
        Mount("/static", StaticFiles(directory=HERE / "static"), name="static"),
    ]
    ui = Starlette(
        routes=routes,
        exception_handlers={
            _Unauthorized: on_unauthorized,
            data.NotFound: on_not_found,
            HTTPException: on_http,
            TrilhoError: on_trilho,
            Exception: on_error,
        },
    )

    async def root(request: Request) -> Response:
        return RedirectResponse("/ui/", 307)

    def edge_refusal(scope: dict[str, Any], exc: RequestRejected) -> None:
        REFUSED.labels("dashboard", exc.error).inc()

    def cross_site(scope: dict[str, Any], exc: RequestRejected) -> None:
        evidence = {"method": scope["method"], "path": scope["path"], "status": exc.status}
        refusals.refused("anonymous", exc.error, evidence)

    routes = [Route("/", root), *ops_routes(), Mount("/ui", ui)]
    site = Starlette(routes=routes, exception_handlers={HTTPException: on_http})
    return BodyGuard(OriginGuard(site, cross_site), limits, edge_refusal)


def _finite(value: Any) -> bool:
    return isinstance(value, int | float) and math.isfinite(value)


def _allowed_actions(ro, kill: dict | None) -> set[str]:
    """Which buttons make sense for the rollout's phase (the server re-checks through the state machine)."""
    if ro is None:
        return {"kill"} if not kill else set()
    phase = ro.state.phase.value
    out = {"kill"} if not kill else set()
    if phase in ("shadow", "canary"):
        out |= {"pause", "promote", "rollback"}
    elif phase == "paused":
        out |= {"resume", "promote", "rollback"}
    elif phase in ("promoted",):
        out |= {"rollback"}
    return out


def _evidence(request: Request, model: str | None, status: int, principal: Principal | None = None) -> dict:
    """What a refusal's audit summary records about the request."""
    return {
        "method": request.method,
        "path": request.url.path,
        "status": status,
        "model": model,
        "role": principal.role if principal else None,
    }


def _audit_refusal(service: RolloutService, principal, request: Request, model: str, status: int) -> None:
    try:
        service.record(
            actor=principal.actor if principal else "anonymous",
            action="api",
            model=model,
            reason=f"{request.method} {request.url.path} → {status} (dashboard)",
            evidence={
                "method": request.method,
                "path": request.url.path,
                "status": status,
                "role": principal.role if principal else None,
                "via": "dashboard",
            },
        )
    except TrilhoError as exc:
        log.error("could not audit a refused dashboard action", error=str(exc))


def _safe_next(value: str | None) -> str:
    """Only local /ui paths (no open redirects)."""
    if value and value.startswith("/ui/") and not value.startswith("//") and "\\" not in value:
        return value
    return "/ui/rollouts"


def serve_dashboard(store, *, host: str = "127.0.0.1", port: int = 8070, **options: Any) -> None:
    """Run the dashboard with uvicorn (blocking), under ``TRILHO_HTTP_*`` limits unless ``limits`` is
    given."""
    from trilho.net.server import run

    limits = options.pop("limits", None) or HttpLimits.from_env()
    run(create_app(store, limits=limits, **options), host=host, port=port, limits=limits)
