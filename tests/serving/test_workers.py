"""`trilho serve --workers 2`: two processes on one port, and /metrics on either counts every request."""

from __future__ import annotations

import time

import httpx
from tests.serving.conftest import serve_process, serving_home


def _requests_total(text: str) -> float:
    return sum(
        float(line.split()[-1])
        for line in text.splitlines()
        if line.startswith("trilho_serving_requests_total{") and 'code="200"' in line
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
