"""Where shadow steps run, so that live requests never pay for them.

``ShadowChild`` (the default): a child process at the lowest CPU priority (``SCHED_IDLE`` on Linux) runs the
shadow versions and the comparisons. It only gets a core that live work leaves idle, shares no GIL with the
gateway, and talks to the gateway's event loop over one socket pair: length-prefixed pickles, read and written
by the loop itself, so the gateway process wakes no extra thread for them. The child rebuilds the gateway's
model provider from a picklable spec and loads each shadow version once.

A child that dies (a crash in native code, an out-of-memory kill) or hangs past the shadow timeout is replaced
on the next step: the steps in flight fail and are counted as shadow errors; live traffic never notices. A
child that notices its gateway is gone exits.

``ShadowThreads``: the same steps in a thread pool of the gateway process (``shadow_isolation="thread"``, and
the fallback where no child process can start)."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import multiprocessing
import os
import pickle
import socket
import struct
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, Protocol

from trilho.obs import get_logger
from trilho.serving.comparators import Comparator, parse_comparator
from trilho.serving.context import as_shadow
from trilho.serving.shadow_compare import ShadowBatch, ShadowOutcome, run_shadow_batch

log = get_logger("serving.isolation")

_HEADER = struct.Struct("!I")


class ShadowChildLost(RuntimeError):
    """The shadow child died or was stopped with this step in flight."""


class ShadowRunner(Protocol):
    """Runs shadow steps off the event loop."""

    async def predict(self, model: str, version: str, records: list[dict[str, Any]]) -> list[Any]:
        """A shadow version's outputs for ``records`` (its warm-up), called with the shadow flag set."""
        ...

    async def step(self, batch: ShadowBatch) -> ShadowOutcome:
        """Call the shadow version on the batch and compare with the primary outputs."""
        ...

    async def close(self) -> None:
        """Stop; steps in flight fail."""
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


def comparators_for(specs: Sequence[str], cache: dict[str, Comparator]) -> list[tuple[str, Comparator]]:
    """The comparators named by ``specs`` (built once per spec)."""
    return [(s, cache[s] if s in cache else cache.setdefault(s, parse_comparator(s))) for s in specs]


class ShadowThreads:
    """Shadow steps in a thread pool of this process; ``resolve(model, version)`` gives the batch call."""

    def __init__(
        self,
        threads: int,
        resolve: Callable[[str, str], Callable[[list[Any]], Any]],
        timeout_s: float = 30.0,
        initializer: Callable[[], None] | None = None,
    ) -> None:
        self.pool = ThreadPoolExecutor(threads, thread_name_prefix="trilho-shadow", initializer=initializer)
        self.resolve = resolve
        self.timeout_s = timeout_s
        self._comparators: dict[str, Comparator] = {}

    async def predict(self, model: str, version: str, records: list[dict[str, Any]]) -> list[Any]:
        """Outputs of the shadow version, computed in a shadow thread with the shadow flag set."""
        call = as_shadow(self.resolve(model, version))
        return list(await asyncio.get_running_loop().run_in_executor(self.pool, call, records))

    async def step(self, batch: ShadowBatch) -> ShadowOutcome:
        """The shadow step in a shadow thread (a step past the timeout is an error outcome)."""
        call = as_shadow(self.resolve(batch.model, batch.version))
        comparators = comparators_for(batch.comparators, self._comparators)
        loop = asyncio.get_running_loop()
        try:
            async with asyncio.timeout(self.timeout_s):
                return await loop.run_in_executor(self.pool, run_shadow_batch, call, comparators, batch)
        except TimeoutError:
            return ShadowOutcome(self.timeout_s, error=f"no shadow outcome within {self.timeout_s:g} s")

    async def close(self) -> None:
        """Release the threads (a running step finishes on its own)."""
        self.pool.shutdown(wait=False, cancel_futures=True)


