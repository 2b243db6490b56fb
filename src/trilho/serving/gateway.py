"""The gateway core, without HTTP: applies routing tables, assigns requests to versions, runs them through
cache → breaker → micro-batcher → model, answers from the fallback chain when needed, mirrors shadows, keeps
per-version aggregates and writes them to the store. The ASGI app (``trilho.serving.app``) is a thin layer."""

from __future__ import annotations

import asyncio
import contextlib
import random
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from trilho.contracts.columns import ColumnBatch
from trilho.errors import SchemaViolation, ServingError, TrilhoError
from trilho.obs import get_logger
from trilho.serving import metrics as m
from trilho.serving.aggregates import WindowAggregator
from trilho.serving.assignment import Assigner, shadow_selected
from trilho.serving.batching import DeadlineExceeded, MicroBatcher, QueueFull, RecordFailed
from trilho.serving.breaker import OPEN, CircuitBreaker
from trilho.serving.cache import ResponseCache, input_key
from trilho.serving.comparators import Comparator, parse_comparator
from trilho.serving.exposures import ExposureLog
from trilho.serving.isolation import InProcessShadows, ShadowMirror
from trilho.serving.models import LoadedVersion, ModelProvider
from trilho.serving.settings import (
    GatewaySettings,
    batch_concurrency,
    model_thread_policy,
    shadow_in_child,
    usable_cores,
)
from trilho.serving.shadow_compare import ShadowBatch, ShadowOutcome
from trilho.serving.shadow_pump import ShadowPump
from trilho.serving.slo import SLOBook
from trilho.store.routing import Deployment, RoutingTable

log = get_logger("serving")


class UnknownModel(ServingError):
    """No deployment serves this model name (404)."""


class Unavailable(ServingError):
    """Neither the chosen version nor any fallback could answer (503)."""


class RecordUnanswered(Unavailable):
    """The model failed on a record of this request (and answered others) and no fallback answered it: the
    record is the cause (HTTP 422, naming the record and the model's error)."""


_ERROR_REASONS = frozenset({"model_error", "output_contract", "deadline", "breaker_open", "unavailable"})


class _BreakerOpen(Exception):
    pass


@dataclass(slots=True)
class ShadowJob:
    """A request mirrored to shadow versions after its primary answer was sent."""

    model: str
    request_id: str
    primary_version: str
    records: list[dict[str, Any]]
    primary_outputs: list[dict[str, Any]]


# what a shadow step's outcome is reported against: the model, the shadow version, each copy's primary version
_ShadowContext = tuple["ModelRuntime", "VersionRuntime", tuple[tuple[str, int], ...]]  # jobs: (primary, n)


@dataclass(slots=True)
class Answer:
    """What the gateway answered: outputs, who answered, and the fallback reason if any."""

    outputs: list[dict[str, Any]]
    model: str
    version: str  # the version whose outputs these are ("static" for the deployment's default)
    chosen_version: str  # the version the router picked (what the rollout analysis attributes it to)
    variant: str
    fallback_reason: str | None = None
    fallback_source: str | None = None
    shadow: ShadowJob | None = None


class VersionRuntime:
    """One model version in service: loaded predictor, batcher, breaker, readiness, metric children."""

    def __init__(self, loaded: LoadedVersion, role: str, deployment: Deployment, gateway: Gateway) -> None:
        self.loaded = loaded
        self.version = loaded.version
        self.model = loaded.model
        self.gateway = gateway
        self.ready = False
        self.role = ""
        self.breaker = CircuitBreaker(deployment.breaker.failures, deployment.breaker.reset_after_s)
        self.batcher: MicroBatcher | None = None
        self.configure(role, deployment)

    def configure(self, role: str, deployment: Deployment) -> None:
        """Apply a (new) role and the deployment's batching/breaker settings."""
        b = deployment.batching
        if role == "shadow":
            self.batcher = None  # shadow steps go to the gateway's shadow runner, in bulk
        else:
            if self.batcher is None:
                self.batcher = MicroBatcher(
                    self.loaded.predict,
                    executor=self.gateway.executor,
                    on_batch=self._on_batch,
                    columnar=self.loaded.accepts_columns,
                )
            self.batcher.max_batch_size = b.max_batch_size if b.enabled else 1
            self.batcher.max_wait_s = b.max_wait_ms / 1000.0 if b.enabled else 0.0
            self.batcher.max_queue = b.max_queue
            self.batcher.concurrency = batch_concurrency(b.max_concurrency)
        self.breaker.threshold = deployment.breaker.failures
        self.breaker.reset_after_s = deployment.breaker.reset_after_s
        self.role = role
        labels = (self.model, self.version, role)
        self.labels = labels
        self._batch_size = m.BATCH_SIZE.labels(*labels)
        self._queue_wait = m.QUEUE_WAIT.labels(*labels)
        self._model_duration = m.MODEL_DURATION.labels(*labels)
        self._breaker_gauge = m.BREAKER.labels(*labels)
        self.record_failures = m.RECORD_FAILURES.labels(*labels)
        m.READY.labels(*labels).set(1.0 if self.ready else 0.0)

    def _on_batch(self, size: int, waits: list[float], duration: float) -> None:
        self._batch_size.observe(size)
        for w in waits:
            self._queue_wait.observe(w)
        self._model_duration.observe(duration)
        if self.ready:  # the warm-up call is no traffic (the shadow's is not counted either)
            self.gateway.aggregator.record_batch(self.model, self.version, self.role, duration, size)

    def breaker_changed(self) -> None:
        """Export the breaker state."""
        self._breaker_gauge.set(1.0 if self.breaker.state == OPEN else 0.0)


