"""trilho.web — the dashboard: models, rollouts, SLOs, evals and experiments at ``/ui``.

    from trilho.web import create_app
    app = create_app(store, registry=registry, reports_dir=home / "reports")   # any ASGI server
    # or: trilho web --port 8070, then sign in with a control-API token

Server-rendered (Starlette + Jinja2), charts drawn by the plotly.js file shipped inside the ``plotly``
package (no CDN), live sections refreshed by polling. Sign-in, roles and actions are the control API's.
"""

from trilho.web.app import create_app, plotly_js_path, serve_dashboard

__all__ = ["create_app", "plotly_js_path", "serve_dashboard"]
