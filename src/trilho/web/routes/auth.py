"""Sign in with a control-API token (login CSRF token, HttpOnly SameSite=Strict cookie) and sign out."""

from __future__ import annotations

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from trilho.net.origin import CSRF_COOKIE, CSRF_FIELD, csrf_matches, new_csrf_token
from trilho.rollout.auth import authenticate
from trilho.web.context import COOKIE, Ui, evidence


def safe_next(value: str | None) -> str:
    """Only local /ui paths (no open redirects)."""
    if value and value.startswith("/ui/") and not value.startswith("//") and "\\" not in value:
        return value
    return "/ui/rollouts"


def routes(ui: Ui) -> list[Route]:
    """/login (GET form, POST sign-in) and /logout."""

    def login_page(request: Request, code: int, nxt: str, error: str | None) -> Response:
        csrf = new_csrf_token()
        resp = ui.render(request, "login.html", code, next=nxt, error=error, csrf=csrf)
        resp.set_cookie(
            CSRF_COOKIE, csrf, httponly=True, samesite="strict", secure=ui.secure_cookie, path="/ui/login"
        )
        return resp

    async def login_form(request: Request) -> Response:
        return login_page(request, 200, safe_next(request.query_params.get("next")), None)

    async def login(request: Request) -> Response:
        form = await request.form()
        secret = str(form.get("token", "")).strip()
        nxt = safe_next(str(form.get("next", "")))
        if not csrf_matches(request.cookies.get(CSRF_COOKIE), str(form.get(CSRF_FIELD, ""))):
            ui.refusals.refused("anonymous", "LoginCsrf", evidence(request, None, 403))
            return login_page(
                request, 403, nxt, "The sign-in form expired or came from another site: try again."
            )
        p = await run_in_threadpool(authenticate, ui.store, secret)
        if p is None:
            await run_in_threadpool(
                ui.refusals.refused, "anonymous", "Unauthorized", evidence(request, None, 401)
            )
            return login_page(request, 401, nxt, "That token is unknown or revoked. Ask an admin.")
        resp = RedirectResponse(nxt, 303)
        resp.delete_cookie(CSRF_COOKIE, path="/ui/login")
        resp.set_cookie(
            COOKIE,
            secret,
            httponly=True,
            samesite="strict",
            secure=ui.secure_cookie,
            path="/ui",
            max_age=8 * 3600,
        )
        return resp

    async def logout(request: Request) -> Response:
        resp = RedirectResponse("/ui/login", 303)
        resp.delete_cookie(COOKIE, path="/ui")
        return resp

    return [
        Route("/login", login_form, methods=["GET"]),
        Route("/login", login, methods=["POST"]),
        Route("/logout", logout, methods=["POST"]),
    ]
