"""Load generators: ``wrk`` (closed loop, saturation throughput) and an open-loop constant-arrival-rate
generator (keep-alive connections, a fixed schedule; wrk2-style) — in C (``openloop.c``, built with the
machine's gcc on first use), or on asyncio protocols where no compiler is found."""

from __future__ import annotations

import asyncio
import contextlib
import re
import shutil
import subprocess
import tempfile
import time
from collections import deque
from pathlib import Path

import numpy as np


def ensure_wrk() -> str | None:
    """The wrk binary, installed from Debian's packages if missing (None when that is impossible)."""
    path = shutil.which("wrk")
    if path:
        return path
    try:
        subprocess.run(["apt-get", "install", "-y", "wrk"], check=True, capture_output=True, timeout=300)
    except (OSError, subprocess.SubprocessError):
        return None
    return shutil.which("wrk")


_UNITS = {"us": 1e-3, "ms": 1.0, "s": 1000.0}
_PIN: list[str] = []  # a `taskset -c CPUS` prefix for the generators' processes (see pin_generators)


def pin_generators(cpus: str | None) -> None:
    """Run wrk and the C generator on ``cpus`` only (``taskset -c``), e.g. "1" while the servers keep "0";
    ``None`` lets them run anywhere."""
    _PIN[:] = ["taskset", "-c", cpus] if cpus and shutil.which("taskset") else []


def _ms(text: str) -> float:
    m = re.match(r"([\d.]+)(us|ms|s)", text)
    return float(m.group(1)) * _UNITS[m.group(2)] if m else float("nan")


def run_wrk(url: str, body: bytes, seconds: float, connections: int = 32) -> dict:
    """Closed-loop saturation: requests/s and latency percentiles from ``wrk -t1 -cN --latency``."""
    wrk = ensure_wrk()
    if wrk is None:
        return {"error": "wrk unavailable"}
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as f:
        f.write('wrk.method = "POST"\nwrk.headers["Content-Type"] = "application/json"\n')
        f.write(f"wrk.body = [[{body.decode()}]]\n")
        script = f.name
    proc = subprocess.run(
        [*_PIN, wrk, "-t1", f"-c{connections}", f"-d{max(1, round(seconds))}s", "--latency", "-s", script]
        + [url],
        capture_output=True,
        text=True,
        timeout=seconds + 60,
    )
    Path(script).unlink(missing_ok=True)
    out = proc.stdout
    rps = re.search(r"Requests/sec:\s+([\d.]+)", out)
    pct = dict(re.findall(r"^\s+(50|75|90|99)%\s+(\S+)", out, re.M))
    non2xx = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", out)
    errors = re.search(r"Socket errors:(.*)", out)
    return {
        "rps": float(rps.group(1)) if rps else float("nan"),
        "p50_ms": _ms(pct.get("50", "")),
        "p99_ms": _ms(pct.get("99", "")),
        "non_2xx": int(non2xx.group(1)) if non2xx else 0,
        "socket_errors": errors.group(1).strip() if errors else "",
    }


class _Conn(asyncio.Protocol):
    """One keep-alive connection: sends a request when told, parses just enough of the answer (status and
    Content-Length) to know when it is complete, then reports back. Protocol callbacks, no streams: the
    generator shares the cores with the server, so its own cost per request is kept small."""

    def __init__(self, gen: _OpenLoop) -> None:
        self.gen = gen
        self.transport: asyncio.Transport | None = None
        self.buf = bytearray()
        self.index = -1
        self.sent = 0.0

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def send(self, index: int, now: float) -> None:
        self.index, self.sent = index, now
        self.transport.write(self.gen.request)

    def data_received(self, data: bytes) -> None:
        self.buf += data
        end = self.buf.find(b"\r\n\r\n")
        if end < 0:
            return
        head = bytes(self.buf[:end])
        m = _LENGTH.search(head)
        size = end + 4 + (int(m.group(1)) if m else 0)
        if len(self.buf) < size:
            return
        del self.buf[:size]
        self.gen.answered(self, int(head[9:12]))

    def connection_lost(self, exc: Exception | None) -> None:
        self.gen.lost(self)


