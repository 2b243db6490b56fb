"""Names that become keys or paths are checked with a full match: a trailing newline is refused everywhere."""

from __future__ import annotations

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st
from tests.registry.conftest import EXAMPLES, write_contract, write_python_model

from trilho.errors import EvalError, GoldenError, InputError, RegistryError, RolloutError
from trilho.names import NAME, WORD, check_name, is_name
from trilho.registry.refs import check_alias, parse_ref
from trilho.registry.refs import check_name as check_model_name

TRAILERS = ["\n", "\r\n", " ", "\t", "/x", "\x00"]


@given(st.from_regex(NAME, fullmatch=True), st.sampled_from(TRAILERS))
def test_a_valid_name_with_anything_after_it_is_refused(name, trailer):
    assert is_name(name) and not is_name(name + trailer)
    with pytest.raises(InputError) as info:
        check_name(name + trailer, "thing")
    assert info.value.fields["value"] == name + trailer and info.value.exit_code == 2


@given(st.from_regex(WORD, fullmatch=True))
def test_word_rule_round_trips(word):
    assert check_name(word, "alias", rule=WORD) == word
    assert not is_name(word + "\n", WORD)


@pytest.mark.parametrize(
    ("check", "value", "error"),
    [
        (check_model_name, "xssmodel\n", RegistryError),
        (check_alias, "champion\n", RegistryError),
        (parse_ref, "iris\n", RegistryError),
        (parse_ref, "iris@champion\n", RegistryError),
        (parse_ref, "iris@3\n", RegistryError),
        (parse_ref, "iris@²", RegistryError),  # str.isdigit() said yes, int() then raised ValueError
    ],
)
def test_registry_names(check, value, error):
    with pytest.raises(error):
        check(value)


def test_other_names_that_become_keys_or_paths(sqlite_store, tmp_path):
    from trilho.contracts.loader import SEMVER
    from trilho.evals.annotations import AnnotationQueue
    from trilho.obs.metrics import metric_name
    from trilho.rollout.auth import create_token
    from trilho.rollout.service import RolloutService
    from trilho.store.routing import Deployment, Route, validate_deployment

    with pytest.raises(InputError):
        create_token(sqlite_store, "alice\n", "viewer", actor="t")
    with pytest.raises(RolloutError):
        RolloutService(sqlite_store).save_plan("careful\n", {"steps": [{"canary": 5}]}, actor="t")
    with pytest.raises(EvalError):
        AnnotationQueue(sqlite_store, "default\n")
    with pytest.raises(InputError):
        validate_deployment(Deployment(model="scorer\n", routes=(Route(version="1"),)))
    with pytest.raises(ValueError):
        metric_name("serving", "requests", "total\n")
    assert SEMVER.fullmatch("1.0.0") and not SEMVER.fullmatch("1.0.0\n")


def test_suite_names(tmp_path):
    from trilho.evals.suites import Suite
    from trilho.golden.suite import load_suite

    (tmp_path / "cases.jsonl").write_text('{"id": "a", "input": {"x": 1}, "expected": {"y": 1}}\n')
    (tmp_path / "suite.yaml").write_text('name: "golden\\n"\ncases: cases.jsonl\n')
    with pytest.raises(GoldenError):
        load_suite(tmp_path / "suite.yaml")
    doc = {"name": "../../escape", "dataset": "rows.jsonl", "target": {"type": "callable"}}
    (tmp_path / "evals.yaml").write_text(json.dumps(doc))
    with pytest.raises(EvalError, match="suite name"):
        Suite.load(tmp_path / "evals.yaml")


def test_cli_refuses_model_and_alias_with_a_trailing_newline(cli, home, tmp_path):
    art = write_python_model(tmp_path / "src")
    contract = write_contract(tmp_path / "c.yaml", examples=EXAMPLES)
    base = [
        "--artifact",
        str(art),
        "--flavor",
        "python",
        "--contract",
        str(contract),
        "--entry",
        "model:predict",
    ]
    r = cli("model", "register", "xssmodel\n", *base)
    assert r.exit_code == 2 and "is not valid" in r.stderr
    assert cli("model", "register", "lin", *base).exit_code == 0
    r = cli("model", "alias", "lin", "champion\n", "1")
    assert r.exit_code == 2 and "alias" in r.stderr
    listed = json.loads(cli("model", "list", "--json").stdout)
    assert listed["models"] == [{"name": "lin", "versions": 1, "latest": 1, "aliases": {}}]


def test_cli_refuses_token_and_project_names_with_a_trailing_newline(cli, home, tmp_path):
    assert cli("rollout", "token", "create", "ci\n", "--role", "viewer").exit_code == 2
    r = cli("init", "proj\n", "--dest", str(tmp_path / "p"))
    assert r.exit_code == 2 and "project name" in r.stderr and not (tmp_path / "p").exists()
