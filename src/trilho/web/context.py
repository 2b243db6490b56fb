"""What every dashboard route shares: the store and services, the template renderer, the signed-in principal.

:class:`Ui` is built once by :func:`trilho.web.app.create_app` and handed to each route module
(``trilho.web.routes``); it holds no request state. :func:`Ui.page` wraps a synchronous page: the sign-in
cookie is checked against the store first, then the page runs in a thread.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jinja2
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.templating import Jinja2Templates

from trilho.net.refusals import RefusalSummary
from trilho.rollout import RolloutService
from trilho.rollout.auth import Principal, authenticate
from trilho.web.slo import window_label

HERE = Path(__file__).parent
COOKIE = "trilho_token"


class Unauthorized(Exception):
    """No sign-in cookie ("missing") or one naming an unknown or revoked token ("invalid")."""


def templates() -> Jinja2Templates:
    """The Jinja2 templates with the dashboard's filters (JSON for plotly attributes, %, numbers, windows)."""
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(HERE / "templates"),
        autoescape=jinja2.select_autoescape(["html"]),
        undefined=jinja2.StrictUndefined,
    )
    env.filters["tojson_attr"] = lambda v: json.dumps(v, default=str, allow_nan=False)
    env.filters["pct"] = lambda v, d=1: "—" if not _finite(v) else f"{v * 100:.{d}f}%"
    env.filters["num"] = lambda v, d=2: "—" if not _finite(v) else f"{v:.{d}f}"
    env.filters["window"] = window_label
    return Jinja2Templates(env=env)


def _finite(value: Any) -> bool:
    return isinstance(value, int | float) and math.isfinite(value)


@dataclass
class Ui:
    """The dashboard's shared parts."""

    store: Any
    registry: Any
    service: RolloutService
    reports: Path
    refusals: RefusalSummary
    templates: Jinja2Templates
    poll_seconds: int
    secure_cookie: bool

    def render(self, request: Request, template: str, code: int = 200, /, **ctx: Any) -> Response:
        """A template as an HTML response (the signed-in principal and poll interval filled in)."""
        ctx.setdefault("principal", getattr(request.state, "principal", None))
        ctx.setdefault("poll", 0)
        return self.templates.TemplateResponse(request, template, ctx, status_code=code)

    def principal_of(self, request: Request) -> Principal:
        """The token behind the request's cookie (checked against the store every time)."""
        secret = request.cookies.get(COOKIE)
        if not secret:
            raise Unauthorized("missing")
        p = authenticate(self.store, secret)
        if p is None:
            raise Unauthorized("invalid")
        request.state.principal = p
        return p

    def page(self, fn: Callable[[Request], Response]):
        """A signed-in page; sync work runs in a thread."""

        async def endpoint(request: Request) -> Response:
            def work() -> Response:
                self.principal_of(request)
                return fn(request)

            return await run_in_threadpool(work)

        return endpoint

    def error_page(self, request: Request, status: int, title: str, message: str, fix: str = "") -> Response:
        """The readable error page."""
        return self.render(
            request, "error.html", status, title=title, message=message, fix=fix, status=status
        )


def evidence(request: Request, model: str | None, status: int, principal: Principal | None = None) -> dict:
    """What a refusal's audit summary records about the request."""
    return {
        "method": request.method,
        "path": request.url.path,
        "status": status,
        "model": model,
        "role": principal.role if principal else None,
    }
