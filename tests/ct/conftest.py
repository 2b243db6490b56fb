"""Reuse the pipeline tests' rendered tabular project."""

from tests.pipeline.conftest import project, tabular_project  # noqa: F401
