"""End-to-end rollout scenarios with real processes: demo models, gateway processes, open-loop load, a
controller.

Used by the multi-process test, ``benchmarks/bench_rollout.py`` and the demo. The models are tiny python-
flavour scorers registered in a real registry: ``stable``; ``good`` (same answers, different code);
``errors10`` (raises on a 10 % slice of inputs); ``slow5x`` (five times the stable's latency); ``shifted``
(answers off by one)."""

from __future__ import annotations

import os
import random
import subprocess
import sys
import textwrap
import threading
import time
from collections import Counter
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import yaml

from trilho.config import ARTIFACTS_URL_ENV, DATABASE_URL_ENV, HOME_ENV
from trilho.net import free_port
from trilho.store.routing import BatchingConfig, Deployment, Route, set_deployment

CONTRACT = {
    "apiVersion": "v3.0.2", "kind": "DataContract", "id": "scorer-io", "name": "scorer", "version": "1.0.0",
    "schema": [
        {"name": "request", "x-trilho": {"role": "input", "examples": [{"x1": 1.0, "x2": 2.0}]},
         "properties": [{"name": "x1", "logicalType": "number", "physicalType": "float64", "required": True},
                        {"name": "x2", "logicalType": "number", "physicalType": "float64",
                         "required": True}]},
        {"name": "response", "x-trilho": {"role": "output"},
         "properties": [{"name": "y", "logicalType": "number", "physicalType": "float64", "required": True}]},
    ],
}  # fmt: skip

BASE_SLEEP = 0.002
MODELS = {
    "stable": f"import time\ndef predict(records):\n    time.sleep({BASE_SLEEP})\n"
              "    return [{'y': 2.0 * r['x1'] + r['x2']} for r in records]\n",
    "good": f"import time\ndef predict(records):\n    time.sleep({BASE_SLEEP})\n"
            "    return [{'y': r['x2'] + 2.0 * r['x1']} for r in records]\n",
    "errors10": textwrap.dedent(f"""
        import time
        def predict(records):
            time.sleep({BASE_SLEEP})
            if any(int(r['x1']) % 10 == 0 and r['x1'] > 1 for r in records):
                raise RuntimeError('fails on a 10 % slice')
            return [{{'y': 2.0 * r['x1'] + r['x2']}} for r in records]
        """),
    "slow5x": f"import time\ndef predict(records):\n    time.sleep({5 * BASE_SLEEP})\n"
              "    return [{'y': 2.0 * r['x1'] + r['x2']} for r in records]\n",
    "shifted": f"import time\ndef predict(records):\n    time.sleep({BASE_SLEEP})\n"
               "    return [{'y': 2.0 * r['x1'] + r['x2'] + 1.0} for r in records]\n",
}  # fmt: skip


def register_models(
    store,
    artifacts_root: str | Path,
    workdir: str | Path,
    name: str = "scorer",
    kinds: Sequence[str] = tuple(MODELS),
    golden: bool = True,
) -> dict[str, str]:
    """Register the scenario models (in ``kinds`` order) and return ``{kind: version}``.

    With ``golden`` each version gets a passing golden gate record (the toy models have no suite of their
    own), so the rollout gates run for real against the registry.
    """
    from trilho.registry import Registry

    reg = Registry(store, artifacts_root)
    work = Path(workdir)
    work.mkdir(parents=True, exist_ok=True)
    contract = work / "contract.yaml"
    contract.write_text(yaml.safe_dump(CONTRACT, sort_keys=False))
    out = {}
    for kind in kinds:
        module = f"scorer_{kind}"
        folder = work / "src" / module
        folder.mkdir(parents=True, exist_ok=True)
        (folder / f"{module}.py").write_text(MODELS[kind])
        mv = reg.register(name, folder / f"{module}.py", "python", contract, entry=f"{module}:predict")
        if golden:
            reg.record_gate(
                mv.ref, "golden", "pass", {"suite": "scenario", "note": "toy model, outputs checked"}
            )
        out[kind] = str(mv.version)
    return out


def deploy(store, name: str, stable: str) -> Deployment:
    """A deployment serving ``stable`` only, one request per model call (so a failing slice fails alone)."""
    return set_deployment(
        store,
        Deployment(name, routes=(Route(stable),), batching=BatchingConfig(enabled=False), deadline_ms=2000.0),
        actor="scenario",
    )


def pg_url_with_schema(url: str, schema: str | None) -> str:
    """A URL that selects ``schema`` through libpq options (child processes read it from the env)."""
    if not schema:
        return url
    sep = "&" if "?" in url else "?"
    return f"{url}{sep}options=-csearch_path%3D{schema}"


GATEWAY_CODE = """
import sys
from trilho.config import resolve_settings
from trilho.serving import GatewaySettings
from trilho.serving.server import serve
port, window, poll = int(sys.argv[1]), float(sys.argv[2]), float(sys.argv[3])
serve(resolve_settings(), GatewaySettings(port=port, window_interval_s=window, poll_interval_s=poll,
                                          access_log_sample=0.0, gateway_id=f"gw-{port}"))
"""


@dataclass
class GatewayProcess:
    """One gateway running as its own OS process."""

    port: int
    proc: subprocess.Popen

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def stop(self) -> None:
        """Terminate the process (and wait for it)."""
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)


