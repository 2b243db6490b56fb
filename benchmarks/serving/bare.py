"""The limit: a bare Starlette endpoint that parses JSON, calls the model inline and answers JSON.

Run: ``python -m benchmarks.serving.bare PORT``."""

from __future__ import annotations

import json
import sys

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from benchmarks.serving.model import predict


async def endpoint(request: Request) -> Response:
    """Parse, predict inline, answer."""
    body = json.loads(await request.body())
    return Response(json.dumps({"predictions": predict(body["instances"])}), media_type="application/json")


app = Starlette(routes=[Route("/v1/models/scorer:predict", endpoint, methods=["POST"])])

if __name__ == "__main__":
    uvicorn.run(app, host="127.0.0.1", port=int(sys.argv[1]), access_log=False, log_level="warning")
