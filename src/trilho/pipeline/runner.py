"""Run a project's pipeline: stages in order, each skipped when its inputs' hash is unchanged, failing fast
with the stage's name and reason; a rich progress line per stage and a JSON-ready summary."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rich.console import Console

from trilho.errors import TrilhoError
from trilho.obs import counter, get_logger
from trilho.pipeline.project import Project, load_project
from trilho.pipeline.stages import STAGE_FUNCS, STAGES, Context
from trilho.pipeline.state import StateFile

log = get_logger("trilho.pipeline")
_stage_runs = counter(
    "trilho_pipeline_stage_runs_total", "Pipeline stage outcomes.", ["model", "stage", "outcome"]
)


@dataclass
class StageResult:
    """One stage's outcome: ``ran``, ``skipped`` (inputs unchanged) or ``failed``."""

    stage: str
    status: str
    seconds: float
    detail: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready."""
        return {
            "stage": self.stage,
            "status": self.status,
            "seconds": round(self.seconds, 3),
            "detail": self.detail,
        }


@dataclass
class PipelineResult:
    """The whole run: per-stage results, the registered version and the rollout (if those stages ran)."""

    project: str
    stages: list[StageResult]
    ok: bool = True
    error: dict[str, Any] | None = None

    def output(self, stage: str) -> dict[str, Any]:
        """The detail of one stage (empty if it did not run)."""
        return next((s.detail for s in self.stages if s.stage == stage), {})

    @property
    def version(self) -> int | None:
        """The version the register stage produced (or found unchanged)."""
        return self.output("register").get("version")

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready."""
        return {
            "ok": self.ok,
            "project": self.project,
            "version": self.version,
            "rollout": self.output("rollout") or None,
            "stages": [s.to_dict() for s in self.stages],
            "error": self.error,
        }


def selected_stages(project: Project, wanted: list[str] | None) -> list[str]:
    """The stages to run: everything up to the last one asked for (upstream stages run or skip by hash)."""
    from trilho.errors import InputError

    stages = [s for s in STAGES if s != "eval" or project.eval.get("suite")]
    if not wanted:
        return stages
    unknown = [w for w in wanted if w not in STAGES]
    if unknown:
        raise InputError(
            f"unknown stage(s) {unknown}",
            fix=f"use some of: {', '.join(STAGES)}",
            field="stage",
            value=unknown,
        )
    last = max(STAGES.index(w) for w in wanted)
    return [s for s in stages if STAGES.index(s) <= last]


def run_pipeline(
    project_dir: str | Path | None = None,
    *,
    stages: list[str] | None = None,
    store: Any = None,
    settings: Any = None,
    clock: Any = None,
    force: bool = False,
    console: Console | None = None,
) -> PipelineResult:
    """Run the pipeline of the project at ``project_dir`` (or the cwd); raises the failing stage's error."""
    from trilho.config import resolve_settings
    from trilho.registry import Registry, signing_key

    project = load_project(project_dir)
    order = selected_stages(project, stages)
    settings = settings or resolve_settings()
    if store is None:
        from trilho.store import open_store

        store = open_store(settings)
    ctx = Context(
        project,
        Registry(store, settings.artifacts_url, clock=clock),
        store,
        settings,
        signing_key(settings.home),
        clock=clock,
    )
    state = StateFile(project.state_dir)
    console = console or Console(stderr=True)
    result = PipelineResult(project.name, [])
    for name in order:
        digest, run = STAGE_FUNCS[name](ctx)
        prev = state.get(name)
        start = time.perf_counter()
        if not force and prev and prev.get("hash") == digest and _still_valid(ctx, name, prev["outputs"]):
            ctx.outputs[name] = {**prev["outputs"], "hash": digest}
            result.stages.append(StageResult(name, "skipped", 0.0, prev["outputs"]))
            console.print(f"[dim]· {name:<9} skipped (inputs unchanged)[/]")
            _stage_runs.labels(model=project.name, stage=name, outcome="skipped").inc()
            continue
        try:
            with console.status(f"{name} …"):
                outputs = run()
        except TrilhoError as exc:
            seconds = time.perf_counter() - start
            result.stages.append(StageResult(name, "failed", seconds, {"error": exc.to_dict()}))
            result.ok, result.error = False, {"stage": name, **exc.to_dict()}
            console.print(f"[red]✗ {name:<9} failed[/]: {exc.message}")
            _stage_runs.labels(model=project.name, stage=name, outcome="failed").inc()
            log.info("pipeline stage failed", project=project.name, stage=name, error=type(exc).__name__)
            raise _with_stage(exc, name, result) from None
        seconds = time.perf_counter() - start
        ctx.outputs[name] = {**outputs, "hash": digest}
        state.put(name, digest, outputs)
        result.stages.append(StageResult(name, "ran", seconds, outputs))
        console.print(f"[green]✓ {name:<9}[/] {seconds:6.2f}s  {_brief(name, outputs)}")
        _stage_runs.labels(model=project.name, stage=name, outcome="ran").inc()
    return result


def _still_valid(ctx: Context, stage: str, outputs: dict[str, Any]) -> bool:
    """A skipped stage's outputs must still exist (the artifact file, the registered version)."""
    if stage == "train":
        return ctx.artifact.exists()
    if stage == "register":
        try:
            ctx.registry.get(f"{ctx.model_name}@{outputs.get('version')}")
        except TrilhoError:
            return False
    return True


def _brief(stage: str, out: dict[str, Any]) -> str:
    if stage == "validate":
        return f"{out.get('rows')} rows valid" + (
            f", contract compatible with {out['against']}" if out.get("against") else ""
        )
    if stage == "evaluate":
        return ", ".join(f"{k}={v:.4f}" for k, v in (out.get("metrics") or {}).items())
    if stage in ("golden", "eval"):
        return f"{out.get('decision')}" + (f" vs {out['against']}" if out.get("against") else "")
    if stage == "register":
        return f"registered {out.get('ref')}"
    if stage == "rollout":
        return f"{out.get('action')} v{out.get('version')}" + (
            f" (rollout {out['rollout']})" if out.get("rollout") else ""
        )
    return ""


def _with_stage(exc: TrilhoError, stage: str, result: PipelineResult) -> TrilhoError:
    """The same error, its message prefixed with the stage, carrying the partial summary."""
    try:
        new = type(exc)(
            f"stage {stage!r} failed: {exc.message}", fix=exc.fix, **{**exc.fields, "stage": stage}
        )
    except TypeError:
        return exc
    new.pipeline = result  # type: ignore[attr-defined]
    return new
