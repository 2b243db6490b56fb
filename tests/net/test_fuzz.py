"""The reduced ``make fuzz`` run (issue 18, item 7): schemathesis over the gateway's and the control API's
served OpenAPI documents finds no server error and no schema-valid request rejected."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

SCRIPT = Path(__file__).parents[2] / "scripts" / "fuzz_http.py"


def test_the_reduced_fuzz_run_passes_on_both_documents():
    env = {**os.environ, "TRILHO_LOG_LEVEL": "ERROR"}
    args = ["--max-examples", "5", "--phases", "examples,fuzzing", "--seed", "7"]
    proc = subprocess.run(
        [sys.executable, str(SCRIPT), *args], capture_output=True, text=True, timeout=300, env=env
    )
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out[-6000:]
    assert out.count("$ st run") == 2 and "fuzz: passed" in out


def test_a_contract_model_documents_only_bodies_its_contract_accepts():
    from trilho.serving.openapi import build_openapi

    record = {"type": "object", "required": ["x1"], "properties": {"x1": {"type": "number"}}}
    doc = build_openapi(
        ["m", "free"], {"m": record, "free": None}, {"m": [{"name": "x1", "datatype": "FP64", "shape": [-1]}]}
    )
    assert doc["paths"]["/v1/models/{name}:predict"]["post"]["parameters"][0]["schema"]["enum"] == ["free"]
    v2 = doc["paths"]["/v2/models/m/infer"]["post"]["requestBody"]["content"]["application/json"]["schema"]
    tensor = v2["properties"]["inputs"]["prefixItems"][0]["properties"]
    assert tensor["datatype"] == {"const": "FP64"} and tensor["data"]["items"] == {"type": "number"}
    generic = doc["paths"]["/v2/models/{name}/infer"]["post"]["requestBody"]["content"]["application/json"]
    assert "" not in generic["schema"]["properties"]["inputs"]["items"]["properties"]["datatype"]["enum"]
    only_contract = build_openapi(
        ["m"], {"m": record}, {"m": [{"name": "x1", "datatype": "FP64", "shape": [-1]}]}
    )
    assert "/v1/models/{name}:predict" not in only_contract["paths"]
