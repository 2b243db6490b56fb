"""Lineage captured at registration: the git commit (and whether the tree was dirty) and data hashes."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path
from typing import Any

from trilho.errors import RegistryError
from trilho.registry.artifacts import digest_path


def git_state(cwd: str | os.PathLike[str]) -> dict[str, Any] | None:
    """``{"commit", "dirty", "branch"}`` for the git repository containing ``cwd``, or None outside one."""
    folder = Path(cwd)
    if folder.is_file():
        folder = folder.parent

    def git(*args: str) -> str | None:
        try:
            done = subprocess.run(
                ["git", *args], cwd=folder, capture_output=True, text=True, timeout=10, check=False
            )
        except (OSError, subprocess.SubprocessError):
            return None
        return done.stdout.strip() if done.returncode == 0 else None

    commit = git("rev-parse", "HEAD")
    if not commit:
        return None
    status = git("status", "--porcelain", "--untracked-files=no")
    return {
        "commit": commit,
        "dirty": bool(status),
        "branch": git("rev-parse", "--abbrev-ref", "HEAD"),
    }


def data_hashes(paths: list[str | os.PathLike[str]]) -> dict[str, str]:
    """``{path: "sha256:<hex>"}`` for each data file or folder used to train the model."""
    out: dict[str, str] = {}
    for raw in paths:
        path = Path(raw)
        if not path.exists():
            raise RegistryError(
                f"data path {str(path)!r} does not exist",
                fix="pass --data with the files the model was trained on",
                field="data",
                value=str(path),
            )
        out[str(path)] = f"sha256:{digest_path(path)}"
    return out


def build_lineage(
    artifact: str | os.PathLike[str], data_paths: list[str | os.PathLike[str]] | None
) -> dict[str, Any]:
    """The lineage record for a registration: git state (of the artifact's folder, else the cwd) and data."""
    git = git_state(Path(artifact).resolve()) or git_state(Path.cwd())
    return {"git": git, "data": data_hashes(list(data_paths or []))}
