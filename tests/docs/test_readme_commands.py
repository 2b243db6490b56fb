"""The README's shell blocks run as written, in an empty folder, as a stranger would run them (a doc test).

Every command of every ``bash`` block in README.md, and of each project template's README inside a freshly
rendered project, runs with ``bash`` in a temporary folder holding the stand-ins of ``tests/docs/files``
(the reader's own model, contract and data) and a ``.venv`` link to the running interpreter's environment.
Each must exit 0 (or the exit code its README comment states). Servers start in the background, must answer
``/healthz`` (or stay up, for the controller), and are stopped at the end of their block.

What is not run exactly as written is listed in ``SKIPPED`` and ``REWRITTEN``, each with its reason; the
README's fixed ports are replaced by free loopback ports (one mapping per run, so a command that names the
gateway's port reaches the gateway the block started), so a run never collides with another process.
"""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from tests.docs import stand_ins
from tests.docs.blocks import Block, shell_blocks

from trilho.templates import TEMPLATES, init_project

ROOT = Path(__file__).resolve().parents[2]
README = ROOT / "README.md"
PORTS = (8000, 8080, 8081, 8070, 8090, 8765, 9000)

# Commands not run, each with the reason (the exact command text, its trailing comment removed).
SKIPPED: dict[str, str] = {
    "make demo": "CI runs `make demo` (as `trilho demo --quick`) itself; tests/demo runs its acts",
    "make test": "this test is part of `make test`",
    "make fuzz": "its own CI step; tests/net/test_fuzz.py runs a reduced schemathesis pass in `make test`",
    "export TRILHO_DATABASE_URL=postgresql+psycopg://trilho@db:5432/trilho": (
        "names hosts (db, gw-1, gw-2, an S3 bucket) that exist only in a reader's network; "
        "tests/rollout/test_scale_out.py runs two homes on PostgreSQL and S3"
    ),
    "export TRILHO_ARTIFACTS_URL=s3://ml-artifacts/trilho  "
    "TRILHO_SIGNING_KEY_FILE=/run/secrets/trilho-signing-key": "see the export above",
    ".venv/bin/trilho serve --host 0.0.0.0 --port 8080": "see the export above (one of the reader's hosts)",
    ".venv/bin/trilho controller --gateway http://gw-1:8080 --gateway http://gw-2:8080": "as above",
    ".venv/bin/python -m trilho.web.screenshots": (
        "rewrites docs/screenshots in the checkout; tests/web/test_screenshots.py renders every page in "
        "headless Chromium"
    ),
}

# Commands run in another form, each with the reason.
REWRITTEN: dict[str, tuple[list[str], str]] = {
    ".venv/bin/trilho measure simulate impressions .bench/imp --days 30 --per-day 10000000 --lift 0.02": (
        [".venv/bin/trilho measure simulate impressions .bench/imp --days 3 --per-day 10000 --lift 0.02"],
        "300 million rows take minutes and gigabytes; `make bench-measure` runs the full size",
    ),
    ".venv/bin/trilho rollout pause|resume|promote scorer": (
        [f".venv/bin/trilho rollout {verb} scorer" for verb in ("pause", "resume", "promote")],
        "`a|b|c` in the README means one of the three commands",
    ),
    ".venv/bin/trilho eval online copilot --json": (
        [
            "for _ in $(seq 30); do .venv/bin/trilho eval online copilot --json >/dev/null 2>&1 && break; "
            "sleep 1; done; .venv/bin/trilho eval online copilot --json"
        ],
        "the gateway writes its evaluation windows every 5 s: a reader runs it later; the test waits",
    ),
}

# Exit codes the README's own comment on the line states.
EXPECTED_EXIT = {
    '.venv/bin/trilho eval check default "My card is 4111 1111 1111 1111"': 1,
}


def _gateway(shell: Shell) -> None:
    """The rollout block talks to the gateway the Quick start left running; this run restarts it."""
    shell.start(shell.ported(".venv/bin/trilho serve --port 8080"), "setup: the Quick start's gateway")


def _upstream(shell: Shell) -> None:
    """No network here: the LLM spec points at trilho's loopback OpenAI-compatible upstream."""
    port = shell.ports[8000]
    shell.start(
        f".venv/bin/python -m trilho.testing.fake_openai --port {port}",
        "setup: loopback upstream",
        "/v1/models",
    )
    (shell.cwd / "assistant.yaml").write_text(
        f"upstream: http://127.0.0.1:{port}/v1\nmodel: gpt-4o-mini\n"
        'system: "You are a concise support agent."\nparams: {temperature: 0.2, max_tokens: 256}\n'
        "api_key_env: OPENAI_API_KEY\nprices: {input_per_1k: 0.00015, output_per_1k: 0.0006}\n"
    )


# What a block needs that an earlier section of the README leaves behind for a reader, by block heading.
SETUP = {"Rollout control plane": _gateway, "LLM gateway": _upstream}

_SERVER = re.compile(r"trilho (serve|controller|web|rollout api|eval annotate serve)\b")


