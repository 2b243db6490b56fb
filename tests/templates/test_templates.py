"""Templates: what a rendered project holds, bad input, and `trilho update` merging a template fix while
keeping the user's edit (copier three-way merge against a materialised, tagged template repository)."""

import json
import shutil
import subprocess

import pytest
import yaml

from trilho.config import resolve_settings
from trilho.errors import GateFailed
from trilho.pipeline import run_pipeline
from trilho.registry import Registry
from trilho.store import open_store
from trilho.templates import TEMPLATES, init_project
from trilho.templates.render import PACKAGE_DIR

GIT = ["git", "-c", "user.name=t", "-c", "user.email=t@t"]


@pytest.mark.parametrize("template", TEMPLATES)
def test_a_fresh_project_has_the_safe_path_and_passes_its_tests_and_pipeline(template, tmp_path, monkeypatch):
    monkeypatch.setenv("TRILHO_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("TRILHO_DATABASE_URL", raising=False)
    result = init_project("demo-proj", template=template, dest=tmp_path / "p")
    files = set(result.files)
    for needed in (
        "trilho.yaml",
        "Makefile",
        ".github/workflows/trilho.yml",
        ".gitlab-ci.yml",
        "rollout/plan.yaml",
        "rollout/deployment.yaml",
        "golden/suite.yaml",
        ".copier-answers.yml",
        "README.md",
        "tests/test_project.py",
        "contracts/data.yaml",
        "contracts/model.yaml",
    ):
        assert needed in files, needed
    project = yaml.safe_load((result.dest / "trilho.yaml").read_text())
    assert project["template"] == template and project["model"]["name"] == "demo_proj"
    assert ("eval" in project) == (template == "llm")
    gh = yaml.safe_load((result.dest / ".github/workflows/trilho.yml").read_text())
    assert "pull_request" in gh[True] and gh[True]["push"]["branches"] == ["main"]
    gl = yaml.safe_load((result.dest / ".gitlab-ci.yml").read_text())
    assert gl["ci"]["rules"][0]["if"].endswith('"merge_request_event"')
    assert "pipeline run --stage" in (result.dest / "Makefile").read_text()
    log = subprocess.run(["git", "log", "--oneline"], cwd=result.dest, capture_output=True, text=True).stdout
    assert "trilho init" in log

    # its own tests (in-process; importlib mode keeps the three projects' test modules apart)
    code = pytest.main(
        [
            "-q",
            "-p",
            "no:cacheprovider",
            "--import-mode=importlib",
            "--rootdir",
            str(result.dest),
            "-c",
            str(result.dest / "pytest.ini"),
            str(result.dest / "tests"),
        ]
    )
    assert code == 0

    # and its own pipeline, from a clean checkout
    shutil.rmtree(result.dest / "build", ignore_errors=True)
    run = run_pipeline(result.dest)
    expected = ["validate", "train", "evaluate", "golden", "register", "rollout"]
    if template == "llm":
        expected.insert(4, "eval")
    assert [s.stage for s in run.stages] == expected and all(s.status == "ran" for s in run.stages)
    assert run.version == 1 and run.output("rollout")["action"] == "deployed"
    if template == "llm":
        _regressed_llm_fails_its_eval_gate(result.dest)


def _regressed_llm_fails_its_eval_gate(dest):
    copilot = dest / "copilot.py"  # the fallback answer now leaks a contact: golden cases still pass
    copilot.write_text(
        copilot.read_text().replace(
            'Our help centre has a guide."', 'Or write to jane.doe@example.com, 415-555-0133."'
        )
    )
    with pytest.raises(GateFailed) as err:
        run_pipeline(dest)
    assert err.value.fields["stage"] == "eval" and "check:pii" in err.value.message
    assert [v.version for v in Registry(open_store(resolve_settings())).versions("demo_proj")] == [1]


def test_unknown_template_is_exit_2_and_writes_nothing(cli, tmp_path, monkeypatch):
    monkeypatch.setenv("TRILHO_HOME", str(tmp_path / "home"))
    result = cli("init", "x", "--template", "nope", "--dest", str(tmp_path / "x"), "--json")
    assert result.exit_code == 2 and "unknown template" in result.output
    assert sorted(p.name for p in tmp_path.iterdir()) == []


def test_an_existing_project_folder_is_exit_2_and_left_alone(cli, tmp_path, monkeypatch):
    monkeypatch.setenv("TRILHO_HOME", str(tmp_path / "home"))
    dest = tmp_path / "taken"
    dest.mkdir()
    (dest / "mine.txt").write_text("keep me")
    result = cli("init", "x", "--dest", str(dest), "--json")
    assert result.exit_code == 2 and json.loads(result.stdout)["field"] == "dest"
    assert [p.name for p in dest.iterdir()] == ["mine.txt"] and not (tmp_path / "home").exists()


def test_bad_data_pair_is_exit_2(cli, tmp_path, monkeypatch):
    monkeypatch.setenv("TRILHO_HOME", str(tmp_path / "home"))
    assert cli("init", "x", "--dest", str(tmp_path / "x"), "--data", "oops").exit_code == 2
    assert not (tmp_path / "x").exists()


def test_update_merges_a_template_fix_and_keeps_the_users_edit(cli, tmp_path, monkeypatch):
    home = tmp_path / "home"
    monkeypatch.setenv("TRILHO_HOME", str(home))
    source = tmp_path / "tabular-src"
    shutil.copytree(PACKAGE_DIR / "tabular", source, ignore=shutil.ignore_patterns("__pycache__"))
    project = init_project(
        "churn", template="tabular", dest=tmp_path / "churn", source=source, home=home
    ).dest

    makefile = project / "Makefile"  # the user's edit
    makefile.write_text(makefile.read_text().replace("PY ?= python", "PY ?= python3.11"))
    subprocess.run([*GIT, "commit", "-qam", "our lint target"], cwd=project, check=True)

    # a template fix, released as the next minor version: a new Makefile target and a README line
    major, minor, _ = (source / "VERSION").read_text().strip().split(".")
    fixed = f"{major}.{int(minor) + 1}.0"
    (source / "VERSION").write_text(fixed + "\n")
    mk = source / "Makefile"
    mk.write_text(
        mk.read_text().replace(
            ".PHONY: test ci deploy pipeline drift", ".PHONY: test ci deploy pipeline drift status"
        )
        + "\nstatus:  ## rollout status\n\t$(TRILHO) rollout status\n"
    )
    readme = source / "README.md.jinja"
    readme.write_text(readme.read_text() + f"\nTemplate fix {fixed}: `make status` shows the rollout.\n")

    result = cli("update", "--project", str(project), "--template-dir", str(source), "--json")
    assert result.exit_code == 0, result.output
    body = json.loads(result.stdout)
    assert body["version"] == fixed and body["conflicts"] == []
    assert {"Makefile", "README.md", ".copier-answers.yml"} <= set(body["files"])
    merged = makefile.read_text()
    assert "PY ?= python3.11" in merged and "rollout status" in merged
    assert ".PHONY: test ci deploy pipeline drift status" in merged
    assert f"Template fix {fixed}" in (project / "README.md").read_text()
    assert yaml.safe_load((project / ".copier-answers.yml").read_text())["_commit"] == fixed


def test_update_refuses_a_dirty_project(cli, tmp_path, monkeypatch):
    monkeypatch.setenv("TRILHO_HOME", str(tmp_path / "home"))
    project = init_project("churn", template="tabular", dest=tmp_path / "churn").dest
    (project / "params.yaml").write_text("C: 2.0\n")
    result = cli("update", "--project", str(project))
    assert result.exit_code == 2 and "uncommitted" in result.output
    assert (project / "params.yaml").read_text() == "C: 2.0\n"
