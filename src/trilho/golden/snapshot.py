"""Regenerating expected outputs, only when asked: a reviewable unified diff, and a write on request."""

from __future__ import annotations

import difflib
import json
from dataclasses import dataclass
from typing import Any

from trilho.golden.comparators import exact_equal
from trilho.golden.suite import Suite


@dataclass(frozen=True)
class Snapshot:
    """New case lines for a suite, the unified diff against the file, and how many cases changed."""

    suite: Suite
    old_text: str
    new_text: str
    changed: tuple[str, ...]

    @property
    def diff(self) -> str:
        """The unified diff (empty when nothing changed)."""
        rel = self.suite.cases_path.name
        return "".join(
            difflib.unified_diff(
                self.old_text.splitlines(keepends=True),
                self.new_text.splitlines(keepends=True),
                fromfile=f"a/{rel}",
                tofile=f"b/{rel}",
            )
        )

    def write(self) -> None:
        """Write the new expected outputs to the cases file."""
        self.suite.cases_path.write_text(self.new_text)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready fields."""
        return {
            "suite": self.suite.name,
            "file": str(self.suite.cases_path),
            "changed": list(self.changed),
            "diff": self.diff,
        }


def build_snapshot(suite: Suite, outputs: dict[str, dict[str, Any]]) -> Snapshot:
    """Replace each case's expected fields with ``outputs[case_id]`` (same fields; all fields if none).

    Unchanged lines keep their exact text, so the diff shows only real changes.
    """
    old_text = suite.cases_path.read_text()
    lines = old_text.splitlines()
    by_line = {c.line: c for c in suite.cases}
    changed: list[str] = []
    for i in range(1, len(lines) + 1):
        case = by_line.get(i)
        if case is None or case.id not in outputs:
            continue
        actual = outputs[case.id]
        keys = list(case.expected) or list(actual)
        new_expected = {k: actual.get(k) for k in keys}
        if exact_equal(new_expected, case.expected):
            continue
        obj = dict(case.raw)
        obj["expected"] = new_expected
        lines[i - 1] = json.dumps(obj, ensure_ascii=False)
        changed.append(case.id)
    new_text = "\n".join(lines) + ("\n" if old_text.endswith("\n") or not old_text else "")
    return Snapshot(suite, old_text, new_text, tuple(changed))
