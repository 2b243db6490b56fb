"""`trilho golden` commands."""

import typer

app = typer.Typer(help="golden commands.", no_args_is_help=True)


def register(root: typer.Typer) -> None:
    root.add_typer(app, name="golden")
