"""Shared fixtures: a migrated store on SQLite *and* PostgreSQL, an isolated TRILHO_HOME, a CLI runner."""

from __future__ import annotations

import os
import uuid
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from trilho import datasets

pytest_plugins = ["pytester"]  # for testing pytest plugins (golden suites)

PG_URL = os.environ.get("TRILHO_TEST_PG_URL", "postgresql+psycopg://127.0.0.1:5432/test")


def reference_data(name: str) -> Path:
    """A folder of the reference data shipped in ``trilho.datasets`` (a missing one is a failure)."""
    return datasets.path(name)


def _pg_available() -> bool:
    try:
        engine = create_engine(PG_URL, connect_args={"connect_timeout": 2})
        with engine.connect() as conn:
            conn.execute(text("SELECT 1"))
        engine.dispose()
        return True
    except Exception:
        return False


@pytest.fixture(scope="session")
def pg_available() -> bool:
    return _pg_available()


@pytest.fixture
def pg_schema(pg_available):
    """A fresh PostgreSQL schema, dropped afterwards; yields (url, schema)."""
    if not pg_available:
        if os.environ.get("CI"):
            pytest.fail(f"PostgreSQL is not reachable at {PG_URL} in CI")
        pytest.skip("PostgreSQL not reachable")
    schema = f"t_{uuid.uuid4().hex[:12]}"
    engine = create_engine(PG_URL)
    with engine.begin() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    try:
        yield PG_URL, schema
    finally:
        with engine.begin() as conn:
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        engine.dispose()


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def store(request, tmp_path):
    """A migrated ``trilho.store.Store`` on each backend."""
    from trilho.store import Store

    if request.param == "sqlite":
        s = Store(f"sqlite:///{tmp_path / 'trilho.db'}")
    else:
        url, schema = request.getfixturevalue("pg_schema")
        s = Store(url, schema=schema)
    s.migrate()
    yield s
    s.dispose()


@pytest.fixture
def sqlite_store(tmp_path):
    """A migrated SQLite store (the embedded default), for tests whose SQL the two-backend ``store`` tests
    already cover."""
    from trilho.store import Store

    s = Store(f"sqlite:///{tmp_path / 'trilho.db'}")
    s.migrate()
    yield s
    s.dispose()


@pytest.fixture
def home(tmp_path, monkeypatch):
    """An isolated TRILHO_HOME for CLI tests."""
    h = tmp_path / "home"
    monkeypatch.setenv("TRILHO_HOME", str(h))
    monkeypatch.delenv("TRILHO_DATABASE_URL", raising=False)
    return h


@pytest.fixture
def cli():
    """Invoke the trilho CLI in-process: ``cli("version", "--json")`` returns a click Result."""
    from typer.testing import CliRunner

    from trilho.cli.main import app

    runner = CliRunner()

    def invoke(*args: str, input: str | None = None):
        return runner.invoke(app, list(args), input=input, catch_exceptions=False)

    return invoke


@pytest.fixture
def clean_env(monkeypatch):
    """No TRILHO_* setting leaks in from the environment running the tests."""
    for name in ("TRILHO_HOME", "TRILHO_DATABASE_URL", "TRILHO_ARTIFACTS_URL", "TRILHO_SIGNING_KEY"):
        monkeypatch.delenv(name, raising=False)
    return monkeypatch


@pytest.fixture(params=["folder", "s3"])
def shared_artifacts_url(request, tmp_path, clean_env):
    """A shared artifact store: a folder every home sees, or a bucket on an S3-compatible server (moto) the
    test starts on loopback; the AWS_* variables it sets reach child processes too."""
    if request.param == "folder":
        yield str(tmp_path / "shared-artifacts")
        return
    try:
        import moto.server as server_mod
        import s3fs
    except ImportError as exc:  # the dev extra pins both; a venv built before they were pinned lacks them
        if os.environ.get("CI"):
            pytest.fail(f"moto[server] and s3fs must be installed in CI (pip install -e '.[dev]'): {exc}")
        pytest.skip(f"moto[server] / s3fs not installed: {exc}")
    from trilho.net import free_port

    port = free_port()
    server = server_mod.ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    for name, value in {
        "AWS_ENDPOINT_URL": f"http://127.0.0.1:{port}",
        "AWS_ACCESS_KEY_ID": "trilho",
        "AWS_SECRET_ACCESS_KEY": "trilho-secret",
        "AWS_DEFAULT_REGION": "us-east-1",
    }.items():
        clean_env.setenv(name, value)
    s3fs.S3FileSystem.clear_instance_cache()
    bucket = f"trilho-{uuid.uuid4().hex[:12]}"  # moto's state is per process, shared by its servers
    s3fs.S3FileSystem().mkdir(bucket)
    try:
        yield f"s3://{bucket}/artifacts"
    finally:
        s3fs.S3FileSystem.clear_instance_cache()
        server.stop()
