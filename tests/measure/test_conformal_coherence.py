"""Conformal sets that stand next to their estimate, or say why not (issue 21, item 1).

Reproduces the failure on the repo's GeoLift panel (a multi-cell test whose 90 % set excluded its ATT and was
printed bare), and checks the explanation, the per-period intervals and the average-effect interval that
replace such a set, on data with a constant and with a growing effect.
"""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from trilho.measure import heterogeneity
from trilho.measure.geo import multi_cell, synthetic_control
from trilho.measure.panel import Panel


@pytest.fixture(scope="module")
def geolift_test(causal_data):
    return Panel.from_file(causal_data / "geolift_test.csv", unit="location", time="date", outcome="Y")


def _factor_panel(seed: int, path: np.ndarray, units: int = 12, T0: int = 60) -> Panel:
    rng = np.random.default_rng(seed)
    T = T0 + len(path)
    level = rng.lognormal(5.0, 0.3, units)
    f = rng.normal(0, 1, (T, 2))
    Y = level + 10 * (f @ rng.uniform(0.5, 1.5, (2, units))) + rng.normal(0, 5, (T, units))
    Y[T0:, 0] += path
    return Panel(tuple(f"u{i}" for i in range(units)), tuple(range(T)), Y)


def test_geolift_multi_cell_set_that_excludes_the_att_is_explained(geolift_test):
    # Before: cell A printed ATT -195 with a 90 % set of about [-119, 110] and nothing else.
    cells = {"A": ["saint paul", "kansas city"], "B": ["boston", "honolulu"]}
    res = multi_cell(geolift_test, cells, "2021-04-01", alpha=0.1)["A"]
    c = res.conformal
    assert res.att == pytest.approx(-195.3, abs=0.1)
    assert not c.ci.contains(res.att) and not c.coherent
    assert c.ci.contains(c.estimate)  # the set's own estimate comes from the same test
    assert c.att_pvalue < 0.1 and c.pvalue >= 0.1
    assert "excludes the ATT" in c.explanation and c.explanation in c.describe()
    het = c.heterogeneity
    assert len(het.pointwise) == 15 and all(p.lower <= p.upper for p in het.pointwise)
    # 90 pre-period days make 6 blocks of 15: too few to bound the average effect at 90 % — refused and said,
    # with what would make it possible, instead of an interval of (-inf, inf)
    assert het.blocks == 6 and het.average is None and "needs at least 10 blocks" in c.explanation
    assert "post-period of at most 9 period(s)" in het.average_note and "alpha ≥ 0.15" in het.average_note
    assert res.to_dict()["conformal"]["heterogeneity"]["average_unavailable"] == het.average_note
    json.dumps(res.to_dict(), allow_nan=False)


def test_walkthrough_set_is_coherent_and_needs_no_explanation(geolift_test):
    res = synthetic_control(geolift_test, ["chicago", "portland"], "2021-04-01", alpha=0.1)
    c = res.conformal
    assert c.coherent and c.explanation is None and c.heterogeneity is None
    assert c.ci.contains(c.estimate) and c.ci.contains(res.att)


def test_growing_effect_is_named_and_pointwise_intervals_follow_it():
    path = np.linspace(0, 120, 12)  # an effect that grows from 0 to 24 noise s.d.
    panel = _factor_panel(3, path)
    res = synthetic_control(panel, ["u0"], 60, method="demeaned", statistic="lq", alpha=0.1)
    c = res.conformal
    assert not c.coherent
    het = c.heterogeneity
    assert het.constant_effect_pvalue < 0.1 and "time-varying effect" in c.explanation
    covered = [p.lower <= truth <= p.upper for p, truth in zip(het.pointwise, path, strict=True)]
    assert sum(covered) >= 10
    assert het.pointwise[0].upper < het.pointwise[-1].lower  # the intervals show the growth
    # 60 pre-periods make 5 blocks of 12: no block-average interval at 90 %, said with the fix ...
    assert het.average is None and "needs at least 10 blocks" in het.average_note
    # ... and the average effect is read from the mean statistic's set over the same permutations
    assert c.average is not None and c.average.statistic == "mean"
    assert c.average_effect_interval() == c.average.ci and c.average.ci.contains(float(path.mean()))


