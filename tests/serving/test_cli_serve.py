"""`trilho serve` as a real process: it serves the deployments in TRILHO_HOME's store over HTTP."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import httpx
from tests.serving.conftest import serve_process, serving_home

from trilho.net import free_port
from trilho.store import Store


def test_trilho_serve_process_serves_the_store(tmp_path):
    with serve_process(serving_home(tmp_path)) as (proc, url):
        r = httpx.post(url + "/v1/models/scorer:predict", json={"instances": [{"x1": 1.0, "x2": 2.0}]})
        assert r.status_code == 200 and r.json() == {"predictions": [{"y": 4.0}]}
        assert r.headers["x-trilho-model-version"] == "1"
    assert proc.returncode in (0, -15)


def test_serve_help(cli):
    result = cli("serve", "--help")
    assert result.exit_code == 0 and "--port" in result.output and "--workers" in result.output


def test_trilho_serve_with_embedded_controller_acts_on_rollouts(tmp_path):
    """`trilho serve --controller` runs the rollout loop in the same process (one-machine setups)."""
    from trilho.rollout.scenario import deploy, register_models
    from trilho.rollout.service import RolloutService

    home = tmp_path / "home"
    store = Store(f"sqlite:///{home / 'trilho.db'}")
    store.migrate()
    versions = register_models(store, home / "artifacts", tmp_path / "m", kinds=("stable", "good"))
    deploy(store, "scorer", versions["stable"])
    plan = {
        "name": "quiet",
        "interval": 1,
        "steps": [{"canary": {"weight": 10, "min_requests": 10, "min_duration": 1}}],
        "missing_metrics": {"intervals": 2},
    }
    service = RolloutService(store)
    ro = service.start("scorer", versions["good"], plan, actor="user:test")
    port = free_port()
    env = {**os.environ, "TRILHO_HOME": str(home), "TRILHO_LOG_LEVEL": "WARNING"}
    env.pop("TRILHO_DATABASE_URL", None)
    trilho = Path(sys.executable).parent / "trilho"
    cmd = [str(trilho), "serve", "--port", str(port), "--controller", "--interval", "1"]
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        until = time.monotonic() + 90
        # no traffic reaches the canary, so the controller's missing-metrics fail-safe must roll it back
        while service.get(ro.id).active:
            assert proc.poll() is None, proc.stdout.read().decode()[-2000:]
            assert time.monotonic() < until, "the embedded controller never acted"
            time.sleep(0.5)
        assert service.get(ro.id).state.phase.value == "rolled_back"
        assert any(e["actor"] == "controller" for e in service.history("scorer", rollout_id=ro.id))
    finally:
        proc.terminate()
        proc.wait(15)
        store.dispose()
