"""Bad input met in libraries (DuckDB, codecs, the file system, Spark): one line and exit 2, no traceback."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from trilho.cli._input_errors import as_input_error

CSV = "v,m,m_pre,t\na,1,1,2020-01-01\nb,2,1,2020-01-01\na,3,2,2020-01-01\nb,4,2,2020-01-01\n"


def _one_line_exit_2(result, *words: str) -> None:
    assert result.exit_code == 2, result.output
    lines = result.stderr.strip().splitlines()
    assert lines[0].startswith("error:") and "fix:" in result.stderr and "Traceback" not in result.output
    for word in words:
        assert word in result.stderr


def test_measure_input_errors(cli, home, tmp_path):
    good, bad = tmp_path / "ok.csv", tmp_path / "bad.csv"
    good.write_text(CSV)
    bad.write_text('v,m\na,1\nb,"2\n')
    nomatch = str(tmp_path / "nomatch*.csv")
    _one_line_exit_2(cli("measure", "ab", nomatch, "--variant", "v", "--metric", "m"), "No files found")
    _one_line_exit_2(cli("measure", "ab", str(bad), "--variant", "v", "--metric", "m"), "numbers")
    r = cli(
        "measure", "ab", str(good), "--variant", "v", "--metric", "m", "--covariate", "m_pre",
        "--exposure-col", "nope", "--covariate-time", "m_pre=@t",
    )  # fmt: skip
    _one_line_exit_2(r, "nope", "--exposure-col")
    r = cli("measure", "ab", str(good), "--variant", "v", "--metric", "m", "--json")
    assert r.exit_code == 0


def test_eval_check_file_that_is_not_utf8(cli, home, tmp_path):
    f = tmp_path / "bad_utf8.txt"
    f.write_bytes(b"\xff\xfehello")
    _one_line_exit_2(cli("eval", "check", "default", "--file", str(f)), "UTF-8")
    r = cli("eval", "check", "default", "--file", str(f), "--json")
    assert r.exit_code == 2 and '"field": "encoding"' in r.stdout


def test_only_known_exceptions_are_blamed_on_input():
    assert as_input_error(ZeroDivisionError()) is None
    assert as_input_error(KeyError("x")) is None
    wrapped = RuntimeError("outer")
    wrapped.__cause__ = FileNotFoundError(2, "No such file or directory", "/nope")
    assert "/nope" in str(as_input_error(wrapped))


def test_spark_without_java_is_an_input_error(tmp_path):
    pytest.importorskip("pyspark")
    (tmp_path / "ok.csv").write_text(CSV)
    env = {**os.environ, "JAVA_HOME": str(tmp_path / "no-java"), "TRILHO_HOME": str(tmp_path / "home")}
    cmd = [
        sys.executable,
        "-m",
        "trilho.cli.main",
        "measure",
        "ab",
        "ok.csv",
        "--variant",
        "v",
        "--metric",
        "m",
    ]
    r = subprocess.run([*cmd, "--engine", "spark"], cwd=tmp_path, env=env, capture_output=True, text=True)
    assert r.returncode == 2, r.stderr
    assert "JAVA_GATEWAY_EXITED" in r.stderr and "JAVA_HOME" in r.stderr and "Traceback" not in r.stderr
