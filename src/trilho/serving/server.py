"""Running the gateway: ``serve()`` in the foreground (``trilho serve``), ``run_in_thread()`` in-process on a
free port (tests, notebooks, the demo), and ``app_from_env()`` for uvicorn workers."""

from __future__ import annotations

import os
import socket
import threading
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import uvicorn

from trilho.config import ARTIFACTS_URL_ENV, DATABASE_URL_ENV, HOME_ENV, Settings, resolve_settings
from trilho.errors import InputError, ServingError
from trilho.net.server import run, uvicorn_config
from trilho.serving.app import create_app
from trilho.serving.exposures import exposures_root
from trilho.serving.gateway import Gateway
from trilho.serving.models import ModelProvider, RegistryProvider
from trilho.serving.settings import GatewaySettings, format_cpus, parse_cpus
from trilho.store.routing import Deployment


def gateway_from_settings(
    settings: Settings | None = None,
    gateway_settings: GatewaySettings | None = None,
    evals_config: str | None = None,
) -> Gateway:
    """A gateway over the store and registry that ``settings`` point at (the embedded default with none);
    ``evals_config`` names an online-evaluation YAML (``trilho.evals.online_gateway``)."""
    from trilho.store import open_store

    evals = None
    if evals_config:
        from trilho.evals.online_gateway import GatewayEvals

        evals = GatewayEvals.load(evals_config)
    settings = settings or resolve_settings()
    store = open_store(settings)
    gateway_settings = gateway_settings or GatewaySettings()
    if gateway_settings.exposures and gateway_settings.exposures_dir is None:
        gateway_settings = replace(gateway_settings, exposures_dir=str(exposures_root(settings.home)))
    return Gateway(
        RegistryProvider(store, settings.artifacts_url), store=store, settings=gateway_settings, evals=evals
    )


def app_from_env():
    """ASGI app factory for ``uvicorn --factory`` / multiple workers: settings from the environment."""
    _dedicated_process_tuning()
    gs = GatewaySettings(
        max_body_bytes=int(os.environ.get("TRILHO_SERVING_MAX_BODY_BYTES", 1_048_576)),
        shadow_isolation=os.environ.get("TRILHO_SERVING_SHADOW_ISOLATION", "auto"),
        shadow_cpus=parse_cpus(os.environ.get("TRILHO_SERVING_SHADOW_CPUS")),
        model_thread_sched=os.environ.get("TRILHO_SERVING_MODEL_THREAD_SCHED", "batch"),
        exposures_redis_url=os.environ.get("TRILHO_SERVING_EXPOSURES_REDIS_URL") or None,
        grpc_port=int(os.environ["TRILHO_SERVING_GRPC_PORT"])
        if os.environ.get("TRILHO_SERVING_GRPC_PORT")
        else None,
        workers=int(os.environ.get("TRILHO_SERVING_WORKERS") or 1),
        llm_keys=os.environ.get("TRILHO_SERVING_LLM_KEYS") or None,
        freeze_gc=True,
    )
    return create_app(gateway_from_settings(None, gs, os.environ.get("TRILHO_SERVING_EVALS")))


def _uvicorn_config(app: Any, gs: GatewaySettings, **kw: Any) -> uvicorn.Config:
    return uvicorn_config(
        app,
        host=gs.host,
        port=gs.port,
        limits=gs.http_limits(),
        lifespan="on",
        timeout_graceful_shutdown=5,
        **kw,
    )


def _dedicated_process_tuning() -> None:
    """A serving process runs model threads next to the event loop: switch the GIL every 0.2 ms so neither
    waits long for the other. Tracing follows ``TRILHO_TRACING``."""
    import sys

    from trilho.obs import configure_tracing
    from trilho.serving.settings import GIL_SWITCH_INTERVAL_S

    sys.setswitchinterval(GIL_SWITCH_INTERVAL_S)
    configure_tracing(service_name="trilho-gateway")


def serve(
    settings: Settings | None = None,
    gateway_settings: GatewaySettings | None = None,
    evals_config: str | None = None,
) -> None:
    """Serve every deployment in the store until interrupted (``trilho serve``); ``evals_config``: online
    evaluation of LLM answers (``trilho.evals.online_gateway``)."""
    gs = replace(gateway_settings or GatewaySettings(), freeze_gc=True)
    check_grpc_port(gs)
    _dedicated_process_tuning()
    from trilho.obs import get_logger

    get_logger("serving").info(
        "gateway starting",
        url=f"http://{gs.host}:{gs.port}",
        workers=gs.workers,
        docs=f"http://{gs.host}:{gs.port}/openapi.json",
        grpc=None if gs.grpc_port is None else f"{gs.host}:{gs.grpc_port}",
    )
    if gs.workers > 1:
        settings = settings or resolve_settings()
        os.environ[HOME_ENV] = str(settings.home)
        os.environ[DATABASE_URL_ENV] = settings.database_url
        os.environ[ARTIFACTS_URL_ENV] = settings.artifacts_url
        os.environ["TRILHO_SERVING_MAX_BODY_BYTES"] = str(gs.max_body_bytes)
        os.environ["TRILHO_SERVING_SHADOW_ISOLATION"] = gs.shadow_isolation
        os.environ["TRILHO_SERVING_SHADOW_CPUS"] = format_cpus(gs.shadow_cpus)
        os.environ["TRILHO_SERVING_MODEL_THREAD_SCHED"] = gs.model_thread_sched
        os.environ["TRILHO_SERVING_EXPOSURES_REDIS_URL"] = gs.exposures_redis_url or ""
        # every worker binds the gRPC port too, with SO_REUSEPORT: the kernel spreads connections over them
        os.environ["TRILHO_SERVING_GRPC_PORT"] = "" if gs.grpc_port is None else str(gs.grpc_port)
        os.environ["TRILHO_SERVING_WORKERS"] = str(gs.workers)
        # every worker enforces the keys file (each with its own counters: limits are per process)
        os.environ["TRILHO_SERVING_LLM_KEYS"] = str(Path(gs.llm_keys).resolve()) if gs.llm_keys else ""
        if evals_config:
            os.environ["TRILHO_SERVING_EVALS"] = str(Path(evals_config).resolve())
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = str(_fresh_metrics_dir(settings.home))
        gateway_from_settings(settings, gs, evals_config).store.dispose()  # migrate (and validate) once
        run(
            "trilho.serving.server:app_from_env",
            factory=True,
            host=gs.host,
            port=gs.port,
            limits=gs.http_limits(),
            workers=gs.workers,
            log_level="warning",
        )
        return
    uvicorn.Server(_uvicorn_config(create_app(gateway_from_settings(settings, gs, evals_config)), gs)).run()