def command_text(line: str) -> str:
    """A command without its trailing README comment (a ``#`` after a space, outside quotes)."""
    first, _, rest = line.partition("\n")
    quote = None
    for i, ch in enumerate(first):
        if quote:
            quote = None if ch == quote else quote
        elif ch in "'\"":
            quote = ch
        elif ch == "#" and i and first[i - 1].isspace():
            first = first[:i]
            break
    return first.rstrip() + ("\n" + rest if rest else "")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Shell:
    """Runs one document's commands in one folder; background servers are stopped by ``stop_servers``."""

    def __init__(self, cwd: Path, env: dict[str, str]) -> None:
        self.cwd, self.env = cwd, env
        self.ports = {p: _free_port() for p in PORTS}
        self.servers: list[tuple[subprocess.Popen, Path]] = []

    def ported(self, command: str) -> str:
        for fixed, free in self.ports.items():
            command = re.sub(rf"(?<![\d.]){fixed}(?!\d)", str(free), command)
        server = _SERVER.search(command)
        if server and "--port" not in command and server.group(1) != "controller":
            default = {"serve": 8080, "web": 8070, "rollout api": 8090, "eval annotate serve": 8765}
            command += f" --port {self.ports[default[server.group(1)]]}"
        return command

    def run(self, command: str, where: str) -> None:
        command = self.ported(command)
        if _SERVER.search(command.split("&&")[-1]):
            *before, server = command.split("&&")
            if before:
                self.run("&&".join(before), where)
            self.start(server.strip(), where)
            return
        began = time.monotonic()
        done = subprocess.run(
            ["bash", "-c", f"set -euo pipefail\n{command}"],
            cwd=self.cwd,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=600,
        )
        print(f"{time.monotonic() - began:6.1f} s  {command[:100]}")
        expected = EXPECTED_EXIT.get(command_text(command), 0)
        assert done.returncode == expected, (
            f"{where}: `{command}` exited {done.returncode} (expected {expected})\n"
            f"stdout: {done.stdout[-3000:]}\nstderr: {done.stderr[-3000:]}"
        )

    def start(self, command: str, where: str, health: str = "/healthz") -> None:
        log = self.cwd / f".server-{len(self.servers)}.log"
        proc = subprocess.Popen(
            ["bash", "-c", command],
            cwd=self.cwd,
            env=self.env,
            stdout=log.open("w"),
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        self.servers.append((proc, log))
        port = re.search(r"--port (\d+)", command)
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            assert proc.poll() is None, (
                f"{where}: `{command}` exited {proc.returncode}\n{log.read_text()[-3000:]}"
            )
            if port is None:  # the controller has no port: it must still be running after its first loops
                time.sleep(3)
                if proc.poll() is None:
                    return
                continue
            try:
                if httpx.get(f"http://127.0.0.1:{port.group(1)}{health}", timeout=2).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        raise AssertionError(f"{where}: `{command}` did not answer {health}\n{log.read_text()[-3000:]}")

    def stop_servers(self) -> None:
        for proc, _ in reversed(self.servers):
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGTERM)
                try:
                    proc.wait(timeout=20)
                except subprocess.TimeoutExpired:
                    os.killpg(proc.pid, signal.SIGKILL)
                    proc.wait()
        self.servers.clear()

    def block(self, block: Block, doc: str, skipped: dict[str, str]) -> None:
        try:
            if doc == "README.md" and block.heading in SETUP:
                SETUP[block.heading](self)
            for line in block.commands:
                text = command_text(line)
                where = f"{doc}:{block.line} ({block.heading})"
                if text in skipped:
                    continue
                for command in REWRITTEN.get(text, ([text], ""))[0]:
                    self.run(command, where)
        finally:
            self.stop_servers()


def _env(tmp: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TRILHO_")}
    venv_bin = Path(sys.executable).parent
    env.update(
        PATH=f"{venv_bin}{os.pathsep}{env.get('PATH', '')}",
        HOME=str(tmp / "home"),
        TRILHO_LOG_LEVEL="warning",
        OPENAI_API_KEY="unused",
    )
    src = ROOT / "src"
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(src), env.get("PYTHONPATH", "")) if p)
    (tmp / "home").mkdir()
    return env


def _venv_link(folder: Path) -> None:
    (folder / ".venv").symlink_to(Path(sys.executable).parent.parent)


def test_every_readme_command_is_known_to_this_test():
    """A skip or rewrite whose command left the README is stale: it must go too."""
    texts = {command_text(c) for b in shell_blocks(README.read_text()) for c in b.commands}
    assert not set(SKIPPED) - texts and not set(REWRITTEN) - texts and not set(EXPECTED_EXIT) - texts


@pytest.mark.slow
@pytest.mark.timeout(900)
@pytest.mark.xdist_group("readme_commands")
def test_readme_commands_run_as_written(tmp_path):
    work = tmp_path / "work"
    work.mkdir()
    _venv_link(work)
    stand_ins.write_all(work)
    shell = Shell(work, _env(tmp_path))
    for block in shell_blocks(README.read_text()):
        shell.block(block, "README.md", SKIPPED)


@pytest.mark.slow
@pytest.mark.parametrize("template", TEMPLATES)
def test_template_readme_commands_run_as_written(template, tmp_path):
    env = _env(tmp_path)
    project = init_project("proj", template=template, dest=tmp_path / "proj").dest
    # the reader's recent data for `ct check`, committed as they would before `trilho update` (clean tree)
    (project / "recent.csv").write_bytes((project / _reference(project)).read_bytes())
    git = ["git", "-c", "user.name=t", "-c", "user.email=t@t"]
    subprocess.run([*git, "add", "recent.csv"], cwd=project, check=True)
    subprocess.run([*git, "commit", "-qm", "recent data"], cwd=project, check=True)
    shell = Shell(project, env)
    shell.env["TRILHO_HOME"] = str(tmp_path / "trilho-home")
    for block in shell_blocks((project / "README.md").read_text()):
        shell.block(block, f"{template}/README.md", {})


def _reference(project: Path) -> str:
    import yaml

    return yaml.safe_load((project / "trilho.yaml").read_text())["ct"]["reference"]
