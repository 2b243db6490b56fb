"""What trilho's LLM routes add to an answer's time to first token, and what the streaming rails cost.

``python -m benchmarks.bench_llm_gateway [--quick]`` (``make bench-llm-gateway``), every server in its own
process on loopback: the fake upstream (``trilho.testing.fake_openai``: 20 ms to the first token, 30 tokens
at 5 ms), two identical trilho gateways in front of it (an A/A pair: the second shows the noise floor) and a
third with the old fixed-holdback stream rail (``benchmarks/_fixed_holdback_rail.py``), default rails on.
Rounds interleave the targets, each round streaming sequentially through each; TTFT is the time from sending
the request to the first content chunk at the client. The rail figures are CPU time of the default policy's
stream rail over 1 KB of text in 5-character pieces, the gated ``StreamRail`` beside the old one, on clean
prose (the target) and on prose with numbers, e-mails and a card number every sentence (context).
Then an open-loop phase: new streams at 200/s (direct, trilho, trilho′ in interleaved blocks) — the client
shares the machine's CPUs with the servers, so the A/A gap at that load is reported beside it. The
side-by-side with LiteLLM's proxy is still to come (it is not installed).
Writes ``benchmarks/results/llm_gateway.json``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import subprocess
import sys
import threading
import time

import httpx

from benchmarks._results import print_table, print_targets, target, write_results
from trilho.net import free_port

BODY = {"model": "assistant", "messages": [{"role": "user", "content": "hello"}], "stream": True}


def serve_gateway(upstream: str, port: int, old_rail: bool = False) -> None:
    """Child process: a gateway with one llm model in front of ``upstream`` until killed (``old_rail``: with
    the fixed-holdback stream rail)."""
    from trilho.registry.llm import LlmModel, parse_spec
    from trilho.serving import GatewaySettings, StaticProvider, run_in_thread
    from trilho.store.routing import Deployment, Route

    model = LlmModel(parse_spec({"upstream": upstream + "/v1", "model": "tiny"}))
    provider = StaticProvider({"assistant@1": model}, {"assistant": [{"input": "warm"}]})
    settings = GatewaySettings(port=port, access_log_sample=0.0, freeze_gc=True)  # as `trilho serve` does
    running = run_in_thread(
        provider=provider, deployments=[Deployment("assistant", (Route("1"),))], settings=settings
    )
    if old_rail:
        from benchmarks._fixed_holdback_rail import FixedHoldbackRail

        running.server.config.app.state.llm.rail = FixedHoldbackRail
    threading.Event().wait()


def _start(args: list[str]) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, *args], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


async def _ttft(client: httpx.AsyncClient, url: str, body: dict) -> float:
    t0 = time.perf_counter()
    async with client.stream("POST", url, json=body) as r:
        lines = r.aiter_lines()
        async for line in lines:
            if line.startswith("data: {") and '"content"' in line:
                ttft = time.perf_counter() - t0
                async for _ in lines:  # read the stream to its end, as a client would
                    pass
                return ttft
    raise RuntimeError(f"no content from {url}")


async def _wait(client: httpx.AsyncClient, url: str, body: dict, deadline_s: float = 120.0) -> None:
    until = time.monotonic() + deadline_s
    while True:
        try:
            await _ttft(client, url, body)
            return
        except (httpx.HTTPError, RuntimeError):
            if time.monotonic() > until:
                raise
            await asyncio.sleep(0.5)


def _q(xs: list[float], p: float) -> float:
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(p * len(xs)))]


async def measure(
    targets: dict[str, tuple[str, dict]], rounds: int, per_round: int
) -> dict[str, list[float]]:
    """TTFTs per target, rounds interleaved."""
    out: dict[str, list[float]] = {name: [] for name in targets}
    async with httpx.AsyncClient(timeout=30) as client:
        for url, body in targets.values():
            await _wait(client, url, body)
        for _ in range(rounds):
            for name, (url, body) in targets.items():
                for _ in range(per_round):
                    out[name].append(await _ttft(client, url, body))
    return out


async def open_loop(
    targets: dict[str, tuple[str, dict]], rate: float, seconds: float, reps: int
) -> dict[str, list[float]]:
    """TTFTs per target with new streams started at ``rate`` per second for ``seconds`` (open loop: a start
    never waits for an earlier stream), blocks interleaved over ``reps`` repetitions; failed streams are
    dropped and counted in ``failed``."""
    out: dict[str, list[float]] = {name: [] for name in targets}
    out["failed"] = []
    limits = httpx.Limits(max_connections=2000, max_keepalive_connections=500)
    async with httpx.AsyncClient(timeout=30, limits=limits) as client:
        for _ in range(reps):
            for name, (url, body) in targets.items():
                tasks, t0 = [], time.perf_counter()
                for i in range(int(rate * seconds)):
                    await asyncio.sleep(max(0.0, t0 + i / rate - time.perf_counter()))
                    tasks.append(asyncio.ensure_future(_ttft(client, url, body)))
                for res in await asyncio.gather(*tasks, return_exceptions=True):
                    (out["failed"] if isinstance(res, BaseException) else out[name]).append(
                        0.0 if isinstance(res, BaseException) else res
                    )
    return out


PROSE = ("The canary weighs each version against its stable twin before traffic moves on. " * 13)[:1024]
NUMBERS = (
    "Call 555 123 4567 or write to ana@example.com about order 1999. "
    "The card 4111 1111 1111 1111 is on file since 2024. "
) * 10


def rail_ms_per_kb(text: str, old: bool = False) -> float:
    """CPU ms the default policy's streaming rail spends per KB of ``text`` fed in 5-character pieces
    (median of 5 runs; ``old``: the fixed-holdback rail)."""
    from benchmarks._fixed_holdback_rail import FixedHoldbackRail
    from trilho.evals.policy import default_policy
    from trilho.evals.stream_rails import StreamRail

    policy = default_policy()
    cls = FixedHoldbackRail if old else StreamRail
    runs = []
    for _ in range(5):
        rail = cls(policy)
        t0 = time.process_time()
        for i in range(0, len(text), 5):
            rail.feed(text[i : i + 5])
        rail.finish()
        runs.append((time.process_time() - t0) * 1000 * 1024 / len(text))
    return statistics.median(runs)


def main() -> None:
    """Run the benchmark and write its results."""
    p = argparse.ArgumentParser()
    p.add_argument("--quick", action="store_true")
    p.add_argument("--serve-gateway", nargs=2, metavar=("UPSTREAM", "PORT"))
    p.add_argument("--old-rail", action="store_true", help="with --serve-gateway: the fixed-holdback rail")
    a = p.parse_args()
    if a.serve_gateway:
        serve_gateway(a.serve_gateway[0], int(a.serve_gateway[1]), a.old_rail)
        return
    rounds, per_round = (3, 10) if a.quick else (10, 40)
    up_port, g1, g2, g3 = free_port(), free_port(), free_port(), free_port()
    upstream = f"http://127.0.0.1:{up_port}"
    fake = ["-m", "trilho.testing.fake_openai", "--port", str(up_port), "--ttft-ms", "20", "--token-ms", "5"]
    procs = [_start([*fake, "--tokens", "30"])]
    procs += [
        _start(["-m", "benchmarks.bench_llm_gateway", "--serve-gateway", upstream, str(g)]) for g in (g1, g2)
    ]
    procs.append(
        _start(["-m", "benchmarks.bench_llm_gateway", "--serve-gateway", upstream, str(g3), "--old-rail"])
    )
    direct = {**BODY, "model": "tiny"}
    targets = {
        "direct": (upstream + "/v1/chat/completions", direct),
        "trilho": (f"http://127.0.0.1:{g1}/openai/v1/chat/completions", BODY),
        "trilho A/A": (f"http://127.0.0.1:{g2}/openai/v1/chat/completions", BODY),
        "trilho, old rail": (f"http://127.0.0.1:{g3}/openai/v1/chat/completions", BODY),
    }
    rate, seconds, reps = (200.0, 2.0, 2) if a.quick else (200.0, 5.0, 3)
    try:
        ttfts = asyncio.run(measure(targets, rounds, per_round))
        loaded = asyncio.run(
            open_loop({k: targets[k] for k in ("direct", "trilho", "trilho A/A")}, rate, seconds, reps)
        )
    finally:
        for proc in procs:
            proc.kill()
    rows = [
        {"target": n, "streams": len(v), "ttft p50 ms": _q(v, 0.5) * 1000, "ttft p99 ms": _q(v, 0.99) * 1000}
        for n, v in ttfts.items()
    ]
    added50 = (_q(ttfts["trilho"], 0.5) - _q(ttfts["direct"], 0.5)) * 1000
    added99 = (_q(ttfts["trilho"], 0.99) - _q(ttfts["direct"], 0.99)) * 1000
    aa50 = (_q(ttfts["trilho A/A"], 0.5) - _q(ttfts["trilho"], 0.5)) * 1000
    old50 = (_q(ttfts["trilho, old rail"], 0.5) - _q(ttfts["direct"], 0.5)) * 1000
    rail = rail_ms_per_kb(PROSE)
    rails = {
        "prose, gated rail": rail,
        "prose, old rail": rail_ms_per_kb(PROSE, old=True),
        "numbers, gated rail": rail_ms_per_kb(NUMBERS),
        "numbers, old rail": rail_ms_per_kb(NUMBERS, old=True),
    }
    failed = len(loaded.pop("failed"))
    load_rows = [
        {"target": n, "streams": len(v), "ttft p50 ms": _q(v, 0.5) * 1000, "ttft p99 ms": _q(v, 0.99) * 1000}
        for n, v in loaded.items()
    ]
    load50 = (_q(loaded["trilho"], 0.5) - _q(loaded["direct"], 0.5)) * 1000
    load99 = (_q(loaded["trilho"], 0.99) - _q(loaded["direct"], 0.99)) * 1000
    load_aa99 = (_q(loaded["trilho A/A"], 0.99) - _q(loaded["trilho"], 0.99)) * 1000
    print_table("LLM gateway: time to first token (sequential streams, default rails)", rows)
    print_table(f"LLM gateway: time to first token at {rate:.0f} new streams/s (open loop)", load_rows)
    print_table("stream rails: CPU ms per KB", [{"text, rail": k, "ms/KB": v} for k, v in rails.items()])
    goals = [
        target("added TTFT p50", "<= 1 ms", round(added50, 3), added50 <= 1.0),
        target("added TTFT p99", "<= 3 ms", round(added99, 3), added99 <= 3.0),
        target("output rails per KB", "<= 1 ms", round(rail, 3), rail <= 1.0),
        target("added TTFT p50 at 200 new streams/s", "<= 1 ms", round(load50, 3), load50 <= 1.0),
        target("added TTFT p99 at 200 new streams/s", "<= 3 ms", round(load99, 3), load99 <= 3.0),
    ]
    print_targets(goals)
    extra = {
        "aa_p50_ms": round(aa50, 3),
        "load_table": load_rows,
        "load_aa_p99_ms": round(load_aa99, 3),
        "load_failed_streams": failed,
        "old_rail_added_p50_ms": round(old50, 3),
        "rails_cpu_ms_per_kb": {k: round(v, 3) for k, v in rails.items()},
        "upstream": "20 ms TTFT, 30 tokens at 5 ms",
    }
    print(json.dumps(extra))
    write_results("llm_gateway", rows, goals, quick=a.quick, extra=extra)


if __name__ == "__main__":
    main()
