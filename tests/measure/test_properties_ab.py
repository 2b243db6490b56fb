"""Property tests for the pure A/B statistics."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from trilho.measure import power
from trilho.measure.estimators import estimate
from trilho.measure.metrics import mean, ratio
from trilho.measure.moments import Moments
from trilho.measure.multiplicity import benjamini_hochberg, holm
from trilho.measure.sequential import sequential_interval

pvals = st.lists(st.floats(0, 1), min_size=1, max_size=20)


@st.composite
def arms(draw):
    seed = draw(st.integers(0, 2**31))
    n_c, n_t = draw(st.integers(5, 300)), draw(st.integers(5, 300))
    rng = np.random.default_rng(seed)

    def data(n, shift):
        x = rng.gamma(2.0, 1.0, n) + 0.1
        d = rng.integers(1, 5, n).astype(float)
        y = 0.5 * x + rng.normal(0, 1, n) + shift + 3
        return np.column_stack([y, d, x, np.ones(n)])

    cols = ["y", "d", "x", "one"]
    return Moments.from_array(cols, data(n_c, 0.0)), Moments.from_array(
        cols, data(n_t, draw(st.floats(-1, 1)))
    )


@given(arms())
@settings(max_examples=60, deadline=None)
def test_interval_and_pvalue_agree(pair):
    c, t = pair
    for m in (mean("y"), mean("y", "x"), ratio("y", "d"), ratio("y", "d", "x/d")):
        e = estimate(m, c, t)
        assert e.ci_lower <= e.effect <= e.ci_upper
        assert e.relative_ci_lower <= e.relative <= e.relative_ci_upper
        d = estimate(m, c, t, relative_ci="delta")
        assert d.relative_ci_lower <= d.relative <= d.relative_ci_upper and d.effect == e.effect
        excludes = e.ci_lower > 0 or e.ci_upper < 0
        if abs(e.pvalue - 0.05) > 1e-9:
            assert excludes == (e.pvalue < 0.05)


@given(arms())
@settings(max_examples=40, deadline=None)
def test_ratio_with_unit_denominator_is_a_mean(pair):
    c, t = pair
    a, b = estimate(mean("y", "x"), c, t), estimate(ratio("y", "one", "x/one"), c, t)
    assert a.effect == pytest.approx(b.effect, rel=1e-9, abs=1e-12)
    assert a.se == pytest.approx(b.se, rel=1e-9)


@given(arms())
@settings(max_examples=40, deadline=None)
def test_moments_add_like_concatenation(pair):
    c, t = pair
    s = c + t
    assert s.n == c.n + t.n
    np.testing.assert_allclose(s.mean, (c.sums + t.sums) / (c.n + t.n))


@given(pvals)
def test_holm_and_bh_bounds(p):
    h, b = holm(p), benjamini_hochberg(p)
    for raw, ah, ab in zip(p, h, b, strict=True):
        assert raw <= ab + 1e-12 <= ah + 2e-12 and ah <= 1
    order = np.argsort(p, kind="stable")
    assert all(np.diff(np.asarray(h)[order]) >= -1e-12)


@given(st.floats(0.01, 1.0), st.floats(0.1, 10), st.floats(0, 0.95))
def test_sample_size_achieves_power(mde, sd, rho):
    nc, nt = power.sample_size(mde, sd, rho=rho)
    assert power.power_at(mde, nc, nt, sd, rho=rho) >= 0.8 - 1e-9
    assert power.minimum_detectable_effect(nc, nt, sd, rho=rho) <= mde + 1e-9


@given(st.floats(0, 0.95))
def test_cuped_shortens_by_rho_squared(rho):
    plan = power.plan_duration(0.1, 1.0, 1000, rho=rho)
    assert plan.n_control_cuped <= plan.n_control
    assert plan.n_control_cuped / plan.n_control == pytest.approx(
        1 - rho * rho, abs=2 / plan.n_control + 1e-9
    )


@given(st.floats(-5, 5), st.floats(0.01, 3), st.integers(10, 10**7))
def test_sequential_interval_contains_fixed(est, se, n):
    lo, hi = sequential_interval(est, se, n)
    assert lo < est - 1.959 * se and hi > est + 1.959 * se
    assert math.isfinite(lo) and math.isfinite(hi)
