"""Serving test helpers: a contract file, python-flavour model versions registered in a real registry, and a
gateway started over real sockets on 127.0.0.1."""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
import yaml

CONTRACT = {
    "apiVersion": "v3.0.2",
    "kind": "DataContract",
    "id": "scorer-io",
    "name": "scorer",
    "version": "1.0.0",
    "schema": [
        {
            "name": "request",
            "x-trilho": {"role": "input", "examples": [{"x1": 1.0, "x2": 2.0}]},
            "properties": [
                {"name": "x1", "logicalType": "number", "physicalType": "float64", "required": True},
                {
                    "name": "x2",
                    "logicalType": "number",
                    "physicalType": "float64",
                    "required": True,
                    "logicalTypeOptions": {"minimum": -100, "maximum": 100},
                },
            ],
        },
        {
            "name": "response",
            "x-trilho": {"role": "output"},
            "properties": [
                {"name": "y", "logicalType": "number", "physicalType": "float64", "required": True}
            ],
        },
    ],
}

MODELS = {
    # v1: the stable model
    "linear": "def predict(records):\n    return [{'y': 2.0 * r['x1'] + r['x2']} for r in records]\n",
    # v2: same outputs, different code (a shadow that agrees)
    "linear_again": "def predict(records):\n    return [{'y': r['x2'] + 2.0 * r['x1']} for r in records]\n",
    # v3: shifted outputs (a shadow that disagrees)
    "shifted": "def predict(records):\n    return [{'y': 2.0 * r['x1'] + r['x2'] + 1.0} for r in records]\n",
    # v4: raises on x1 == 666
    "flaky": textwrap.dedent("""
        def predict(records):
            if any(r['x1'] == 666 for r in records):
                raise RuntimeError('boom')
            return [{'y': 2.0 * r['x1'] + r['x2']} for r in records]
        """),
    # v5: hangs on x1 == 777
    "hangs": textwrap.dedent("""
        import time
        def predict(records):
            if any(r['x1'] == 777 for r in records):
                time.sleep(1.5)
            return [{'y': 2.0 * r['x1'] + r['x2']} for r in records]
        """),
}
VERSIONS = {"1": "linear", "2": "linear_again", "3": "shifted", "4": "flaky", "5": "hangs"}


def register_versions(registry, tmp_path: Path, name: str = "scorer") -> None:
    """Register versions 1..5 of ``name`` (python flavour, one contract)."""
    contract = tmp_path / "contract.yaml"
    contract.write_text(yaml.safe_dump(CONTRACT, sort_keys=False))
    for _version, module in VERSIONS.items():
        folder = tmp_path / "src" / module
        folder.mkdir(parents=True, exist_ok=True)
        (folder / f"{module}.py").write_text(MODELS[module])
        registry.register(name, folder / f"{module}.py", "python", contract, entry=f"{module}:predict")


@pytest.fixture
def registered(sqlite_store, tmp_path):
    """(store, artifacts root) with versions 1..5 of ``scorer`` registered."""
    from trilho.registry import Registry

    root = tmp_path / "artifacts"
    register_versions(Registry(sqlite_store, root), tmp_path)
    return sqlite_store, root


@pytest.fixture
def start_gateway():
    """Start gateways in-process on free ports; all are stopped after the test."""
    from trilho.serving import GatewaySettings, RegistryProvider, run_in_thread

    running = []

    def start(store=None, root=None, *, provider=None, deployments=None, **settings):
        defaults = dict(port=0, poll_interval_s=0.1, window_interval_s=0.3, access_log_sample=0.0)
        gs = GatewaySettings(**{**defaults, **settings})
        provider = provider or RegistryProvider(store, root)
        rg = run_in_thread(provider=provider, store=store, deployments=deployments, settings=gs)
        running.append(rg)
        return rg

    yield start
    for rg in running:
        rg.stop()


def serving_home(tmp_path: Path) -> Path:
    """A TRILHO_HOME whose SQLite store serves versions 1..5 of ``scorer`` with version 1 deployed."""
    from trilho.registry import Registry
    from trilho.store import Store
    from trilho.store.routing import Deployment, Route, set_deployment

    home = tmp_path / "home"
    store = Store(f"sqlite:///{home / 'trilho.db'}")
    store.migrate()
    register_versions(Registry(store, home / "artifacts"), tmp_path)
    set_deployment(store, Deployment("scorer", routes=(Route("1"),)))
    store.dispose()
    return home


@contextlib.contextmanager
def serve_process(home: Path, *args: str, ready_s: float = 90.0):
    """`trilho serve --port P *args` on ``home`` as a real process; yields (process, url) once /readyz is 200,
    and terminates it afterwards."""
    import httpx

    from trilho.net import free_port

    port = free_port()
    env = {**os.environ, "TRILHO_HOME": str(home), "TRILHO_LOG_LEVEL": "WARNING"}
    env.pop("TRILHO_DATABASE_URL", None)
    env.pop("PROMETHEUS_MULTIPROC_DIR", None)
    trilho = Path(sys.executable).parent / "trilho"
    proc = subprocess.Popen(
        [str(trilho), "serve", "--port", str(port), *args],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        until = time.monotonic() + ready_s
        while True:
            try:
                if httpx.get(url + "/readyz").status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert proc.poll() is None, proc.stdout.read().decode()[-2000:]
            assert time.monotonic() < until, f"trilho serve {' '.join(args)} did not become ready"
            time.sleep(0.2)
        yield proc, url
    finally:
        proc.terminate()
        proc.wait(20)
