"""bench_measure --only: the sections not rerun keep their own timestamp and machine (issues 21 and 22)."""

from __future__ import annotations

import json

import benchmarks._results as results
from benchmarks.bench_measure import _merge_previous


def test_partial_run_keeps_each_sections_stamp(tmp_path, monkeypatch):
    monkeypatch.setattr(results, "RESULTS_DIR", tmp_path)
    old_machine = {"python": "3.11.0", "cpu_count": 2, "platform": "old"}
    previous = {
        "measured_at": "2026-11-29T05:51:09Z",
        "machine": old_machine,
        "table": [{"check": "A/B mean"}, {"check": "SC conformal demeaned/mean/constant"}],
        "targets": [{"name": "A/B mean 95% coverage"}, {"name": "SC conformal demeaned/mean/constant x"}],
        "sections": {"calib": {"quick": False}, "coherence": {"quick": True, "measured_at": "x"}},
        "ab_calibration": {"rho": 0.7},
    }
    (tmp_path / "measure.json").write_text(json.dumps(previous))
    now = {"quick": False, "measured_at": "2026-12-08T01:00:00Z", "machine": {"platform": "new"}}
    table, targets, extra = _merge_previous(
        {"coherence"},
        [{"check": "SC conformal demeaned/mean/constant"}],
        [{"name": "SC conformal demeaned/mean/constant y"}],
        {"sections": {"coherence": now}},
        False,
    )
    assert extra["sections"]["calib"] == {
        "measured_at": "2026-11-29T05:51:09Z",
        "machine": old_machine,
        "quick": False,
    }
    assert extra["sections"]["coherence"] == now
    assert [r["check"] for r in table] == ["A/B mean", "SC conformal demeaned/mean/constant"]
    assert [t["name"] for t in targets] == ["A/B mean 95% coverage", "SC conformal demeaned/mean/constant y"]
    assert extra["ab_calibration"] == {"rho": 0.7}
