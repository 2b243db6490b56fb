"""Scale-out end to end, as N hosts run it: a CI "host" registers into a shared artifact store (a folder, and
an S3-compatible server on loopback) and signs the gates with the shared key, `trilho deploy apply` deploys,
two gateway processes on two other homes serve from the shared store, and one controller on the same
PostgreSQL rolls a bad canary back; both gateways apply the rollback within 1 s of the decision (the
controller times it through their /readyz; the figure is printed). A gateway whose home was not pointed at
the shared store reports the blob missing from its own store."""

from __future__ import annotations

import time

import httpx
import pytest
from tests.rollout.test_multiprocess import PLAN  # the same bad canary, judged the same way

from trilho.registry import Registry, SigningKey
from trilho.rollout.controller import Controller, gateway_generations
from trilho.rollout.gates import registry_gates
from trilho.rollout.machine import Phase
from trilho.rollout.scenario import (
    OpenLoopLoad,
    pg_url_with_schema,
    register_models,
    spawn_gateway,
    wait_ready,
)
from trilho.store import Store

pytestmark = [pytest.mark.postgres, pytest.mark.slow]

SECRET = "the key every host mounts"


def test_two_gateways_on_two_homes_share_the_store_and_apply_a_rollback_within_1s(
    cli, pg_schema, shared_artifacts_url, tmp_path, clean_env
):
    url, schema = pg_schema
    db_url = pg_url_with_schema(url, schema)
    shared = shared_artifacts_url  # a folder, or a bucket on an S3 server on loopback
    clean_env.setenv("TRILHO_SIGNING_KEY", SECRET)  # inherited by the gateway processes
    store = Store(url, schema=schema)
    store.migrate()

    # The CI host: registers into the shared store, signs the golden gates, applies the deployment file.
    versions = register_models(store, shared, tmp_path / "models", kinds=("stable", "errors10"), golden=False)
    reg = Registry(store, shared)
    for v in versions.values():
        reg.record_gate(
            f"scorer@{v}", "golden", "pass", {"suite": "scenario"}, key=SigningKey(SECRET.encode())
        )
    deployment = tmp_path / "deployment.yaml"
    deployment.write_text(
        f"model: scorer\nroutes: [{{version: {versions['stable']}}}]\ndeadline_ms: 2000\n"
        "batching: {enabled: false}\n"
    )
    ci = ("--home", str(tmp_path / "ci-home"), "--database-url", db_url, "--artifacts-url", shared)
    applied = cli(*ci, "deploy", "apply", str(deployment))
    assert applied.exit_code == 0, applied.output

    gateways = [
        spawn_gateway(
            db_url, tmp_path / f"gw-home-{i}", artifacts_url=shared, window=0.5, log=tmp_path / f"gw{i}.log"
        )
        for i in range(2)
    ]
    # a host whose operator forgot the artifact store: its own home's folder does not hold the blob
    forgetful = spawn_gateway(db_url, tmp_path / "gw-home-x", window=0.5, log=tmp_path / "gwx.log")
    load = None
    gates = registry_gates(store, shared, key=SigningKey(SECRET.encode()))
    ctl = Controller(
        store, interval=1, gateways=[g.url for g in gateways], propagation_timeout=5, gates=gates
    )
    try:
        wait_ready(gateways)  # each loaded the stable version from the shared store (its own home has none)
        assert not (tmp_path / "gw-home-0" / "artifacts" / "sha256").exists()
        error = _load_error(forgetful.url, f"scorer@{versions['stable']}")
        assert error.startswith("ArtifactMissing: ") and "Corrupt" not in error, error
        assert f"missing from artifact store {tmp_path / 'gw-home-x' / 'artifacts'}" in error
        forgetful.stop()
        ro = ctl.service.start("scorer", versions["errors10"], PLAN, actor="test")
        assert ro.state.phase is Phase.CANARY, ro.state
        load = OpenLoopLoad([g.url for g in gateways], "scorer", rate=40).start()
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and ctl.service.get(ro.id).state.phase is Phase.CANARY:
            ctl.tick()
            time.sleep(0.25)
        time.sleep(1.0)
        stats = load.stop()
        load = None
        after = ctl.service.get(ro.id)
        assert after.state.phase is Phase.ROLLED_BACK, ctl.timeline
        print(f"\nrollback decision -> both gateways applied: {after.rollback_seconds:.3f} s")
        assert after.rollback_seconds is not None and after.rollback_seconds <= 1.0
        gens = gateway_generations([g.url for g in gateways], ctl.http)
        assert len(gens) == 2 and all(g >= after.rollback_generation for g in gens)
        assert stats.by_version[versions["errors10"]] > 0 and stats.by_version[versions["stable"]] > 0
        gate = [e for e in ctl.service.history("scorer") if e["action"] == "gates_passed"][0]
        assert {g["name"]: g["status"] for g in gate["evidence"]["gates"]}["golden"] == "pass"
        # the file no longer matches what is live only if the rollback changed it: it routes to stable again
        drift = cli(*ci, "deploy", "diff", str(deployment), "--json")
        assert drift.exit_code == 0, drift.stdout
    finally:
        if load is not None:
            load.stop()
        ctl.close()
        for g in [*gateways, forgetful]:
            g.stop()
        store.dispose()


def _load_error(url: str, ref: str, timeout: float = 60.0) -> str:
    """The load error a gateway's /readyz reports for ``ref`` (waits until it has tried to load it)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            errors = httpx.get(url + "/readyz", timeout=1.0).json().get("errors") or {}
        except (httpx.HTTPError, ValueError):
            errors = {}
        if ref in errors:
            return errors[ref]
        time.sleep(0.2)
    raise AssertionError(f"{url}/readyz reported no load error for {ref} in {timeout} s")
