"""Continuous training: per-feature drift (PSI, KS, Wasserstein, chi-square) with sample-size-aware rules,
performance decay, and a debounced trigger that retrains through the project's pipeline.

    from trilho.ct import check_files, Watcher, watch_frames
    report = check_files("train.csv", "recent.csv")          # report.drifted, report.to_dict()
    summary = watch_frames(Watcher("my-project", consecutive=3), windows)   # summary.retrains
"""

from trilho.ct.check import check_files, check_frames, read_frame
from trilho.ct.drift import DriftConfig, DriftReport, FeatureDrift
from trilho.ct.trigger import Decision, Trigger, TriggerState
from trilho.ct.watch import Watcher, WatchSummary, WindowResult, watch_folder, watch_frames

__all__ = [
    "Decision",
    "DriftConfig",
    "DriftReport",
    "FeatureDrift",
    "Trigger",
    "TriggerState",
    "WatchSummary",
    "Watcher",
    "WindowResult",
    "check_files",
    "check_frames",
    "read_frame",
    "watch_folder",
    "watch_frames",
]
