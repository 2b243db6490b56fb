"""The root ``trilho`` command: global options, ``version``, and one verb group per package."""

from __future__ import annotations

from typing import Annotated

import typer

from trilho import __version__
from trilho.cli._common import JsonFlag, emit, handles_errors, use_logs
from trilho.config import ARTIFACTS_URL_ENV, DATABASE_URL_ENV, HOME_ENV

app = typer.Typer(
    name="trilho",
    help="Ship ML models and LLM features safely, and measure what they really change.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


@app.callback()
def root(
    ctx: typer.Context,
    home: Annotated[
        str | None, typer.Option("--home", envvar=HOME_ENV, help="State folder (default ./.trilho).")
    ] = None,
    database_url: Annotated[
        str | None,
        typer.Option(
            "--database-url", envvar=DATABASE_URL_ENV, help="SQLAlchemy URL (default SQLite in home)."
        ),
    ] = None,
    artifacts_url: Annotated[
        str | None,
        typer.Option(
            "--artifacts-url",
            envvar=ARTIFACTS_URL_ENV,
            help="Artifact store: a folder or any fsspec URL (s3://…, gs://…); default <home>/artifacts. "
            "Hosts that share a database must share this too.",
        ),
    ] = None,
    verbose: Annotated[
        int,
        typer.Option(
            "--verbose",
            "-v",
            count=True,
            help="Show info logs on stderr (-vv: debug). Without it commands log only warnings and errors; "
            "servers log info as JSON lines.",
        ),
    ] = 0,
) -> None:
    """Global options shared by every command."""
    ctx.obj = {
        "home": home, "database_url": database_url, "artifacts_url": artifacts_url, "verbose": verbose,
    }  # fmt: skip
    use_logs(ctx)


@app.command()
@handles_errors
def version(json_out: JsonFlag = False) -> None:
    """Print trilho's version."""
    emit({"version": __version__}, json_out, lambda c: c.print(f"trilho {__version__}"))


# Each module owns one verb group (or top-level verb) and exposes ``register(app)``.
_COMMAND_MODULES = (
    "contract", "model", "golden", "measure", "evals", "recsys", "serve", "demo", "rollout", "deploy",
    "project", "web", "exposures",
)  # fmt: skip


def _register() -> None:
    import importlib

    for name in _COMMAND_MODULES:
        importlib.import_module(f"trilho.cli.{name}").register(app)


_register()


def main() -> None:
    """Console-script entry point."""
    app()


if __name__ == "__main__":
    main()
