"""The deployment file's ``evals`` section takes effect: ``evals.online`` puts the policy on the model's
served answers in every gateway that serves the routing table (no ``--evals`` file), its windows reach the
store the rollout's ``online_eval`` check reads, removing it takes the checks off again; ``evals.gate:
required`` makes the eval gate of the model's rollouts fail for a candidate without an eval result. Real
gateway over loopback sockets on a SQLite store with a real registry."""

from __future__ import annotations

import time

import httpx
import pytest
import yaml
from tests.evals.test_online_gateway import CONTRACT, LLM_V1, POLICY, start

from trilho.errors import InputError
from trilho.evals.online_store import online_summary
from trilho.evals.policy import DEFAULT_FALLBACK
from trilho.registry import Registry
from trilho.rollout.deployfile import (
    apply_deployment,
    diff_live,
    from_deployment,
    load_deployment_file,
    registry_resolver,
    to_deployment,
)
from trilho.rollout.gates import registry_gates
from trilho.store.routing import get_deployment

MODEL = "helpdesk"  # its own name: the online metrics of tests/evals (model copilot) are not shared
FILE = """
model: helpdesk
routes: [{version: 1}]
evals:
  online: {policy: policy.yaml, output_field: completion, fail: closed}
  gate: required
"""
LEAK = "Sure, use the deploy key AKIAIOSFODNN7EXAMPLE with the CLI."


@pytest.fixture
def llm_registry(tmp_path):
    """(store, artifacts root): helpdesk v1 (answers, leaks a key when asked) and v2 in a real registry."""
    from trilho.store import Store

    store = Store(f"sqlite:///{tmp_path / 'trilho.db'}")
    store.migrate()
    root = tmp_path / "artifacts"
    reg = Registry(store, root)
    contract = tmp_path / "contract.yaml"
    contract.write_text(yaml.safe_dump(CONTRACT, sort_keys=False))
    folder = tmp_path / "src" / "helpdesk"
    folder.mkdir(parents=True)
    (folder / "helpdesk.py").write_text(LLM_V1)
    for _ in range(2):
        reg.register(MODEL, folder / "helpdesk.py", "python", contract, entry="helpdesk:predict")
    yield store, root
    store.dispose()


def ask(url, prompt):
    r = httpx.post(f"{url}/v1/models/{MODEL}:predict", json={"instances": [{"prompt": prompt}]}, timeout=10)
    assert r.status_code == 200, r.text
    return r


def _wait(check, timeout=30.0):
    until = time.monotonic() + timeout
    while time.monotonic() < until:
        if check():
            return True
        time.sleep(0.05)
    return False


def _file(tmp_path, text=FILE):
    (tmp_path / "policy.yaml").write_text(yaml.safe_dump(POLICY))
    path = tmp_path / "deployment.yaml"
    path.write_text(text)
    return path


def test_the_policy_file_is_inlined_and_round_trips_through_the_store(tmp_path):
    spec = load_deployment_file(_file(tmp_path))
    assert spec.evals.online.policy == POLICY  # the content: every gateway host applies the same policy
    again = from_deployment(to_deployment(spec))
    assert again == spec and again.evals.gate == "required"
    assert load_deployment_file("model: m\nroutes: [{version: 1}]\nevals: {}\n").evals is None


@pytest.mark.parametrize(
    ("online", "field"),
    [
        ("{policy: missing.yaml}", "evals.online.policy"),
        ("{policy: {checks: [{check: no_such_check}]}}", "evals.online.policy"),
        ("{policy: default, fail: sideways}", "evals.online.fail"),
        ("{policy: default, judge: {model: m}}", "evals.online.judge.base_url"),
    ],
)
def test_bad_online_settings_name_the_field(tmp_path, online, field):
    with pytest.raises(InputError) as err:
        load_deployment_file(
            _file(tmp_path, f"model: helpdesk\nroutes: [{{version: 1}}]\nevals:\n  online: {online}\n")
        )
    assert err.value.fields["field"].startswith(field), err.value.message


def test_online_evals_follow_the_deployment_and_the_gate_requires_an_eval_result(llm_registry, tmp_path):
    store, root = llm_registry
    resolve = registry_resolver(Registry(store, root))
    applied = apply_deployment(store, load_deployment_file(_file(tmp_path)), resolve, actor="test")
    assert applied.action == "created"
    gw = start(store, root, None)  # no --evals file: the deployment declares it
    try:
        r = ask(gw.url, "Which key do I use to deploy?")
        assert r.json()["predictions"][0]["completion"] == DEFAULT_FALLBACK  # blocked by the policy
        assert r.json()["fallback"] == {"reason": "policy_block", "source": "policy"}
        assert (
            ask(gw.url, "How do I reset my password?")
            .json()["predictions"][0]["completion"]
            .startswith("To reset")
        )

        plain = _file(tmp_path, "model: helpdesk\nroutes: [{version: 1}]\n")
        _, changes = diff_live(store, load_deployment_file(plain), resolve)
        assert {c.field for c in changes} == {"evals.online", "evals.gate"}
        gen = apply_deployment(store, load_deployment_file(plain), resolve, actor="test").generation
        assert _wait(lambda: gw.gateway.generation >= gen)
        assert ask(gw.url, "Which key do I use to deploy?").json()["predictions"][0]["completion"] == LEAK
        # declared again while serving: built off the event loop, in effect once built
        apply_deployment(store, load_deployment_file(_file(tmp_path)), resolve, actor="test")
        assert _wait(lambda: MODEL in gw.gateway.evals.models)
        assert (
            ask(gw.url, "Which key do I use to deploy?").json()["predictions"][0]["completion"]
            == DEFAULT_FALLBACK
        )
    finally:
        gw.stop()
    summary = online_summary(store, MODEL, "1")  # the declared evaluators' windows reached the store
    assert summary["checked"] == 3 and summary["violating"] == 2

    gates = registry_gates(store, root)
    assert get_deployment(store, MODEL).evals["gate"] == "required"
    (gate,) = [g for g in gates(MODEL, "2", "1").gates if g.name == "eval"]
    assert gate.status == "fail" and "evals.gate: required" in gate.message
    plain = _file(tmp_path, "model: helpdesk\nroutes: [{version: 1}]\n")
    apply_deployment(store, load_deployment_file(plain), resolve, actor="test")
    assert {g.name: g.status for g in gates(MODEL, "2", "1").gates}["eval"] == "skipped"  # gate: auto
