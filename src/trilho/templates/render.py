"""Render and update projects with copier.

copier updates by three-way merge between two *tagged git versions* of a template. The templates ship as
plain folders inside the package, so each is materialised into a local git repository
(``<TRILHO_HOME>/templates/<name>``): the folder's content is committed and tagged with its ``VERSION``
(``VERSION.postN`` when the content changed without a version bump). ``init`` renders from that tag;
``update`` re-materialises the (possibly newer) packaged template into the same repository, and copier merges
the difference between the project's recorded tag and the new one into the project, keeping user edits.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from trilho.config import install_source
from trilho.errors import InputError
from trilho.names import check_name

PACKAGE_DIR = Path(__file__).resolve().parent
TEMPLATES = ("tabular", "recsys", "llm")
ANSWERS_FILE = ".copier-answers.yml"
_GIT_ID = ["-c", "user.name=trilho", "-c", "user.email=trilho@localhost", "-c", "commit.gpgsign=false"]
_IGNORE = shutil.ignore_patterns("__pycache__", "*.pyc", ".pytest_cache", "build", ".trilho")


@dataclass(frozen=True)
class InitResult:
    """What ``init``/``update`` did: the project folder, template, template version and the files written."""

    dest: Path
    template: str
    version: str
    files: list[str]
    conflicts: list[str]

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready."""
        return {
            "dest": str(self.dest),
            "template": self.template,
            "version": self.version,
            "files": self.files,
            "conflicts": self.conflicts,
        }


def _git(cwd: Path, *args: str, check: bool = True, strip: bool = True) -> str:
    done = subprocess.run(["git", *_GIT_ID, *args], cwd=cwd, capture_output=True, text=True, check=False)
    if check and done.returncode != 0:
        raise InputError(
            f"git {' '.join(args)} failed in {cwd}: {done.stderr.strip()}",
            fix="check that git is installed and the folder is a usable repository",
        )
    return done.stdout.strip() if strip else done.stdout


def template_source(template: str) -> Path:
    """The packaged folder of a template; ``InputError`` (exit 2) for an unknown name."""
    if template not in TEMPLATES:
        raise InputError(
            f"unknown template {template!r}",
            fix=f"use one of: {', '.join(TEMPLATES)}",
            field="template",
            value=template,
        )
    return PACKAGE_DIR / template


def templates_home(home: str | Path | None = None) -> Path:
    """Where materialised template repositories live (``<TRILHO_HOME>/templates``)."""
    from trilho.config import resolve_settings

    return resolve_settings(home).home.resolve() / "templates"


def materialise(
    template: str, *, source: str | Path | None = None, home: str | Path | None = None
) -> tuple[Path, str]:
    """Commit the template folder into its local git repository and tag it; returns ``(repo, tag)``."""
    src = Path(source) if source is not None else template_source(template)
    if not (src / "copier.yml").is_file():
        raise InputError(
            f"{str(src)!r} is not a copier template (no copier.yml)",
            fix="pass a template folder",
            field="template_dir",
            value=str(src),
        )
    repo = templates_home(home) / template
    repo.mkdir(parents=True, exist_ok=True)
    if not (repo / ".git").exists():
        _git(repo, "init", "-q")
    for child in repo.iterdir():
        if child.name == ".git":
            continue
        shutil.rmtree(child) if child.is_dir() else child.unlink()
    shutil.copytree(src, repo, ignore=_IGNORE, dirs_exist_ok=True)
    version = (src / "VERSION").read_text().strip() if (src / "VERSION").is_file() else "0.0.0"
    _git(repo, "add", "-A")
    if _git(repo, "status", "--porcelain"):
        _git(repo, "commit", "-q", "-m", f"{template} template {version}")
    head = _git(repo, "rev-parse", "HEAD")
    tags = _git(repo, "tag", "--points-at", "HEAD").split()
    if tags:
        return repo, sorted(tags)[-1]
    existing = set(_git(repo, "tag").split())
    tag, n = version, 0
    while tag in existing:
        n += 1
        tag = f"{version}.post{n}"
    _git(repo, "tag", tag, head)
    return repo, tag


def parse_data(pairs: list[str] | None) -> dict[str, Any]:
    """``["KEY=VAL", ...]`` → ``{KEY: VAL}`` (values parsed as YAML scalars)."""
    out: dict[str, Any] = {}
    for pair in pairs or []:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise InputError(
                f"--data {pair!r} is not KEY=VALUE",
                fix="e.g. --data min_accuracy=0.7",
                field="data",
                value=pair,
            )
        out[key.strip()] = yaml.safe_load(value) if value else ""
    return out