def spawn_gateway(
    database_url: str,
    home: str | Path,
    *,
    window: float = 1.0,
    poll: float = 0.1,
    port: int | None = None,
    log: Path | None = None,
    artifacts_url: str | None = None,
) -> GatewayProcess:
    """Start a gateway process on the store at ``database_url`` (same code path as ``trilho serve``); with
    ``artifacts_url`` it loads from that shared store instead of its home's folder."""
    port = port or free_port()
    env = {**os.environ, DATABASE_URL_ENV: database_url, HOME_ENV: str(home)}
    if artifacts_url is not None:
        env[ARTIFACTS_URL_ENV] = artifacts_url
    out = open(log, "ab") if log else subprocess.DEVNULL  # noqa: SIM115 - handed to the child
    proc = subprocess.Popen(
        [sys.executable, "-c", GATEWAY_CODE, str(port), str(window), str(poll)],
        env=env,
        stdout=out,
        stderr=subprocess.STDOUT,
    )
    return GatewayProcess(port, proc)


def wait_ready(gateways: Sequence[GatewayProcess], timeout: float = 60.0) -> None:
    """Block until every gateway answers ``/readyz`` with 200."""
    deadline = time.monotonic() + timeout
    with httpx.Client(timeout=1.0) as client:
        for gw in gateways:
            while True:
                if gw.proc.poll() is not None:
                    raise RuntimeError(f"gateway on port {gw.port} exited with {gw.proc.returncode}")
                try:
                    if client.get(gw.url + "/readyz").status_code == 200:
                        break
                except httpx.HTTPError:
                    pass
                if time.monotonic() > deadline:
                    raise TimeoutError(f"gateway on port {gw.port} not ready after {timeout}s")
                time.sleep(0.1)


@dataclass
class LoadStats:
    """What the load generator saw: answers per version, user-visible errors, timing of candidate answers."""

    sent: int = 0
    by_version: Counter = field(default_factory=Counter)
    by_variant: Counter = field(default_factory=Counter)
    fallbacks: int = 0
    user_errors: int = 0
    user_errors_by_version: Counter = field(default_factory=Counter)
    late: int = 0
    last_seen: dict[str, float] = field(default_factory=dict)
    first_seen: dict[str, float] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready."""
        return {
            "sent": self.sent,
            "by_version": dict(self.by_version),
            "by_variant": dict(self.by_variant),
            "fallbacks": self.fallbacks,
            "user_errors": self.user_errors,
            "user_errors_by_version": dict(self.user_errors_by_version),
            "late": self.late,
        }


class OpenLoopLoad:
    """Constant-arrival-rate load (requests are sent on schedule whether or not earlier ones finished)."""

    def __init__(
        self, urls: Sequence[str], model: str, rate: float, *, seed: int = 0, threads: int = 16
    ) -> None:
        self.urls, self.model, self.rate = list(urls), model, rate
        self.stats = LoadStats()
        self._stop = threading.Event()
        self._rng = random.Random(seed)
        self._pool = ThreadPoolExecutor(threads, thread_name_prefix="load")
        self._client = httpx.Client(timeout=5.0, limits=httpx.Limits(max_connections=threads * 2))
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None

    def start(self) -> OpenLoopLoad:
        """Begin sending in a background thread."""
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> LoadStats:
        """Stop sending, wait for requests in flight, return the stats."""
        self._stop.set()
        if self._thread:
            self._thread.join()
        self._pool.shutdown(wait=True)
        self._client.close()
        return self.stats

    def _run(self) -> None:
        period = 1.0 / self.rate
        next_at = time.monotonic()
        i = 0
        while not self._stop.is_set():
            now = time.monotonic()
            if now < next_at:
                time.sleep(min(next_at - now, 0.05))
                continue
            if now - next_at > 1.0:
                with self._lock:
                    self.stats.late += 1
            x1 = float(self._rng.randrange(0, 1000))
            unit = f"u{self._rng.randrange(1_000_000)}"
            self._pool.submit(self._one, self.urls[i % len(self.urls)], x1, unit)
            i += 1
            next_at += period

    def _one(self, url: str, x1: float, unit: str) -> None:
        body = {"instances": [{"x1": x1, "x2": 1.0}]}
        try:
            r = self._client.post(
                f"{url}/v1/models/{self.model}:predict", json=body, headers={"X-Trilho-Unit": unit}
            )
            version = r.headers.get("x-trilho-model-version", "?")
            variant = r.headers.get("x-trilho-variant", "?")
            fallback = "x-trilho-fallback" in r.headers
            ok = r.status_code == 200
        except httpx.HTTPError:
            version, variant, fallback, ok = "?", "?", False, False
        now = time.monotonic()
        with self._lock:
            self.stats.sent += 1
            self.stats.by_version[version] += 1
            self.stats.by_variant[variant] += 1
            self.stats.fallbacks += fallback
            for key in (f"version:{version}", f"variant:{variant}"):
                self.stats.last_seen[key] = now
                self.stats.first_seen.setdefault(key, now)
            if not ok:
                self.stats.user_errors += 1
                self.stats.user_errors_by_version[version] += 1