class ModelRuntime:
    """One model in service: its deployment, assigner, versions, cache and comparators."""

    def __init__(
        self,
        deployment: Deployment,
        versions: dict[str, VersionRuntime],
        cache: ResponseCache | None,
        comparators: list[tuple[str, Comparator]],
        generation: int = -1,
    ) -> None:
        self.deployment = deployment
        self.generation = generation  # the routing table this deployment came from
        self.name = deployment.model
        self.assigner = Assigner.for_deployment(deployment)
        self.versions = versions
        self.stable = versions.get(deployment.stable.version)
        self.shadows = (
            []
            if deployment.kill != "off"
            else [versions[r.version] for r in deployment.shadows if r.version in versions]
        )
        self.cache = cache
        self.comparators = comparators

    @property
    def ready(self) -> bool:
        """Every version live requests can be sent to (stable, canaries with traffic) passed its warm-up."""
        return all(v in self.versions and self.versions[v].ready for v in self.assigner.versions)


class Gateway:
    """Serve every deployment in the routing table (from the store, or given in code)."""

    def __init__(
        self,
        provider: ModelProvider,
        *,
        store: Any = None,
        deployments: list[Deployment] | None = None,
        settings: GatewaySettings | None = None,
        evals: Any = None,
    ) -> None:
        if store is None and deployments is None:
            raise ServingError(
                "a gateway needs a store or a list of deployments",
                fix="pass store=open_store() or deployments=[Deployment(...)]",
            )
        self.provider = provider
        self.store = store
        self.static_table = RoutingTable(0, {d.model: d for d in deployments or []})
        self.settings = settings or GatewaySettings()
        self.models: dict[str, ModelRuntime] = {}
        self.generation = -1  # the newest routing table whose every change is in effect here
        self.table_applied = False
        self.store_ok = store is not None  # the last routing poll answered
        self.store_writable = store is not None  # the last window write was taken
        self.aggregator = WindowAggregator(self.settings.gateway_id)
        policy = model_thread_policy(self.settings.model_thread_sched)
        self.executor = ThreadPoolExecutor(
            self.settings.model_threads, thread_name_prefix="trilho-model", initializer=policy
        )
        spec = getattr(provider, "spec", None)
        # shadow steps (model call, comparisons) run in the shadow thread's InProcessShadows, or in a child
        # process fed by the event loop (ShadowMirror); either way the loop's share of a copy is one append
        self.shadow_runner = InProcessShadows(self._shadow_version)
        self._shadow_pump: ShadowPump[ShadowJob] = ShadowPump(
            self._shadow_chunk,
            self.settings.shadow_queue_size,
            linger_s=self.settings.shadow_linger_ms / 1000.0,
            chunk=self.settings.shadow_chunk,
            init=policy,
        )
        in_child = shadow_in_child(self.settings.shadow_isolation, self.settings.shadow_cpus)
        self.shadow_mirror: ShadowMirror[ShadowJob, _ShadowContext] | None = (
            ShadowMirror(
                spec(),
                self._shadow_batches,
                self._report_shadow,
                self.shadow_runner,
                max_inflight=self.settings.shadow_queue_size,
                linger_s=self.settings.shadow_linger_ms / 1000.0,
                timeout_s=self.settings.shadow_timeout_s,
                cpus=self.settings.shadow_cpus,
            )
            if in_child and callable(spec)
            else None
        )
        self._loaded: dict[tuple[str, str], LoadedVersion] = {}
        self._runtimes: dict[tuple[str, str], VersionRuntime] = {}
        self._load_errors: dict[str, str] = {}
        self._tasks: list[asyncio.Task] = []
        self._apply_lock: asyncio.Lock | None = None
        self._table: RoutingTable | None = None  # the table last applied
        self._preparing: dict[tuple[str, str], asyncio.Task] = {}  # versions loading and warming
        self._tried: dict[tuple[str, str], int] = {}  # version → the generation it was last prepared for
        self._backlog: tuple[list, list] = ([], [])
        self._reqs: dict[tuple[str, str, str, str, str], Any] = {}
        self._rand = random.Random()
        self._agreement: dict[tuple[str, str, str, str], list[int]] = {}
        self.evals = evals  # online evaluation of LLM answers (trilho.evals.online_gateway.GatewayEvals)
        self.slo = SLOBook()  # latency SLOs declared on deployments: burn rates and alerts
        self.exposures = ExposureLog.from_settings(self.settings)  # who was routed where (measure rollout)

    def _shadow_version(self, model: str, version: str) -> LoadedVersion:
        """A shadow version loaded in this process (the thread runner's)."""
        return self._loaded[(model, version)]

    # --- lifecycle -------------------------------------------------------------------------------------
    async def start(self) -> None:
        """Load the routing table and its models (warm-up included), then start the background loops."""
        self._apply_lock = asyncio.Lock()
        await self.refresh()
        await self.prepared()  # serving starts with the first table's versions loaded and warmed
        if self.evals is not None and hasattr(self.evals, "settled"):
            await self.evals.settled()  # and with the online evaluation its deployments declare in effect
        if not self.shadow_in_child:
            self._shadow_pump.start()
        loops = [self.slo.run(lambda: [mr.deployment for mr in self.models.values()])]
        if self.shadow_mirror is not None:
            loops.append(self.shadow_mirror.run())
        if self.store is not None:
            loops += [self._watch(), self._write_loop()]
        if self.evals is not None:
            loops += self.evals.loops(self.store)
        self._tasks = [asyncio.create_task(c) for c in loops]
        if self.exposures is not None:
            self.exposures.start()
        _set_torch_threads(self.settings.model_threads)

    async def stop(self) -> None:
        """Stop the loops, write the last window, release the thread pools."""
        tasks = [*self._tasks, *self._preparing.values()]
        for t in tasks:
            t.cancel()
        for t in tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await t
        self._tasks = []
        if self.store is not None:
            with contextlib.suppress(Exception):
                await self._flush_windows()
        if self.evals is not None:
            with contextlib.suppress(Exception):
                await self.evals.close(self.store)
        self.executor.shutdown(wait=False, cancel_futures=True)
        if self.shadow_mirror is not None:
            self.shadow_mirror.close()
        await asyncio.to_thread(self._shadow_pump.stop)
        if self.exposures is not None:
            await asyncio.to_thread(self.exposures.close)

    @property
    def shadow_in_child(self) -> bool:
        """Whether shadow steps run in a child process (else in this process's shadow thread)."""
        return self.shadow_mirror is not None and not self.shadow_mirror.in_process

    @property
    def ready(self) -> bool:
        """Ready once a table is applied and every live version's warm-up passed."""
        return self.table_applied and all(mr.ready for mr in self.models.values())

    # --- routing table ---------------------------------------------------------------------------------
    async def refresh(self) -> bool:
        """Reload the routing table if its generation moved; returns whether the store answered."""
        if self.store is None:
            if not self.table_applied:
                await self.apply(self.static_table)
            return True
        from trilho.store.routing import current_generation, load_table

        try:
            gen = await asyncio.to_thread(current_generation, self.store)
            if self._table is None or gen != self._table.generation:
                await self.apply(await asyncio.to_thread(load_table, self.store))
        except Exception as exc:  # the store is down: keep serving the last table
            if self.store_ok:
                log.warning(
                    "routing store unreachable; serving the last routing table",
                    generation=self.generation,
                    error=str(exc).splitlines()[0][:300],
                )
            self.store_ok = False
            self._export_store_up()
            return False
        if not self.store_ok:
            log.info("routing store reachable again", generation=self.generation)
        self.store_ok = True
        self._export_store_up()
        m.TABLE_AGE.set(time.time())
        return True

    async def apply(self, table: RoutingTable) -> None:
        """Apply a routing table: each model's new deployment takes effect atomically, as soon as the versions
        it sends live requests to are loaded and warmed.

        Versions are loaded and warmed in the background, never on the apply path: a model whose new live
        versions are still loading keeps serving its previous deployment (a model new to the gateway is
        served once they are ready), and every other model's change — a kill switch or a rollback above all —
        applies at once. Shadows and canaries without traffic join their deployment when warmed. When a
        preparation ends the latest table is applied again; a version that failed to load or warm is then
        served as failed (fallbacks, ``/readyz`` not ready), as it would have been at once, and is tried
        again with the next table."""
        async with self._apply_lock:
            await self._apply(table)

    async def prepared(self) -> None:
        """Wait until no version is being prepared (every preparation ended and the table applied again)."""
        while self._preparing:
            await asyncio.gather(*self._preparing.values(), return_exceptions=True)

    async def _reapply(self) -> None:
        """Apply the table applied last again (read under the lock: never an older one over a newer)."""
        async with self._apply_lock:
            if self._table is not None:
                await self._apply(self._table)

    async def _apply(self, table: RoutingTable) -> None:
        """``apply`` under the lock."""
        self._table = table
        models: dict[str, ModelRuntime] = {}
        waiting: list[str] = []
        for name, dep in table.deployments.items():
            serving = Assigner.for_deployment(dep).versions
            for route in dep.routes:
                if not self._settled(name, route.version, table.generation):
                    self._prepare(name, route.version, route.role, dep)
            old = self.models.get(name)
            if any(not self._settled(name, v, table.generation) for v in serving):
                waiting.append(name)
                if old is not None:
                    models[name] = old  # its previous deployment, until the new one's versions are ready
                continue
            versions: dict[str, VersionRuntime] = {}
            for route in dep.routes:
                vr = self._runtimes.get((name, route.version))
                if vr is not None and (vr.ready or route.version in serving):
                    vr.configure(route.role, dep)
                    versions[route.version] = vr
            cache = old.cache if old is not None and old.cache is not None else None
            if dep.cache.enabled:
                if cache is None:
                    cache = ResponseCache(dep.cache.max_entries, dep.cache.ttl_s, on_evict=_evict_hook(name))
                cache.max_entries, cache.ttl_s = dep.cache.max_entries, dep.cache.ttl_s
                cache.retain(serving)  # nothing of a rolled-back (or killed) version stays
            else:
                cache = None
            comparators = [(spec, parse_comparator(spec)) for spec in dep.comparators]
            models[name] = ModelRuntime(dep, versions, cache, comparators, table.generation)
        self.models = models
        self._follow_evals(table)
        self._forget_unused(table)
        if not waiting:  # the generation a gateway reports is one whose every change is in effect
            self.generation = table.generation
            m.TABLE_GENERATION.set(table.generation)
        self.table_applied = True
        if self.settings.freeze_gc:
            import gc

            gc.freeze()
        log.info(
            "routing table applied",
            generation=table.generation,
            models=sorted(models),
            waiting_for_versions=waiting,
            preparing=sorted(f"{model}@{version}" for model, version in self._preparing),
        )

    def _follow_evals(self, table: RoutingTable) -> None:
        """Online evaluation declared on deployments (``evals.online``) follows the routing table."""
        declared = {
            n: d.evals["online"] for n, d in table.deployments.items() if (d.evals or {}).get("online")
        }
        if self.evals is None:
            if not declared:
                return
            from trilho.evals.online_gateway import GatewayEvals

            self.evals = GatewayEvals({})
            if (
                self._tasks
            ):  # the loops run already (start() adds them otherwise): its window flush starts now
                self._tasks += [asyncio.create_task(c) for c in self.evals.loops(self.store)]
        self.evals.follow(declared, self.store)

    def _forget_unused(self, table: RoutingTable) -> None:
        """Unload the versions that neither the table nor a deployment still served names, and forget their
        errors: a long-running gateway would otherwise hold every version it ever loaded (requests in flight
        keep theirs until they finish; a version named again is loaded again)."""
        named = {(name, r.version) for name, dep in table.deployments.items() for r in dep.routes}
        named |= {(name, v) for name, mr in self.models.items() for v in mr.versions}
        for key in (self._loaded.keys() | self._runtimes.keys() | self._tried.keys()) - named:
            if key in self._preparing:
                continue  # its preparation ends with another apply, which forgets it then
            self._runtimes.pop(key, None)
            if self._loaded.pop(key, None) is not None:
                log.info("model version unloaded", model=key[0], version=key[1])
            if self.shadow_mirror is not None:
                self.shadow_mirror.forget(*key)
            self._tried.pop(key, None)
        for ref in set(self._load_errors) - {f"{model}@{version}" for model, version in named}:
            del self._load_errors[ref]

    def _settled(self, model: str, version: str, generation: int) -> bool:
        """Whether a version is ready, or was tried (loaded and warmed, or failed to) for this generation."""
        vr = self._runtimes.get((model, version))
        return (vr is not None and vr.ready) or self._tried.get((model, version)) == generation

    def _prepare(self, model: str, version: str, role: str, dep: Deployment) -> None:
        """Load and warm a version in the background (once at a time), then apply the latest table again."""
        key = (model, version)
        if key not in self._preparing:
            self._preparing[key] = asyncio.create_task(self._prepared_version(model, version, role, dep))

    async def _prepared_version(self, model: str, version: str, role: str, dep: Deployment) -> None:
        key = (model, version)
        try:
            vr = self._runtimes.get(key)
            if vr is None:
                loaded = await self._load(model, version)
                if loaded is not None:
                    vr = self._runtimes.setdefault(key, VersionRuntime(loaded, role, dep, self))
            if vr is not None and not vr.ready:
                await self._warm_up(vr)
        finally:
            self._preparing.pop(key, None)
            self._tried[key] = self._table.generation if self._table is not None else -1
        await self._reapply()

    async def _load(self, model: str, version: str) -> LoadedVersion | None:
        """The version, loaded from the provider once (None, with the error kept for /readyz, if it fails)."""
        key = (model, version)
        try:
            loaded = self._loaded.get(key) or await asyncio.to_thread(self.provider.load, model, version)
        except Exception as exc:
            msg = f"{type(exc).__name__}: {exc}"
            if self._load_errors.get(f"{model}@{version}") != msg:
                log.error("model version failed to load", model=model, version=version, error=msg)
            self._load_errors[f"{model}@{version}"] = msg
            return None
        self._loaded[key] = loaded
        return loaded

    async def _warm_up(self, vr: VersionRuntime) -> None:
        records = vr.loaded.warmup_records
        try:
            if records:
                inputs = [vr.loaded.validate_input(r) if vr.loaded.validate_input else r for r in records]
                if vr.batcher is None:  # a shadow: warmed where its shadow steps will run
                    if self.shadow_mirror is not None:
                        call = self.shadow_mirror.predict(vr.model, vr.version, inputs)
                    else:
                        call = asyncio.to_thread(self.shadow_runner.predict, vr.model, vr.version, inputs)
                else:
                    call = vr.batcher.submit(inputs)
                outputs = await asyncio.wait_for(call, timeout=60)
                if vr.loaded.validate_output:
                    for out in outputs:
                        vr.loaded.validate_output(out)
            vr.ready = True
            self._load_errors.pop(f"{vr.model}@{vr.version}", None)
            log.info("model version warmed up", model=vr.model, version=vr.version, records=len(records))
        except Exception as exc:
            vr.ready = False
            self._load_errors[f"{vr.model}@{vr.version}"] = f"warm-up failed: {type(exc).__name__}: {exc}"
            log.error("model version warm-up failed", model=vr.model, version=vr.version, error=str(exc))
        m.READY.labels(*vr.labels).set(1.0 if vr.ready else 0.0)

    def status(self) -> dict[str, Any]:
        """Readiness per model and version, load errors, the table generation and the store's state."""
        return {
            "ready": self.ready,
            "generation": self.generation,
            "store": self._store_state(),
            "models": {
                name: {
                    "ready": mr.ready,
                    "generation": mr.generation,
                    "versions": {
                        v: {"role": vr.role, "ready": vr.ready, "breaker": vr.breaker.state}
                        for v, vr in mr.versions.items()
                    },
                }
                for name, mr in self.models.items()
            },
            "errors": dict(self._load_errors),
            "preparing": sorted(f"{model}@{version}" for model, version in self._preparing),
        }

    def _store_state(self) -> str:
        if self.store is None:
            return "none"
        if not self.store_ok:
            return "unreachable"
        return "ok" if self.store_writable else "refusing writes"

    # --- the request path ------------------------------------------------------------------------------
    def model(self, name: str) -> ModelRuntime:
        """The served model called ``name`` or ``UnknownModel``."""
        mr = self.models.get(name)
        if mr is None:
            raise UnknownModel(
                f"model {name!r} is not served here",
                fix=f"use one of the served models: {', '.join(sorted(self.models)) or 'none yet'}",
                field="model",
                value=name,
            )
        return mr

    async def predict(
        self,
        name: str,
        records: list[dict[str, Any]],
        *,
        unit: str | None = None,
        request_id: str = "",
        deadline_ms: float | None = None,
    ) -> Answer:
        """Route, validate, call (batched) and fall back; raises SchemaViolation, UnknownModel, QueueFull,
        Unavailable."""
        answer = await self._predict(name, records, unit, request_id, deadline_ms)
        if self.evals is not None:  # checks on every answer, fallbacks from other versions included
            await self.evals.apply(answer, records, request_id)
        return answer

    async def _predict(
        self,
        name: str,
        records: list[dict[str, Any]],
        unit: str | None,
        request_id: str,
        deadline_ms: float | None,
    ) -> Answer:
        mr = self.model(name)
        dep = mr.deployment
        loop = asyncio.get_running_loop()
        deadline = loop.time() + (deadline_ms or dep.deadline_ms) / 1000.0
        if unit is None and dep.unit_field and records:
            value = records[0].get(dep.unit_field)
            unit = None if value is None else str(value)
        route = mr.assigner.route_for(unit if unit is not None else request_id)
        if self.exposures is not None:  # one append; written off the request path
            self.exposures.record(unit, name, route.version, route.role, mr.generation, request_id)
        vr = mr.versions.get(route.version)
        if dep.kill == "all":
            return self._static(mr, records, route.version, route.role, "killed")
        if vr is None or not vr.ready:
            vr = _validating_runtime(mr, vr)
            records = _validate_inputs(vr, records)
            return await self._fallback(mr, None, route.version, route.role, records, "unavailable", deadline)
        records = _validate_inputs(vr, records)
        try:
            outputs = await self._call(mr, vr, records, deadline)
        except QueueFull as exc:
            exc.fields.update(version=vr.version, variant=vr.role)
            raise
        except _BreakerOpen:
            return await self._fallback(mr, vr, vr.version, vr.role, records, "breaker_open", deadline)
        except (TimeoutError, DeadlineExceeded):
            return await self._fallback(mr, vr, vr.version, vr.role, records, "deadline", deadline)
        except SchemaViolation:
            return await self._fallback(mr, vr, vr.version, vr.role, records, "output_contract", deadline)
        except Exception as exc:
            return await self._fallback(mr, vr, vr.version, vr.role, records, "model_error", deadline, exc)
        answer = Answer(outputs, name, vr.version, vr.version, vr.role)
        if mr.shadows and shadow_selected(name, request_id, dep.shadow_fraction):
            answer.shadow = ShadowJob(name, request_id, vr.version, records, outputs)
        return answer

    async def _call(
        self, mr: ModelRuntime, vr: VersionRuntime, records: list[dict[str, Any]], deadline: float
    ) -> list[dict[str, Any]]:
        keys = None
        if mr.cache is not None:
            keys = [input_key(r) for r in records]
            hits = [mr.cache.get(vr.version, k) for k in keys]
            event = "hit" if all(h is not None for h in hits) else "miss"
            m.CACHE.labels(*vr.labels, event).inc()
            if event == "hit":
                return hits
        if not vr.breaker.allow():
            vr.breaker_changed()
            raise _BreakerOpen()
        try:
            async with asyncio.timeout_at(deadline):
                outputs = await vr.batcher.submit(records, deadline)
            if vr.loaded.validate_output is not None:
                outputs = [vr.loaded.validate_output(o) for o in outputs]
        except QueueFull:
            raise
        except asyncio.CancelledError:
            raise
        except RecordFailed:  # the model answered other records: the record's failure, not the model's
            vr.record_failures.inc()
            raise
        except BaseException as exc:
            vr.breaker.record_failure()
            vr.breaker_changed()
            if vr.breaker.consecutive_failures == 1:  # the first failure of a streak, not a flood
                log.warning(
                    "model call failed",
                    model=vr.model,
                    version=vr.version,
                    error=f"{type(exc).__name__}: {exc}"[:500],
                )
            raise
        if vr.breaker.state != "closed" or vr.breaker.consecutive_failures:
            vr.breaker.record_success()
            vr.breaker_changed()
        if keys is not None:
            for k, out in zip(keys, outputs, strict=True):
                mr.cache.put(vr.version, k, out)
        return outputs

    async def _fallback(
        self,
        mr: ModelRuntime,
        vr: VersionRuntime | None,
        chosen: str,
        variant: str,
        records: list[dict[str, Any]],
        reason: str,
        deadline: float,
        cause: BaseException | None = None,
    ) -> Answer:
        stable = mr.stable
        loop = asyncio.get_running_loop()
        if (
            reason != "deadline"
            and stable is not None
            and stable is not vr
            and stable.ready
            and loop.time() < deadline
        ):
            try:
                outputs = await self._call(mr, stable, records, deadline)
                return self._fell_back(mr, outputs, stable.version, chosen, variant, reason, "stable")
            except QueueFull:
                raise
            except BaseException as exc:
                if isinstance(exc, asyncio.CancelledError):
                    raise
                cause = exc
        if mr.cache is not None:
            for version in dict.fromkeys(v for v in (chosen, stable.version if stable else None) if v):
                hits = [mr.cache.get(version, input_key(r)) for r in records]
                if all(h is not None for h in hits):
                    return self._fell_back(mr, hits, version, chosen, variant, reason, "cache")
        return self._static(mr, records, chosen, variant, reason, cause)

    def _static(
        self,
        mr: ModelRuntime,
        records: list[dict[str, Any]],
        chosen: str,
        variant: str,
        reason: str,
        cause: BaseException | None = None,
    ) -> Answer:
        fallback = mr.deployment.fallback_response
        if fallback is None:
            m.FALLBACKS.labels(mr.name, chosen, variant, reason, "none").inc()
            if isinstance(cause, RecordFailed):
                raise RecordUnanswered(
                    f"{mr.name}@{chosen}: {cause.message}",
                    fix=cause.fix,
                    **{**cause.fields, "model": mr.name, "version": chosen, "variant": variant},
                )
            raise Unavailable(
                f"{mr.name}@{chosen} could not answer ({reason}) and no fallback could",
                fix="retry later; set fallback_response on the deployment for a static default",
                reason=reason,
                model=mr.name,
                version=chosen,
                variant=variant,
            )
        return self._fell_back(
            mr, [dict(fallback) for _ in records], "static", chosen, variant, reason, "static"
        )

    def _fell_back(
        self,
        mr: ModelRuntime,
        outputs: list[dict[str, Any]],
        version: str,
        chosen: str,
        variant: str,
        reason: str,
        source: str,
    ) -> Answer:
        m.FALLBACKS.labels(mr.name, chosen, variant, reason, source).inc()
        return Answer(outputs, mr.name, version, chosen, variant, reason, source)

    # --- accounting ------------------------------------------------------------------------------------
    def account(
        self,
        model: str,
        version: str,
        variant: str,
        code: int,
        seconds: float,
        *,
        fallback_reason: str | None = None,
        shed: bool = False,
        transport: str = "http",
    ) -> None:
        """Count one answered request in metrics (by ``transport``) and in the window (attributed to the
        chosen version)."""
        key = (model, version, variant, str(code), transport)
        child = self._reqs.get(key)
        if child is None:
            duration = m.DURATION.labels(model, version, variant, transport)
            child = self._reqs[key] = (m.REQUESTS.labels(*key), duration)
        child[0].inc()
        child[1].observe(seconds)
        error = (code >= 500 and not shed) or fallback_reason in _ERROR_REASONS
        slo = self.slo.trackers.get(model)
        if slo is not None:  # one comparison and one int increment
            slo.record(code, seconds, error)
        self.aggregator.record(
            model, version, variant, seconds, error=error, fallback=fallback_reason is not None, shed=shed
        )

    def count_client_error(self, model: str, code: int, transport: str = "http") -> None:
        """Count a 4xx answer (before any version was chosen)."""
        m.REQUESTS.labels(model, "", "", str(code), transport).inc()

    def shed(self, model: str, version: str, variant: str, reason: str) -> None:
        """Count a shed request."""
        m.SHED.labels(model, version, variant, reason).inc()

    # --- shadow ----------------------------------------------------------------------------------------
    def offer_shadow(self, job: ShadowJob) -> bool:
        """Queue a shadow copy; when the queue is full it is dropped and counted (never waits)."""
        if self.shadow_in_child:
            queued = self.shadow_mirror.put(job)
        else:
            if self.shadow_mirror is not None:  # no child could start: the shadow thread takes over
                self._shadow_pump.start()
            queued = self._shadow_pump.put(job)
        if queued:
            return True
        m.SHADOW_DROPPED.labels(job.model).inc()
        mr = self.models.get(job.model)
        if mr is not None:
            for svr in mr.shadows:
                for spec, _ in mr.comparators:
                    self.aggregator.record_drop(job.model, job.primary_version, svr.version, spec)
        return False

    def _shadow_batches(self, jobs: list[ShadowJob]) -> list[tuple[_ShadowContext, ShadowBatch]]:
        """One shadow step per (model, ready shadow version) for a chunk of copies."""
        by_model: dict[str, list[ShadowJob]] = {}
        for job in jobs:
            by_model.setdefault(job.model, []).append(job)
        steps: list[tuple[_ShadowContext, ShadowBatch]] = []
        for model, group in by_model.items():
            mr = self.models.get(model)
            if mr is None:
                continue
            records = [r for job in group for r in job.records]
            primary = [o for job in group for o in job.primary_outputs]
            requests = tuple((job.primary_version, len(job.records)) for job in group)
            specs = tuple(spec for spec, _ in mr.comparators)
            b = mr.deployment.batching
            size = b.max_batch_size if b.enabled else 1
            for svr in mr.shadows:
                if svr.ready and svr.loaded.accepts_shadow:
                    batch = ShadowBatch(model, svr.version, specs, requests, records, primary, size)
                    steps.append(((mr, svr, requests), batch))
        return steps

    def _shadow_chunk(self, jobs: list[ShadowJob]) -> None:
        """Run the shadow steps for a chunk of copies (in the shadow pump's thread)."""
        for context, batch in self._shadow_batches(jobs):
            self._report_shadow(context, self.shadow_runner.step(batch))

    def _report_shadow(self, context: _ShadowContext, outcome: ShadowOutcome) -> None:
        """Export a shadow step's tallies (or its error, once per record) as metrics and window rows."""
        mr, svr, jobs = context
        if outcome.error is not None:
            m.SHADOW_ERRORS.labels(*svr.labels).inc(sum(n for _, n in jobs))
            log.debug("shadow step failed", model=mr.name, version=svr.version, error=outcome.error)
            for primary_version, n in jobs:
                for spec, _ in mr.comparators:
                    self.aggregator.record_shadow(mr.name, primary_version, svr.version, spec, errors=n)
            return
        m.SHADOW_DURATION.labels(*svr.labels).observe(outcome.seconds)
        if outcome.record_error is not None and outcome.tallies:
            first = outcome.tallies[0].comparator
            failed = sum(t.errors for t in outcome.tallies if t.comparator == first)
            m.SHADOW_ERRORS.labels(*svr.labels).inc(failed)
            log.debug("shadow records failed", model=mr.name, version=svr.version, records=failed,
                      error=outcome.record_error)  # fmt: skip
        for t in outcome.tallies:
            self.aggregator.record_shadow(
                mr.name,
                t.primary_version,
                svr.version,
                t.comparator,
                compared=t.compared,
                agreed=t.agreed,
                score_sum=t.score_sum,
                errors=t.errors,
                calls=outcome.calls,
            )
            key = (mr.name, svr.version, t.primary_version, t.comparator)
            running = self._agreement.setdefault(key, [0, 0])
            running[0] += t.compared
            running[1] += t.agreed
            lab = (mr.name, svr.version, "shadow", t.primary_version, t.comparator)
            if t.agreed:
                m.SHADOW_COMPARED.labels(*lab, "true").inc(t.agreed)
            if t.compared - t.agreed:
                m.SHADOW_COMPARED.labels(*lab, "false").inc(t.compared - t.agreed)
            if running[0]:
                m.SHADOW_AGREEMENT.labels(*lab).set(running[1] / running[0])

    # --- background loops ------------------------------------------------------------------------------
    async def _watch(self) -> None:
        while True:
            await asyncio.sleep(self.settings.poll_interval_s)
            await self.refresh()

    async def _write_loop(self) -> None:
        while True:
            await asyncio.sleep(self.settings.window_interval_s)
            await self._flush_windows()

    async def _flush_windows(self) -> None:
        from trilho.store.routing import write_windows

        rows, shadow_rows = self.aggregator.drain()
        rows, shadow_rows = self._backlog[0] + rows, self._backlog[1] + shadow_rows
        if not rows and not shadow_rows:
            return
        try:
            await asyncio.to_thread(write_windows, self.store, rows, shadow_rows)
            self._backlog = ([], [])
        except Exception as exc:  # keep them (bounded) and try again next window
            self._backlog = (rows[-5000:], shadow_rows[-5000:])
            self.store_writable = False
            m.WINDOW_WRITE_FAILURES.inc()
            log.warning(
                "writing serving windows failed; kept for the next attempt",
                rows=len(rows),
                error=str(exc).splitlines()[0][:300],
            )
        else:
            if not self.store_writable:
                log.info("store takes window writes again", rows=len(rows))
            self.store_writable = True
        self._export_store_up()

    def _export_store_up(self) -> None:
        """``store_up`` is 1 only while the store both answers polls and takes window writes."""
        m.STORE_UP.set(1.0 if self.store_ok and self.store_writable else 0.0)

    def sample_access_log(self) -> bool:
        """Whether this request goes to the access log (sampled)."""
        return self._rand.random() < self.settings.access_log_sample


