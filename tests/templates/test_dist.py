"""trilho installs as users install it: `make dist`'s wheel goes into a clean virtualenv, renders every
template, and each generated project's CI commands (as its workflow file says them) pass with that install."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest
import yaml

from trilho import __version__
from trilho.templates import TEMPLATES

ROOT = Path(__file__).resolve().parents[2]
_NOT_SOURCE = (
    ".venv",
    ".git",
    "build",
    "dist",
    "*.egg-info",
    "__pycache__",
    ".bench",
    ".trilho",
    ".hypothesis",
)
pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("dist")]  # one worker builds the wheel once


def _run(cmd: list[str] | str, cwd: Path, env: dict[str, str], timeout: int = 600) -> str:
    done = subprocess.run(
        cmd, cwd=cwd, env=env, shell=isinstance(cmd, str), capture_output=True, text=True, timeout=timeout
    )
    assert done.returncode == 0, (
        f"{cmd} failed ({done.returncode}):\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
    )
    return done.stdout


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    """The sdist and wheel `make dist` builds (here without build isolation: no download), twine-checked.
    Built from a copy of the source tree: a build writes into the folder it builds (egg-info, a staging
    folder), and the checkout is shared with the other test workers."""
    out = tmp_path_factory.mktemp("dist")
    src = tmp_path_factory.mktemp("src") / "trilho"
    shutil.copytree(ROOT, src, ignore=shutil.ignore_patterns(*_NOT_SOURCE))
    build = [sys.executable, "-m", "build", "--no-isolation", "--skip-dependency-check", "--outdir", str(out)]
    _run([*build, "."], src, dict(os.environ))
    _run(
        [sys.executable, "-m", "twine", "check", "--strict", *map(str, out.iterdir())], src, dict(os.environ)
    )
    (whl,) = out.glob("trilho-*.whl")
    assert whl.name == f"trilho-{__version__}-py3-none-any.whl"
    return whl


@pytest.fixture(scope="module")
def clean_venv(tmp_path_factory, wheel) -> Path:
    """A new virtualenv with the wheel installed; third-party packages come from this environment's
    site-packages through a .pth line (nothing is downloaded), never trilho's source tree."""
    venv = tmp_path_factory.mktemp("venv")
    _run([sys.executable, "-m", "venv", str(venv)], ROOT, dict(os.environ))
    purelib = Path(
        _run(
            [str(venv / "bin/python"), "-c", "import sysconfig;print(sysconfig.get_paths()['purelib'])"],
            ROOT,
            dict(os.environ),
        ).strip()
    )
    (purelib / "zz_deps.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    _run(
        [str(venv / "bin/python"), "-m", "pip", "install", "-q", "--no-deps", "--no-index", str(wheel)],
        ROOT,
        env,
    )
    where = _run([str(venv / "bin/python"), "-c", "import trilho;print(trilho.__file__)"], Path("/"), env)
    assert where.startswith(str(venv)), f"trilho imported from {where}, not the clean venv's wheel"
    return venv


@pytest.mark.parametrize("template", TEMPLATES)
def test_each_template_renders_and_its_ci_passes_with_the_installed_wheel(
    template, clean_venv, wheel, tmp_path
):
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "TRILHO_DATABASE_URL")}
    env.update(
        PATH=f"{clean_venv / 'bin'}{os.pathsep}{env['PATH']}",
        TRILHO_HOME=str(tmp_path / "home"),
        TRILHO_INSTALL_SOURCE=str(wheel),
    )
    _run(["trilho", "init", "proj", "--template", template, "--dest", str(tmp_path / "proj")], tmp_path, env)
    proj = tmp_path / "proj"
    gh = proj / ".github/workflows/trilho.yml"
    gl = proj / ".gitlab-ci.yml"
    _run(
        [sys.executable, "-m", "check_jsonschema", "--builtin-schema", "vendor.github-workflows", str(gh)],
        proj,
        env,
    )
    _run(
        [sys.executable, "-m", "check_jsonschema", "--builtin-schema", "vendor.gitlab-ci", str(gl)], proj, env
    )
    assert f'pip install "{wheel}" pytest' in yaml.safe_load(gl.read_text())["before_script"]

    steps = [s["run"] for s in yaml.safe_load(gh.read_text())["jobs"]["ci"]["steps"] if "run" in s]
    assert str(wheel) in steps[0], steps[0]
    for step in steps:  # pip install "<wheel>" pytest, make test, make ci — as the workflow runs them
        _run(step, proj, env)


def test_the_default_pin_is_the_rendering_version(monkeypatch):
    from trilho.config import install_source

    monkeypatch.delenv("TRILHO_INSTALL_SOURCE", raising=False)
    assert install_source() == f"trilho=={__version__}"
    monkeypatch.setenv("TRILHO_INSTALL_SOURCE", "git+https://example.invalid/trilho.git@v1")
    assert install_source() == "git+https://example.invalid/trilho.git@v1"


def test_update_moves_a_version_pin_and_keeps_a_chosen_source(monkeypatch):
    from trilho.templates.render import _pin_update

    monkeypatch.delenv("TRILHO_INSTALL_SOURCE", raising=False)
    assert _pin_update({"trilho_install": "trilho==0.0.9"}) == {"trilho_install": f"trilho=={__version__}"}
    assert _pin_update({}) == {"trilho_install": f"trilho=={__version__}"}  # rendered before the question
    assert _pin_update({"trilho_install": "git+https://example.invalid/t.git@main"}) == {}


def test_an_install_source_that_is_not_one_requirement_is_refused(monkeypatch):
    from trilho.config import install_source
    from trilho.errors import ConfigError

    monkeypatch.setenv("TRILHO_INSTALL_SOURCE", 'trilho" && curl evil')
    with pytest.raises(ConfigError, match="TRILHO_INSTALL_SOURCE"):
        install_source()
