"""The root ``trilho`` command: global options, ``version``, and one verb group per package."""

from __future__ import annotations

from typing import Annotated

import typer

from trilho import __version__
from trilho.cli._common import JsonFlag, emit, handles_errors

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
        str | None, typer.Option("--home", envvar="TRILHO_HOME", help="State folder (default ./.trilho).")
    ] = None,
    database_url: Annotated[
        str | None,
        typer.Option("--database-url", envvar="TRILHO_DATABASE_URL", help="SQLAlchemy URL (default SQLite in home)."),
    ] = None,
) -> None:
    """Global options shared by every command."""
    ctx.obj = {"home": home, "database_url": database_url}


@app.command()
@handles_errors
def version(json_out: JsonFlag = False) -> None:
    """Print trilho's version."""
    emit({"version": __version__}, json_out, lambda c: c.print(f"trilho {__version__}"))


def _register() -> None:
    from trilho.cli import contract, golden, model

    app.add_typer(contract.app, name="contract")
    app.add_typer(model.app, name="model")
    app.add_typer(golden.app, name="golden")


_register()


def main() -> None:
    """Console-script entry point."""
    app()


if __name__ == "__main__":
    main()
