"""Rollout test fixtures."""

from __future__ import annotations

import pytest


@pytest.fixture
def lite(tmp_path):
    """SQLite only, for scenarios whose SQL the ``store`` (both backends) tests already cover."""
    from trilho.store import Store

    s = Store(f"sqlite:///{tmp_path / 'lite.db'}")
    s.migrate()
    yield s
    s.dispose()
