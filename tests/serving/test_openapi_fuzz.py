"""A bounded schemathesis run against the served OpenAPI document: no 5xx, responses match the document."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import httpx

from trilho.store import routing as rt
from trilho.store.routing import Deployment, Route

CHECKS = "not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance"


def test_fuzzing_the_served_openapi_document_finds_no_5xx(registered, start_gateway):
    store, root = registered
    # the safe path: a static default answers when a (fuzzed, tiny) latency budget cannot be met
    rt.set_deployment(
        store,
        Deployment(
            "scorer", routes=(Route("1", weight=0.9), Route("2", "canary", 0.1)), fallback_response={"y": 0.0}
        ),
    )
    gw = start_gateway(store, root, max_body_bytes=65536)
    doc = httpx.get(f"{gw.url}/openapi.json").json()
    assert doc["openapi"].startswith("3.") and "/v1/models/{name}:predict" in doc["paths"]
    st = Path(sys.executable).parent / "st"
    proc = subprocess.run(
        [
            str(st),
            "run",
            f"{gw.url}/openapi.json",
            "--checks",
            CHECKS,
            "--max-examples",
            "25",
            "--seed",
            "7",
            "--workers",
            "1",
            "--phases",
            "examples,coverage,fuzzing",
            "--no-color",
        ],
        capture_output=True,
        text=True,
        timeout=240,
    )
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out[-4000:]
    assert "passed" in out.lower()
