"""Logs for people and for servers: commands show warnings and errors unless -v; servers log info as JSON."""

from __future__ import annotations

import json

import pytest
import structlog
from hypothesis import given
from hypothesis import strategies as st
from tests.registry.conftest import EXAMPLES, write_contract, write_python_model

from trilho.obs.logging import log_level

ORDER = ["DEBUG", "INFO", "WARNING"]


@pytest.mark.parametrize(
    ("verbose", "server", "env", "level"),
    [
        (0, False, None, "WARNING"),
        (1, False, None, "INFO"),
        (2, False, None, "DEBUG"),
        (0, True, None, "INFO"),
        (0, False, "error", "ERROR"),
        (2, True, "warning", "WARNING"),
    ],
)
def test_log_level(verbose, server, env, level):
    assert log_level(verbose, server=server, env=env) == level


@given(st.integers(0, 5), st.booleans())
def test_more_v_never_hides_more_and_servers_never_hide_info(verbose, server):
    level = log_level(verbose, server=server)
    assert ORDER.index(log_level(verbose + 1, server=server)) <= ORDER.index(level)
    assert ORDER.index(log_level(verbose, server=True)) <= ORDER.index("INFO")


def _info_lines(stderr: str) -> list[dict]:
    out = []
    for line in stderr.splitlines():
        if line.startswith("{"):
            entry = json.loads(line)
            if entry.get("level") == "info":
                out.append(entry)
    return out


def test_commands_log_warnings_only_unless_verbose(cli, home, tmp_path, monkeypatch):
    monkeypatch.delenv("TRILHO_LOG_LEVEL", raising=False)
    art = write_python_model(tmp_path / "src")
    contract = write_contract(tmp_path / "c.yaml", examples=EXAMPLES)
    args = ["model", "register", "lin", "--artifact", str(art), "--flavor", "python"]
    args += ["--contract", str(contract), "--entry", "model:predict"]
    before = structlog.get_config()
    quiet = cli(*args)
    assert quiet.exit_code == 0 and _info_lines(quiet.stderr) == []
    assert structlog.get_config() == before  # an in-process run leaves the logging set-up as it found it
    loud = cli("-v", *args)
    assert loud.exit_code == 0
    assert [e["event"] for e in _info_lines(loud.stderr)] == ["model registered"]


def test_servers_log_info_by_default(cli, home, monkeypatch):
    monkeypatch.delenv("TRILHO_LOG_LEVEL", raising=False)
    r = cli("controller", "--iterations", "1", "--tick", "0.05", "--json")
    assert r.exit_code == 0, r.output
    assert any(e["event"] == "controller holds the lease; acting" for e in _info_lines(r.stderr))
