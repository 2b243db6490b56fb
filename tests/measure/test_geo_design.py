"""Geo bad input, multi-cell tests, market selection/power and trimmed match."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from trilho.errors import MeasurementError
from trilho.measure.geo import multi_cell, synthetic_control
from trilho.measure.markets import power_by_simulation, select_markets
from trilho.measure.panel import Panel
from trilho.measure.trimmed_match import trimmed_match


@pytest.fixture(scope="module")
def pretest(causal_data):
    df = pd.read_csv(causal_data / "geolift_pretest.csv")
    return Panel.from_frame(df, unit="location", time="date", outcome="Y")


def _long(n_units=6, T=30, seed=0):
    rng = np.random.default_rng(seed)
    return pd.DataFrame(
        [(f"g{i}", t, 100 + rng.normal()) for i in range(n_units) for t in range(T)],
        columns=["geo", "day", "y"],
    )


def test_bad_panel_inputs():
    df = _long()
    with pytest.raises(MeasurementError, match="column 'sales' is missing"):
        Panel.from_frame(df, unit="geo", time="day", outcome="sales")
    nan = df.copy()
    nan.loc[5, "y"] = np.nan
    with pytest.raises(MeasurementError, match="unit 'g0' has no y at day=5"):
        Panel.from_frame(nan, unit="geo", time="day", outcome="y")
    panel = Panel.from_frame(df, unit="geo", time="day", outcome="y")
    with pytest.raises(MeasurementError, match="unit 'g1' is both treated and a donor"):
        synthetic_control(panel, ["g0", "g1"], 20, donors=["g1", "g2", "g3"])
    with pytest.raises(MeasurementError, match="only 2 pre-period"):
        synthetic_control(panel, ["g0"], 2)
    with pytest.raises(MeasurementError, match="unit 'nowhere' is not in the panel"):
        synthetic_control(panel, ["nowhere"], 20)
    zero = df.copy()
    zero.loc[zero.geo == "g0", "y"] = 0.0
    with pytest.raises(MeasurementError, match="all-zero pre-period"):
        synthetic_control(Panel.from_frame(zero, unit="geo", time="day", outcome="y"), ["g0"], 20)
    with pytest.raises(MeasurementError, match="spend is zero"):
        synthetic_control(panel, ["g0"], 20, spend=0.0, inference="none")


def test_multi_cell_excludes_all_treated(pretest):
    cells = multi_cell(
        pretest,
        {"a": ["chicago"], "b": ["portland", "austin"]},
        "2021-03-15",
        method="demeaned",
        inference="none",
    )
    for res in cells.values():
        assert not {"chicago", "portland", "austin"} & set(res.weights)
    with pytest.raises(MeasurementError, match="more than one cell"):
        multi_cell(pretest, {"a": ["chicago"], "b": ["chicago"]}, "2021-03-15")


def test_power_by_simulation_on_pretest(pretest):
    curve = power_by_simulation(pretest, ["chicago", "portland"], 15, effects=(0.0, 0.05, 0.2), windows=6)
    assert curve.simulations == 6
    assert curve.power[0] <= 0.5 and curve.power[-1] == 1.0
    assert curve.power == sorted(curve.power)


def test_select_markets_is_seeded(pretest):
    a = select_markets(pretest, [2], 10, effects=(0.0, 0.1), candidates=3, windows=2, seed=3)
    b = select_markets(pretest, [2], 10, effects=(0.0, 0.1), candidates=3, windows=2, seed=3)
    assert [c.treated for c in a] == [c.treated for c in b] and len(a) == 3
    c = select_markets(pretest, [2], 10, effects=(0.0, 0.1), include=["chicago"], candidates=2, windows=2)
    assert all("chicago" in x.treated for x in c)


def test_trimmed_match_readme_example():
    res = trimmed_match([1, 10, 3, 8, 5], [1, 5, 2, 5, 3], confidence=0.80)
    assert res.iroas == pytest.approx(1.60, abs=5e-3)
    assert res.trim_rate == pytest.approx(0.2)
    # Published 80 % CI (1.52, 1.66), to the two decimals printed.
    assert res.ci_lower == pytest.approx(1.52, abs=5e-3) and res.ci_upper == pytest.approx(1.66, abs=5e-3)


@pytest.mark.parametrize(
    ("trim", "expected"),
    [
        (0.0, (1.692, 0.138, 1.250, 1.905)),
        (0.2, (1.571, 0.041, -29.374, 1.619)),
        (None, (1.571, 0.041, -29.374, 1.619)),
    ],
)
def test_trimmed_match_matches_upstream_unit_test(trim, expected):
    # google/trimmed_match estimator_test.py: pairs (1,1), (10,5), (3,2), (8,5) at confidence 0.9.
    res = trimmed_match([1.0, 10, 3, 8], [1.0, 5, 2, 5], confidence=0.9, trim_rate=trim)
    got = (res.iroas, res.se, res.ci_lower, res.ci_upper)
    assert got == pytest.approx(expected, abs=1e-3)


def test_trimmed_match_perfect_fit_has_a_point_interval():
    res = trimmed_match([1.0, 2, 3, 4, 5], [1.0, 2, 3, 4, 5])
    assert (res.iroas, res.ci_lower, res.ci_upper) == pytest.approx((1.0, 1.0, 1.0))


def test_trimmed_match_interval_is_the_studentized_inversion():
    # With and without trimming: points inside satisfy |studentized trimmed mean| <= z, points just outside
    # do not (the statistic written out independently of the piecewise-quadratic solver).
    y, x = np.array([1.0, 10, 3, 8, 5, 4, 12]), np.array([1.0, 5, 2, 5, 3, 2.5, 4])
    for trim in (0.0, 1 / 7):
        res = trimmed_match(y, x, confidence=0.8, trim_rate=trim)
        m, n = res.trimmed_pairs, res.pairs
        z = stats.norm.ppf(0.9)

        def t2(th, m=m, n=n):
            e = np.sort(y - th * x)
            w = np.clip(e, e[m], e[n - 1 - m])
            body = e[m : n - m].sum()
            return body**2 * (n - 2 * m - 1) / ((n - 2 * m) * ((w - w.mean()) ** 2).sum())

        for th in np.linspace(res.ci_lower, res.ci_upper, 9)[1:-1]:
            assert t2(th) <= z * z + 1e-9
        for th in (res.ci_lower - 1e-3, res.ci_upper + 1e-3):
            assert t2(th) > z * z


def test_trimmed_match_bad_spend():
    with pytest.raises(MeasurementError, match="every spend difference is zero"):
        trimmed_match([1, 2, 3], [0, 0, 0])


def test_trimmed_match_on_paired_panel(causal_data):
    df = pd.read_csv(causal_data / "trimmed_match_post_analysis.csv")
    g = df.groupby(["pair", "assignment"])[["response", "cost"]].sum().unstack("assignment")
    dy = (g["response"][1] - g["response"][2]).to_numpy()
    dx = (g["cost"][1] - g["cost"][2]).to_numpy()
    keep = dx > 0
    res = trimmed_match(dy[keep], dx[keep], confidence=0.9)
    assert res.ci_lower <= res.iroas <= res.ci_upper and res.pairs == int(keep.sum())
