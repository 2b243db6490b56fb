"""Where shadow steps run, so that live requests never pay for them.

``ShadowMirror`` (``shadow_isolation="process"``): a child process at the lowest CPU priority (``SCHED_IDLE``
on Linux, optionally pinned to CPUs of its own) runs the shadow versions and the comparisons, and the
gateway's event loop alone feeds it — no gateway thread runs shadow work, so live requests share neither the
GIL nor a thread hand-off with it. The loop's share per copy is one list append; ``linger_s`` after the first
copy it groups the copies into one step per shadow version (``build``), pickles them as one frame and writes
it to the child's pipe without blocking (what the pipe cannot take now waits in a buffer for the next
write). The child answers each frame with the steps' outcomes; the loop reads the answers every ``poll_s`` —
it never waits for them — and hands each to ``report``. Copies queued or unanswered are bounded: beyond
``max_inflight`` ``put`` drops the copy and the caller counts it.

A child that dies, or leaves frames unanswered for ``timeout_s`` once it is ready (a new child first loads the
shadow versions its predecessor served, within ``STARTUP_S``), is killed; its unanswered steps are reported
as errors and the next frame starts a new child; live traffic never notices. The answer clock leaves out the
time the child spent runnable but waiting for a CPU (Linux schedstat): at background priority on a machine
that live traffic keeps busy it is starved, not hung — its copies are dropped for the bound, not turned into
errors of the shadow version, and it carries on when the load falls. Where no child can start at all
(e.g. a script without an ``if __name__ == "__main__":`` guard under the spawn start method) ``in_process``
turns True, which is logged once, and the gateway runs shadows in its shadow thread instead. A child whose
gateway is gone exits.

``InProcessShadows``: the steps in the calling thread (the gateway's shadow thread for ``"thread"``, and the
child's main loop)."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import multiprocessing
import os
import pickle
import struct
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from multiprocessing.connection import Connection
from typing import Any, Generic, TypeVar

from trilho.obs import get_logger
from trilho.serving.comparators import Comparator, parse_comparator
from trilho.serving.context import as_shadow
from trilho.serving.models import LoadedVersion
from trilho.serving.shadow_compare import ShadowBatch, ShadowOutcome, run_shadow_batch

log = get_logger("serving.isolation")

J = TypeVar("J")  # a shadow copy, as the gateway queues it
STARTUP_S = 60.0  # a new child gets this long (at least) to start and load the shadow versions
C = TypeVar("C")  # what the gateway needs back with a step's outcome to report it


class ShadowChildLost(RuntimeError):
    """The shadow child died, hung or was stopped with this call in flight."""


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
    """Shadow steps in the calling thread; ``resolve(model, version)`` gives the loaded version: its batch
    ``predict``, and its output contract (``validate_output``) that both sides of a comparison go through."""

    def __init__(self, resolve: Callable[[str, str], LoadedVersion]) -> None:
        self.resolve = resolve
        self._comparators: dict[str, Comparator] = {}
        self._good: dict[tuple[str, str], dict[str, Any]] = {}  # per version: a record it answered

    def predict(self, model: str, version: str, records: list[dict[str, Any]]) -> list[Any]:
        """Outputs of the shadow version, with the shadow flag set."""
        return list(as_shadow(self.resolve(model, version).predict)(records))

    def step(self, batch: ShadowBatch) -> ShadowOutcome:
        """The shadow step, here and now; a version that cannot be loaded is an error outcome."""
        try:
            loaded = self.resolve(batch.model, batch.version)
        except Exception as exc:
            return ShadowOutcome(0.0, error=f"{type(exc).__name__}: {exc}")
        comparators = self._comparators_for(batch.comparators)
        key = (batch.model, batch.version)
        predict = as_shadow(loaded.predict)

        def noting(records: list[dict[str, Any]]) -> Any:  # remembers a record the version answered
            outputs = predict(records)
            if records and outputs is not None and len(outputs) == len(records):
                self._good[key] = records[0]
            return outputs

        good = self._good.get(key)
        return run_shadow_batch(noting, comparators, batch, loaded.validate_output, good)

    def _comparators_for(self, specs: Sequence[str]) -> list[tuple[str, Comparator]]:
        """The comparators named by ``specs`` (each built once)."""
        cache = self._comparators
        return [(s, cache[s] if s in cache else cache.setdefault(s, parse_comparator(s))) for s in specs]


# --- frames: a 4-byte big-endian length, then a pickle ------------------------------------------------------
_HEADER = struct.Struct("!I")


def encode_frame(message: Any) -> bytes:
    """One message as a frame."""
    payload = pickle.dumps(message, protocol=pickle.HIGHEST_PROTOCOL)
    return _HEADER.pack(len(payload)) + payload


def decode_frames(buffer: bytearray) -> list[Any]:
    """The complete frames at the start of ``buffer``, decoded and removed from it (a partial frame stays)."""
    messages: list[Any] = []
    pos, end = 0, len(buffer)
    view = memoryview(buffer)
    try:
        while end - pos >= _HEADER.size:
            (size,) = _HEADER.unpack_from(view, pos)
            if end - pos - _HEADER.size < size:
                break
            start = pos + _HEADER.size
            messages.append(pickle.loads(view[start : start + size]))
            pos = start + size
    finally:
        view.release()
    del buffer[:pos]
    return messages


# --- the gateway's side -------------------------------------------------------------------------------------
class ShadowMirror(Generic[J, C]):
    """Shadow copies → frames → a child process; answers read back by the event loop (see the module doc).

    ``build(copies)`` turns queued copies into ``[(context, ShadowBatch)]``; ``report(context, outcome)``
    receives each step's outcome (an error outcome when the child was lost with it); ``fallback`` runs warm-up
    calls when no child can start. Every method runs on the event loop's thread."""

    def __init__(
        self,
        spec: RegistrySpec,
        build: Callable[[list[J]], list[tuple[C, ShadowBatch]]],
        report: Callable[[C, ShadowOutcome], None],
        fallback: InProcessShadows,
        *,
        max_inflight: int = 1000,
        linger_s: float = 0.02,
        timeout_s: float = 30.0,
        poll_s: float = 0.05,
        cpus: Sequence[int] = (),
    ) -> None:
        self.spec = spec
        self.build = build
        self.report = report
        self.fallback = fallback
        self.max_inflight = max_inflight
        self.linger_s = linger_s
        self.timeout_s = timeout_s
        self.poll_s = poll_s
        self.cpus = tuple(cpus)
        self.in_process = False  # True once starting a child failed: the gateway runs shadows in a thread
        self._copies: list[J] = []
        self._inflight = 0  # copies queued here or written and not yet answered
        self._sent: deque[tuple[int, list[C]]] = deque()  # per unanswered frame: copies, contexts
        self._calls: dict[int, asyncio.Future] = {}  # unanswered warm-up calls
        self._ids = itertools.count()
        self._out = bytearray()  # frames the pipe could not take yet
        self._in = bytearray()  # answers read, not yet complete
        self._progress_at = 0.0  # last answer (or first question after none were unanswered)
        self._starved_at: float | None = None  # the child's runqueue wait (s) at _progress_at
        self._versions: set[tuple[str, str]] = set()  # shadow versions seen: a new child loads them first
        self._ready = False  # the running child has loaded them and answers questions
        self._proc: Any = None
        self._tx: Connection | None = None
        self._rx: Connection | None = None
        self._flush_at: asyncio.TimerHandle | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    @property
    def pid(self) -> int | None:
        """The running child's process id."""
        return self._proc.pid if self._proc is not None else None

    def put(self, copy: J) -> bool:
        """Queue a copy for the next frame; False (nothing queued) when ``max_inflight`` are in flight."""
        if self._inflight >= self.max_inflight:
            return False
        self._copies.append(copy)
        self._inflight += 1
        if self._flush_at is None:
            loop = self._loop or asyncio.get_running_loop()
            self._loop = loop
            self._flush_at = loop.call_later(self.linger_s, self._flush)
        return True

    def forget(self, model: str, version: str) -> None:
        """The gateway unloaded a shadow version: a new child no longer preloads it, the running one drops it
        (a message it does not answer)."""
        if (model, version) in self._versions:
            self._versions.discard((model, version))
            if self._proc is not None:
                self._out += encode_frame(("forget", model, version))
                self._write()

    async def predict(self, model: str, version: str, records: list[dict[str, Any]]) -> list[Any]:
        """A shadow version's outputs for ``records`` (its warm-up), computed in the child."""
        self._loop = asyncio.get_running_loop()
        if not self._ensure_child():
            return await asyncio.to_thread(self.fallback.predict, model, version, records)
        self._versions.add((model, version))
        ident = next(self._ids)
        answer = self._loop.create_future()
        opened = not self._waiting
        self._calls[ident] = answer
        self._ask(encode_frame(("predict", ident, model, version, records)), opened)
        try:
            while not answer.done():
                await asyncio.sleep(0.005)
                self.poll()
            return answer.result()
        finally:  # a caller that gave up (a warm-up timeout) leaves no call behind
            self._calls.pop(ident, None)

    async def run(self) -> None:
        """Read answers every ``poll_s`` (a background task of the gateway)."""
        while True:
            await asyncio.sleep(self.poll_s)
            self.poll()

    def poll(self) -> None:
        """Read the child's answers and report them; replace a child that died or hung."""
        if self._rx is None:
            return
        try:
            while chunk := os.read(self._rx.fileno(), 1 << 16):
                self._in += chunk
            eof = True  # the child closed its end: it exited
        except BlockingIOError:
            eof = False
        except OSError:
            eof = True
        messages = decode_frames(self._in)
        if messages:
            self._progressed()
        for message in messages:
            if message[0] == "ready":
                self._ready = True
            elif message[0] == "step":
                copies, contexts = self._sent.popleft()
                self._inflight -= copies
                for context, outcome in zip(contexts, message[1], strict=True):
                    self.report(context, outcome)
            else:
                _, ident, ok, value = message
                call = self._calls.pop(ident, None)
                if call is not None and not call.done():
                    call.set_result(value) if ok else call.set_exception(RuntimeError(value))
        if eof or not self._proc.is_alive():
            self._lose("exited")
        else:
            limit = self.timeout_s if self._ready else max(self.timeout_s, STARTUP_S)
            if self._waiting and self._silent_s(time.monotonic() - self._progress_at, limit) > limit:
                self._lose(f"gave no answer within {limit:g} s")

    def close(self) -> None:
        """Stop the child; copies and calls in flight are errors."""
        if self._flush_at is not None:
            self._flush_at.cancel()
            self._flush_at = None
        self._lose(None)

    # --- internals ---------------------------------------------------------------------------------------
    @property
    def _waiting(self) -> bool:
        """Questions (steps or warm-up calls) the child has not answered yet."""
        return bool(self._sent or self._calls)

    def _flush(self) -> None:
        self._flush_at = None
        if self._copies:
            copies, self._copies = self._copies, []
            steps = self.build(copies)
            if not steps:
                self._inflight -= len(copies)
            elif not self._ensure_child():
                self._inflight -= len(copies)
                for context, _ in steps:
                    self.report(context, ShadowOutcome(0.0, error="no shadow child process could start"))
            else:
                self._versions.update((batch.model, batch.version) for _, batch in steps)
                opened = not self._waiting
                self._sent.append((len(copies), [context for context, _ in steps]))
                self._ask(encode_frame(("step", [batch for _, batch in steps])), opened)
        self._write()

    def _ask(self, frame: bytes, opened: bool) -> None:
        """Send a question (``opened``: the first one open, which starts the answer clock)."""
        if opened:
            self._progressed()
        self._out += frame
        self._write()

    def _progressed(self) -> None:
        """Restart the answer clock (an answer came, or the first open question went out)."""
        self._progress_at = time.monotonic()
        self._starved_at = runqueue_wait_s(self._proc.pid) if self._proc is not None else None

    def _silent_s(self, elapsed: float, limit: float) -> float:
        """Of ``elapsed`` seconds without an answer, those the child was not waiting for a CPU (read only
        once ``elapsed`` is past ``limit``: before, it cannot matter)."""
        if elapsed <= limit or self._starved_at is None or self._proc is None:
            return elapsed
        now = runqueue_wait_s(self._proc.pid)
        return elapsed if now is None else elapsed - max(0.0, now - self._starved_at)

    def _write(self) -> None:
        if self._out and self._tx is not None:
            try:
                written = os.write(self._tx.fileno(), self._out)
            except BlockingIOError:  # the child is behind: the rest goes with a later write
                written = 0
            except OSError:  # the child is gone
                self._lose("exited")
                return
            del self._out[:written]
        if not self._out or self._flush_at is not None:
            return
        loop = self._loop or asyncio.get_running_loop()
        self._flush_at = loop.call_later(self.linger_s, self._flush)

    def _ensure_child(self) -> bool:
        """A running child, started if needed; False (and ``in_process`` from now on) when none can start."""
        if self._proc is not None:
            return True
        if self.in_process:
            return False
        theirs_rx, ours_tx = multiprocessing.Pipe(duplex=False)
        ours_rx, theirs_tx = multiprocessing.Pipe(duplex=False)
        try:
            context = multiprocessing.get_context("spawn")
            args = (self.spec, theirs_rx, theirs_tx, os.getpid(), self.cpus, sorted(self._versions))
            proc = context.Process(target=_child_main, args=args, daemon=True, name="trilho-shadow")
            proc.start()
        except (RuntimeError, OSError, AssertionError) as exc:
            ours_tx.close()
            ours_rx.close()
            self.in_process = True
            log.warning(
                "shadow versions cannot run in a child process; running them in a thread of this process",
                error=f"{type(exc).__name__}: {str(exc).strip().splitlines()[0][:200]}",
                fix="start the gateway from a module guarded by if __name__ == '__main__', or set "
                "shadow_isolation='thread'",
            )
            return False
        finally:
            theirs_rx.close()
            theirs_tx.close()
        os.set_blocking(ours_tx.fileno(), False)
        os.set_blocking(ours_rx.fileno(), False)
        self._proc, self._tx, self._rx = proc, ours_tx, ours_rx
        log.info("shadow child started", pid=proc.pid, cpus=list(self.cpus) or "any")
        return True

    def _lose(self, why: str | None) -> None:
        """Stop the child (``why``: it failed); report what it left unanswered as errors."""
        if why is not None:
            log.warning("stopping the shadow child", pid=self.pid, reason=why)
        error = f"the shadow child {why or 'was stopped'} with this step in flight"
        sent, self._sent = self._sent, deque()
        calls, self._calls = self._calls, {}
        for copies, contexts in sent:
            self._inflight -= copies
            for context in contexts:
                self.report(context, ShadowOutcome(0.0, error=error))
        for call in calls.values():
            if not call.done():
                call.set_exception(ShadowChildLost(error))
        self._out.clear()  # a new child starts with a fresh stream
        self._in.clear()
        for conn in (self._tx, self._rx):
            if conn is not None:
                with contextlib.suppress(OSError):
                    conn.close()
        self._tx = self._rx = None
        self._ready = False
        proc, self._proc = self._proc, None
        if proc is not None:
            if proc.is_alive():
                proc.kill()
            with contextlib.suppress(Exception):
                proc.join(1.0)


