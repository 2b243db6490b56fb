"""Load generators: ``wrk`` (closed loop, saturation throughput) and an open-loop constant-arrival-rate
generator on raw asyncio sockets (keep-alive connections, a fixed schedule; wrk2-style)."""

from __future__ import annotations

import asyncio
import contextlib
import re
import shutil
import subprocess
import tempfile
import time
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
        [wrk, "-t1", f"-c{connections}", f"-d{max(1, round(seconds))}s", "--latency", "-s", script, url],
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


async def _open_loop(host: str, port: int, request: bytes, rate: float, seconds: float, conns: int) -> dict:
    clock = time.perf_counter  # loop.time() is millisecond-grained under uvloop
    n = max(1, int(rate * seconds))
    start = clock() + 0.2
    hard_stop = start + seconds + 2.0  # a saturated server must not stretch the run: stop sending here
    latencies = np.full(n, np.nan)
    late = np.zeros(n)
    statuses: dict[int, int] = {}
    next_i = 0

    async def worker() -> None:
        nonlocal next_i
        reader, writer = await asyncio.open_connection(host, port)
        try:
            while next_i < n:
                i = next_i
                next_i += 1
                due = start + i / rate
                wait = due - clock()
                if wait > 0:
                    await asyncio.sleep(wait)
                sent = clock()
                if sent > hard_stop:
                    return
                writer.write(request)
                head = await reader.readuntil(b"\r\n\r\n")
                status = int(head[9:12])
                length = int(re.search(rb"(?i)content-length:\s*(\d+)", head).group(1))
                await reader.readexactly(length)
                done = clock()
                latencies[i] = done - sent
                late[i] = sent - due
                statuses[status] = statuses.get(status, 0) + 1
        finally:
            writer.close()

    t0 = clock()
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(asyncio.gather(*(worker() for _ in range(conns))), timeout=seconds + 4.0)
    end = clock()
    elapsed = min(end, hard_stop) - t0 - 0.2
    done_mask = ~np.isnan(latencies)
    dues = start + np.arange(n) / rate
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
        "non_2xx": sum(v for k, v in statuses.items() if k >= 300),
    }


def run_open_loop(
    url: str, path: str, body: bytes, rate: float, seconds: float, conns: int = 64, extra_headers: str = ""
) -> dict:
    """Constant arrival rate against ``url + path``; latency per request from send to last byte, plus the
    share of sends that fell > 2 ms behind schedule (the generator's own backlog, reported, not hidden)."""
    host, port = url.split("//", 1)[1].split(":")
    request = (
        f"POST {path} HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\n{extra_headers}\r\n"
    ).encode() + body
    try:
        import uvloop

        runner = uvloop.run
    except ImportError:  # pragma: no cover
        runner = asyncio.run
    return runner(_open_loop(host, int(port), request, rate, seconds, conns))
