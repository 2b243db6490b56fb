"""Fixtures for measure tests: the shared reference data folder."""

from __future__ import annotations

from pathlib import Path

import pytest
from tests.conftest import reference_data


@pytest.fixture(scope="session")
def causal_data() -> Path:
    """The folder with the published causal-measurement data sets."""
    return reference_data("causal")


@pytest.fixture(scope="session")
def tea_csv(causal_data) -> Path:
    """tea-tasting's make_users_data(seed=42, covariates=True) as CSV."""
    return causal_data / "tea_tasting_users_seed42.csv"
