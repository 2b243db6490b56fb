"""Input hashing and the pipeline's state file (``<project>/.trilho/pipeline.json``): a stage is skipped when
the hash of its inputs equals the hash recorded the last time it succeeded."""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any

from trilho.registry import digest_path

STATE_FILE = "pipeline.json"


def hash_inputs(files: list[Path], extra: Any = None) -> str:
    """One digest over the named files' contents (missing files count as missing) and ``extra`` (JSON)."""
    h = hashlib.sha256()
    for path in sorted({Path(p) for p in files}, key=str):
        h.update(str(path.name).encode())
        h.update(digest_path(path).encode() if path.exists() else b"<missing>")
    h.update(json.dumps(extra, sort_keys=True, default=str).encode())
    return "sha256:" + h.hexdigest()


class StateFile:
    """Per-stage ``{"hash", "outputs"}`` of the last successful run; written atomically."""

    def __init__(self, folder: Path) -> None:
        self.path = folder / STATE_FILE
        self.data: dict[str, Any] = {}
        if self.path.is_file():
            try:
                self.data = json.loads(self.path.read_text())
            except json.JSONDecodeError:
                self.data = {}

    def get(self, stage: str) -> dict[str, Any] | None:
        """The recorded entry of a stage, if any."""
        return self.data.get("stages", {}).get(stage)

    def put(self, stage: str, digest: str, outputs: dict[str, Any]) -> None:
        """Record a stage's success and save."""
        self.data.setdefault("stages", {})[stage] = {"hash": digest, "outputs": outputs}
        self.save()

    def save(self) -> None:
        """Write the file atomically."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_suffix(".tmp")
        tmp.write_text(json.dumps(self.data, indent=2, sort_keys=True, default=str))
        os.replace(tmp, self.path)
