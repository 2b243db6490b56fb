"""The annotation web app (starlette): a server-rendered page with a form for reviewers, and a JSON API.

Annotators sign in with a token (role ``annotator`` or higher: ``trilho rollout token create NAME --role
annotator``); the annotator recorded with a label is always the token's name, never a form or body field.
The page keeps the token in an HttpOnly, SameSite=Strict cookie, its sign-in form carries a CSRF token, and
every post must come from the app's own pages (``Origin``/``Referer``, :mod:`trilho.net.origin`). API clients
send ``Authorization: Bearer …``. ``GET /`` shows the next item and a radio-button form; ``POST /label``
submits it. API: ``GET /api/next``, ``POST /api/labels`` ({item_id, label}), ``GET /api/stats``,
``GET /api/agreement``, ``GET /api/calibration``. How tokens are checked is passed in (``authenticate``), so
this module does not depend on the control plane.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any, Protocol
from urllib.parse import urlencode

from jinja2 import Environment
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from starlette.routing import Route

from trilho.errors import EvalError
from trilho.evals.annotations import AnnotationQueue
from trilho.net import HttpLimits
from trilho.net.body import BodyGuard
from trilho.net.errors import RequestRejected
from trilho.net.jsonbody import decode_json
from trilho.net.ops import ops_routes
from trilho.net.origin import CSRF_COOKIE, CSRF_FIELD, OriginGuard, csrf_matches, new_csrf_token
from trilho.net.refusals import REFUSED, RefusalSummary

COOKIE = "trilho_annotator"
ROLE = "annotator"


class Principal(Protocol):
    """Who a token belongs to (``trilho.rollout.auth.Principal`` fits)."""

    name: str
    role: str

    def allows(self, role: str) -> bool: ...


Authenticate = Callable[[str | None], Principal | None]

_PAGE = Environment(autoescape=True).from_string("""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>trilho annotate — {{ queue }}</title>
<style>body{font-family:system-ui,sans-serif;margin:2rem;max-width:52rem}pre{white-space:pre-wrap;
background:#f5f5f5;padding:.8rem}.msg{color:#16794c}.err{color:#b42318}
label{display:block;margin:.3rem 0}</style>
</head><body><h1>Annotation queue <code>{{ queue }}</code></h1>
{% if stats %}<p id="stats">pending {{ stats.pending }} · review {{ stats.review }} · done {{ stats.done }}
</p>{% endif %}
{% if message %}<p class="msg" id="message">{{ message }}</p>{% endif %}
{% if error %}<p class="err" id="error">{{ error }}</p>{% endif %}
{% if not annotator %}
<form method="post" action="/login"><input type="hidden" name="csrf" value="{{ csrf }}">
<label>Your annotator token
<input name="token" id="token" type="password" autocomplete="off" required></label>
<button type="submit" id="start">Sign in</button></form>
{% elif item %}
<p>Annotator <b id="who">{{ annotator }}</b>{% if item.status == 'review' %} · <b>second review</b>
(the first two annotators disagreed){% endif %}</p>
<h2>Input</h2><pre id="input">{{ item.input }}</pre><h2>Response</h2><pre id="output">{{ item.output }}</pre>
<form method="post" action="/label" id="label-form">
<input type="hidden" name="item_id" value="{{ item.item_id }}">
{% for l in item.labels %}<label><input type="radio" name="label" value="{{ l }}" id="label-{{ loop.index }}"
 required> {{ l }}</label>{% endfor %}
<button type="submit" id="submit">Submit</button></form>
{% else %}<p id="empty">Nothing left for {{ annotator }} to label. Thank you!</p>{% endif %}
{% if annotator %}<form method="post" action="/logout"><button type="submit" id="logout">Sign out</button>
</form>{% endif %}
</body></html>""")


class _Refused(Exception):
    def __init__(self, status: int, error: str, message: str) -> None:
        super().__init__(message)
        self.status, self.error, self.message = status, error, message


def make_annotation_app(
    queue: AnnotationQueue,
    *,
    authenticate: Authenticate,
    limits: HttpLimits | None = None,
    refusals: RefusalSummary | None = None,
    secure_cookie: bool = False,
) -> BodyGuard:
    """The ASGI app over one queue; ``authenticate(secret)`` names the token's principal (None: refused)."""
    limits = limits or HttpLimits.from_env()
    refusals = refusals or RefusalSummary("annotate")

    def principal_of(request: Request) -> Principal:
        """The signed-in annotator (Bearer header, else the cookie), checked before any body is read."""
        auth = request.headers.get("authorization", "")
        secret = auth[7:].strip() if auth.lower().startswith("bearer ") else request.cookies.get(COOKIE)
        principal = authenticate(secret)
        evidence = {"method": request.method, "path": request.url.path, "queue": queue.queue}
        if principal is None:
            refusals.refused("anonymous", "Unauthorized", {**evidence, "status": 401})
            raise _Refused(401, "Unauthorized", "sign in with an annotator token")
        if not principal.allows(ROLE):
            refusals.refused(f"token:{principal.name}", "Forbidden", {**evidence, "status": 403})
            raise _Refused(403, "Forbidden", f"role {principal.role} may not annotate")
        return principal

    def page_html(annotator: str = "", item: Any = None, stats: Any = None, **extra: Any) -> str:
        ctx = {"queue": queue.queue, "annotator": annotator, "item": item, "stats": stats}
        return _PAGE.render(**{"message": None, "error": None, "csrf": "", **ctx, **extra})

    def login_page(status: int = 200, error: str | None = None) -> HTMLResponse:
        csrf = new_csrf_token()
        resp = HTMLResponse(page_html(csrf=csrf, error=error), status_code=status)
        resp.set_cookie(CSRF_COOKIE, csrf, httponly=True, samesite="strict", secure=secure_cookie, path="/")
        return resp

    async def page(request: Request) -> Response:
        if not request.cookies.get(COOKIE) and "authorization" not in request.headers:
            return login_page()
        try:
            who = (await asyncio.to_thread(principal_of, request)).name
        except _Refused as exc:
            return login_page(exc.status, exc.message)
        item, error = None, None
        try:
            item = await asyncio.to_thread(queue.next_item, who)
        except EvalError as exc:
            error = exc.message
        stats = await asyncio.to_thread(queue.stats)
        return HTMLResponse(
            page_html(who, item, stats, message=request.query_params.get("message"), error=error)
        )

    async def login(request: Request) -> Response:
        form = await request.form()
        if not csrf_matches(request.cookies.get(CSRF_COOKIE), str(form.get(CSRF_FIELD, ""))):
            refusals.refused("anonymous", "LoginCsrf", {"method": "POST", "path": "/login", "status": 403})
            return login_page(403, "The sign-in form expired or came from another site: try again.")
        secret = str(form.get("token", "")).strip()
        principal = await asyncio.to_thread(authenticate, secret)
        if principal is None or not principal.allows(ROLE):
            refusals.refused("anonymous", "Unauthorized", {"method": "POST", "path": "/login", "status": 401})
            return login_page(401, "That token is unknown, revoked or may not annotate.")
        resp = RedirectResponse("/", status_code=303)
        resp.delete_cookie(CSRF_COOKIE, path="/")
        resp.set_cookie(
            COOKIE, secret, httponly=True, samesite="strict", secure=secure_cookie, path="/", max_age=8 * 3600
        )
        return resp

    async def logout(request: Request) -> Response:
        resp = RedirectResponse("/", status_code=303)
        resp.delete_cookie(COOKIE, path="/")
        return resp

    async def label_form(request: Request) -> Response:
        try:
            who = (await asyncio.to_thread(principal_of, request)).name
        except _Refused as exc:
            return HTMLResponse(page_html(error=exc.message), status_code=exc.status)
        form = await request.form()
        try:
            res = await asyncio.to_thread(
                queue.submit, str(form.get("item_id", "")), who, str(form.get("label", ""))
            )
        except EvalError as exc:
            stats = await asyncio.to_thread(queue.stats)
            return HTMLResponse(page_html(who, None, stats, error=exc.message), status_code=400)
        msg = f"Saved: {res.status}" + (f" ({res.final_label})" if res.final_label else "")
        return RedirectResponse("/?" + urlencode({"message": msg}), status_code=303)

    def api(fn: Callable[[Request, str], Any]):
        """A JSON endpoint for a signed-in annotator; refusals and input errors answer JSON."""

        async def endpoint(request: Request) -> Response:
            try:
                who = (await asyncio.to_thread(principal_of, request)).name
                return JSONResponse(await fn(request, who))
            except _Refused as exc:
                return JSONResponse({"error": exc.error, "message": exc.message}, status_code=exc.status)
            except RequestRejected as exc:
                return JSONResponse(exc.to_dict(), status_code=exc.status)
            except EvalError as exc:
                field = exc.fields.get("field")
                status = 409 if field in ("annotator", "item_id") and "already" in exc.message else 400
                return JSONResponse(exc.to_dict(), status_code=status)

        return endpoint

    async def api_next(request: Request, who: str) -> Any:
        return {"item": await asyncio.to_thread(queue.next_item, who)}

    async def api_label(request: Request, who: str) -> Any:
        body = decode_json(await request.body(), max_depth=limits.max_json_depth)
        if not isinstance(body, dict):
            raise EvalError("the body must be a JSON object", field="body")
        claimed = body.get("annotator")
        if claimed not in (None, who):
            raise EvalError(
                f"annotator {str(claimed)[:80]!r} is not the signed-in token's name {who!r}",
                fix="leave 'annotator' out: it is taken from the token",
                field="annotator",
                value=str(claimed)[:80],
            )
        item_id, label = body.get("item_id", ""), body.get("label", "")
        res = await asyncio.to_thread(queue.submit, str(item_id), who, str(label))
        return res.to_dict()

    async def api_stats(request: Request, who: str) -> Any:
        return await asyncio.to_thread(queue.stats)

    async def api_agreement(request: Request, who: str) -> Any:
        return await asyncio.to_thread(queue.agreement)

    async def api_calibration(request: Request, who: str) -> Any:
        return {"rows": await asyncio.to_thread(queue.calibration_rows)}

    def cross_site(scope: dict[str, Any], exc: RequestRejected) -> None:
        refusals.refused(
            "anonymous", exc.error, {"method": scope["method"], "path": scope["path"], "status": 403}
        )

    def edge_refusal(scope: dict[str, Any], exc: RequestRejected) -> None:
        REFUSED.labels("annotate", exc.error).inc()

    app = Starlette(
        routes=[
            *ops_routes(),
            Route("/", page, methods=["GET"]),
            Route("/login", login, methods=["POST"]),
            Route("/logout", logout, methods=["POST"]),
            Route("/label", label_form, methods=["POST"]),
            Route("/api/next", api(api_next), methods=["GET"]),
            Route("/api/labels", api(api_label), methods=["POST"]),
            Route("/api/stats", api(api_stats), methods=["GET"]),
            Route("/api/agreement", api(api_agreement), methods=["GET"]),
            Route("/api/calibration", api(api_calibration), methods=["GET"]),
        ]
    )
    return BodyGuard(OriginGuard(app, cross_site), limits, edge_refusal)
