"""Gateway settings: where it listens, request limits, background intervals, thread pools."""

from __future__ import annotations

import contextlib
import os
import socket
from collections.abc import Callable
from dataclasses import dataclass, field, replace

from trilho.errors import ConfigError
from trilho.net.limits import HttpLimits


def _gateway_id() -> str:
    return f"{socket.gethostname()}-{os.getpid()}"


SHADOW_ISOLATION = ("auto", "process", "thread")


# How long a thread waiting for the GIL lets the holder run before asking for it (CPython's default: 5 ms),
# in every serving process (the gateway and its shadow child). A batch handed to the model thread while the
# event loop is busy waits up to this long to start: at 3,570 req/s (half of saturation) over 21 interleaved
# runs the gateway's p99 was +0.94 ms over a bare endpoint with 1 ms and +0.47 ms with 0.2 ms (asyncio load
# generator; the forced switches cost a few µs each).
GIL_SWITCH_INTERVAL_S = 0.0002


def usable_cores() -> int:
    """CPU cores this process may run on (its affinity where the OS tells, else the machine's count)."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)


def batch_concurrency(configured: int | None) -> int:
    """Batches of one version in flight at once: as configured, else 2 with ≥ 3 cores and 1 below — on 2 cores
    a second model thread competes with the event loop and adds tail latency (measured: bench-serving)."""
    if configured is not None:
        return configured
    return 2 if usable_cores() >= 3 else 1


def shadow_in_child(isolation: str, cpus: tuple[int, ...] = ()) -> bool:
    """Whether shadow versions get a child process: always for "process"; for "auto" when CPUs are named for
    it or the machine has a core to spare (>= 4). Where the gateway has every core busy the child — even at
    SCHED_IDLE — gets too little time to keep up and its copies are dropped; a shadow thread there competes
    with live requests for the GIL instead (docs/architecture.md has the measurements)."""
    if isolation == "auto":
        return bool(cpus) or usable_cores() >= 4
    return isolation == "process"


def parse_cpus(text: str | None) -> tuple[int, ...]:
    """CPU numbers from a list such as "2,3" or "2-5" (empty text: none)."""
    cpus: set[int] = set()
    for part in (text or "").replace(" ", "").split(","):
        if not part:
            continue
        low, _, high = part.partition("-")
        try:
            first, last = int(low), int(high or low)
        except ValueError:
            first, last = -1, -1
        if first < 0 or last < first:
            raise ConfigError(
                f"shadow_cpus {text!r}: {part!r} is not a CPU number or range",
                fix='list CPU numbers or ranges, e.g. "2,3" or "2-5"',
                field="shadow_cpus",
                value=text,
            )
        cpus.update(range(first, last + 1))
    return tuple(sorted(cpus))


def format_cpus(cpus: tuple[int, ...]) -> str:
    """A CPU list as ``parse_cpus`` reads it ("2,3"; empty: none)."""
    return ",".join(map(str, cpus))


MODEL_THREAD_SCHED = ("batch", "normal")


def model_thread_policy(sched: str) -> Callable[[], None]:
    """An initializer for model threads (live and shadow). "batch" (Linux ``SCHED_BATCH``, same CPU share): a
    model thread that wakes up does not preempt the running event loop, which holds the GIL the thread needs
    anyway: it runs when the loop waits for I/O. Measured on 2 cores at 4,330 req/s: 7.2 → 3.4 context
    switches and 223 → 206 µs CPU per request, p50 0.37 → 0.25 ms (bench-serving's setting). "normal" leaves
    threads as they are. (A lower share for shadow threads — nice 19, SCHED_IDLE — would let a busy
    neighbour process starve a shadow thread that holds the GIL, and the event loop with it.)"""

    def initializer() -> None:
        if sched == "batch" and hasattr(os, "SCHED_BATCH"):
            with contextlib.suppress(OSError):
                os.sched_setscheduler(0, os.SCHED_BATCH, os.sched_param(0))

    return initializer


@dataclass(frozen=True)
class GatewaySettings:
    """Everything the gateway process needs besides the store and the models."""

    host: str = "127.0.0.1"
    port: int = 8080
    grpc_port: int | None = None  # OIP V2 over gRPC on this port too (0: any free port); None: HTTP only
    workers: int = 1
    max_body_bytes: int = 1_048_576  # larger requests get 413
    max_instances: int = 1024  # records per request
    poll_interval_s: float = 0.25  # routing-table generation poll (changes apply within 1 s)
    window_interval_s: float = 5.0  # per-version aggregates written to the store this often
    shadow_queue_size: int = 1000  # shadow copies in flight; beyond this they are dropped and counted
    # shadow copies gather this long after the first before a step is sent: fewer, larger steps (with the
    # shadow child at 4,470 req/s on 2 cores, primary p50 +163 µs over no shadow at 5 ms, +33 µs at 20 ms)
    shadow_linger_ms: float = 20.0
    shadow_chunk: int = 32  # copies per step in the shadow thread (one model call per max_batch_size records)
    shadow_timeout_s: float = 30.0  # a shadow child silent this long is replaced (time it waited for a CPU
    # does not count: starved is not hung); its unanswered steps are errors
    model_threads: int = 4  # executor threads for live model calls
    # "process": shadow versions and comparisons run in a child process at background CPU priority, fed by
    # the event loop (no GIL or thread hand-off shared with live requests; needs a provider with spec(), e.g.
    # the registry, else a thread); "thread": in the shadow pump's thread of this process; "auto": a child
    # process when CPUs are named for it or the machine has a core to spare (>= 4 cores), else a thread
    shadow_isolation: str = "auto"
    # CPUs for the shadow child (sched_setaffinity), e.g. cores the live traffic does not use; empty: any
    shadow_cpus: tuple[int, ...] = ()
    model_thread_sched: str = "batch"  # see model_thread_policy
    access_log_sample: float = 0.01  # fraction of requests written to the JSON access log
    # Dedicated serving processes move everything alive after start-up (modules, models) out of the cyclic
    # garbage collector's sight (gc.freeze): a full collection walks only request garbage, no 100 ms pauses.
    freeze_gc: bool = False
    gateway_id: str = field(default_factory=_gateway_id)
    # header/body read timeouts, keep-alive and JSON depth (None: the TRILHO_HTTP_* variables, else defaults);
    # the body size limit is max_body_bytes above
    http: HttpLimits | None = None
    # exposure log (trilho.serving.exposures): every routed request's unit, version, variant and generation,
    # as Parquet parts in this folder (None: not logged; ``gateway_from_settings`` puts it under the home's
    # exposures/ unless ``exposures`` is False). Cost measured by ``make bench-exposure``.
    # the LLM routes' keys file: per-key rate limits and spend budgets (trilho.serving.llm.limits); None: off
    llm_keys: str | None = None
    exposures: bool = True
    exposures_dir: str | None = None
    exposures_buffer: int = 100_000  # exposures waiting for the writer; beyond this, dropped and counted
    # scale-out: exposures go to this Redis stream instead (trilho exposures consume writes the same parts)
    exposures_redis_url: str | None = None
    exposures_stream: str = "trilho:exposures"
    exposures_rotate_s: float = 60.0  # a part closes this often (or at 200,000 rows): what a kill -9 may lose

    def http_limits(self) -> HttpLimits:
        """The request limits the gateway's server applies (``http`` with ``max_body_bytes``)."""
        return replace(self.http or HttpLimits.from_env(), max_body_bytes=self.max_body_bytes)

    def __post_init__(self) -> None:
        if self.shadow_isolation not in SHADOW_ISOLATION:
            raise ConfigError(
                f"shadow_isolation {self.shadow_isolation!r} is not one of {', '.join(SHADOW_ISOLATION)}",
                fix="use 'process' (a child process), 'thread' or 'auto' (process with >= 4 cores)",
                field="shadow_isolation",
                value=self.shadow_isolation,
            )
        if self.shadow_cpus and self.shadow_isolation == "thread":
            raise ConfigError(
                "shadow_cpus names CPUs for the shadow child process, but shadow_isolation is 'thread'",
                fix="drop shadow_cpus, or set shadow_isolation to 'process' or 'auto'",
                field="shadow_cpus",
                value=format_cpus(self.shadow_cpus),
            )
        if any(not isinstance(c, int) or c < 0 for c in self.shadow_cpus):
            raise ConfigError(
                f"shadow_cpus {self.shadow_cpus!r} must be CPU numbers (integers >= 0)",
                fix='use e.g. shadow_cpus=(2, 3) or --shadow-cpus "2,3"',
                field="shadow_cpus",
                value=str(self.shadow_cpus),
            )
        cpu_count = os.cpu_count() or 0
        if self.shadow_cpus and cpu_count and max(self.shadow_cpus) >= cpu_count:
            raise ConfigError(
                f"shadow_cpus names CPU {max(self.shadow_cpus)}, but this machine has CPUs 0-{cpu_count - 1}",
                fix=f"name CPUs between 0 and {cpu_count - 1}",
                field="shadow_cpus",
                value=format_cpus(self.shadow_cpus),
            )
        if self.model_thread_sched not in MODEL_THREAD_SCHED:
            raise ConfigError(
                f"model_thread_sched {self.model_thread_sched!r} is not one of "
                f"{', '.join(MODEL_THREAD_SCHED)}",
                fix="use 'batch' (model threads wait for the event loop to pause) or 'normal'",
                field="model_thread_sched",
                value=self.model_thread_sched,
            )
