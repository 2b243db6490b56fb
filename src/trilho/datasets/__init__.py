"""Published reference data shipped inside trilho: the files our tests and benchmarks reproduce numbers on.

Each folder keeps its README (source, commit, licence) and the licence texts beside the files;
``SHA256SUMS.txt`` pins every file so a damaged or edited copy fails loudly instead of shifting a result.

    >>> from trilho import datasets
    >>> datasets.path("causal") / "prop99_smoking.csv"      # doctest: +SKIP
"""

from __future__ import annotations

import hashlib
from functools import cache
from pathlib import Path

from trilho.errors import TrilhoError

__all__ = ["DatasetError", "ROOT", "folders", "path", "verify"]

ROOT = Path(__file__).resolve().parent
_SUMS = ROOT / "SHA256SUMS.txt"


class DatasetError(TrilhoError):
    """A packaged reference file is missing or does not match its pinned checksum."""


def folders() -> list[str]:
    """The names of the shipped data folders (``causal``, ``genai``)."""
    return sorted(p.name for p in ROOT.iterdir() if p.is_dir() and not p.name.startswith("_"))


def path(name: str) -> Path:
    """The folder of one shipped data set; raises DatasetError naming the folders that exist."""
    folder = ROOT / name
    if name not in folders():
        raise DatasetError(
            f"dataset folder {name!r} is not shipped with trilho; choose one of {', '.join(folders())}"
        )
    return folder


@cache
def _pinned() -> dict[str, str]:
    pinned: dict[str, str] = {}
    for line in _SUMS.read_text(encoding="utf-8").splitlines():
        digest, _, relative = line.strip().partition("  ")
        if digest:
            pinned[relative] = digest
    return pinned


def verify(name: str | None = None) -> list[str]:
    """Check the shipped files against SHA256SUMS.txt; returns the files checked or raises DatasetError."""
    checked = []
    for relative, digest in sorted(_pinned().items()):
        if name is not None and not relative.startswith(f"{name}/"):
            continue
        file = ROOT / relative
        if not file.is_file():
            raise DatasetError(f"reference file {relative} is missing from {ROOT}; reinstall trilho")
        actual = hashlib.sha256(file.read_bytes()).hexdigest()
        if actual != digest:
            raise DatasetError(
                f"reference file {relative} has sha256 {actual[:12]}…, pinned {digest[:12]}…; "
                "restore it from git (it must not be edited in place)"
            )
        checked.append(relative)
    return checked
