"""`trilho contract` commands."""

import typer

app = typer.Typer(help="contract commands.", no_args_is_help=True)
