"""The root command: help, version, JSON output, usage errors exit 2."""

import json


def test_version_json(cli):
    r = cli("version", "--json")
    assert r.exit_code == 0
    assert json.loads(r.stdout)["version"]


def test_help_lists_groups(cli):
    r = cli("--help")
    assert r.exit_code == 0
    for group in ("contract", "model", "golden"):
        assert group in r.stdout


def test_unknown_command_exits_2(cli):
    assert cli("no-such-command").exit_code == 2