def _validating_runtime(mr: ModelRuntime, vr: VersionRuntime | None) -> VersionRuntime | None:
    if vr is not None:
        return vr
    return mr.stable


def _validate_inputs(vr: VersionRuntime | None, records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    if isinstance(records, ColumnBatch):  # binary tensors: the contract checked column-wise when it can
        check = vr.loaded.validate_columns if vr is not None else None
        checked = check(records) if check is not None else None
        if checked is not None:
            return checked  # type: ignore[return-value]  # a Sequence of records, columns inside
        if vr is not None and vr.loaded.validate_input is not None:
            records = records.records()  # not vouched for: record by record, the same errors as JSON
    validate = vr.loaded.validate_input if vr is not None else None
    if validate is None:
        return records
    out = []
    for i, record in enumerate(records):
        try:
            out.append(validate(record))
        except SchemaViolation as exc:
            exc.fields.setdefault("instance", i)
            raise
        except TrilhoError:
            raise
    return out


def _evict_hook(model: str):
    def on_evict(version: str, reason: str) -> None:
        m.CACHE.labels(model, version, "", f"evict_{reason}").inc()

    return on_evict


def _set_torch_threads(model_threads: int) -> None:
    """Keep torch from oversubscribing the cores the executor threads use (only if torch is loaded)."""
    import sys

    torch = sys.modules.get("torch")
    if torch is None:
        return
    cores = usable_cores()
    with contextlib.suppress(Exception):
        torch.set_num_threads(max(1, cores // max(1, min(model_threads, cores))))
