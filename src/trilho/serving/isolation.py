"""Where shadow steps run, so that live requests never pay for them. Both runners are synchronous: the shadow
pump's thread calls them (and the warm-up of a shadow version, through ``asyncio.to_thread``).

``ShadowChild``: a child process at the lowest CPU priority (``SCHED_IDLE`` on Linux) runs the shadow versions
and the comparisons: it only gets CPU time that live work leaves idle and shares no GIL with the gateway. One
``multiprocessing`` pipe carries the calls, one at a time. The child rebuilds the gateway's model
provider from a picklable spec and loads each shadow version once. A child that dies (a crash in native code,
an out-of-memory kill) or hangs past the shadow timeout is replaced on the next step; the step in flight is a
shadow error; live traffic never notices. A child that notices its gateway is gone exits.

``InProcessShadows``: the same steps in the calling thread of the gateway process (``shadow_isolation=
"thread"``, and the fallback where no child process can start)."""

from __future__ import annotations

import contextlib
import multiprocessing
import os
import pickle
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from multiprocessing.connection import Connection
from typing import Any, Protocol

from trilho.obs import get_logger
from trilho.serving.comparators import Comparator, parse_comparator
from trilho.serving.context import as_shadow
from trilho.serving.shadow_compare import ShadowBatch, ShadowOutcome, run_shadow_batch

log = get_logger("serving.isolation")


class ShadowChildLost(RuntimeError):
    """The shadow child died or was stopped with this step in flight."""


class ShadowRunner(Protocol):
    """Runs shadow steps (blocking; called from the shadow pump's thread)."""

    def predict(self, model: str, version: str, records: list[dict[str, Any]]) -> list[Any]:
        """A shadow version's outputs for ``records`` (its warm-up), called with the shadow flag set."""
        ...

    def step(self, batch: ShadowBatch) -> ShadowOutcome:
        """Call the shadow version on the batch and compare with the primary outputs."""
        ...

    def close(self) -> None:
        """Stop; a step in flight fails."""
        ...


@dataclass(frozen=True)
class RegistrySpec:
    """How a child process opens the same registry as the gateway (store URL, schema, artifacts root)."""

    url: str
    schema: str | None
    artifacts_root: str

    def provider(self) -> Any:
        """A ``RegistryProvider`` over a store opened from this spec."""
        from trilho.serving.models import RegistryProvider
        from trilho.store import Store

        return RegistryProvider(Store(self.url, schema=self.schema), self.artifacts_root)


class InProcessShadows:
    """Shadow steps in the calling thread; ``resolve(model, version)`` gives the version's batch call."""

    def __init__(self, resolve: Callable[[str, str], Callable[[list[Any]], Any]]) -> None:
        self.resolve = resolve
        self._comparators: dict[str, Comparator] = {}

    def predict(self, model: str, version: str, records: list[dict[str, Any]]) -> list[Any]:
        """Outputs of the shadow version, with the shadow flag set."""
        return list(as_shadow(self.resolve(model, version))(records))

    def step(self, batch: ShadowBatch) -> ShadowOutcome:
        """The shadow step, here and now."""
        call = as_shadow(self.resolve(batch.model, batch.version))
        return run_shadow_batch(call, self._comparators_for(batch.comparators), batch)

    def _comparators_for(self, specs: Sequence[str]) -> list[tuple[str, Comparator]]:
        """The comparators named by ``specs`` (each built once)."""
        cache = self._comparators
        return [(s, cache[s] if s in cache else cache.setdefault(s, parse_comparator(s))) for s in specs]

    def close(self) -> None:
        """Nothing to release."""


