"""`trilho web`: serve the dashboard (models, rollouts, SLOs, evals, experiments) at ``/ui``."""

from __future__ import annotations

from typing import Annotated

import typer

from trilho.cli._common import handles_errors, open_store, server_logs, settings


@handles_errors
@server_logs
def web(
    ctx: typer.Context,
    host: Annotated[str, typer.Option("--host", help="Interface to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port", help="TCP port.")] = 8070,
    secure_cookie: Annotated[
        bool, typer.Option("--secure-cookie", help="Mark the session cookie Secure (behind HTTPS).")
    ] = False,
) -> None:
    """Serve the dashboard at http://HOST:PORT/ui (sign in with a control-API token)."""
    from trilho.registry import Registry
    from trilho.web import serve_dashboard

    store = open_store(ctx)
    s = settings(ctx)
    typer.echo(f"trilho dashboard on http://{host}:{port}/ui", err=True)
    serve_dashboard(
        store,
        host=host,
        port=port,
        registry=Registry(store, s.artifacts_url),
        reports_dir=s.reports_dir,
        secure_cookie=secure_cookie,
    )


def register(root: typer.Typer) -> None:
    """Add ``trilho web`` to the root command."""
    root.command("web")(web)