_LENGTH = re.compile(rb"(?i)content-length:\s*(\d+)")


class _OpenLoop:
    """The schedule: request ``i`` is due at ``start + i / rate``; it goes out on an idle connection at its
    due time, or as soon as one frees up (a late send, counted)."""

    def __init__(self, request: bytes, rate: float, seconds: float) -> None:
        self.clock = time.perf_counter  # loop.time() is millisecond-grained under uvloop
        self.request, self.rate = request, rate
        self.n = max(1, int(rate * seconds))
        self.latencies = np.full(self.n, np.nan)
        self.late = np.zeros(self.n)
        self.status = np.zeros(self.n)
        self.idle: list[_Conn] = []
        self.backlog: deque[int] = deque()
        self.outstanding = 0
        self.finished = asyncio.get_running_loop().create_future()
        self.start = self.hard_stop = 0.0
        self.scheduled = False
        self.conns: list[_Conn] = []

    def due(self, i: int) -> float:
        return self.start + i / self.rate

    def dispatch(self, conn: _Conn, i: int) -> None:
        now = self.clock()
        if now > self.hard_stop:  # a saturated server must not stretch the run
            self.idle.append(conn)
            self._check_done()
            return
        self.late[i] = now - self.due(i)
        self.outstanding += 1
        conn.send(i, now)

    def answered(self, conn: _Conn, status: int) -> None:
        now = self.clock()
        self.outstanding -= 1
        self.latencies[conn.index] = now - conn.sent
        self.status[conn.index] = status
        if self.backlog:
            self.dispatch(conn, self.backlog.popleft())
        else:
            self.idle.append(conn)
        self._check_done()

    def lost(self, conn: _Conn) -> None:
        if conn in self.idle:
            self.idle.remove(conn)
        elif conn.index >= 0 and np.isnan(self.latencies[conn.index]):
            self.outstanding -= 1
            self._check_done()

    def _check_done(self) -> None:
        if self.scheduled and not self.backlog and not self.outstanding and not self.finished.done():
            self.finished.set_result(None)

    async def run(self, host: str, port: int, conns: int) -> None:
        loop = asyncio.get_running_loop()
        for _ in range(conns):
            _, conn = await loop.create_connection(lambda: _Conn(self), host, port)
            self.idle.append(conn)
        self.conns = list(self.idle)
        self.start = self.clock() + 0.2
        self.hard_stop = self.start + (self.n / self.rate) + 2.0
        for i in range(self.n):
            wait = self.due(i) - self.clock()
            if wait > 0:
                await asyncio.sleep(wait)
            if self.idle:
                self.dispatch(self.idle.pop(), i)
            else:
                self.backlog.append(i)
        self.scheduled = True
        self._check_done()
        await self.finished

    def close(self) -> None:
        for conn in self.conns:
            if conn.transport is not None:
                conn.transport.close()


async def _open_loop(host: str, port: int, request: bytes, rate: float, seconds: float, conns: int) -> dict:
    gen = _OpenLoop(request, rate, seconds)
    try:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(gen.run(host, port, conns), timeout=seconds + 4.0)
    finally:
        gen.close()
    return {
        "start": gen.start,
        "end": gen.clock(),
        "hard_stop": gen.hard_stop,
        "latencies": gen.latencies,
        "late": gen.late,
        "status": gen.status,
    }


def _summarise(run: dict, rate: float, warmup_s: float) -> dict:
    """Percentiles and rates of one run's counted part (requests due after the warm-up)."""
    n_all = run["latencies"].size
    first = min(int(rate * warmup_s), n_all - 1)  # requests due in the warm-up are sent, not counted
    latencies, late, status = run["latencies"][first:], run["late"][first:], run["status"][first:]
    n, end = latencies.size, run["end"]
    counted_from = run["start"] + first / rate
    elapsed = min(end, run["hard_stop"]) - counted_from
    done_mask = ~np.isnan(latencies)
    dues = counted_from + np.arange(n) / rate
    # requests never answered count with the time they had waited when the run stopped (a lower bound)
    filled = np.where(done_mask, latencies, np.maximum(end - dues, 0.0)) * 1000
    return {
        "offered_rps": rate,
        "achieved_rps": int(done_mask.sum()) / max(elapsed, 1e-9),
        "p50_ms": float(np.percentile(filled, 50)),
        "p99_ms": float(np.percentile(filled, 99)),
        "p999_ms": float(np.percentile(filled, 99.9)),
        "late_sends_pct": float((late[done_mask] > 0.002).mean() * 100) if done_mask.any() else 100.0,
        "unanswered_pct": float((~done_mask).mean() * 100),
        "non_2xx": int(((status >= 300) & done_mask).sum()),
    }