class ShadowChild:
    """Shadow steps in one child process at background priority, restarted when it dies or hangs. Where no
    child can start at all (e.g. a script without an ``if __name__ == "__main__":`` guard under the spawn
    start method) every step goes to ``fallback`` from then on, and that is logged once."""

    def __init__(self, spec: RegistrySpec, fallback: InProcessShadows, timeout_s: float = 30.0) -> None:
        self.spec = spec
        self.fallback = fallback
        self.timeout_s = timeout_s
        self.in_process = False  # True once starting a child failed
        self._proc: Any = None
        self._conn: Connection | None = None
        self._lock = threading.Lock()  # one call at a time over the pipe

    @property
    def pid(self) -> int | None:
        """The running child's process id."""
        return self._proc.pid if self._proc is not None else None

    def predict(self, model: str, version: str, records: list[dict[str, Any]]) -> list[Any]:
        """Outputs of the shadow version, computed in the child."""
        with self._lock:
            if self.in_process or not self._ensure_child():
                return self.fallback.predict(model, version, records)
            return self._call("predict", (model, version, records))

    def step(self, batch: ShadowBatch) -> ShadowOutcome:
        """The shadow step in the child; a lost or hung child is an error outcome."""
        with self._lock:
            if self.in_process or not self._ensure_child():
                return self.fallback.step(batch)
            try:
                return self._call("step", batch)
            except (ShadowChildLost, TimeoutError) as exc:
                return ShadowOutcome(0.0, error=f"{type(exc).__name__}: {exc}")
            except RuntimeError as exc:  # the child could not load the version, or another failure there
                return ShadowOutcome(0.0, error=str(exc))

    def _call(self, kind: str, payload: Any) -> Any:
        conn = self._conn
        try:
            conn.send((kind, payload))
            if not conn.poll(self.timeout_s):
                self._stop_child("timed out")  # a hung shadow model: the next step gets a fresh child
                raise TimeoutError(f"no answer from the shadow child within {self.timeout_s:g} s")
            ok, value = conn.recv()
        except (EOFError, OSError, pickle.UnpicklingError) as exc:
            self._stop_child("lost")
            raise ShadowChildLost(f"the shadow child exited with the step in flight ({exc!r})") from None
        if not ok:
            raise RuntimeError(value)
        return value

    def _ensure_child(self) -> bool:
        """Start the child unless it runs; False (and in-process from now on) when no child can start."""
        if self._conn is not None and self._proc is not None and self._proc.is_alive():
            return True
        self._stop_child(None)
        ours, theirs = multiprocessing.Pipe()
        try:
            ctx = multiprocessing.get_context("spawn")
            args = (self.spec, theirs, os.getpid())
            proc = ctx.Process(target=_child_main, args=args, daemon=True, name="trilho-shadow")
            proc.start()
        except (RuntimeError, OSError, AssertionError) as exc:
            ours.close()
            self.in_process = True
            log.warning(
                "shadow versions cannot run in a child process; running them in a thread of this process",
                error=f"{type(exc).__name__}: {str(exc).strip().splitlines()[0][:200]}",
                fix="start the gateway from a module guarded by if __name__ == '__main__', or set "
                "shadow_isolation='thread'",
            )
            return False
        finally:
            theirs.close()
        self._proc, self._conn = proc, ours
        log.info("shadow child started", pid=proc.pid)
        return True

    def _stop_child(self, why: str | None) -> None:
        if why is not None:
            log.warning("stopping the shadow child", pid=self.pid, reason=why)
        if self._conn is not None:
            with contextlib.suppress(OSError):
                self._conn.close()
            self._conn = None
        if self._proc is not None:
            if self._proc.is_alive():
                self._proc.kill()
            with contextlib.suppress(Exception):
                self._proc.join(1.0)

    def close(self) -> None:
        """Stop the child."""
        self._stop_child(None)


# --- the child process -------------------------------------------------------------------------------------
def background_priority() -> None:
    """Run this process only on CPU time nothing else wants: SCHED_IDLE on Linux, else the lowest nice."""
    try:
        os.sched_setscheduler(0, os.SCHED_IDLE, os.sched_param(0))
    except (AttributeError, OSError):
        with contextlib.suppress(OSError, AttributeError):
            os.nice(19)


def _exit_with_parent(parent: int, every_s: float = 0.5) -> None:
    """A killed gateway cannot tell its child to stop: the child notices that it was orphaned and exits."""
    import time

    while os.getppid() == parent:
        time.sleep(every_s)
    os._exit(0)


def _child_main(spec: RegistrySpec, conn: Connection, parent: int) -> None:
    import gc
    import sys

    from trilho.serving.settings import GIL_SWITCH_INTERVAL_S

    background_priority()
    sys.setswitchinterval(GIL_SWITCH_INTERVAL_S)
    threading.Thread(target=_exit_with_parent, args=(parent,), daemon=True, name="parent-watch").start()
    provider = spec.provider()
    loaded: dict[tuple[str, str], Any] = {}

    def resolve(model: str, version: str) -> Callable[[list[Any]], Any]:
        if (model, version) not in loaded:
            loaded[(model, version)] = provider.load(model, version)
        return loaded[(model, version)].predict

    here = InProcessShadows(resolve)  # the steps, as the gateway would run them in-process
    gc.freeze()
    while True:
        try:
            kind, payload = conn.recv()
        except (EOFError, OSError):
            return
        try:
            reply = (True, here.predict(*payload) if kind == "predict" else here.step(payload))
            conn.send(reply)  # pickled before anything is written: an unpicklable reply sends nothing
        except (EOFError, BrokenPipeError):
            return
        except Exception as exc:  # a version that cannot load, outputs that cannot travel back
            try:
                conn.send((False, f"{type(exc).__name__}: {exc}"))
            except OSError:
                return