def init_project(
    name: str,
    *,
    template: str = "tabular",
    dest: str | Path | None = None,
    data: dict[str, Any] | None = None,
    home: str | Path | None = None,
    source: str | Path | None = None,
    git: bool = True,
) -> InitResult:
    """Render a new project (non-interactive: every question takes its default unless given in ``data``)."""
    import copier

    src = template_source(template) if source is None else Path(source)
    target = Path(dest if dest is not None else name).resolve()
    if target.exists() and (not target.is_dir() or any(target.iterdir())):
        raise InputError(
            f"{str(target)!r} already exists and is not empty",
            fix="pick a new folder with --dest",
            field="dest",
            value=str(target),
        )
    check_name(name, "project name")
    answers = {"project_name": name, "trilho_install": install_source(), **(data or {})}
    repo, tag = materialise(template, source=src, home=home)
    created = not target.exists()
    try:
        copier.run_copy(
            str(repo), str(target), data=answers, defaults=True, vcs_ref=tag, quiet=True, overwrite=True
        )
    except Exception as exc:
        if created and target.exists():
            shutil.rmtree(target)
        raise InputError(
            f"rendering template {template!r} failed: {exc}", field="template", value=template
        ) from None
    if git:
        if not (target / ".git").exists():
            _git(target, "init", "-q")
        _git(target, "add", "-A")
        _git(target, "commit", "-q", "-m", f"trilho init ({template} template {tag})")
    files = sorted(
        str(p.relative_to(target)) for p in target.rglob("*") if p.is_file() and ".git" not in p.parts
    )
    return InitResult(target, template, tag, files, [])


def _pin_update(answers: dict[str, Any]) -> dict[str, Any]:
    """A project still pinned to the trilho that rendered it (``trilho==X``) moves to the one updating it;
    an install source the user chose (a wheel, a git URL, another requirement) is kept as it is."""
    recorded = str(answers.get("trilho_install", ""))
    if not recorded or re.fullmatch(r"trilho==[\w.+!-]+", recorded):
        return {"trilho_install": install_source()}
    return {}


def update_project(
    project: str | Path = ".",
    *,
    home: str | Path | None = None,
    source: str | Path | None = None,
    data: dict[str, Any] | None = None,
) -> InitResult:
    """Pull the installed template's changes into a project with copier's three-way merge."""
    import copier

    target = Path(project).resolve()
    answers_path = target / ANSWERS_FILE
    if not answers_path.is_file():
        raise InputError(
            f"{str(target)!r} was not made by `trilho init` (no {ANSWERS_FILE})",
            fix="run it in a project folder made by `trilho init`",
            field="project",
            value=str(target),
        )
    answers = yaml.safe_load(answers_path.read_text()) or {}
    template = Path(str(answers.get("_src_path", ""))).name
    if source is None:
        template_source(template)
    if not (target / ".git").exists():
        raise InputError(
            "trilho update needs the project to be a git repository",
            fix="git init && git add -A && git commit -m init",
            field="project",
        )
    if _git(target, "status", "--porcelain"):
        raise InputError(
            "the project has uncommitted changes; update merges into a clean tree",
            fix="commit or stash your changes first",
            field="project",
            value=str(target),
        )
    repo, tag = materialise(template, source=source, home=home)
    data = {**_pin_update(answers), **(data or {})}
    if str(repo) != str(answers.get("_src_path")):  # the project was rendered from another home
        answers_path.write_text(answers_path.read_text().replace(str(answers.get("_src_path")), str(repo)))
        _git(target, "commit", "-q", "-am", "trilho update: point at the local template repository")
    cwd = os.getcwd()
    try:
        copier.run_update(
            str(target),
            data=data,
            defaults=True,
            overwrite=True,
            conflict="inline",
            quiet=True,
            vcs_ref=tag,
        )
    except Exception as exc:
        raise InputError(
            f"copier update failed: {exc}",
            fix="resolve the problem and run `trilho update` again",
            field="project",
        ) from None
    finally:
        os.chdir(cwd)
    changed = [line[3:] for line in _git(target, "status", "--porcelain", strip=False).splitlines() if line]
    conflicts = []
    for rel in changed:
        p = target / rel
        if p.is_file() and p.suffix != ".rej":
            try:
                if "<<<<<<< " in p.read_text():
                    conflicts.append(rel)
            except UnicodeDecodeError:
                continue
    return InitResult(target, template, tag, sorted(changed), conflicts)
