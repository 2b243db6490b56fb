"""Gate statistics (pure): exact McNemar, paired bootstrap, thresholds and the single decision object."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from statsmodels.stats.contingency_tables import mcnemar

from trilho.errors import EvalError
from trilho.evals.gates import decide_gate, mcnemar_exact, paired_binary, paired_bootstrap


@pytest.mark.parametrize("b,c", [(0, 0), (1, 0), (5, 1), (10, 2), (7, 7), (0, 12), (30, 18)])
def test_mcnemar_matches_statsmodels(b, c):
    ref = mcnemar([[50, b], [c, 50]], exact=True).pvalue
    assert mcnemar_exact(b, c) == pytest.approx(ref, abs=1e-12)


def test_binary_regression_needs_significance_and_min_effect():
    base = [1.0] * 100
    cand = [1.0] * 80 + [0.0] * 20
    t = paired_binary("m", base, cand, min_effect=0.05)
    assert t.regressed and t.diff == pytest.approx(-0.2) and t.high < 0
    assert not paired_binary("m", base, cand, min_effect=0.3).regressed  # smaller than the minimum effect
    assert not paired_binary("m", base, [1.0] * 98 + [0.0] * 2).regressed  # 2 of 100: not significant


def test_paired_bootstrap_detects_drop_and_is_seeded():
    base = [4.0, 5.0, 3.0, 4.0, 5.0, 4.0] * 10
    cand = [b - 1.0 for b in base]
    t = paired_bootstrap("s", base, cand, min_effect=0.2)
    assert t.regressed and t.diff == pytest.approx(-1.0)
    noisy = [b + (0.5 if i % 2 else -0.5) for i, b in enumerate(base)]
    t2 = paired_bootstrap("s", base, noisy)
    assert not t2.regressed
    assert paired_bootstrap("s", base, noisy, seed=3) == paired_bootstrap("s", base, noisy, seed=3)


@settings(max_examples=30, deadline=None)
@given(st.lists(st.sampled_from([0.0, 1.0]), min_size=1, max_size=80))
def test_identical_runs_never_regress(values):
    items = {str(i): {"check:x": v, "judge:y": v * 3} for i, v in enumerate(values)}
    d = decide_gate(
        {"check:x": 1.0}, {}, candidate_items=items, baseline_items=items, binary_metrics={"check:x"}
    )
    assert d.passed and d.exit_code == 0
    assert all(not t.regressed for t in d.regressions)


def test_decision_reasons_and_exit_code():
    d = decide_gate({"a": 0.5, "b": 0.9}, {"a": {"min": 0.8}, "b": {"max": 0.95}, "c": {"min": 0}})
    assert not d.passed and d.exit_code == 1 and d.decision == "fail"
    assert len(d.reasons) == 2  # a misses its min; c is missing
    assert [t.passed for t in d.thresholds] == [False, True, False]


def test_baseline_without_shared_items_is_an_error():
    with pytest.raises(EvalError, match="shares no item ids"):
        decide_gate({}, {}, candidate_items={"1": {"m": 1.0}}, baseline_items={"2": {"m": 1.0}})
