"""`trilho exposures consume`: the gateways' exposure stream (Redis) written as the home's Parquet log."""

from __future__ import annotations

import signal
import threading
from typing import Annotated

import typer

from trilho.cli._common import JsonFlag, emit, handles_errors, server_logs, settings

app = typer.Typer(help="The gateway's exposure log (who was routed to which version).", no_args_is_help=True)


def register(root: typer.Typer) -> None:
    """Add ``trilho exposures`` to the root command."""
    root.add_typer(app, name="exposures")


@app.command("consume")
@handles_errors
@server_logs
def consume(
    ctx: typer.Context,
    redis_url: Annotated[
        str, typer.Option("--redis-url", help="The stream's Redis.")
    ] = "redis://127.0.0.1:6379/0",
    stream: Annotated[
        str, typer.Option("--stream", help="The stream gateways send to.")
    ] = "trilho:exposures",
    consumer: Annotated[
        str, typer.Option("--consumer", help="This consumer's name in the group.")
    ] = "consumer-1",
    once: Annotated[bool, typer.Option("--once", help="Write what is there now, then exit.")] = False,
    json_out: JsonFlag = False,
) -> None:
    """Write the exposure stream as Parquet parts under <home>/exposures (the layout measure rollout reads),
    acknowledging entries once their part is closed; runs until interrupted unless --once."""
    from trilho.serving.exposure_stream import StreamConsumer
    from trilho.serving.exposures import exposures_root

    root = exposures_root(settings(ctx).home)
    c = StreamConsumer(redis_url, root, stream=stream, consumer=consumer)
    if once:
        rows = c.drain(count=10_000)
    else:
        stop = threading.Event()
        signal.signal(signal.SIGTERM, lambda *_: stop.set())
        try:
            rows = c.run(stop)
        except KeyboardInterrupt:
            rows = 0
    emit(
        {"rows": rows, "parts": c.log.parts, "folder": str(root)},
        json_out,
        lambda con: con.print(f"{rows} exposures written as {c.log.parts} part(s) under {root}"),
    )
