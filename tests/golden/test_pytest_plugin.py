"""The pytest plugin: golden_*.yaml suites are collected (an item per case); the golden_suite fixture."""

from __future__ import annotations

import pytest
from tests.golden.conftest import write_contract, write_model, write_suite

from trilho.config import resolve_settings
from trilho.registry import Registry
from trilho.store import open_store

# pytester runs pytest in-process and restores sys.modules afterwards; SQLAlchemy then re-registers functions.
pytestmark = pytest.mark.filterwarnings("ignore::sqlalchemy.exc.SAWarning")


@pytest.fixture
def trilho_home(tmp_path, monkeypatch):
    """A TRILHO_HOME with doubler@1 (perfect, champion) and doubler@2 (wrong on x1 = 19)."""
    home = tmp_path / "home"
    monkeypatch.setenv("TRILHO_HOME", str(home))
    monkeypatch.delenv("TRILHO_DATABASE_URL", raising=False)
    settings = resolve_settings()
    store = open_store(settings)
    reg = Registry(store, settings.artifacts_url)
    contract = write_contract(tmp_path / "contract.yaml")
    reg.register("doubler", write_model(tmp_path / "v1"), "python", contract, entry="doubler:predict")
    reg.register("doubler", write_model(tmp_path / "v2", (3.0,)), "python", contract, entry="doubler:predict")
    reg.set_alias("doubler", "champion", 1)
    store.dispose()
    return home


def test_collects_golden_yaml_suites(pytester, trilho_home):
    write_suite(pytester.path, n=6, model="doubler@champion", filename="golden_doubler.yaml")
    result = pytester.runpytest("-p", "no:cacheprovider", "-q")
    result.assert_outcomes(passed=6)
    failing = pytester.runpytest("-p", "no:cacheprovider", "-q", "--golden-model", "doubler@2")
    failing.assert_outcomes(passed=5, failed=1)
    failing.stdout.fnmatch_lines(["*golden case c03 failed: y: expected 6.0, got 6.5*"])
    skipped = pytester.runpytest("-p", "no:cacheprovider", "-q", "--no-golden")
    assert skipped.ret == pytest.ExitCode.NO_TESTS_COLLECTED


def test_golden_suite_fixture(pytester, trilho_home):
    write_suite(pytester.path, n=5, filename="suite.yaml")
    pytester.makepyfile(
        test_model="""
        def test_champion(golden_suite):
            result = golden_suite("suite.yaml", "doubler@champion")
            assert result.metrics()["pass_rate"] == 1.0

        def test_candidate(golden_suite):
            golden_suite("suite.yaml", "doubler@2")
        """
    )
    result = pytester.runpytest("-p", "no:cacheprovider", "-q")
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines(["*golden suite doubler on doubler@2: 1 of 5 cases failed*", "*c03: y:*"])
