"""The deployment file's ``evals`` section takes effect: ``evals.online`` puts the policy on the model's
served answers in every gateway that serves the routing table (no ``--evals`` file), its windows reach the
store the rollout's ``online_eval`` check reads, removing it takes the checks off again; ``evals.gate:
required`` makes the eval gate of the model's rollouts fail for a candidate without an eval result. Real
gateway over loopback sockets on a SQLite store with a real registry."""

from __future__ import annotations

import time

import pytest
import yaml
from tests.evals.test_online_gateway import POLICY, ask, start
from tests.evals.test_online_gateway import llm_registry as llm_registry  # noqa: F401 - the fixture

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

FILE = """
model: copilot
routes: [{version: 1}]
evals:
  online: {policy: policy.yaml, output_field: completion, fail: closed}
  gate: required
"""
LEAK = "Sure, use the deploy key AKIAIOSFODNN7EXAMPLE with the CLI."


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
            _file(tmp_path, f"model: copilot\nroutes: [{{version: 1}}]\nevals:\n  online: {online}\n")
        )
    assert err.value.fields["field"].startswith(field), err.value.message


def test_online_evals_follow_the_deployment_and_the_gate_requires_an_eval_result(llm_registry, tmp_path):  # noqa: F811
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

        plain = _file(tmp_path, "model: copilot\nroutes: [{version: 1}]\n")
        _, changes = diff_live(store, load_deployment_file(plain), resolve)
        assert {c.field for c in changes} == {"evals.online", "evals.gate"}
        gen = apply_deployment(store, load_deployment_file(plain), resolve, actor="test").generation
        assert _wait(lambda: gw.gateway.generation >= gen)
        assert ask(gw.url, "Which key do I use to deploy?").json()["predictions"][0]["completion"] == LEAK
    finally:
        gw.stop()
    summary = online_summary(store, "copilot", "1")  # the declared evaluator's windows reached the store
    assert summary["checked"] == 2 and summary["violating"] == 1

    gates = registry_gates(store, root)
    assert {g.name: g.status for g in gates("copilot", "2", "1").gates}["eval"] == "skipped"  # gate: auto
    apply_deployment(store, load_deployment_file(_file(tmp_path)), resolve, actor="test")
    assert get_deployment(store, "copilot").evals["gate"] == "required"
    (gate,) = [g for g in gates("copilot", "2", "1").gates if g.name == "eval"]
    assert gate.status == "fail" and "evals.gate: required" in gate.message
