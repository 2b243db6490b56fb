"""The bootstrap interval is deterministic, ordered, shift-equivariant and collapses on constant data."""

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from trilho.golden.stats import bootstrap_ci, gate_passes

diffs = st.lists(st.sampled_from([-1.0, 0.0, 1.0, 0.5]), min_size=1, max_size=60)


@settings(max_examples=50, deadline=None)
@given(diffs, st.integers(0, 10_000))
def test_interval_is_ordered_deterministic_and_inside_the_data_range(d, seed):
    lo, hi = bootstrap_ci(d, resamples=200, seed=seed)
    assert (lo, hi) == bootstrap_ci(d, resamples=200, seed=seed)
    assert min(d) - 1e-12 <= lo <= hi <= max(d) + 1e-12


@settings(max_examples=30, deadline=None)
@given(diffs, st.floats(-5, 5))
def test_interval_shifts_with_the_data(d, c):
    lo, hi = bootstrap_ci(d, resamples=200, seed=1)
    lo2, hi2 = bootstrap_ci([x + c for x in d], resamples=200, seed=1)
    assert abs(lo2 - (lo + c)) < 1e-9 and abs(hi2 - (hi + c)) < 1e-9


@given(st.floats(-1, 1), st.integers(1, 50))
def test_constant_differences_give_a_point_interval(c, n):
    assert bootstrap_ci([c] * n) == (c, c)


def test_interval_covers_the_mean_of_a_clear_regression_and_the_gate_uses_the_lower_bound():
    rng = np.random.default_rng(0)
    d = list(-(rng.random(200) < 0.2).astype(float))  # candidate loses 20% of cases
    lo, hi = bootstrap_ci(d, seed=3)
    assert lo < np.mean(d) < hi
    assert not gate_passes(lo, delta=0.05)
    # point estimate −0.005 would pass a δ of 0.01, but a wide interval must not
    noisy = [1.0] * 10 + [-1.0] * 11
    lo, _ = bootstrap_ci(noisy, seed=0)
    assert np.mean(noisy) > -0.06 and not gate_passes(lo, delta=0.06)
    assert gate_passes(0.0, delta=0.01) and not gate_passes(-0.01, delta=0.01)
