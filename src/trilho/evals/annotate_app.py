"""The annotation web app (starlette): a server-rendered page with a form for reviewers, and a JSON API.

``GET /?annotator=NAME`` shows the next item and a radio-button form; ``POST /label`` submits it and redirects
back. API: ``GET /api/next``, ``POST /api/labels`` ({item_id, annotator, label}), ``GET /api/stats``,
``GET /api/agreement``, ``GET /api/calibration``.
"""

from __future__ import annotations

import asyncio

from jinja2 import Environment
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from starlette.routing import Route

from trilho.errors import EvalError
from trilho.evals.annotations import AnnotationQueue

_PAGE = Environment(autoescape=True).from_string("""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>trilho annotate — {{ queue }}</title>
<style>body{font-family:system-ui,sans-serif;margin:2rem;max-width:52rem}pre{white-space:pre-wrap;
background:#f5f5f5;padding:.8rem}.msg{color:#16794c}.err{color:#b42318}
label{display:block;margin:.3rem 0}</style>
</head><body><h1>Annotation queue <code>{{ queue }}</code></h1>
<p id="stats">pending {{ stats.pending }} · review {{ stats.review }} · done {{ stats.done }}</p>
{% if message %}<p class="msg" id="message">{{ message }}</p>{% endif %}
{% if error %}<p class="err" id="error">{{ error }}</p>{% endif %}
{% if not annotator %}
<form method="get" action="/"><label>Your name <input name="annotator" id="annotator" required></label>
<button type="submit" id="start">Start</button></form>
{% elif item %}
<p>Annotator <b id="who">{{ annotator }}</b>{% if item.status == 'review' %} · <b>second review</b>
(the first two annotators disagreed){% endif %}</p>
<h2>Input</h2><pre id="input">{{ item.input }}</pre><h2>Response</h2><pre id="output">{{ item.output }}</pre>
<form method="post" action="/label" id="label-form">
<input type="hidden" name="annotator" value="{{ annotator }}"><input type="hidden" name="item_id"
 value="{{ item.item_id }}">
{% for l in item.labels %}<label><input type="radio" name="label" value="{{ l }}" id="label-{{ loop.index }}"
 required> {{ l }}</label>{% endfor %}
<button type="submit" id="submit">Submit</button></form>
{% else %}<p id="empty">Nothing left for {{ annotator }} to label. Thank you!</p>{% endif %}
</body></html>""")


def make_annotation_app(queue: AnnotationQueue) -> Starlette:
    """The ASGI app over one queue."""

    async def page(request: Request) -> HTMLResponse:
        annotator = request.query_params.get("annotator", "").strip()
        item = None
        error = None
        if annotator:
            try:
                item = await asyncio.to_thread(queue.next_item, annotator)
            except EvalError as exc:
                error = exc.message
        stats = await asyncio.to_thread(queue.stats)
        return HTMLResponse(
            _PAGE.render(
                queue=queue.queue,
                annotator=annotator,
                item=item,
                stats=stats,
                message=request.query_params.get("message"),
                error=error,
            )
        )

    async def label_form(request: Request) -> Response:
        form = await request.form()
        annotator = str(form.get("annotator", ""))
        try:
            res = await asyncio.to_thread(
                queue.submit, str(form.get("item_id", "")), annotator, str(form.get("label", ""))
            )
        except EvalError as exc:
            return HTMLResponse(
                _PAGE.render(
                    queue=queue.queue,
                    annotator=annotator,
                    item=None,
                    stats=await asyncio.to_thread(queue.stats),
                    error=exc.message,
                ),
                status_code=400,
            )
        from urllib.parse import urlencode

        msg = f"Saved: {res.status}" + (f" ({res.final_label})" if res.final_label else "")
        return RedirectResponse("/?" + urlencode({"annotator": annotator, "message": msg}), status_code=303)

    async def api_next(request: Request) -> JSONResponse:
        try:
            item = await asyncio.to_thread(queue.next_item, request.query_params.get("annotator", ""))
        except EvalError as exc:
            return JSONResponse(exc.to_dict(), status_code=400)
        return JSONResponse({"item": item})

    async def api_label(request: Request) -> JSONResponse:
        try:
            body = await request.json()
        except ValueError:
            return JSONResponse({"error": "EvalError", "message": "the body is not JSON"}, status_code=400)
        if not isinstance(body, dict):
            return JSONResponse(
                {"error": "EvalError", "message": "the body must be an object"}, status_code=400
            )
        try:
            res = await asyncio.to_thread(
                queue.submit,
                str(body.get("item_id", "")),
                str(body.get("annotator", "")),
                str(body.get("label", "")),
            )
        except EvalError as exc:
            status = (
                409
                if exc.fields.get("field") in ("annotator", "item_id") and "already" in exc.message
                else 400
            )
            return JSONResponse(exc.to_dict(), status_code=status)
        return JSONResponse(res.to_dict())

    async def api_stats(request: Request) -> JSONResponse:
        return JSONResponse(await asyncio.to_thread(queue.stats))

    async def api_agreement(request: Request) -> JSONResponse:
        return JSONResponse(await asyncio.to_thread(queue.agreement))

    async def api_calibration(request: Request) -> JSONResponse:
        return JSONResponse({"rows": await asyncio.to_thread(queue.calibration_rows)})

    return Starlette(
        routes=[
            Route("/", page, methods=["GET"]),
            Route("/label", label_form, methods=["POST"]),
            Route("/api/next", api_next, methods=["GET"]),
            Route("/api/labels", api_label, methods=["POST"]),
            Route("/api/stats", api_stats, methods=["GET"]),
            Route("/api/agreement", api_agreement, methods=["GET"]),
            Route("/api/calibration", api_calibration, methods=["GET"]),
        ]
    )
