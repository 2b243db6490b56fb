"""trilho.serving — the data plane: an ASGI gateway that obeys the routing table in the store (sticky
stable/canary assignment, shadow mirroring with output comparison, deadline-aware micro-batching, response
cache, latency budgets with a fallback chain, circuit breakers) and reports per-version windows back.

    from trilho.serving import StaticProvider, run_in_thread
    from trilho.store.routing import Deployment, Route
    running = run_in_thread(provider=StaticProvider({"iris@1": predict}),
                            deployments=[Deployment("iris", routes=(Route("1"),))])
    ... POST f"{running.url}/v1/models/iris:predict" ...
    running.stop()
"""

from trilho.serving.aggregates import summarize
from trilho.serving.app import create_app
from trilho.serving.context import is_shadow_call
from trilho.serving.gateway import Answer, Gateway, Unavailable, UnknownModel
from trilho.serving.models import LoadedVersion, ModelProvider, RegistryProvider, StaticProvider
from trilho.serving.server import RunningGateway, gateway_from_settings, run_in_thread, serve
from trilho.serving.settings import GatewaySettings

__all__ = [
    "Answer",
    "Gateway",
    "GatewaySettings",
    "LoadedVersion",
    "ModelProvider",
    "RegistryProvider",
    "RunningGateway",
    "StaticProvider",
    "Unavailable",
    "UnknownModel",
    "create_app",
    "gateway_from_settings",
    "is_shadow_call",
    "run_in_thread",
    "serve",
    "summarize",
]
