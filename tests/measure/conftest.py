"""Fixtures for measure tests: the shared reference data folder."""

from __future__ import annotations

from pathlib import Path

import pytest

DATA = Path(__file__).resolve().parents[2] / ".." / "shared" / "data" / "causal"


@pytest.fixture(scope="session")
def causal_data() -> Path:
    """The folder with the published causal-measurement data sets."""
    if not DATA.exists():
        pytest.skip(f"reference data not found at {DATA}")
    return DATA


@pytest.fixture(scope="session")
def tea_csv(causal_data) -> Path:
    """tea-tasting's make_users_data(seed=42, covariates=True) as CSV."""
    return causal_data / "tea_tasting_users_seed42.csv"
