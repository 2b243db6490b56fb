"""Shadow versions in a child process: their model calls, and the GIL time those take, never compete with
live requests in the gateway process. The child rebuilds the gateway's model provider from a picklable spec
and loads each shadow version once; a call carries only (model, version, records) across.

A child that dies (a crash in native code, an out-of-memory kill) is replaced on the next call: shadow calls
in flight fail and are counted as shadow errors; live traffic never notices."""

from __future__ import annotations

import multiprocessing
import os
from collections.abc import Callable
from concurrent.futures import Executor, Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from typing import Any

from trilho.obs import get_logger
from trilho.serving.context import _SHADOW

log = get_logger("serving.isolation")

_provider: Any = None
_loaded: dict[tuple[str, str], Any] = {}


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


def _init_child(spec: RegistrySpec, parent: int) -> None:
    global _provider
    import gc
    import sys
    import threading

    from trilho.serving.settings import GIL_SWITCH_INTERVAL_S

    sys.setswitchinterval(GIL_SWITCH_INTERVAL_S)
    threading.Thread(target=_exit_with_parent, args=(parent,), daemon=True, name="parent-watch").start()
    _provider = spec.provider()
    gc.freeze()


def _exit_with_parent(parent: int, every_s: float = 0.5) -> None:
    """A killed gateway cannot tell its child to stop: the child notices that it was orphaned and exits."""
    import os
    import time

    while os.getppid() == parent:
        time.sleep(every_s)
    os._exit(0)


@dataclass(frozen=True)
class RemoteCall:
    """A shadow version's batch call, run in the child with the shadow flag set (picklable by value)."""

    model: str
    version: str

    def __call__(self, records: list[dict[str, Any]]) -> Any:
        key = (self.model, self.version)
        loaded = _loaded.get(key)
        if loaded is None:
            loaded = _loaded[key] = _provider.load(self.model, self.version)
        token = _SHADOW.set(True)
        try:
            return list(loaded.predict(records))
        finally:
            _SHADOW.reset(token)


class ShadowProcess(Executor):
    """A one-process pool for shadow calls that replaces its child when it breaks. Where no child process
    can be started at all (e.g. a script without an ``if __name__ == "__main__":`` guard under the spawn
    start method), shadow calls run in ``fallback`` (an in-process executor) through ``resolve(model,
    version)``, and that is logged once."""

    def __init__(
        self,
        spec: RegistrySpec,
        fallback: Executor,
        resolve: Callable[[str, str], Callable[[list[Any]], Any]],
    ) -> None:
        self.spec = spec
        self.fallback = fallback
        self.resolve = resolve
        self.in_process = False  # True once starting a child failed
        self._pool = self._start()

    def _start(self) -> ProcessPoolExecutor:
        return ProcessPoolExecutor(
            1,
            mp_context=multiprocessing.get_context("spawn"),
            initializer=_init_child,
            initargs=(self.spec, os.getpid()),
        )

    def submit(self, fn, /, *args, **kwargs) -> Future:
        """Run ``fn(*args)`` in the child (a new child if the last one died)."""
        if self.in_process:
            return self._submit_here(fn, *args, **kwargs)
        try:
            try:
                return self._pool.submit(fn, *args, **kwargs)
            except BrokenProcessPool:
                self._pool.shutdown(wait=False, cancel_futures=True)
                self._pool = self._start()
                return self._pool.submit(fn, *args, **kwargs)
        except (RuntimeError, OSError) as exc:  # no child can start here: keep shadows going in-process
            self.in_process = True
            log.warning(
                "shadow versions cannot run in a child process; running them in a thread of this process",
                error=f"{type(exc).__name__}: {str(exc).strip().splitlines()[0][:200]}",
                fix="start the gateway from a module guarded by if __name__ == '__main__', or set "
                "shadow_isolation='thread'",
            )
            return self._submit_here(fn, *args, **kwargs)

    def _submit_here(self, fn, /, *args, **kwargs) -> Future:
        args = tuple(self.resolve(a.model, a.version) if isinstance(a, RemoteCall) else a for a in args)
        return self.fallback.submit(fn, *args, **kwargs)

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        """Stop the child (and the in-process fallback)."""
        self._pool.shutdown(wait=wait, cancel_futures=cancel_futures)
        self.fallback.shutdown(wait=wait, cancel_futures=cancel_futures)