def test_a_test_that_cannot_reject_says_so():
    panel = _factor_panel(1, np.full(2, 5.0), units=6, T0=6)  # 8 cyclic shifts: p >= 1/8 > 0.1
    c = synthetic_control(panel, ["u0"], 6, alpha=0.1, min_pre_periods=4).conformal
    assert not c.can_reject and not c.ci.bounded
    assert "cannot reject any effect" in c.explanation
    assert c.to_dict()["ci"]["lower"] is None


@given(st.integers(0, 2**31), st.sampled_from(["constant", "growing"]), st.sampled_from(["mean", "lq"]))
@settings(max_examples=15, deadline=None)
def test_a_set_never_stands_without_its_estimate_or_an_explanation(seed, shape, statistic):
    path = np.full(5, 15.0) if shape == "constant" else np.linspace(0, 30, 5)
    res = synthetic_control(
        _factor_panel(seed, path), ["u0"], 60, statistic=statistic, alpha=0.1, grid_size=15
    )
    c = res.conformal
    if c.ci.pieces:
        assert c.ci.contains(c.estimate)
    assert c.coherent or c.explanation
    assert (not c.ci.contains(0.0)) == (c.pvalue < 0.1)
    assert math.isfinite(c.att_pvalue)


@pytest.mark.parametrize(("T0", "available"), [(50, True), (45, False)])
def test_block_average_interval_needs_floor_one_over_alpha_blocks(T0, available):
    # 5 post periods at 90 %: 50 pre-periods make 10 blocks (smallest p 1/11 < 0.1); 45 make 9 (1/10: never)
    assert heterogeneity.min_blocks(0.1) == 10 and heterogeneity.min_blocks(0.05) == 20
    assert heterogeneity.min_blocks(0.3) == 3
    rng = np.random.default_rng(4)
    T = T0 + 5
    Y0 = 100 + rng.normal(0, 1, (T, 4)).cumsum(axis=0) * 0.1 + rng.normal(0, 1, (T, 4))
    y1 = Y0.mean(axis=1) + rng.normal(0, 1, T)
    post = np.arange(T) >= T0
    y1[post] += np.linspace(0, 6, 5)  # a growing effect, average 3

    def make_refit(donors):
        return lambda y: donors.mean(axis=1) + (y - donors.mean(axis=1)).mean()  # de-meaned equal weights

    avg, blocks, length, note = heterogeneity.average_effect(
        y1, Y0, post, make_refit, 3.0, alpha=0.1, scale=2.0, grid_size=15
    )
    assert length == 5 and blocks == T0 // 5
    if available:
        assert note is None and avg.can_reject and avg.ci.bounded and avg.ci.contains(3.0)
    else:
        assert avg is None and "make 9 block(s)" in note and "needs at least 10 blocks" in note
        assert "post-period of at most 4 period(s)" in note and "alpha ≥ 0.11" in note


@given(st.floats(0.001, 0.999))
def test_min_blocks_is_the_fewest_that_can_reject(alpha):
    b = heterogeneity.min_blocks(alpha)
    assert 1 / (b + 1) < alpha + 1e-12  # b blocks and the post block: the smallest p-value is 1/(b+1)
    assert b == 0 or 1 / b >= alpha - 1e-12  # one block fewer could not reject


@given(st.lists(st.tuples(st.floats(-100, 100), st.floats(0, 50)), min_size=0, max_size=12))
def test_disjoint_periods_is_no_constant_in_every_interval(spans):
    periods = [heterogeneity.PeriodEffect(i, lo, lo, lo + w, 0.5) for i, (lo, w) in enumerate(spans)]
    apart = heterogeneity.disjoint_periods(periods)
    common = max((p.lower for p in periods), default=0) <= min((p.upper for p in periods), default=0)
    assert (apart is None) == (len(periods) < 2 or common)
    if apart is not None:
        assert apart[0].lower > apart[1].upper
