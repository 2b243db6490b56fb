"""`trilho serve`: run the serving gateway."""

import typer


def register(root: typer.Typer) -> None:
    pass
