"""Deployment files: field-named validation, a diff that is empty exactly when nothing differs, idempotent
audited apply/delete on both store backends, aliases resolved at apply, rollouts not overridden, and the
committed JSON Schema generated from the model."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from trilho.errors import InputError, RolloutError
from trilho.rollout import RolloutService
from trilho.rollout.deployfile import (
    DeploymentFile,
    apply_deployment,
    delete_deployment_audited,
    diff,
    diff_live,
    from_deployment,
    json_schema,
    load_deployment_file,
    to_deployment,
)
from trilho.rollout.plan import DEFAULT_PLAN_YAML
from trilho.store.routing import current_generation, get_deployment

SCHEMA_FILE = Path(__file__).resolve().parents[2] / "docs" / "schemas" / "deployment.schema.json"

FULL = """
model: scorer
routes:
  - {version: 1, role: stable, weight: 90}
  - {version: 2, role: canary, weight: 10}
  - {version: champion, role: shadow}
shadow_percent: 20
comparators: ["numeric:0.001"]
unit_field: user_id
deadline_ms: 250
batching: {enabled: true, max_batch_size: 16, max_wait_ms: 1.5, max_queue: 512, max_concurrency: 1}
cache: {enabled: true, max_entries: 100, ttl_s: 30}
breaker: {failures: 3, reset_after_s: 2}
fallback_response: {y: 0.0}
slo: {latency_ms: 50, target: 0.995}
"""

KNOWN = {"scorer@1": "1", "scorer@2": "2", "scorer@3": "3", "scorer@champion": "3"}


def resolve(ref: str) -> str:
    """A registry with versions 1-3 of scorer, champion → 3 (the CLI resolves through the real registry)."""
    if ref not in KNOWN:
        raise InputError(f"no such version {ref}", fix="register it")
    return KNOWN[ref]


# --- pure ------------------------------------------------------------------------------------------------
def test_a_full_file_round_trips_through_the_store_form():
    spec = load_deployment_file(FULL)
    resolved = spec.model_copy(
        update={
            "routes": [r.model_copy(update={"version": resolve(f"scorer@{r.version}")}) for r in spec.routes]
        }
    )
    dep = to_deployment(resolved)
    assert [(r.version, r.role, r.weight) for r in dep.routes] == [
        ("1", "stable", 0.9),
        ("2", "canary", 0.1),
        ("3", "shadow", 0.0),
    ]
    assert dep.shadow_fraction == 0.2 and dep.slo is not None and dep.slo.target == 0.995
    assert dep.cache.enabled and dep.batching.max_concurrency == 1 and dep.fallback_response == {"y": 0.0}
    assert diff(from_deployment(dep), resolved) == []


R = "model: m\nroutes: "
BAD = [
    (R + "[{version: 1, role: stabel}]", "routes[0].role", "'stable', 'canary' or 'shadow'"),
    (R + "[{version: 1}]\nshadow_fracton: 3", "shadow_fracton", "Extra inputs"),
    (R + "[]", "routes", "at least 1"),
    ("routes: [{version: 1}]", "model", "Field required"),
    (R + "[{version: 1}]\ncache: {ttl_s: 0}", "cache.ttl_s", "greater than 0"),
    (R + "[{version: 1, weight: 90}, {version: 2, role: canary, weight: 20}]", "routes[].weight", "110"),
    (R + "[{version: 1}, {version: 2, role: canary, weight: 5}]", "routes[0].weight", "missing"),
    (R + "[{version: 1}, {version: 2, role: shadow, weight: 5}]", "routes[1].weight", "no weight"),
    (R + "[{version: 1}]\nslo: {latency_ms: 5, alerts: [[page, 1]]}", "slo.alerts[0]", ""),
    ("- a list", "deployment", "mapping"),
]


@pytest.mark.parametrize(("text", "field", "words"), BAD)
def test_bad_files_name_the_field(text, field, words):
    with pytest.raises(InputError) as err:
        load_deployment_file(text)
    assert err.value.fields["field"].startswith(field) and words in str(err.value)
    assert err.value.exit_code == 2


def test_the_store_rules_are_reported_as_file_errors():
    spec = load_deployment_file("model: m\nroutes: [{version: 1}, {version: 1, role: shadow}]\n")
    with pytest.raises(InputError, match="deployment file: .*lists a version twice"):
        to_deployment(spec)
    spec = load_deployment_file("model: m\nroutes: [{version: 1, role: canary}]\n")
    with pytest.raises(InputError, match="exactly one stable route"):
        to_deployment(spec)


routes = st.lists(st.integers(1, 30), min_size=1, max_size=4, unique=True).flatmap(
    lambda vs: st.tuples(st.just(vs), st.lists(st.integers(0, 100), min_size=len(vs), max_size=len(vs)))
)


@st.composite
def files(draw) -> DeploymentFile:
    versions, raw = draw(routes)
    live = max(1, len(versions) - draw(st.integers(0, len(versions) - 1)))
    weights = [w + 1 for w in raw[:live]]
    total = sum(weights)
    pct = [round(100 * w / total, 3) for w in weights]
    pct[0] = round(100 - sum(pct[1:]), 3)
    rs = [
        {"version": str(v), "role": "stable" if i == 0 else "canary", "weight": pct[i]}
        for i, v in enumerate(versions[:live])
    ]
    rs += [{"version": str(v), "role": "shadow"} for v in versions[live:]]
    doc = {
        "model": "m",
        "routes": rs,
        "shadow_percent": draw(st.sampled_from([0, 5, 12.5, 100])),
        "comparators": draw(st.sampled_from([["exact"], ["numeric:0.01", "label:y"]])),
        "deadline_ms": draw(st.sampled_from([50, 1000])),
        "cache": {"enabled": draw(st.booleans())},
    }
    if draw(st.booleans()):
        doc["slo"] = {"latency_ms": draw(st.sampled_from([20, 80])), "target": 0.99}
    return load_deployment_file(doc)


@settings(max_examples=60, deadline=None)
@given(files(), files())
def test_diff_is_empty_exactly_when_the_store_forms_are_equal(a, b):
    assert diff(a, a) == []
    assert diff(from_deployment(to_deployment(a)), a) == []  # the store round trip loses nothing
    same = to_deployment(a) == to_deployment(b)
    assert (diff(a, b) == []) == same
    assert {c.field for c in diff(a, b)} == {c.field for c in diff(b, a)}


# --- against the store (SQLite and PostgreSQL) ------------------------------------------------------------
def _actions(store, model="scorer"):
    return [e["action"] for e in RolloutService(store).history(model)]


def test_apply_is_idempotent_audited_and_diffs_against_what_is_live(store):
    spec = load_deployment_file(FULL)
    first = apply_deployment(store, spec, resolve, actor="user:ana", source="deployment.yaml")
    assert first.action == "created" and get_deployment(store, "scorer").routes[2].version == "3"
    gen = current_generation(store)
    again = apply_deployment(store, spec, resolve, actor="user:ana")
    assert again.action == "unchanged" and again.changes == [] and current_generation(store) == gen
    assert _actions(store) == ["deploy_create"]
    assert diff_live(store, spec, resolve)[1] == []

    edited = load_deployment_file(
        FULL.replace("weight: 90", "weight: 75").replace("weight: 10", "weight: 25")
    )
    changes = diff_live(store, edited, resolve)[1]
    assert {(c.field, c.live, c.desired) for c in changes} == {
        ("routes[version=1].weight", 90.0, 75.0),
        ("routes[version=2].weight", 10.0, 25.0),
    }
    result = apply_deployment(store, edited, resolve, actor="user:ana")
    assert result.action == "changed" and result.generation == gen + 1
    assert get_deployment(store, "scorer").routes[0].weight == 0.75
    entry = RolloutService(store).history("scorer")[-1]
    assert entry["action"] == "deploy_apply" and entry["actor"] == "user:ana"
    assert len(entry["evidence"]["changes"]) == 2 and entry["evidence"]["routing_generation"] == gen + 1
    assert RolloutService(store).verify_audit().ok


def test_the_smallest_file_is_idempotent_too(store):
    spec = load_deployment_file("model: scorer\nroutes: [{version: 1}]\n")
    assert spec.routes[0].weight == 100.0
    assert apply_deployment(store, spec, resolve, actor="t").action == "created"
    assert apply_deployment(store, spec, resolve, actor="t").action == "unchanged"
    assert diff_live(store, spec, resolve)[1] == []


def test_apply_keeps_the_live_kill_switch(store):
    from trilho.store.routing import set_kill

    spec = load_deployment_file("model: scorer\nroutes: [{version: 1}]\n")
    apply_deployment(store, spec, resolve, actor="t")
    set_kill(store, "scorer", "all")
    edited = load_deployment_file("model: scorer\nroutes: [{version: 1}]\ndeadline_ms: 50\n")
    assert apply_deployment(store, edited, resolve, actor="t").action == "changed"
    assert get_deployment(store, "scorer").kill == "all"


def test_an_unknown_version_or_alias_writes_nothing(store):
    spec = load_deployment_file(
        "model: scorer\nroutes: [{version: 1, weight: 50}, {version: 9, role: canary, weight: 50}]\n"
    )
    with pytest.raises(InputError) as err:
        apply_deployment(store, spec, resolve, actor="t")
    assert err.value.fields["field"] == "routes[1].version" and "no such version scorer@9" in str(err.value)
    assert get_deployment(store, "scorer") is None and current_generation(store) == 0
    assert _actions(store) == []


def test_a_running_rollout_owns_the_routes(store):
    apply_deployment(
        store, load_deployment_file("model: scorer\nroutes: [{version: 1}]\n"), resolve, actor="t"
    )
    from trilho.rollout.gates import skip_gates

    service = RolloutService(store, gates=skip_gates("t", "test"))
    ro = service.start("scorer", "2", DEFAULT_PLAN_YAML, actor="t")
    other = load_deployment_file("model: scorer\nroutes: [{version: 3}]\n")
    with pytest.raises(RolloutError, match=f"rollout #{ro.id} is .* and owns its routes"):
        apply_deployment(store, other, resolve, actor="t")
    with pytest.raises(RolloutError, match="owns its routes"):
        delete_deployment_audited(store, "scorer", actor="t")
    service.rollback("scorer", actor="t", reason="test")
    assert apply_deployment(store, other, resolve, actor="t").action == "changed"


def test_delete_is_audited_and_a_missing_deployment_is_an_input_error(store):
    apply_deployment(
        store, load_deployment_file("model: scorer\nroutes: [{version: 1}]\n"), resolve, actor="t"
    )
    gen = delete_deployment_audited(store, "scorer", actor="user:bo")
    assert get_deployment(store, "scorer") is None and current_generation(store) == gen
    assert _actions(store) == ["deploy_create", "deploy_delete"]
    with pytest.raises(InputError, match="has no deployment"):
        delete_deployment_audited(store, "scorer", actor="t")


# --- the JSON Schema -------------------------------------------------------------------------------------
def test_the_committed_schema_is_generated_from_the_model_and_accepts_the_documented_example():
    generated = json.loads(json.dumps(json_schema()))
    assert json.loads(SCHEMA_FILE.read_text()) == generated, "regenerate: trilho deploy schema --out " + str(
        SCHEMA_FILE
    )
    jsonschema.Draft202012Validator.check_schema(generated)
    validator = jsonschema.Draft202012Validator(generated)
    validator.validate(yaml.safe_load(FULL))
    docs = (SCHEMA_FILE.parents[1] / "deployment.md").read_text()
    example = docs.split("```yaml\n", 1)[1].split("```", 1)[0]
    validator.validate(yaml.safe_load(example))
    load_deployment_file(example)
    assert list(validator.iter_errors({"model": "m", "routes": [{"version": "1"}], "shadow_fracton": 1}))
    bad_comparator = {"model": "m", "routes": [{"version": "1"}], "comparators": ["abs_tol(x)"]}
    assert list(validator.iter_errors(bad_comparator))  # editors flag it, as apply does
