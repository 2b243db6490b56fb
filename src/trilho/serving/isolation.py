"""Shadow versions in a child process: their model calls, and the GIL time those take, never compete with
live requests in the gateway process. The child rebuilds the gateway's model provider from a picklable spec
and loads each shadow version once; a call carries only (model, version, records) across.

A child that dies (a crash in native code, an out-of-memory kill) is replaced on the next call: shadow calls
in flight fail and are counted as shadow errors; live traffic never notices."""

from __future__ import annotations

import multiprocessing
from concurrent.futures import Executor, Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from typing import Any

from trilho.serving.context import _SHADOW

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


def _init_child(spec: RegistrySpec) -> None:
    global _provider
    import gc
    import sys

    sys.setswitchinterval(0.001)
    _provider = spec.provider()
    gc.freeze()


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
    """A one-process pool for shadow calls that replaces its child when it breaks."""

    def __init__(self, spec: RegistrySpec) -> None:
        self.spec = spec
        self._pool = self._start()

    def _start(self) -> ProcessPoolExecutor:
        return ProcessPoolExecutor(
            1,
            mp_context=multiprocessing.get_context("spawn"),
            initializer=_init_child,
            initargs=(self.spec,),
        )

    def submit(self, fn, /, *args, **kwargs) -> Future:
        """Run ``fn(*args)`` in the child (a new child if the last one died)."""
        try:
            return self._pool.submit(fn, *args, **kwargs)
        except BrokenProcessPool:
            self._pool.shutdown(wait=False, cancel_futures=True)
            self._pool = self._start()
            return self._pool.submit(fn, *args, **kwargs)

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        """Stop the child."""
        self._pool.shutdown(wait=wait, cancel_futures=cancel_futures)
