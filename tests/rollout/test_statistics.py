"""Statistics: mSPRT p-values, Mann–Whitney from buckets, Wilson bounds."""

from __future__ import annotations

import math

import numpy as np
from hypothesis import example, given
from hypothesis import strategies as st
from scipy import stats

from trilho.rollout.statistics import (
    conditional_mixture_p_value,
    mann_whitney_greater,
    msprt_p_value,
    wilson_interval,
)

counts = st.integers(min_value=0, max_value=100_000)


@given(counts, counts, counts, counts, st.floats(min_value=1e-4, max_value=0.5))
def test_msprt_p_is_a_probability(xb, nb, xc, nc, tau):
    xb, xc = min(xb, nb), min(xc, nc)
    p = msprt_p_value(xb, nb, xc, nc, tau)
    assert 0.0 <= p <= 1.0
    if nb == 0 or nc == 0:
        assert p == 1.0


def test_msprt_large_difference_is_significant_and_equal_rates_are_not():
    assert msprt_p_value(10, 1000, 100, 1000, 0.02) < 1e-6
    assert msprt_p_value(10, 1000, 10, 1000, 0.02) == 1.0 or msprt_p_value(10, 1000, 10, 1000, 0.02) > 0.5
    # More data with the same rates gives more evidence.
    assert msprt_p_value(20, 1000, 40, 1000, 0.02) > msprt_p_value(200, 10_000, 400, 10_000, 0.02)


def test_msprt_vectorises():
    p = msprt_p_value(np.array([0, 10]), np.array([100, 100]), np.array([0, 50]), np.array([0, 100]), 0.02)
    assert p.shape == (2,) and p[0] == 1.0


def test_mann_whitney_agrees_with_scipy_on_bucketed_data():
    rng = np.random.default_rng(3)
    edges = np.array([0.0, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, np.inf])
    a = rng.lognormal(-3.5, 0.6, 400)
    b = rng.lognormal(-3.2, 0.6, 300)
    ca, _ = np.histogram(a, edges)
    cb, _ = np.histogram(b, edges)
    mids = np.arange(len(ca))
    expected = stats.mannwhitneyu(np.repeat(mids, cb), np.repeat(mids, ca), alternative="greater").pvalue
    assert math.isclose(mann_whitney_greater(ca, cb), expected, rel_tol=1e-6)
    assert mann_whitney_greater(ca, cb) < 0.01 < mann_whitney_greater(cb, ca)


def test_mann_whitney_empty_or_single_bucket():
    assert mann_whitney_greater([0, 0], [5, 5]) == 1.0
    assert mann_whitney_greater([5, 0], [5, 0]) == 1.0


@given(st.integers(0, 10_000), st.integers(0, 10_000), st.sampled_from([0.9, 0.95, 0.99]))
def test_wilson_bounds_contain_the_estimate(k, n, conf):
    k = min(k, n)
    lo, hi = wilson_interval(k, n, conf)
    assert 0.0 <= lo <= hi <= 1.0
    if n:
        assert lo - 1e-12 <= k / n <= hi + 1e-12
    else:
        assert (lo, hi) == (0.0, 1.0)


@given(counts, counts, counts, counts)
@example(0, 45_799, 0, 1)  # no errors at all: exactly 1 (the float integral once gave 0.9999999999999999)
def test_conditional_mixture_p_is_a_probability(xb, nb, xc, nc):
    xb, xc = min(xb, nb), min(xc, nc)
    p = conditional_mixture_p_value(xb, nb, xc, nc)
    assert 0.0 <= p <= 1.0
    if nb == 0 or nc == 0 or xb + xc == 0:
        assert p == 1.0


def test_conditional_mixture_is_one_sided():
    assert conditional_mixture_p_value(10, 1000, 60, 1000) < 1e-6
    assert conditional_mixture_p_value(60, 1000, 10, 1000) == 1.0
    # One error in a tiny canary is not evidence (where a normal approximation would cry wolf).
    assert conditional_mixture_p_value(3, 3000, 1, 30) > 0.05
