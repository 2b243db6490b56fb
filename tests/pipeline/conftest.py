"""A tabular project rendered once per session; each test works on its own copy with its own TRILHO_HOME."""

import shutil

import pytest


@pytest.fixture(scope="session")
def tabular_project(tmp_path_factory):
    from trilho.templates import init_project

    base = tmp_path_factory.mktemp("rendered")
    return init_project("churn", template="tabular", dest=base / "churn", home=base / "home").dest


@pytest.fixture
def project(tabular_project, tmp_path, monkeypatch):
    """A fresh copy of the rendered tabular project and an isolated TRILHO_HOME."""
    dest = tmp_path / "churn"
    shutil.copytree(tabular_project, dest, ignore=shutil.ignore_patterns("build", ".trilho"))
    monkeypatch.setenv("TRILHO_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("TRILHO_DATABASE_URL", raising=False)
    return dest
