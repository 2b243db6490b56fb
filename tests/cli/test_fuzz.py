"""Every subcommand, fuzzed: hypothesis draws its arguments and the contents of the files it reads.

The property: the exit code is 0, 1 or 2 and nothing ends in a traceback. The commands are enumerated from the
typer app itself, so a new command is fuzzed without touching this file. ``make test`` runs a few examples
per command; ``TRILHO_FUZZ_EXAMPLES=50`` runs a longer search.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import click
import pytest
import typer
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from trilho.cli._common import runs_until_stopped
from trilho.cli.main import app

EXAMPLES = int(os.environ.get("TRILHO_FUZZ_EXAMPLES", "3"))

# Commands that serve or watch until stopped (marked @server_logs, found below, so a new one can never hang
# this test) or tell a minutes-long story: their inputs are fuzzed through the commands that share their
# code, not by starting them here.
STORIES = {"demo", "eval demo"}


def _commands(
    group: click.Command, prefix: tuple[str, ...] = ()
) -> list[tuple[tuple[str, ...], click.Command]]:
    subs = getattr(group, "commands", None)
    if not subs:
        return [(prefix, group)]
    return [c for name, sub in sorted(subs.items()) for c in _commands(sub, (*prefix, name))]


ROOT = typer.main.get_command(app)
LONG_RUNNING = {" ".join(p) for p, cmd in _commands(ROOT) if runs_until_stopped(cmd.callback)} | STORIES
COMMANDS = [(path, cmd) for path, cmd in _commands(ROOT) if " ".join(path) not in LONG_RUNNING]


def test_long_running_commands_are_found_from_their_mark():
    assert {"serve", "web", "controller", "rollout api", "eval annotate serve", "ct watch"} <= LONG_RUNNING
    assert "exposures consume" in LONG_RUNNING and "measure ab" not in LONG_RUNNING


CSV_LIKE = st.lists(
    st.lists(
        st.sampled_from(["v", "m", "a", "b", "1", "2.5", "-3", "", "x,y", '"q', "nan", "1e308"]), max_size=4
    ),
    max_size=5,
).map(lambda rows: "\n".join(",".join(r) for r in rows))
STRUCTURED = st.sampled_from(
    [
        '{"a": 1}',
        "[]",
        "name: x\ncases: c.jsonl\n",
        "{",
        "- 1\n- [",
        "null",
        '{"instances": [{}]}',
        "version: 1",
    ]
)
CONTENTS = st.one_of(
    st.binary(max_size=64),
    st.text(max_size=64).map(str.encode),
    CSV_LIKE.map(str.encode),
    STRUCTURED.map(str.encode),
)
WORDS = st.sampled_from(
    ["default", "a", "x1", "champion", "scorer@1", "-", "1", "0", "-1", "nan", "v=1", "a/b"]
)
TEXT = st.one_of(WORDS, st.text(st.characters(blacklist_categories=("Cs",)), max_size=12))


def _value(param: click.Parameter, data: st.DataObject, files: list[str]) -> str:
    kind = getattr(param, "type", click.STRING)
    if isinstance(kind, click.Choice):
        return data.draw(st.one_of(st.sampled_from(list(kind.choices)), WORDS))
    if isinstance(kind, click.types.IntParamType):
        return data.draw(st.one_of(st.integers(-2, 5).map(str), WORDS))
    if isinstance(kind, click.types.FloatParamType):
        return data.draw(st.one_of(st.floats(-1, 2, allow_nan=True).map(str), WORDS))
    return data.draw(st.one_of(st.sampled_from(files), TEXT))


def _argv(cmd: click.Command, data: st.DataObject, files: list[str]) -> list[str]:
    argv: list[str] = []
    for param in cmd.params:
        if isinstance(param, click.Argument):
            if param.required or data.draw(st.booleans()):
                argv.append(_value(param, data, files))
        elif isinstance(param, click.Option) and data.draw(st.booleans()):
            flag = param.opts[-1]
            if param.is_flag:
                argv.append(flag)
            else:
                argv += [flag, _value(param, data, files)]
    return argv


@pytest.mark.parametrize(("path", "cmd"), COMMANDS, ids=[" ".join(p) for p, _ in COMMANDS])
def test_every_command_exits_0_1_or_2_without_a_traceback(path, cmd, monkeypatch):
    work = Path(tempfile.mkdtemp(prefix="trilho-fuzz-"))
    monkeypatch.setenv("TRILHO_HOME", str(work / "home"))
    monkeypatch.delenv("TRILHO_DATABASE_URL", raising=False)
    runner = CliRunner()

    @settings(
        max_examples=EXAMPLES,
        deadline=None,
        database=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
    )
    @given(contents=st.lists(CONTENTS, min_size=1, max_size=2), data=st.data())
    def run(contents: list[bytes], data: st.DataObject) -> None:
        files = []
        for i, blob in enumerate(contents):
            suffix = data.draw(st.sampled_from([".csv", ".jsonl", ".json", ".yaml", ".txt", ".parquet", ""]))
            f = work / f"in{i}{suffix}"
            f.write_bytes(blob)
            files.append(str(f))
        files += [str(work / "missing.csv"), str(work / "out"), str(work)]
        argv = [*path, *_argv(cmd, data, files)]
        result = runner.invoke(app, argv, catch_exceptions=True)
        crashed = result.exception is not None and not isinstance(result.exception, SystemExit)
        assert not crashed and result.exit_code in (0, 1, 2), (argv, result.exception, result.output[-2000:])
        assert "Traceback (most recent call last)" not in result.output, (argv, result.output[-2000:])

    run()
