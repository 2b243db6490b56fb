"""Lineage: the git commit and dirty flag of the repository holding the artifact, and data hashes."""

import shutil
import subprocess

import pytest

from trilho.errors import RegistryError
from trilho.registry.lineage import build_lineage, data_hashes, git_state

needs_git = pytest.mark.skipif(shutil.which("git") is None, reason="git is not installed")


def git(cwd, *args):
    subprocess.run(["git", "-c", "user.email=t@example.com", "-c", "user.name=t", *args], cwd=cwd, check=True,
                   capture_output=True)  # fmt: skip


@needs_git
def test_commit_and_dirty_flag(tmp_path):
    repo = tmp_path / "repo"
    repo.mkdir()
    git(repo, "init", "-q")
    (repo / "model.py").write_text("A = 1\n")
    git(repo, "add", "model.py")
    git(repo, "commit", "-q", "-m", "first")
    state = git_state(repo / "model.py")
    assert state is not None and len(state["commit"]) == 40 and state["dirty"] is False
    (repo / "model.py").write_text("A = 2\n")
    assert git_state(repo)["dirty"] is True
    assert build_lineage(repo / "model.py", [])["git"]["commit"] == state["commit"]


def test_outside_a_repository_there_is_no_commit(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("GIT_CEILING_DIRECTORIES", str(tmp_path.parent))
    assert git_state(tmp_path) is None
    assert build_lineage(tmp_path, [])["git"] is None


def test_data_hashes(tmp_path):
    f = tmp_path / "d.csv"
    f.write_text("a\n1\n")
    assert data_hashes([f])[str(f)] == data_hashes([f])[str(f)]
    with pytest.raises(RegistryError, match="does not exist"):
        data_hashes([tmp_path / "missing.csv"])