_C_SOURCE = Path(__file__).with_name("openloop.c")
_C_BINARY = Path(__file__).resolve().parents[2] / ".bench" / "openloop"


def native_generator() -> Path | None:
    """The C open-loop generator (``openloop.c``), compiled with the machine's gcc on first use; None where
    it cannot be built (the Python generator stands in)."""
    if _C_BINARY.exists() and _C_BINARY.stat().st_mtime >= _C_SOURCE.stat().st_mtime:
        return _C_BINARY
    gcc = shutil.which("gcc") or shutil.which("cc")
    if gcc is None:
        return None
    _C_BINARY.parent.mkdir(parents=True, exist_ok=True)
    built = subprocess.run(
        [gcc, "-O2", "-o", str(_C_BINARY), str(_C_SOURCE), "-lm"], capture_output=True, text=True
    )
    return _C_BINARY if built.returncode == 0 else None


def _native_open_loop(
    binary: Path, host: str, port: int, request: bytes, rate: float, seconds: float, conns: int
) -> dict:
    with tempfile.TemporaryDirectory(prefix="trilho-openloop-") as tmp:
        req, out = Path(tmp) / "request", Path(tmp) / "out"
        req.write_bytes(request)
        argv = [*_PIN, str(binary), host, str(port), repr(rate), repr(seconds), str(conns)]
        argv += [str(req), str(out)]
        proc = subprocess.run(argv, capture_output=True, text=True, timeout=seconds + 30)
        if proc.returncode != 0:
            raise RuntimeError(f"openloop failed ({proc.returncode}): {proc.stderr.strip()}")
        start, end, hard_stop = (float(x) for x in proc.stdout.split())
        rec = np.fromfile(out, dtype=np.float64).reshape(-1, 3)
    return {
        "start": start,
        "end": end,
        "hard_stop": hard_stop,
        "latencies": rec[:, 0],
        "late": rec[:, 1],
        "status": rec[:, 2],
    }


def run_open_loop(
    url: str,
    path: str,
    body: bytes,
    rate: float,
    seconds: float,
    conns: int = 64,
    extra_headers: str = "",
    warmup_s: float = 0.5,
    native: bool = True,
) -> dict:
    """Constant arrival rate against ``url + path``; latency per request from send to last byte, plus the
    share of sends that fell > 2 ms behind schedule (the generator's own backlog, reported, not hidden).

    The first ``warmup_s`` of the schedule runs at the same rate but is not counted (as wrk2 calibrates
    before it records): fresh connections and the server's first requests on them make a start-up burst
    of a few tens of milliseconds that would otherwise be most of a short run's p99.

    ``native`` (default): the C generator in ``openloop.c`` (a few µs of CPU per request, where the asyncio
    one spends ~50 µs — on 2 cores shared with the server that difference is the server's); the asyncio
    generator where no C compiler is found."""
    host, port = url.split("//", 1)[1].split(":")
    request = (
        f"POST {path} HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\n{extra_headers}\r\n"
    ).encode() + body
    binary = native_generator() if native else None
    if binary is not None:
        run = _native_open_loop(binary, host, int(port), request, rate, warmup_s + seconds, conns)
    else:
        try:
            import uvloop

            runner = uvloop.run
        except ImportError:  # pragma: no cover
            runner = asyncio.run
        run = runner(_open_loop(host, int(port), request, rate, warmup_s + seconds, conns))
    return _summarise(run, rate, warmup_s)
