"""Readable error pages with the right status code: sign in again (401), not found, not allowed, the store
down (503), a refused transition (409), and anything unexpected (500, logged) — never a traceback."""

from __future__ import annotations

from typing import Any

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from trilho.errors import StoreError, TrilhoError
from trilho.obs import get_logger
from trilho.web import data
from trilho.web.context import COOKIE, Ui, Unauthorized

log = get_logger("trilho.web")


def handlers(ui: Ui) -> dict[Any, Any]:
    """Starlette exception handlers for the /ui app."""
    error_page = ui.error_page

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

    return {
        Unauthorized: on_unauthorized,
        data.NotFound: on_not_found,
        HTTPException: http_handler(ui),
        TrilhoError: on_trilho,
        Exception: on_error,
    }


def http_handler(ui: Ui):
    """404/403/405 and other HTTP errors as the error page (also used outside /ui)."""

    async def on_http(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, HTTPException)
        titles = {404: "Not found", 403: "Not allowed", 405: "Method not allowed"}
        detail = (
            exc.detail if exc.status_code != 404 or exc.detail != "Not Found" else "No page at this address."
        )
        return ui.error_page(
            request, exc.status_code, titles.get(exc.status_code, "Request failed"), str(detail)
        )

    return on_http