def runqueue_wait_s(pid: int) -> float | None:
    """Seconds the threads of process ``pid`` have spent runnable, waiting for a CPU (summed over threads:
    Linux ``/proc/<pid>/task/*/schedstat``); None where the OS does not say."""
    try:
        tasks = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return None
    waited = 0
    for task in tasks:
        try:
            with open(f"/proc/{pid}/task/{task}/schedstat", "rb") as f:
                waited += int(f.read().split()[1])
        except (OSError, ValueError, IndexError):  # a thread that just ended; a kernel without schedstat
            continue
    return waited / 1e9


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
    while os.getppid() == parent:
        time.sleep(every_s)
    os._exit(0)


def _answer(here: InProcessShadows, message: tuple) -> bytes:
    """The frame answering one question (never raises: a failure is the answer)."""
    if message[0] == "step":
        batches: list[ShadowBatch] = message[1]
        outcomes = [here.step(batch) for batch in batches]
        try:
            return encode_frame(("step", outcomes))
        except Exception as exc:  # outcomes that cannot travel back (they are plain data; this is defensive)
            error = ShadowOutcome(0.0, error=f"{type(exc).__name__}: {exc}")
            return encode_frame(("step", [error] * len(batches)))
    _, ident, model, version, records = message
    try:
        return encode_frame(("predict", ident, True, here.predict(model, version, records)))
    except Exception as exc:  # a version that cannot load, outputs that cannot travel back
        return encode_frame(("predict", ident, False, f"{type(exc).__name__}: {exc}"))


