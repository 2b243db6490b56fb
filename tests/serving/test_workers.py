"""`trilho serve --workers 2`: two processes on one port (HTTP, and gRPC with --grpc-port), and /metrics on
either counts every request; gRPC ports that cannot work are refused before anything starts."""

from __future__ import annotations

import time

import httpx
from tests.serving.conftest import serve_process, serving_home


def _requests_total(text: str, *labels: str) -> float:
    return sum(
        float(line.split()[-1])
        for line in text.splitlines()
        if line.startswith("trilho_serving_requests_total{")
        and 'code="200"' in line
        and all(x in line for x in labels)
    )


def test_two_workers_share_one_metrics_view(tmp_path):
    home = serving_home(tmp_path)
    with serve_process(home, "--workers", "2") as (_proc, url):
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
    assert list((home / "run").glob("metrics-*")), "the workers' shared metrics folder lives under the home"


def _listeners(port: int) -> int:
    """Sockets listening on TCP ``port`` (any address), read from the kernel's tables."""
    count = 0
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        with open(table) as f:
            next(f)
            for line in f:
                local, state = line.split()[1], line.split()[3]
                count += state == "0A" and int(local.rsplit(":", 1)[1], 16) == port
    return count


def _grpc_call(target: str) -> str:
    """One ModelInfer on a fresh channel (a new connection: the kernel picks the worker)."""
    import numpy as np
    import tritonclient.grpc as triton

    client = triton.InferenceServerClient(target)
    try:
        x1 = triton.InferInput("x1", [1], "FP64")
        x1.set_data_from_numpy(np.array([1.0]))
        x2 = triton.InferInput("x2", [1], "FP64")
        x2.set_data_from_numpy(np.array([2.0]))
        result = client.infer("scorer", [x1, x2])
        assert result.as_numpy("y").tolist() == [4.0]
        return result.get_response().model_version
    finally:
        client.close()


def test_two_workers_share_one_grpc_port(tmp_path):
    from trilho.net import free_port

    home = serving_home(tmp_path)
    grpc_port = free_port()
    with serve_process(home, "--workers", "2", "--grpc-port", str(grpc_port)) as (_proc, url):
        until = time.monotonic() + 60
        while _listeners(grpc_port) < 2:  # the second worker may still be starting
            assert time.monotonic() < until, f"{_listeners(grpc_port)} gRPC listeners on {grpc_port}"
            time.sleep(0.2)
        assert _listeners(grpc_port) == 2  # one per worker, on the same port (SO_REUSEPORT)
        n = 30
        for _ in range(n):
            assert _grpc_call(f"127.0.0.1:{grpc_port}") == "1"
        for _ in range(4):  # whichever worker answers /metrics counts both workers' gRPC requests
            text = httpx.get(url + "/metrics").text
            assert _requests_total(text, 'transport="grpc"') == n
            assert _requests_total(text, 'transport="http"') == 0


def test_grpc_port_refusals_name_the_flags(tmp_path):
    import os
    import socket
    import subprocess
    import sys
    from pathlib import Path

    from trilho.net import free_port

    home = serving_home(tmp_path)
    trilho = str(Path(sys.executable).parent / "trilho")
    env = {**os.environ, "TRILHO_HOME": str(home)}
    env.pop("TRILHO_DATABASE_URL", None)

    def serve(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run(
            [trilho, "serve", "--port", str(free_port()), *args], env=env, capture_output=True, timeout=120
        )

    zero = serve("--workers", "2", "--grpc-port", "0")
    assert zero.returncode == 2, zero
    said = zero.stderr.decode() + zero.stdout.decode()
    assert "--grpc-port 0 with --workers 2" in said and "fixed port" in said, said
    with socket.socket() as taken:  # a plain listener (no SO_REUSEPORT) holds the port
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        for workers in ("1", "2"):
            busy = serve("--workers", workers, "--grpc-port", str(port))
            said = busy.stderr.decode() + busy.stdout.decode()
            assert busy.returncode == 2 and f"--grpc-port {port}" in said and "in use" in said, said


def test_every_worker_enforces_the_llm_keys_file(tmp_path):
    """`--llm-keys` reaches the spawned workers (their settings come from the environment): a request with
    no listed key is refused by whichever worker takes it, before any routing."""
    import hashlib

    import yaml

    home = serving_home(tmp_path)
    keys = tmp_path / "keys.yaml"
    keys.write_text(yaml.safe_dump({"keys": [{"name": "a", "key_sha256": hashlib.sha256(b"k").hexdigest()}]}))
    with serve_process(home, "--workers", "2", "--llm-keys", str(keys)) as (_proc, url):
        time.sleep(1.0)  # let both workers be ready
        for _ in range(12):  # new connections: the kernel spreads them over both workers
            r = httpx.post(
                url + "/openai/v1/chat/completions",
                json={"model": "scorer", "messages": [{"role": "user", "content": "x"}]},
            )
            assert r.status_code == 401 and r.json()["error"]["code"] == "invalid_api_key"
