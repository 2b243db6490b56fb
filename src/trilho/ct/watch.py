"""Continuous training: check each new window of data for drift, debounce, cool down, and retrain through the
project's pipeline (same gates, then the rollout plan's canary).

    watcher = Watcher("churn-project", consecutive=3, cooldown_s=3600)
    for frame in windows:                      # or watch_folder(...) for files landing in a folder
        result = watcher.observe(frame)        # result.report, result.decision, result.pipeline
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from trilho.clock import Clock, SystemClock
from trilho.ct.check import check_frames, read_frame
from trilho.ct.drift import DriftConfig, DriftReport
from trilho.ct.trigger import Decision, Trigger, TriggerState
from trilho.obs import counter, get_logger

log = get_logger("trilho.ct")
_windows = counter("trilho_ct_windows_total", "Windows checked for drift.", ["model", "outcome"])


@dataclass
class WindowResult:
    """One window: its drift report, the trigger's decision and, when it fired, the pipeline's summary."""

    index: int
    report: DriftReport
    decision: Decision
    pipeline: dict[str, Any] | None = None
    source: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready (per-feature scores included)."""
        return {
            "index": self.index,
            "source": self.source,
            "drifted": self.report.drifted,
            "drifted_features": self.report.drifted_features,
            "fire": self.decision.fire,
            "reason": self.decision.reason,
            "pipeline": self.pipeline,
            "features": [f.to_dict() for f in self.report.features],
        }


@dataclass
class WatchSummary:
    """Every window seen and the retrains it triggered."""

    windows: list[WindowResult] = field(default_factory=list)

    @property
    def retrains(self) -> list[dict[str, Any]]:
        """Pipeline summaries of the triggered retrains."""
        return [w.pipeline for w in self.windows if w.pipeline is not None]

    @property
    def first_fire(self) -> int | None:
        """Index of the window that first triggered a retrain."""
        return next((w.index for w in self.windows if w.decision.fire), None)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready."""
        return {
            "windows": [w.to_dict() for w in self.windows],
            "retrains": self.retrains,
            "first_fire": self.first_fire,
        }


class Watcher:
    """Drift on each window against the project's reference; fires the pipeline after debounce/cooldown."""

    def __init__(
        self,
        project: str | Path,
        *,
        reference: str | Path | pd.DataFrame | None = None,
        features: list[str] | None = None,
        consecutive: int | None = None,
        cooldown_s: float | None = None,
        config: DriftConfig | None = None,
        clock: Clock | None = None,
        store: Any = None,
        settings: Any = None,
        retrain: bool = True,
        console: Any = None,
    ) -> None:
        from trilho.pipeline.project import load_project

        self.project = load_project(project)
        ct = self.project.ct
        ref = reference if reference is not None else ct.get("reference") or self.project.data["train"]
        self.reference = (
            ref if isinstance(ref, pd.DataFrame) else read_frame(self.project.path(ref), "reference")
        )
        self.features = features or ct.get("features") or None
        self.label, self.prediction = ct.get("label"), ct.get("prediction")  # accuracy decay, when labelled
        self.trigger = Trigger(
            int(consecutive or ct.get("consecutive") or 3),
            float(cooldown_s if cooldown_s is not None else ct.get("cooldown") or 3600),
        )
        self.config = config or DriftConfig()
        self.clock = clock or SystemClock()
        self.store, self.settings, self.retrain, self.console = store, settings, retrain, console
        self.state = TriggerState()
        self.recent: list[pd.DataFrame] = []
        self.count = 0

    def observe(self, frame: pd.DataFrame, *, source: str | None = None) -> WindowResult:
        """Check one window; on a fire, retrain on the drifting windows and run the pipeline."""
        report = check_frames(
            self.reference,
            frame,
            features=self.features,
            label=self.label,
            prediction=self.prediction,
            config=self.config,
        )
        self.state, decision = self.trigger.observe(
            self.state, drifted=report.drifted, now=self.clock.now().timestamp()
        )
        self.recent = ([*self.recent, frame] if report.drifted else [])[-self.trigger.consecutive :]
        _windows.labels(model=self.project.name, outcome="drift" if report.drifted else "ok").inc()
        result = WindowResult(self.count, report, decision, source=source)
        self.count += 1
        if decision.fire:
            log.info("drift: retraining", project=self.project.name, features=report.drifted_features)
            if self.retrain:
                result.pipeline = self._retrain()
        return result

    def _retrain(self) -> dict[str, Any]:
        from trilho.errors import TrilhoError
        from trilho.pipeline.runner import run_pipeline

        data = pd.concat(self.recent, ignore_index=True)
        path = self.project.path(self.project.data["train"])
        if path.suffix.lower() in (".parquet", ".pq"):
            data.to_parquet(path, index=False)
        else:
            data.to_csv(path, index=False)
        try:
            summary = run_pipeline(
                self.project.root,
                store=self.store,
                settings=self.settings,
                clock=self.clock,
                console=self.console,
            ).to_dict()
        except TrilhoError as exc:
            summary = {"ok": False, "error": exc.to_dict()}
        self.reference = data  # the new model's training data is the new reference
        self.recent = []
        return summary


def watch_frames(watcher: Watcher, frames: Iterable[pd.DataFrame]) -> WatchSummary:
    """Feed an in-memory stream of windows to a watcher (the demo and tests use this)."""
    summary = WatchSummary()
    for frame in frames:
        summary.windows.append(watcher.observe(frame))
    return summary


def watch_folder(
    watcher: Watcher,
    folder: str | Path,
    *,
    interval_s: float = 60.0,
    iterations: int | None = None,
    sleep: Callable[[float], None] = time.sleep,
    on_window: Callable[[WindowResult], None] | None = None,
) -> WatchSummary:
    """Every ``interval_s``, check the CSV/Parquet files that appeared in ``folder`` (in name order)."""
    folder = Path(folder)
    seen_file = watcher.project.state_dir / "ct-seen.json"
    seen = set(json.loads(seen_file.read_text())) if seen_file.is_file() else set()
    summary = WatchSummary()
    n = 0
    while iterations is None or n < iterations:
        if n:
            sleep(interval_s)
        n += 1
        new = (
            sorted(
                p
                for p in folder.iterdir()
                if p.suffix.lower() in (".csv", ".parquet", ".pq") and p.name not in seen
            )
            if folder.is_dir()
            else []
        )
        for path in new:
            result = watcher.observe(read_frame(path, "current"), source=path.name)
            summary.windows.append(result)
            seen.add(path.name)
            seen_file.parent.mkdir(parents=True, exist_ok=True)
            seen_file.write_text(json.dumps(sorted(seen)))
            if on_window is not None:
                on_window(result)
    return summary
