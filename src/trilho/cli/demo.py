"""`trilho demo`: the end-to-end story on embedded defaults."""

from __future__ import annotations

from typing import Annotated

import typer

from trilho.cli._common import JsonFlag, emit, handles_errors, settings
from trilho.errors import InputError


def register(root: typer.Typer) -> None:
    root.command("demo")(demo)


@handles_errors
def demo(
    ctx: typer.Context,
    quick: Annotated[bool, typer.Option("--quick", help="Reduced scale (what CI runs).")] = False,
    act: Annotated[
        list[int], typer.Option("--act", help="Run only this act (1-7, repeatable) to tell one part again.")
    ] = [],  # noqa: B006
    json_out: JsonFlag = False,
) -> None:
    """Run the end-to-end demo: contracts, registry, golden tests, serving, rollouts, evals, measurement.

    The demo has its own home, ``<home>/demo``, made fresh on every run: run it as often as you like.
    The story is told on the console; component logs stay at warnings unless asked for (-v).
    """
    from trilho.demo.acts import ACTS

    unknown = sorted({n for n in act if not 1 <= n <= len(ACTS)})
    if unknown:
        raise InputError(
            f"there is no act {unknown[0]}", fix=f"pick acts 1 to {len(ACTS)}", field="act", value=unknown
        )
    acts = [a for n, a in enumerate(ACTS, start=1) if not act or n in act]
    from rich.console import Console

    from trilho.demo.runner import run_demo

    # With --json, stdout carries only the JSON; the narration goes to stderr.
    results = run_demo(settings(ctx), acts, quick=quick, console=Console(stderr=json_out))
    ok = all(r.ok for r in results) and len(results) == len(acts)
    if json_out:
        emit({"ok": ok, "acts": [r.to_dict() for r in results]}, True)
    if not ok:
        raise typer.Exit(1)
