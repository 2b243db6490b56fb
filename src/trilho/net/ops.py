"""The operations endpoints every trilho server answers, without auth and without touching its state:
``GET /healthz`` (the process serves HTTP) and ``GET /metrics`` (this process's metrics, Prometheus text)."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from trilho.obs.metrics import CONTENT_TYPE, render_latest


async def healthz(request: Request) -> Response:
    """Liveness: 200 while the process serves HTTP."""
    return JSONResponse({"status": "ok"})


async def metrics(request: Request) -> Response:
    """This process's Prometheus metrics."""
    return Response(render_latest(), 200, media_type=CONTENT_TYPE)


def ops_routes() -> list[Route]:
    """``/healthz`` and ``/metrics``, for a server's route list."""
    return [Route("/healthz", healthz, methods=["GET"]), Route("/metrics", metrics, methods=["GET"])]
