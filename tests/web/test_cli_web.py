"""`trilho web` serves the dashboard from the store the global options point at."""

from __future__ import annotations

import os
import subprocess
import sys
import time

import httpx

from trilho.net import free_port


def test_trilho_web_serves_the_login_page(tmp_path):
    port = free_port()
    env = {**os.environ, "TRILHO_HOME": str(tmp_path / "home")}
    env.pop("TRILHO_DATABASE_URL", None)
    proc = subprocess.Popen(
        [sys.executable, "-m", "trilho.cli.main", "web", "--port", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        deadline = time.monotonic() + 40
        while True:
            try:
                r = httpx.get(f"http://127.0.0.1:{port}/ui/login", timeout=2)
                break
            except httpx.TransportError:
                assert proc.poll() is None, proc.stderr.read().decode()
                assert time.monotonic() < deadline, "trilho web did not start"
                time.sleep(0.2)
        assert r.status_code == 200 and 'id="token"' in r.text
        assert httpx.get(f"http://127.0.0.1:{port}/ui/models", timeout=5).status_code == 303
    finally:
        proc.terminate()
        proc.wait(10)
