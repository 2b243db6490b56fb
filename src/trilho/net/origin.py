"""The same-origin rule for servers that authenticate browsers by cookie (the dashboard, the annotation app):
a state-changing request must say where it comes from (``Origin``, else ``Referer``) and that must be the
server itself; the sign-in form also carries a token bound to a cookie (login CSRF)."""

from __future__ import annotations

import hmac
import secrets
from collections.abc import Callable, Mapping
from typing import Any
from urllib.parse import urlsplit

from trilho.net.errors import RequestRejected, send_rejection

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
CSRF_COOKIE = "trilho_csrf"
CSRF_FIELD = "csrf"


def same_origin(method: str, headers: Mapping[str, str]) -> bool:
    """True for a safe method, or when the request's ``Origin`` (else ``Referer``) is an http(s) URL whose
    host and port are the ``Host`` it was sent to. A request naming neither is refused: browsers send one on
    every cross-site post, so only a page of the server itself (or a non-browser client) can pass."""
    if method.upper() in SAFE_METHODS:
        return True
    host = headers.get("host", "").strip().lower()
    source = headers.get("origin") or headers.get("referer") or ""
    if not host or not source or source == "null":
        return False
    try:
        parts = urlsplit(source)
    except ValueError:
        return False
    return parts.scheme in ("http", "https") and parts.netloc.lower() == host


def cross_site(method: str) -> RequestRejected:
    """The 403 for a state-changing request that does not come from the server's own pages."""
    return RequestRejected(
        403,
        "CrossSiteRequest",
        f"a {method} must come from this server's own pages (Origin or Referer naming this host)",
        fix="use the form on this site; API clients send an Authorization header or a matching Origin",
        field="origin",
        rule="sameOrigin",
    )


class OriginGuard:
    """ASGI middleware applying :func:`same_origin` to every request authenticated by cookie (one carrying an
    ``Authorization`` header is exempt: a cross-site page cannot set it without a CORS preflight, which no
    trilho server grants); ``on_refused(scope, error)`` is told of each refusal."""

    def __init__(
        self, app: Any, on_refused: Callable[[dict[str, Any], RequestRejected], None] | None = None
    ) -> None:
        self.app = app
        self.on_refused = on_refused

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "http" and scope["method"] not in SAFE_METHODS:
            headers = {k.decode("latin-1"): v.decode("latin-1") for k, v in scope["headers"]}
            if "authorization" not in headers and not same_origin(scope["method"], headers):
                exc = cross_site(scope["method"])
                if self.on_refused is not None:
                    self.on_refused(scope, exc)
                return await send_rejection(send, exc)
        await self.app(scope, receive, send)


def new_csrf_token() -> str:
    """A fresh random token for a sign-in form (and its cookie)."""
    return secrets.token_urlsafe(24)


def csrf_matches(cookie: str | None, submitted: str | None) -> bool:
    """True when the form's token equals the cookie's (constant-time)."""
    return bool(cookie) and bool(submitted) and hmac.compare_digest(str(cookie), str(submitted))