class ShadowChild:
    """Shadow steps in one child process at background priority, restarted when it dies or hangs. Where no
    child can start at all (e.g. a script without an ``if __name__ == "__main__":`` guard under the spawn
    start method) it hands every step to ``fallback`` from then on, and logs that once."""

    def __init__(self, spec: RegistrySpec, fallback: ShadowThreads, timeout_s: float = 30.0) -> None:
        self.spec = spec
        self.fallback = fallback
        self.timeout_s = timeout_s
        self.in_process = False  # True once starting a child failed
        self.restarts = 0
        self._proc: Any = None
        self._writer: asyncio.StreamWriter | None = None
        self._reader: asyncio.Task | None = None
        self._pending: dict[int, asyncio.Future] = {}
        self._ids = itertools.count()
        self._starting: asyncio.Lock | None = None

    @property
    def pid(self) -> int | None:
        """The running child's process id."""
        return self._proc.pid if self._proc is not None else None

    async def predict(self, model: str, version: str, records: list[dict[str, Any]]) -> list[Any]:
        """Outputs of the shadow version, computed in the child."""
        if self.in_process or not await self._ensure_child():
            return await self.fallback.predict(model, version, records)
        return await self._call("predict", (model, version, records))

    async def step(self, batch: ShadowBatch) -> ShadowOutcome:
        """The shadow step in the child; a lost or hung child is an error outcome."""
        if self.in_process or not await self._ensure_child():
            return await self.fallback.step(batch)
        try:
            return await self._call("step", batch)
        except (ShadowChildLost, TimeoutError) as exc:
            return ShadowOutcome(0.0, error=f"{type(exc).__name__}: {exc}")
        except RuntimeError as exc:  # the child could not load the version, or another failure there
            return ShadowOutcome(0.0, error=str(exc))

    async def _call(self, kind: str, payload: Any) -> Any:
        call_id = next(self._ids)
        future = asyncio.get_running_loop().create_future()
        self._pending[call_id] = future
        data = pickle.dumps((call_id, kind, payload), protocol=5)
        try:
            self._writer.write(_HEADER.pack(len(data)) + data)
            async with asyncio.timeout(self.timeout_s):
                await self._writer.drain()
                ok, value = await future
        except TimeoutError:
            self._stop_child("timed out")  # a hung shadow model: the next step gets a fresh child
            raise TimeoutError(f"no answer from the shadow child within {self.timeout_s:g} s") from None
        except ConnectionError as exc:
            raise ShadowChildLost(f"the shadow child is gone ({exc})") from None
        finally:
            self._pending.pop(call_id, None)
        if not ok:
            raise RuntimeError(value)
        return value

    async def _ensure_child(self) -> bool:
        """Start the child unless it runs; False (and in-process from now on) when no child can start."""
        if self._writer is not None and not self._writer.is_closing():
            return True
        if self._starting is None:
            self._starting = asyncio.Lock()
        async with self._starting:
            if self._writer is not None and not self._writer.is_closing():
                return True
            ours, theirs = socket.socketpair()
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
            if self._proc is not None:
                self.restarts += 1
            self._proc = proc
            reader, self._writer = await asyncio.open_connection(sock=ours)
            self._reader = asyncio.create_task(self._read(reader, self._writer, proc))
            log.info("shadow child started", pid=proc.pid)
            return True

    async def _read(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, proc: Any) -> None:
        try:
            while True:
                (size,) = _HEADER.unpack(await reader.readexactly(_HEADER.size))
                call_id, ok, value = pickle.loads(await reader.readexactly(size))
                future = self._pending.get(call_id)
                if future is not None and not future.done():
                    future.set_result((ok, value))
        except (asyncio.IncompleteReadError, ConnectionError, pickle.UnpicklingError):
            pass
        finally:
            writer.close()
            lost = [f for f in self._pending.values() if not f.done()]
            for future in lost:
                future.set_exception(ShadowChildLost("the shadow child exited with the step in flight"))
            if proc.is_alive():
                proc.kill()
            with contextlib.suppress(Exception):
                proc.join(0)
            if lost or proc.exitcode not in (0, None, -9):
                log.warning("shadow child exited", pid=proc.pid, exitcode=proc.exitcode, lost=len(lost))

    def _stop_child(self, why: str) -> None:
        if self._writer is not None:
            log.warning("stopping the shadow child", pid=self.pid, reason=why)
            self._writer.close()  # the reader task sees EOF, fails the steps in flight, kills and reaps
            if self._proc is not None and self._proc.is_alive():
                self._proc.kill()

    async def close(self) -> None:
        """Stop the child (and the in-process fallback)."""
        if self._writer is not None:
            self._writer.close()
        if self._reader is not None:
            self._reader.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._reader
        if self._proc is not None and self._proc.is_alive():
            self._proc.kill()
            with contextlib.suppress(Exception):
                await asyncio.to_thread(self._proc.join, 5)
        await self.fallback.close()


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


def _recv_exactly(sock: socket.socket, n: int) -> bytes:
    chunks, left = [], n
    while left:
        chunk = sock.recv(min(left, 1 << 20))
        if not chunk:
            raise EOFError
        chunks.append(chunk)
        left -= len(chunk)
    return b"".join(chunks)


def _child_main(spec: RegistrySpec, sock: socket.socket, parent: int) -> None:
    import gc
    import sys
    import threading

    from trilho.serving.settings import GIL_SWITCH_INTERVAL_S

    background_priority()
    sys.setswitchinterval(GIL_SWITCH_INTERVAL_S)
    threading.Thread(target=_exit_with_parent, args=(parent,), daemon=True, name="parent-watch").start()
    provider = spec.provider()
    loaded: dict[tuple[str, str], Any] = {}
    comparators: dict[str, Comparator] = {}

    def shadow_call(model: str, version: str) -> Callable[[list[Any]], Any]:
        key = (model, version)
        if key not in loaded:
            loaded[key] = provider.load(model, version)
        return as_shadow(loaded[key].predict)

    gc.freeze()
    sock.setblocking(True)
    while True:
        try:
            (size,) = _HEADER.unpack(_recv_exactly(sock, _HEADER.size))
            call_id, kind, payload = pickle.loads(_recv_exactly(sock, size))
        except (EOFError, ConnectionError):
            return
        try:
            if kind == "predict":
                model, version, records = payload
                reply = (call_id, True, list(shadow_call(model, version)(records)))
            else:
                call = shadow_call(payload.model, payload.version)
                compare = comparators_for(payload.comparators, comparators)
                reply = (call_id, True, run_shadow_batch(call, compare, payload))
        except Exception as exc:
            reply = (call_id, False, f"{type(exc).__name__}: {exc}")
        try:
            data = pickle.dumps(reply, protocol=5)
        except Exception as exc:  # outputs that cannot travel back
            data = pickle.dumps((call_id, False, f"{type(exc).__name__}: {exc}"), protocol=5)
        try:
            sock.sendall(_HEADER.pack(len(data)) + data)
        except (ConnectionError, OSError):
            return
