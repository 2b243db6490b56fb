"""`trilho serve --workers 2`: two processes on one port, and /metrics on either counts every request."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import httpx
from tests.serving.conftest import register_versions

from trilho.net import free_port
from trilho.registry import Registry
from trilho.store import Store
from trilho.store.routing import Deployment, Route, set_deployment


def _requests_total(text: str) -> float:
    return sum(
        float(line.split()[-1])
        for line in text.splitlines()
        if line.startswith("trilho_serving_requests_total{") and 'code="200"' in line
    )


def test_two_workers_share_one_metrics_view(tmp_path):
    home = tmp_path / "home"
    store = Store(f"sqlite:///{home / 'trilho.db'}")
    store.migrate()
    register_versions(Registry(store, home / "artifacts"), tmp_path)
    set_deployment(store, Deployment("scorer", routes=(Route("1"),)))
    store.dispose()
    port = free_port()
    env = {**os.environ, "TRILHO_HOME": str(home), "TRILHO_LOG_LEVEL": "WARNING"}
    env.pop("TRILHO_DATABASE_URL", None)
    env.pop("PROMETHEUS_MULTIPROC_DIR", None)
    trilho = Path(sys.executable).parent / "trilho"
    proc = subprocess.Popen(
        [str(trilho), "serve", "--port", str(port), "--workers", "2"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        until = time.monotonic() + 90
        while True:
            try:
                if httpx.get(url + "/readyz").status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert proc.poll() is None, proc.stdout.read().decode()[-2000:]
            assert time.monotonic() < until, "trilho serve --workers 2 did not become ready"
            time.sleep(0.2)
        time.sleep(1.0)  # the second worker may still be warming up: let both be ready
        n = 40
        pids = set()
        for _ in range(n):  # a new connection each time, so the kernel spreads them over both workers
            r = httpx.post(url + "/v1/models/scorer:predict", json={"instances": [{"x1": 1.0, "x2": 2.0}]})
            assert r.status_code == 200
        for _ in range(6):
            text = httpx.get(url + "/metrics").text
            assert _requests_total(text) == n  # every worker's requests, whichever worker answers
            pids |= {line.split('pid="')[1].split('"')[0] for line in text.splitlines() if 'pid="' in line}
        assert len(pids) == 2, pids  # gauges (e.g. version readiness) are reported per live worker
    finally:
        proc.terminate()
        proc.wait(20)
    assert list((home / "run").glob("metrics-*")), "the workers' shared metrics folder lives under the home"
