"""pytest plugin for golden suites: collects ``golden_*.yaml`` files and offers the ``golden_suite`` fixture.

Collected suites run one test item per case against the suite's ``model:`` reference (or ``--golden-model``),
resolved in the registry that ``TRILHO_HOME`` / ``TRILHO_DATABASE_URL`` point at. In your own tests::

    def test_iris_golden(golden_suite):
        # fails the test (listing the bad cases) when any case fails
        result = golden_suite("tests/golden/iris.yaml", "iris@champion")
        assert result.metrics()["pass_rate"] == 1.0

Pass ``registry=`` to use a specific ``trilho.registry.Registry``. This module imports nothing heavy until a
suite actually runs, because pytest loads it for every session.
"""

from __future__ import annotations

import fnmatch
from pathlib import Path
from typing import Any

import pytest

PATTERN = "golden_*.yaml"


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("trilho-golden", "trilho golden suites")
    group.addoption(
        "--golden-model", default=None, help="Model reference for collected golden_*.yaml suites."
    )
    group.addoption(
        "--no-golden", action="store_true", default=False, help="Do not collect golden_*.yaml suites."
    )


def _default_registry() -> Any:
    from trilho.config import resolve_settings
    from trilho.registry import Registry
    from trilho.store import open_store

    settings = resolve_settings()
    return Registry(open_store(settings), settings.artifacts_url)


def run_golden(path: str | Path, model_ref: str | None = None, *, registry: Any = None) -> Any:
    """Run a suite and return its ``RunResult`` (no pytest failure; see the ``golden_suite`` fixture)."""
    from trilho.golden import load_suite, run_suite

    suite = load_suite(path)
    ref = model_ref or suite.model
    if not ref:
        raise pytest.UsageError(f"{path}: no model reference (pass one or set `model:` in the suite)")
    reg = registry if registry is not None else _default_registry()
    return run_suite(suite, reg.load_predictor(ref))


@pytest.fixture
def golden_suite():
    """``golden_suite(path, model_ref, *, registry=None)`` runs a suite; any failing case fails the test."""

    def run(path: str | Path, model_ref: str | None = None, *, registry: Any = None) -> Any:
        result = run_golden(path, model_ref, registry=registry)
        if not result.passed:
            lines = [f"{r.case_id}: {'; '.join(r.failures)}" for r in result.failed]
            pytest.fail(
                f"golden suite {result.suite} on {result.model}: {len(lines)} of {len(result.results)} cases "
                "failed\n" + "\n".join(lines),
                pytrace=False,
            )
        return result

    return run


def pytest_collect_file(parent: pytest.Collector, file_path: Path) -> pytest.Collector | None:
    if parent.config.getoption("--no-golden", default=False):
        return None
    if fnmatch.fnmatch(file_path.name, PATTERN):
        return GoldenFile.from_parent(parent, path=file_path)
    return None


class GoldenError(Exception):
    """A golden case failed (rendered without a traceback)."""


class GoldenFile(pytest.File):
    """A ``golden_*.yaml`` suite: one item per case, the model run once for the whole file."""

    _result: Any = None

    def collect(self):
        from trilho.golden import load_suite

        suite = load_suite(self.path)
        for case in suite.cases:
            yield GoldenItem.from_parent(self, name=case.id, case_id=case.id)

    def result(self) -> Any:
        if self._result is None:
            self._result = run_golden(self.path, self.config.getoption("--golden-model"))
        return self._result


class GoldenItem(pytest.Item):
    """One golden case."""

    def __init__(self, *, case_id: str, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.case_id = case_id

    def runtest(self) -> None:
        result = self.parent.result()  # type: ignore[attr-defined]
        for r in result.results:
            if r.case_id == self.case_id:
                if not r.passed:
                    raise GoldenError("; ".join(r.failures))
                return
        raise GoldenError(f"case {self.case_id} produced no result")

    def repr_failure(self, excinfo: Any, style: Any = None) -> str:
        if isinstance(excinfo.value, GoldenError):
            return f"golden case {self.case_id} failed: {excinfo.value}"
        return super().repr_failure(excinfo)

    def reportinfo(self) -> tuple[Path, int | None, str]:
        return self.path, None, f"golden: {self.case_id}"
