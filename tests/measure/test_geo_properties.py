"""Property tests for synthetic control: the QP, and conformal p-value / interval agreement."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from trilho.measure.conformal import permutation_pvalue
from trilho.measure.geo import synthetic_control
from trilho.measure.panel import Panel
from trilho.measure.qp import simplex_least_squares, simplex_weights


@given(st.integers(0, 2**31), st.integers(2, 25), st.integers(2, 40))
@settings(max_examples=40, deadline=None)
def test_active_set_matches_interior_point(seed, k, J):
    rng = np.random.default_rng(seed)
    X0, x1, v = rng.normal(size=(k, J)), rng.normal(size=k) * 2, rng.uniform(0.1, 1, k)
    a, b = simplex_weights(X0, x1, v), simplex_least_squares(X0, x1, v)
    assert a.min() >= 0 and a.sum() == pytest.approx(1)

    def obj(w):
        return float(((x1 - X0 @ w) ** 2 * v).sum())

    assert obj(a) <= obj(b) + 1e-7 * (1 + obj(b))


def _panel(seed: int, units: int, T: int, effect: float) -> Panel:
    rng = np.random.default_rng(seed)
    factor = rng.normal(size=T).cumsum()
    load = rng.uniform(0.5, 1.5, units)
    Y = 100 + factor[:, None] * load[None, :] + rng.normal(0, 1, (T, units))
    Y[T - T // 4 :, 0] += effect
    rows = [(f"u{i}", t, Y[t, i]) for i in range(units) for t in range(T)]
    return Panel.from_frame(
        pd.DataFrame(rows, columns=["unit", "t", "y"]), unit="unit", time="t", outcome="y"
    )


@given(
    st.integers(0, 2**31),
    st.integers(4, 9),
    st.integers(16, 32),
    st.floats(-4, 4),
    st.sampled_from(["classic", "demeaned"]),
    st.sampled_from([0.05, 0.1, 0.2]),
)
@settings(max_examples=25, deadline=None)
def test_interval_excludes_zero_iff_p_below_alpha(seed, units, T, effect, method, alpha):
    panel = _panel(seed, units, T, effect)
    res = synthetic_control(panel, ["u0"], T - T // 4, method=method, alpha=alpha, grid_size=15)
    c = res.conformal
    assert (not c.ci.contains(0.0)) == (c.pvalue < alpha)


@given(st.integers(0, 2**31), st.integers(8, 40), st.integers(1, 6))
@settings(max_examples=40, deadline=None)
def test_permutation_pvalue_is_a_valid_share(seed, T, post):
    u = np.random.default_rng(seed).normal(size=T)
    p = permutation_pvalue(u, min(post, T - 1))
    assert 1 / T - 1e-12 <= p <= 1.0