def check_grpc_port(gs: GatewaySettings) -> None:
    """Refuse a gRPC port before anything starts when it cannot work: ``--grpc-port 0`` with several workers
    (each would listen on a free port of its own, which no client could know), or a port another process
    listens on (the workers share theirs with SO_REUSEPORT, so it must be free of anyone else)."""
    if gs.grpc_port is None:
        return
    if gs.grpc_port == 0:
        if gs.workers > 1:
            raise InputError(
                f"--grpc-port 0 with --workers {gs.workers}: each worker would listen for gRPC on a "
                "free port of its own, unknown to clients",
                fix=f"name a fixed port with --grpc-port (the {gs.workers} workers share it), or --workers 1",
                field="--grpc-port",
                value=0,
                rule="fixed port when --workers > 1",
            )
        return
    if gs.grpc_port == gs.port:
        raise InputError(
            f"--grpc-port {gs.grpc_port} is also --port: HTTP and gRPC need a port each",
            fix="give --grpc-port a port other than --port",
            field="--grpc-port",
            value=gs.grpc_port,
            rule="differs from --port",
        )
    family = socket.AF_INET6 if ":" in gs.host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:  # no SO_REUSEPORT: any listener refuses it
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((gs.host, gs.grpc_port))
        except OSError as exc:
            raise InputError(
                f"--grpc-port {gs.grpc_port} on {gs.host} is in use ({exc.strerror})",
                fix="pick a free port for --grpc-port (it must differ from --port)",
                field="--grpc-port",
                value=gs.grpc_port,
                rule="free port",
            ) from None


def _fresh_metrics_dir(home: Path) -> Path:
    """An empty folder for the workers' shared metrics (values of an earlier run must not leak in); folders
    of servers that are no longer running are removed."""
    import shutil

    run = Path(home) / "run"
    for old in run.glob("metrics-*"):
        pid = old.name.removeprefix("metrics-")
        if not pid.isdigit() or not _running(int(pid)):
            shutil.rmtree(old, ignore_errors=True)
    folder = run / f"metrics-{os.getpid()}"
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    return folder


def _running(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


@dataclass
class RunningGateway:
    """A gateway serving in a background thread: ``url``, the ``gateway`` object, and ``stop()``;
    ``grpc_target`` (``host:port``) when it serves OIP V2 over gRPC too."""

    url: str
    gateway: Gateway
    server: uvicorn.Server
    thread: threading.Thread
    grpc_target: str | None = None

    def stop(self, timeout: float = 10.0) -> None:
        """Shut the server down (graceful) and wait for its thread."""
        self.server.should_exit = True
        self.thread.join(timeout)

    def __enter__(self) -> RunningGateway:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def run_in_thread(
    gateway: Gateway | None = None,
    *,
    provider: ModelProvider | None = None,
    store: Any = None,
    deployments: list[Deployment] | None = None,
    settings: GatewaySettings | None = None,
    timeout: float = 60.0,
) -> RunningGateway:
    """Start a gateway in this process on a free port (``settings.port = 0``) and return once it is serving.

    Pass a ready ``Gateway``, or a ``provider`` with a ``store`` and/or ``deployments``.
    """
    gs = settings or (gateway.settings if gateway is not None else GatewaySettings(port=0))
    if gateway is None:
        if provider is None:
            raise ServingError(
                "run_in_thread needs a gateway or a provider",
                fix="pass provider=StaticProvider({...}) or RegistryProvider(store, root)",
            )
        gateway = Gateway(provider, store=store, deployments=deployments, settings=gs)
    sock = socket.socket(socket.AF_INET6 if ":" in gs.host else socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((gs.host, gs.port))
    sock.listen(2048)
    port = sock.getsockname()[1]
    app = create_app(gateway)
    server = uvicorn.Server(_uvicorn_config(app, replace(gs, port=port)))
    errors: list[BaseException] = []

    def _run() -> None:
        try:
            server.run(sockets=[sock])
        except BaseException as exc:  # surfaced to the caller below
            errors.append(exc)
        finally:
            sock.close()

    thread = threading.Thread(target=_run, name=f"trilho-gateway-{port}", daemon=True)
    thread.start()
    until = time.monotonic() + timeout
    while not server.started:
        if errors or not thread.is_alive():
            raise ServingError(
                f"the gateway did not start: {errors[0] if errors else 'server exited'}",
                fix="check the store, the deployments and the model loading errors above",
            )
        if time.monotonic() > until:
            server.should_exit = True
            raise ServingError(f"the gateway did not start within {timeout:.0f} s")
        time.sleep(0.01)
    grpc_port = getattr(app.state, "grpc_port", None)
    grpc_target = None if grpc_port is None else f"{gs.host}:{grpc_port}"
    return RunningGateway(f"http://{gs.host}:{port}", gateway, server, thread, grpc_target)