def _write_all(fd: int, data: bytes) -> None:
    frame = memoryview(data)
    while frame:
        frame = frame[os.write(fd, frame) :]


def _child_main(
    spec: RegistrySpec,
    rx: Connection,
    tx: Connection,
    parent: int,
    cpus: tuple[int, ...],
    preload: list[tuple[str, str]],
) -> None:
    import gc
    import sys

    from trilho.serving.settings import GIL_SWITCH_INTERVAL_S

    background_priority()
    if cpus:
        try:
            os.sched_setaffinity(0, cpus)
        except (AttributeError, OSError) as exc:
            log.warning("shadow child could not pin itself", cpus=list(cpus), error=str(exc))
    sys.setswitchinterval(GIL_SWITCH_INTERVAL_S)
    threading.Thread(target=_exit_with_parent, args=(parent,), daemon=True, name="parent-watch").start()
    provider = spec.provider()
    loaded: dict[tuple[str, str], Any] = {}

    def resolve(model: str, version: str) -> LoadedVersion:
        if (model, version) not in loaded:
            loaded[(model, version)] = provider.load(model, version)
        return loaded[(model, version)]

    for model, version in preload:  # the versions a previous child served: loaded before the first question
        with contextlib.suppress(Exception):  # one that cannot load fails its steps, with the reason
            resolve(model, version)
    here = InProcessShadows(resolve)  # the steps, as the gateway would run them in-process
    gc.freeze()
    questions = open(rx.fileno(), "rb", closefd=False)  # noqa: SIM115 - lives as long as the process
    answers = tx.fileno()
    try:
        _write_all(answers, encode_frame(("ready",)))  # the gateway's answer clock starts now
    except OSError:
        return
    while True:
        header = questions.read(_HEADER.size)
        if len(header) < _HEADER.size:
            return  # the gateway closed the pipe
        (size,) = _HEADER.unpack(header)
        payload = questions.read(size)
        if len(payload) < size:
            return
        message = pickle.loads(payload)
        if message[0] == "forget":  # a version the gateway unloaded
            loaded.pop((message[1], message[2]), None)
            continue
        try:
            _write_all(answers, _answer(here, message))
        except OSError:
            return
