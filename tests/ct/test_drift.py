"""Drift statistics (pure): PSI properties, quiet at n = 10⁶ without a shift, loud with one."""

import numpy as np
import pandas as pd
from hypothesis import given, settings
from hypothesis import strategies as st

from trilho.ct import DriftConfig, check_frames
from trilho.ct.drift import categorical_drift, numeric_drift, numeric_psi, performance_decay, psi_from_counts

counts = st.lists(st.integers(0, 1000), min_size=2, max_size=12)


@given(counts, counts)
def test_psi_is_non_negative_and_symmetric(a, b):
    n = min(len(a), len(b))
    p, q = np.array(a[:n], float) + 1, np.array(b[:n], float) + 1
    assert psi_from_counts(p, q) >= -1e-12
    assert abs(psi_from_counts(p, q) - psi_from_counts(q, p)) < 1e-9


@given(counts)
def test_psi_of_a_histogram_with_itself_is_zero(a):
    p = np.array(a, float) + 1
    assert abs(psi_from_counts(p, p * 3)) < 1e-12


@settings(max_examples=25, deadline=None)
@given(st.integers(0, 2**32 - 1), st.floats(0.0, 3.0))
def test_small_windows_are_insufficient_never_drift(seed, shift):
    rng = np.random.default_rng(seed)
    cfg = DriftConfig(min_sample=200)
    f = numeric_drift("x", rng.normal(size=1000), rng.normal(shift, size=150), cfg)
    assert f.status == "insufficient" and not f.drifted


@settings(max_examples=20, deadline=None)
@given(st.integers(0, 2**32 - 1), st.floats(0.8, 3.0))
def test_a_large_shift_is_always_drift_with_raw_scores(seed, shift):
    rng = np.random.default_rng(seed)
    f = numeric_drift("x", rng.normal(size=2000), rng.normal(shift, size=2000), DriftConfig())
    assert f.drifted
    assert f.psi > 0.1 and f.ks > 0.1 and f.wasserstein > 0.5 and f.p_value < 1e-6


def test_no_shift_at_a_million_rows_stays_quiet():
    rng = np.random.default_rng(0)
    n = 1_000_000
    ref = pd.DataFrame(
        {"a": rng.normal(size=n), "b": rng.exponential(size=n), "c": rng.choice(list("xyz"), n)}
    )
    cur = pd.DataFrame(
        {"a": rng.normal(size=n), "b": rng.exponential(size=n), "c": rng.choice(list("xyz"), n)}
    )
    report = check_frames(ref, cur)
    assert not report.drifted, report.to_dict()
    assert all(f.psi < 0.001 for f in report.features)


def test_a_tiny_but_significant_shift_in_a_huge_window_is_below_the_effect_floor():
    rng = np.random.default_rng(1)
    n = 300_000
    f = numeric_drift("x", rng.normal(size=n), rng.normal(0.02, size=n), DriftConfig())
    assert f.p_value < 0.01 and not f.drifted and f.reason == "effect below the floor"


def test_categorical_drift_uses_chi_square_and_psi():
    rng = np.random.default_rng(2)
    ref = rng.choice(["a", "b", "c"], 5000, p=[0.5, 0.3, 0.2])
    same = categorical_drift("k", ref, rng.choice(["a", "b", "c"], 5000, p=[0.5, 0.3, 0.2]), DriftConfig())
    moved = categorical_drift(
        "k", ref, rng.choice(["a", "b", "c", "d"], 5000, p=[0.2, 0.2, 0.2, 0.4]), DriftConfig()
    )
    assert not same.drifted and same.chi2 is not None
    assert moved.drifted and moved.psi > 0.5


def test_performance_decay_needs_a_real_drop():
    rng = np.random.default_rng(3)
    assert not performance_decay(rng.random(5000) < 0.9, rng.random(5000) < 0.9)["decayed"]
    assert performance_decay(rng.random(5000) < 0.9, rng.random(5000) < 0.7)["decayed"]


def test_numeric_psi_detects_a_mean_shift():
    rng = np.random.default_rng(4)
    assert numeric_psi(rng.normal(size=10_000), rng.normal(1, size=10_000)) > 0.5
