"""Drift-triggered retraining on a real project: a quiet stream never fires; a planted shift fires within the
configured number of windows and yields a registered candidate with its rollout started."""

import json

import numpy as np
import pandas as pd

from trilho.clock import ManualClock
from trilho.config import resolve_settings
from trilho.ct import Watcher, watch_folder, watch_frames
from trilho.pipeline import run_pipeline
from trilho.registry import Registry
from trilho.rollout import RolloutService
from trilho.store import open_store


def churn_window(rng, n=600, spend_shift=0.0):
    tenure = rng.integers(1, 72, n)
    spend = np.round(rng.uniform(10, 120, n) + spend_shift, 2)
    logit = 2.5 - 0.12 * tenure + 0.03 * (spend - 60)
    churn = (rng.random(n) < 1 / (1 + np.exp(-logit))).astype(int)
    return pd.DataFrame({"tenure_months": tenure, "monthly_spend": spend, "churn": churn})


def test_a_quiet_stream_of_a_million_rows_never_fires(project):
    rng = np.random.default_rng(11)
    watcher = Watcher(project, reference=churn_window(rng, 100_000), consecutive=1, retrain=False)
    summary = watch_frames(watcher, (churn_window(rng, 100_000) for _ in range(10)))
    assert sum(len(w.report.features) and w.report.extra["n_current"] for w in summary.windows) == 1_000_000
    assert summary.first_fire is None and not any(w.report.drifted for w in summary.windows)


def test_a_planted_shift_triggers_a_retrained_candidate_with_a_canary(project):
    settings = resolve_settings()
    store = open_store(settings)
    assert run_pipeline(project, store=store, settings=settings).version == 1
    rng = np.random.default_rng(5)
    clock = ManualClock()
    watcher = Watcher(project, consecutive=2, cooldown_s=3600, store=store, settings=settings, clock=clock)
    windows = [churn_window(rng), churn_window(rng)] + [churn_window(rng, spend_shift=60.0) for _ in range(4)]
    results = []
    for frame in windows:
        results.append(watcher.observe(frame))
        clock.advance(60)
    drifting = [w.report.drifted for w in results]
    # quiet, quiet, shifted, shifted → retrain; the retrained model's data is the new reference: quiet again
    assert drifting == [False, False, True, True, False, False]
    assert [w.index for w in results if w.decision.fire] == [3]  # the 2nd drifting window (consecutive=2)
    retrain = results[3].pipeline
    assert retrain["ok"] and retrain["version"] == 2, retrain
    assert retrain["rollout"]["action"] == "rollout_started"
    assert "monthly_spend" in results[2].report.drifted_features
    ro = RolloutService(store).latest("churn")
    assert ro.candidate == "2" and ro.active
    mv = Registry(store, settings.artifacts_url).get("churn@2")
    assert {g.kind for g in Registry(store, settings.artifacts_url).gate_records(mv.ref)} == {"golden"}


def test_watch_folder_checks_new_files_once(project, tmp_path):
    rng = np.random.default_rng(6)
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    churn_window(rng).to_csv(inbox / "w1.csv", index=False)
    churn_window(rng, spend_shift=60).to_csv(inbox / "w2.csv", index=False)
    watcher = Watcher(project, consecutive=3, retrain=False)
    naps = []
    summary = watch_folder(watcher, inbox, interval_s=5, iterations=3, sleep=naps.append)
    assert [w.source for w in summary.windows] == ["w1.csv", "w2.csv"] and naps == [5, 5]
    assert [w.report.drifted for w in summary.windows] == [False, True]
    assert json.loads((project / ".trilho/ct-seen.json").read_text()) == ["w1.csv", "w2.csv"]


def test_ct_check_cli_reports_raw_scores_and_exit_codes(cli, tmp_path):
    rng = np.random.default_rng(7)
    ref, same, moved = (tmp_path / n for n in ("ref.csv", "same.csv", "moved.parquet"))
    churn_window(rng, 2000).to_csv(ref, index=False)
    churn_window(rng, 2000).to_csv(same, index=False)
    churn_window(rng, 2000, spend_shift=50).to_parquet(moved, index=False)
    ok = cli("ct", "check", "--reference", str(ref), "--current", str(same), "--json")
    assert ok.exit_code == 0
    body = json.loads(ok.stdout)
    assert {"psi", "ks", "wasserstein", "p_value"} <= set(body["features"][0])
    assert cli("ct", "check", "--reference", str(ref), "--current", str(moved)).exit_code == 1


def test_ct_check_reference_missing_columns_is_exit_2(cli, tmp_path):
    rng = np.random.default_rng(8)
    churn_window(rng).drop(columns=["monthly_spend"]).to_csv(tmp_path / "ref.csv", index=False)
    churn_window(rng).to_csv(tmp_path / "cur.csv", index=False)
    result = cli(
        "ct",
        "check",
        "--reference",
        str(tmp_path / "ref.csv"),
        "--current",
        str(tmp_path / "cur.csv"),
        "--json",
    )
    assert result.exit_code == 2
    assert "missing column" in json.loads(result.stdout)["message"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cur.csv", "ref.csv"]


def test_ct_watch_cli_runs_bounded_iterations(cli, project, tmp_path):
    rng = np.random.default_rng(9)
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    churn_window(rng).to_csv(inbox / "w1.csv", index=False)
    result = cli(
        "ct", "watch", "--project", str(project), "--current", str(inbox), "--iterations", "1", "--json"
    )
    assert result.exit_code == 0, result.output
    body = json.loads(result.stdout)
    assert len(body["windows"]) == 1 and body["retrains"] == [] and not body["windows"][0]["drifted"]
    missing = cli("ct", "watch", "--project", str(project), "--current", str(tmp_path / "nope"), "--json")
    assert missing.exit_code == 2
