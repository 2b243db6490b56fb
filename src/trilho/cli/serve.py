"""`trilho serve`: run the serving gateway over every deployment in the store."""

from __future__ import annotations

from typing import Annotated

import typer

from trilho.cli._common import handles_errors, server_logs, settings


@handles_errors
@server_logs
def serve(
    ctx: typer.Context,
    host: Annotated[str, typer.Option("--host", help="Interface to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port", help="TCP port.")] = 8080,
    grpc_port: Annotated[
        int | None,
        typer.Option(
            "--grpc-port",
            min=0,
            help="Also serve the Open Inference Protocol V2 over gRPC on this port (same models, routing "
            "and metrics as HTTP).",
        ),
    ] = None,
    workers: Annotated[int, typer.Option("--workers", min=1, help="uvicorn worker processes.")] = 1,
    max_body_bytes: Annotated[
        int, typer.Option("--max-body-bytes", min=1, help="Request size limit.")
    ] = 1_048_576,
    controller: Annotated[
        bool,
        typer.Option(
            "--controller/--no-controller",
            help="Also run the rollout controller in this process (one-machine setups).",
        ),
    ] = False,
    interval: Annotated[
        float, typer.Option("--interval", min=0.5, help="Controller analysis interval in seconds.")
    ] = 5.0,
    shadow_isolation: Annotated[
        str,
        typer.Option(
            "--shadow-isolation",
            help="Where shadow versions and comparisons run: 'process' (a child process at background CPU "
            "priority: no GIL or CPU time taken from live requests), 'thread' (a thread of this process) or "
            "'auto' (process with --shadow-cpus or >= 4 cores, else thread).",
        ),
    ] = "auto",
    shadow_cpus: Annotated[
        str | None,
        typer.Option(
            "--shadow-cpus",
            help='CPUs for the shadow child process, e.g. "2,3" or "2-5" (cores live traffic does not use).',
        ),
    ] = None,
    model_thread_sched: Annotated[
        str,
        typer.Option(
            "--model-thread-sched",
            help="'batch' (default; Linux SCHED_BATCH: a waking model thread does not preempt the event "
            "loop) or 'normal'.",
        ),
    ] = "batch",
    exposures_redis_url: Annotated[
        str | None,
        typer.Option(
            "--exposures-redis-url",
            help="Send the exposure log to this Redis stream (many gateways; `trilho exposures consume` "
            "writes the home's Parquet log) instead of writing it under the home.",
        ),
    ] = None,
    llm_keys: Annotated[
        str | None,
        typer.Option(
            "--llm-keys",
            help="Keys file of the LLM routes: per API key, requests/tokens per minute and a spend budget "
            "(see trilho.serving.llm.limits); unknown keys get 401, limits 429 with Retry-After.",
        ),
    ] = None,
    evals: Annotated[
        str | None,
        typer.Option(
            "--evals",
            help="Online evaluation YAML: per model, a guardrail policy enforced on every answer and an "
            "optional judge on a sample (see trilho.evals.online_gateway).",
        ),
    ] = None,
) -> None:
    """Serve every model that has a deployment in the store (KServe V1 + Open Inference Protocol V2 over HTTP,
    and over gRPC with --grpc-port)."""
    from trilho.serving import GatewaySettings
    from trilho.serving import serve as run
    from trilho.serving.settings import parse_cpus

    cpus = parse_cpus(shadow_cpus)  # a bad list is an error before anything starts
    if llm_keys is not None:
        from trilho.serving.llm.limits import KeyLimits

        KeyLimits.load(llm_keys)  # so is a bad keys file

    stop_controller = _embedded_controller(ctx, host, port, interval) if controller else None
    try:
        run(
            settings(ctx),
            GatewaySettings(
                host=host,
                port=port,
                grpc_port=grpc_port,
                workers=workers,
                max_body_bytes=max_body_bytes,
                shadow_isolation=shadow_isolation,
                shadow_cpus=cpus,
                model_thread_sched=model_thread_sched,
                exposures_redis_url=exposures_redis_url,
                llm_keys=llm_keys,
            ),
            evals,
        )
    finally:
        if stop_controller is not None:
            stop_controller()


def _embedded_controller(ctx: typer.Context, host: str, port: int, interval: float):
    """Start the rollout controller in a daemon thread, judging this gateway; returns ``stop()``."""
    from trilho.registry import existing_signing_key
    from trilho.rollout.controller import Controller
    from trilho.rollout.gates import registry_gates
    from trilho.store import open_store

    s = settings(ctx)
    store = open_store(s)
    gates = registry_gates(store, s.artifacts_url, key=existing_signing_key(s.home))
    url_host = "127.0.0.1" if host in ("0.0.0.0", "::") else host
    ctl = Controller(
        store,
        interval=interval,
        gateways=[f"http://{url_host}:{port}"],
        gates=gates,
        exposures=s.home / "exposures",
    )
    return ctl.start_in_thread(tick_every=interval)


def register(root: typer.Typer) -> None:
    """Add ``trilho serve`` to the root command."""
    root.command("serve")(serve)
