"""Runs the demo's acts in order with rich progress, then prints one summary table of what happened.

An act is a function ``act(ctx) -> ActResult``. Acts share one fresh home of their own (``<home>/demo``:
its SQLite store, artifacts, reports and a ``work`` folder), made anew on every run so the demo can be run
again and again on one home without meeting what an earlier run (or the user) left in the store; a failing
act stops the demo with exit 1, an unexpected error is reported with the act's name.
"""

from __future__ import annotations

import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.panel import Panel
from rich.table import Table

from trilho.config import Settings, resolve_settings


@dataclass
class DemoContext:
    """What every act may use: settings, the workspace folder, the console, the scale, shared results."""

    settings: Settings
    workdir: Path
    console: Console
    quick: bool = False
    shared: dict[str, Any] = field(default_factory=dict)

    _store: Any = None

    @property
    def store(self):
        """The demo's store (opened and migrated on first use)."""
        if self._store is None:
            from trilho.store import open_store

            self._store = open_store(self.settings)
        return self._store

    def close(self) -> None:
        if self._store is not None:
            self._store.dispose()


@dataclass
class ActResult:
    """One act's outcome: a headline, the figures it measured, and whether it went as the story says."""

    title: str
    ok: bool
    figures: list[tuple[str, str]] = field(default_factory=list)
    artifacts: list[str] = field(default_factory=list)
    seconds: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        return {
            "title": self.title,
            "ok": self.ok,
            "figures": dict(self.figures),
            "artifacts": self.artifacts,
            "seconds": round(self.seconds, 2),
        }


Act = Callable[[DemoContext], ActResult]


def run_demo(
    settings: Settings, acts: list[tuple[str, Act]], *, quick: bool = False, console: Console | None = None
):
    """Run ``acts`` in a fresh demo home inside ``settings.home``; returns the ``ActResult`` list."""
    console = console or Console()
    demo = demo_settings(settings)
    if demo.home.exists():
        shutil.rmtree(demo.home)
    workdir = demo.home / "work"
    workdir.mkdir(parents=True)
    console.print(
        f"demo home: [bold]{demo.home}[/] (made fresh every run; the rest of {settings.home} is untouched)"
    )
    ctx = DemoContext(settings=demo, workdir=workdir, console=console, quick=quick)
    results: list[ActResult] = []
    try:
        for number, (name, act) in enumerate(acts, start=1):
            console.rule(f"[bold]Act {number}: {name}")
            started = time.perf_counter()
            result = act(ctx)
            result.seconds = time.perf_counter() - started
            results.append(result)
            mark = "[green]✓[/]" if result.ok else "[red]✗[/]"
            console.print(f"{mark} {result.title} [dim]({result.seconds:.1f} s)[/]")
            if not result.ok:
                break
    finally:
        ctx.close()
    console.print(_summary(results))
    _where(console, demo, results)
    return results


def demo_settings(settings: Settings) -> Settings:
    """The demo's own home, ``<home>/demo``, with its own embedded SQLite store (not the user's database)."""
    home = settings.home / "demo"
    url = f"sqlite:///{(home / 'trilho.db').resolve()}"
    return resolve_settings(home, database_url=url, artifacts_url=str(home / "artifacts"))


def _where(console: Console, settings: Settings, results: list[ActResult]) -> None:
    """Where to look next: the reports the acts wrote and the dashboard over the same store."""
    reports = [a for r in results for a in r.artifacts if a.endswith(".html")]
    for path in reports:
        console.print(f"report: {path}")
    home = settings.home
    console.print(
        f"dashboard: [bold]trilho --home {home} rollout token create me --role admin[/] then "
        f"[bold]trilho --home {home} web --port 8070[/] and open http://127.0.0.1:8070/ui"
    )


def _summary(results: list[ActResult]) -> Panel:
    table = Table(show_header=True, header_style="bold", expand=True)
    table.add_column("act", no_wrap=True)
    table.add_column("what happened")
    table.add_column("figures")
    for i, r in enumerate(results, start=1):
        figures = "\n".join(f"{k}: {v}" for k, v in r.figures)
        table.add_row(f"{i} {'✓' if r.ok else '✗'}", r.title, figures)
    return Panel(table, title="trilho demo — summary")
