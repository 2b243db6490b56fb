"""Writing a benchmark's results: the table people read and the targets machines check, as one JSON file."""

from __future__ import annotations

import json
import os
import platform
import time
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

RESULTS_DIR = Path(__file__).parent / "results"


def target(name: str, goal: str, value: Any, met: bool) -> dict[str, Any]:
    """One target: its name, the goal as text, the measured value and whether it was met."""
    return {"name": name, "goal": goal, "value": value, "met": bool(met)}


def print_table(title: str, rows: list[dict[str, Any]], console: Console | None = None) -> None:
    """Print rows (dicts with the same keys) as a rich table."""
    console = console or Console()
    if not rows:
        console.print(f"[yellow]{title}: no rows")
        return
    table = Table(title=title)
    for key in rows[0]:
        table.add_column(str(key))
    for row in rows:
        table.add_row(*(_fmt(v) for v in row.values()))
    console.print(table)


def print_targets(targets: list[dict[str, Any]], console: Console | None = None) -> None:
    """Print the targets with met/missed marks."""
    console = console or Console()
    table = Table(title="targets")
    for col in ("target", "goal", "measured", "met"):
        table.add_column(col)
    for t in targets:
        table.add_row(t["name"], t["goal"], _fmt(t["value"]), "[green]yes" if t["met"] else "[red]no")
    console.print(table)


def write_results(
    name: str,
    table: list[dict[str, Any]],
    targets: list[dict[str, Any]],
    *,
    quick: bool,
    extra: dict[str, Any] | None = None,
) -> Path:
    """Write ``benchmarks/results/<name>.json`` and return its path."""
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    payload = {
        "benchmark": name,
        "quick": quick,
        "measured_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "machine": machine(),
        "table": table,
        "targets": targets,
        **(extra or {}),
    }
    path = RESULTS_DIR / f"{name}.json"
    path.write_text(json.dumps(payload, indent=2, default=str) + "\n")
    return path


def machine() -> dict[str, Any]:
    """What the numbers were measured on: Python, CPUs available to this process, platform, load."""
    return {
        "python": platform.python_version(),
        "cpu_count": _cpus(),
        "platform": platform.platform(),
        # other work on the machine while it ran (1/5/15-min load average at the end): context for noise
        "load_average": [round(x, 2) for x in os.getloadavg()] if hasattr(os, "getloadavg") else None,
    }


def merge_section(
    name: str,
    section: str,
    table: list[dict[str, Any]],
    targets: list[dict[str, Any]],
    *,
    quick: bool,
    extra: dict[str, Any] | None = None,
) -> Path:
    """Write one section of ``benchmarks/results/<name>.json`` measured on its own: its table under
    ``<section>_table``, its targets in place of the file's targets of the same names, its own date, machine
    and quick flag under ``sections``; everything else in the file (measured earlier) is kept as it was."""
    path = RESULTS_DIR / f"{name}.json"
    payload = (
        json.loads(path.read_text()) if path.exists() else {"benchmark": name, "table": [], "targets": []}
    )
    names = {t["name"] for t in targets}
    payload["targets"] = [t for t in payload.get("targets", []) if t["name"] not in names] + targets
    payload[f"{section}_table"] = table
    payload.setdefault("sections", {})[section] = section_info(quick)
    payload.update(extra or {})
    path.write_text(json.dumps(payload, indent=2, default=str) + "\n")
    return path


def section_info(quick: bool) -> dict[str, Any]:
    """When, on what and how (quick or full) one section of a results file was measured."""
    return {
        "measured_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "machine": machine(),
        "quick": quick,
    }


def _cpus() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)


def _fmt(v: Any) -> str:
    if isinstance(v, float):
        return f"{v:.4g}"
    return str(v)
