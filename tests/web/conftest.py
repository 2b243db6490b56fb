"""Dashboard fixtures: a seeded store, the app served by uvicorn on 127.0.0.1, tokens per role."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import pytest

from trilho.registry import Registry
from trilho.rollout.auth import create_token
from trilho.store import Store
from trilho.testing.dashboard import seed
from trilho.web import create_app
from trilho.web.screenshots import CHROMEDRIVER, CHROMIUM, serve_in_thread


@dataclass
class Site:
    """A running dashboard over a seeded store."""

    base: str
    store: Store
    home: Path
    tokens: dict[str, str]


def start_site(store: Store, home: Path) -> tuple[Site, object]:
    tokens = {
        role: create_token(store, role[:1] + "-" + role, role, actor="user:admin")
        for role in ("viewer", "deployer", "admin")
    }
    tokens["alice"] = create_token(store, "alice", "deployer", actor="user:admin")
    app = create_app(
        store, registry=Registry(store, home / "artifacts"), reports_dir=home / "reports", poll_seconds=1
    )
    base, stop = serve_in_thread(app)
    return Site(base, store, home, tokens), stop


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    """The seeded dashboard on SQLite, shared by a module's tests (they run in file order)."""
    home = tmp_path_factory.mktemp("web")
    store = Store(f"sqlite:///{home / 'trilho.db'}")
    store.migrate()
    seed(store, home)
    s, stop = start_site(store, home)
    yield s
    stop()
    store.dispose()


def chromium_or_skip() -> None:
    """Skip (or fail in CI) when headless Chromium is not installed."""
    if Path(CHROMIUM).exists() and Path(CHROMEDRIVER).exists():
        return
    if os.environ.get("CI"):
        pytest.fail(f"{CHROMIUM} / {CHROMEDRIVER} missing in CI: run scripts/ensure-system-deps.sh")
    pytest.skip(f"headless Chromium not installed ({CHROMIUM}, {CHROMEDRIVER})")
