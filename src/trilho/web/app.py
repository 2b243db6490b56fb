"""The dashboard's ASGI app (Starlette, server-rendered Jinja2) mounted at ``/ui``.

Sign-in takes a control-API token (``trl_…``); the secret is kept in an HttpOnly, SameSite=Strict cookie and
checked against the store on every request, so a revoked token stops working at once and roles are the control
API's (viewer reads, deployer acts). Actions call :class:`~trilho.rollout.RolloutService` with the token's
actor, so they land in the hash-chained audit log exactly like API calls; refused ones are audited too.
Errors — unknown ids, bad or revoked tokens, a store that is down — render a readable page with the right
status code, never a traceback.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import FileResponse, RedirectResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from trilho.net import HttpLimits
from trilho.net.body import BodyGuard
from trilho.net.errors import RequestRejected
from trilho.net.ops import ops_routes
from trilho.net.origin import OriginGuard
from trilho.net.refusals import REFUSED, RefusalSummary, audit_writer
from trilho.rollout import RolloutService
from trilho.web.context import COOKIE, HERE, Ui, templates
from trilho.web.routes import actions, auth, errors, pages

__all__ = ["COOKIE", "create_app", "plotly_js_path", "serve_dashboard"]
POLL_SECONDS = 5


def plotly_js_path() -> Path:
    """plotly.min.js as shipped inside the installed ``plotly`` package (served as is: no CDN)."""
    import plotly

    return Path(plotly.__file__).parent / "package_data" / "plotly.min.js"


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
    service = RolloutService(store)
    limits = limits or HttpLimits.from_env()
    refusals = refusals or RefusalSummary("dashboard", audit_writer(service, "dashboard"))
    ui = Ui(store, registry, service, Path(reports_dir), refusals, templates(), poll_seconds, secure_cookie)

    async def plotly_js(request: Request) -> Response:
        headers = {"Cache-Control": "max-age=86400"}
        return FileResponse(plotly_js_path(), media_type="text/javascript", headers=headers)

    routes = [
        *pages.routes(ui),
        *auth.routes(ui),
        *actions.routes(ui),
        Route("/static/plotly.min.js", plotly_js),
        Mount("/static", StaticFiles(directory=HERE / "static"), name="static"),
    ]
    app = Starlette(routes=routes, exception_handlers=errors.handlers(ui))

    async def root(request: Request) -> Response:
        return RedirectResponse("/ui/", 307)

    def edge_refusal(scope: dict[str, Any], exc: RequestRejected) -> None:
        REFUSED.labels("dashboard", exc.error).inc()

    def cross_site(scope: dict[str, Any], exc: RequestRejected) -> None:
        evidence = {"method": scope["method"], "path": scope["path"], "status": exc.status}
        refusals.refused("anonymous", exc.error, evidence)

    site = Starlette(
        routes=[Route("/", root), *ops_routes(), Mount("/ui", app)],
        exception_handlers={HTTPException: errors.http_handler(ui)},
    )
    return BodyGuard(OriginGuard(site, cross_site), limits, edge_refusal)


def serve_dashboard(store, *, host: str = "127.0.0.1", port: int = 8070, **options: Any) -> None:
    """Run the dashboard with uvicorn (blocking), under ``TRILHO_HTTP_*`` limits unless ``limits`` is
    given."""
    from trilho.net.server import run

    limits = options.pop("limits", None) or HttpLimits.from_env()
    run(create_app(store, limits=limits, **options), host=host, port=port, limits=limits)
