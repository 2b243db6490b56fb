"""Fuzz the gateway's and the control API's OpenAPI documents with schemathesis (``make fuzz``).

Starts both servers in this process on loopback ports over a fresh store (a ``scorer`` model with a contract,
served and deployed; an admin token for the control API), then runs ``st run`` against each served
``/openapi.json`` with the checks that hold a server to its document: no 5xx, every schema-valid request
accepted (``positive_data_acceptance``: a 400/413/415/422 for a request the document allows is a failure),
and responses that match the document. Exit 0 when both runs pass, 1 otherwise.

    python scripts/fuzz_http.py                      # the full run (make fuzz, under 3 minutes)
    python scripts/fuzz_http.py --max-examples 5 --phases examples,fuzzing   # the reduced run in make test
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
from pathlib import Path

import yaml

CHECKS = (
    "not_a_server_error,positive_data_acceptance,status_code_conformance,content_type_conformance,"
    "response_schema_conformance"
)
ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from tests.serving.conftest import CONTRACT, MODELS  # noqa: E402  (the serving tests' contract and model)

MODEL = MODELS["linear"]


def _registered_store(home: Path):
    from trilho.registry import Registry
    from trilho.store import Store
    from trilho.store.routing import Deployment, Route, set_deployment

    store = Store(f"sqlite:///{home / 'trilho.db'}")
    store.migrate()
    (home / "contract.yaml").write_text(yaml.safe_dump(CONTRACT, sort_keys=False))
    (home / "linear.py").write_text(MODEL)
    registry = Registry(store, home / "artifacts")
    for _ in range(2):
        registry.register(
            "scorer", home / "linear.py", "python", home / "contract.yaml", entry="linear:predict"
        )
    # a tiny latency budget (a fuzzed header) falls back to a static answer: the safe path, not a 503
    set_deployment(store, Deployment("scorer", routes=(Route("1"),), fallback_response={"y": 0.0}))
    return store


def _st(url: str, args: argparse.Namespace, *extra: str) -> int:
    st = Path(sys.executable).parent / "st"
    cmd = [
        str(st),
        "run",
        f"{url}/openapi.json",
        "--checks",
        CHECKS,
        "--max-examples",
        str(args.max_examples),
        "--seed",
        str(args.seed),
        "--workers",
        "1",
        "--phases",
        args.phases,
        "--no-color",
        *extra,
    ]
    print(f"$ st run {url}/openapi.json (max {args.max_examples} examples, seed {args.seed})", flush=True)
    return subprocess.run(cmd, timeout=args.timeout).returncode


def main(argv: list[str] | None = None) -> int:
    """Run the fuzz; 0 when both servers pass."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--max-examples", type=int, default=60)
    parser.add_argument("--seed", type=int, default=18)
    parser.add_argument("--phases", default="examples,coverage,fuzzing")
    parser.add_argument("--timeout", type=int, default=170, help="seconds per server")
    parser.add_argument("--only", choices=("gateway", "control_api"))
    args = parser.parse_args(argv)

    from trilho.net.server import serve_in_thread
    from trilho.rollout.api import create_app
    from trilho.rollout.auth import create_token
    from trilho.rollout.service import RolloutService
    from trilho.serving import RegistryProvider, run_in_thread
    from trilho.serving.settings import GatewaySettings

    failed = 0
    with tempfile.TemporaryDirectory(prefix="trilho-fuzz-") as tmp:
        home = Path(tmp)
        store = _registered_store(home)
        if args.only in (None, "gateway"):
            settings = GatewaySettings(port=0, max_body_bytes=65536, access_log_sample=0.0)
            with run_in_thread(
                provider=RegistryProvider(store, home / "artifacts"), store=store, settings=settings
            ) as gw:
                failed += _st(gw.url, args) != 0
        if args.only in (None, "control_api"):
            admin = create_token(store, "fuzz", "admin", actor="fuzz")
            with serve_in_thread(create_app(RolloutService(store))) as api:
                failed += _st(api, args, "--header", f"Authorization: Bearer {admin}") != 0
        store.dispose()
    print("fuzz: " + ("FAILED" if failed else "passed"), flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
