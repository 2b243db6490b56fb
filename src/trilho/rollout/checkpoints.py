"""Audit checkpoints on disk: one signed JSON object per line, appended (never rewritten) and read back.

Point the file at a place the store's writer cannot rewrite (another host, an append-only mount, a log
shipper); :func:`trilho.rollout.audit.verify` checks every line against the log.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from trilho.errors import InputError


def append_checkpoint(path: str | os.PathLike[str], checkpoint: dict[str, Any]) -> Path:
    """Append one checkpoint as a JSON line and flush it to disk."""
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    with p.open("a", encoding="utf-8") as fh:
        fh.write(json.dumps(checkpoint, sort_keys=True, separators=(",", ":")) + "\n")
        fh.flush()
        os.fsync(fh.fileno())
    return p


def read_checkpoints(path: str | os.PathLike[str]) -> list[dict[str, Any]]:
    """Every checkpoint in a JSON-lines file (blank lines skipped); a line that is not one: InputError."""
    p = Path(path)
    if not p.is_file():
        raise InputError(
            f"checkpoint file {str(p)!r} does not exist",
            fix="pass the file 'trilho audit checkpoint --out' (or the controller) appends to",
            field="checkpoint",
            value=str(p),
        )
    out = []
    for n, line in enumerate(p.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        try:
            cp = json.loads(line)
        except ValueError as exc:
            raise InputError(
                f"{p}:{n} is not JSON: {exc}", fix="keep one checkpoint object per line", field="checkpoint"
            ) from exc
        if not isinstance(cp, dict):
            raise InputError(f"{p}:{n} is not a checkpoint object", field="checkpoint", value=n)
        out.append(cp)
    return out
