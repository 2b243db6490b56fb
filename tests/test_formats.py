"""The YAML formats' JSON Schemas (trilho.formats): the committed files are what the code generates, the
schemas accept the documented examples and every shipped template's files, and schema and loader agree on
what they accept and refuse."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import pytest
import yaml

from trilho import formats
from trilho.errors import TrilhoError
from trilho.templates import TEMPLATES, init_project

DOCS = Path(__file__).resolve().parents[1] / "docs"
CASES = [
    {"id": "c1", "input": {"tenure_months": 1}, "expected": {"churn": 1}, "tags": ["new"]},
    {"id": "c2", "input": {"tenure_months": 60}, "expected": {"churn": 0}, "compare": {"churn": "class"}},
]


def _validator(name: str) -> jsonschema.Draft202012Validator:
    schema = formats.SCHEMAS[name]()
    jsonschema.Draft202012Validator.check_schema(schema)
    return jsonschema.Draft202012Validator(schema)


def _load(name: str, doc: dict, folder: Path) -> None:
    """Parse ``doc`` with the loader trilho itself uses for the format (raises a TrilhoError when refused)."""
    if name == "plan":
        from trilho.rollout.plan import load_plan

        load_plan(doc)
    elif name == "deployment":
        from trilho.rollout.deployfile import load_deployment_file

        load_deployment_file(doc)
    elif name == "golden-suite":
        from trilho.golden.suite import load_suite

        (folder / "cases.jsonl").write_text("\n".join(json.dumps(c) for c in CASES) + "\n")
        (folder / "suite.yaml").write_text(yaml.safe_dump(doc))
        load_suite(folder / "suite.yaml")
    else:
        from trilho.evals.suites import Suite

        (folder / "cases.jsonl").write_text('{"id": "q1", "input": "How do I reset my password?"}\n')
        Suite.from_dict(doc, base_dir=folder)


@pytest.fixture
def project_module(tmp_path, monkeypatch):
    """The eval example's callable target, importable as the CLI makes the current folder."""
    (tmp_path / "eval_target.py").write_text("def answer(question):\n    return 'Open Settings.'\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    return tmp_path


def test_the_committed_schemas_and_page_are_generated():
    for path, text in formats.generated_files(DOCS).items():
        assert path.read_text(encoding="utf-8") == text, f"{path} is stale: python -m trilho.formats --write"
    assert formats.main(["--docs", str(DOCS)]) == 0


def test_the_deployment_schema_is_the_one_trilho_deploy_schema_prints():
    from trilho.rollout.deployfile import json_schema

    assert formats.SCHEMAS["deployment"]() == json_schema()


@pytest.mark.parametrize("name", list(formats.SCHEMAS))
def test_each_documented_example_passes_its_schema_and_its_loader(name, project_module):
    doc = yaml.safe_load(formats.EXAMPLES[name])
    _validator(name).validate(doc)
    _load(name, doc, project_module)
    assert formats.EXAMPLES[name] in (DOCS / "formats.md").read_text()


@pytest.mark.parametrize("name", list(formats.SCHEMAS))
def test_schema_and_loader_agree_on_every_key_dropped_and_on_an_unknown_key(name, project_module):
    """One source of truth: whatever the loader refuses, the schema refuses, and the other way round."""
    example = yaml.safe_load(formats.EXAMPLES[name])
    # thresholds name the checks and judges: dropping those drops their thresholds too (a cross-field rule
    # the loader states in its error; a schema describes structure)
    tied = {"checks": "thresholds", "judges": "thresholds"} if name == "eval-suite" else {}
    variants = [{k: v for k, v in example.items() if k not in (drop, tied.get(drop))} for drop in example]
    variants.append({**example, "bogus_key": 1})
    validator = _validator(name)
    for doc in variants:
        schema_ok = validator.is_valid(doc)
        try:
            _load(name, doc, project_module)
            loader_ok = True
        except TrilhoError:
            loader_ok = False
        assert schema_ok == loader_ok, (sorted(doc), schema_ok, loader_ok)


@pytest.mark.parametrize("template", TEMPLATES)
def test_every_shipped_template_file_passes_its_schema(template, tmp_path):
    project = init_project("proj", template=template, dest=tmp_path / "p").dest
    files = {
        "plan": project / "rollout" / "plan.yaml",
        "deployment": project / "rollout" / "deployment.yaml",
        "golden-suite": project / "golden" / "suite.yaml",
        "eval-suite": project / "evals" / "suite.yaml",
    }
    checked = 0
    for name, path in files.items():
        if path.is_file():
            _validator(name).validate(yaml.safe_load(path.read_text()))
            checked += 1
    assert checked == (4 if template == "llm" else 3)
    case = {
        **formats.SCHEMAS["golden-suite"]()["$defs"]["case"],
        "$defs": formats.SCHEMAS["golden-suite"]()["$defs"],
    }
    for line in (project / "golden" / "cases.jsonl").read_text().splitlines():
        jsonschema.Draft202012Validator(case).validate(json.loads(line))


def test_a_loader_key_the_schema_does_not_describe_fails_generation(monkeypatch):
    from trilho.golden import suite

    monkeypatch.setattr(suite, "_SUITE_KEYS", suite._SUITE_KEYS | {"owner"})
    with pytest.raises(AssertionError, match="owner"):
        formats.golden_suite_schema()
