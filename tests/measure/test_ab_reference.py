"""tea-tasting's published A/B numbers (REFERENCE_RESULTS.md), reproduced via DuckDB sufficient statistics."""

from __future__ import annotations

import pytest

from trilho.measure import ab
from trilho.measure.metrics import mean, ratio
from trilho.measure.sql import DuckDBSource


def _run(tea_csv, cuped: bool, **kw):
    metrics = [
        mean("orders", "orders_covariate" if cuped else None, name="orders_per_user"),
        ratio(
            "orders",
            "sessions",
            "orders_covariate/sessions_covariate" if cuped else None,
            name="orders_per_session",
        ),
        mean("revenue", "revenue_covariate" if cuped else None, name="revenue_per_user"),
    ]
    return ab.analyze(DuckDBSource(tea_csv), metrics, variant="variant", correction="none", **kw)


# (metric, relative, CI lower, CI upper, p) exactly as printed in tea-tasting's guide; the tolerance is half a
# unit in the last printed digit.
WITHOUT = [
    ("orders_per_user", "8.0%", "-2.0%", "19%", "0.118"),
    ("orders_per_session", "8.8%", "-0.89%", "19%", "0.0762"),
    ("revenue_per_user", "9.3%", "-2.4%", "22%", "0.123"),
]
WITH = [
    ("orders_per_user", "11%", "2.9%", "20%", "0.00733"),
    ("orders_per_session", "12%", "4.2%", "21%", "0.00229"),
    ("revenue_per_user", "14%", "3.8%", "26%", "0.00674"),
]


def _printed(s: str) -> tuple[float, float]:
    """(value, tolerance) of a printed number like '8.0%' or '0.0762'."""
    pct = s.endswith("%")
    body = s.rstrip("%")
    dec = len(body.split(".")[1]) if "." in body else 0
    scale = 0.01 if pct else 1.0
    return float(body) * scale, 0.5 * 10 ** (-dec) * scale + 1e-12


@pytest.mark.parametrize(("cuped", "rows"), [(False, WITHOUT), (True, WITH)])
def test_tea_tasting_reference(tea_csv, cuped, rows):
    res = _run(tea_csv, cuped)
    for name, *printed in rows:
        e = res.effect(name)
        got = (e.relative, e.relative_ci_lower, e.relative_ci_upper, e.pvalue)
        for value, text in zip(got, printed, strict=True):
            ref, tol = _printed(text)
            assert value == pytest.approx(ref, abs=tol), (name, text, value)
        if cuped:
            assert e.variance_reduction > 0.2
            assert e.covariate is not None


def test_orders_per_user_means(tea_csv):
    e = _run(tea_csv, False).effect("orders_per_user")
    assert e.control_mean == pytest.approx(0.530, abs=5e-4)
    assert e.treatment_mean == pytest.approx(0.573, abs=5e-4)


def test_sample_ratio_reference(tea_csv):
    res = _run(tea_csv, False, srm_method="binomial")
    assert res.arms == {"0": 2023, "1": 1977}
    assert res.srm.pvalue == pytest.approx(0.477, abs=5e-4)
    assert res.srm.passed and not res.headline_blocked
    chi = _run(tea_csv, False)
    assert chi.srm.method == "chisquare" and chi.srm.pvalue == pytest.approx(0.467, abs=5e-4)


def test_cuped_before_after_intervals_recorded(tea_csv):
    e = _run(tea_csv, True).effect("orders_per_user")
    width_after = e.ci_upper - e.ci_lower
    width_before = e.unadjusted_ci_upper - e.unadjusted_ci_lower
    assert width_after < width_before
    assert e.theta > 0


def test_multiplicity_adjusts_pvalues(tea_csv):
    metrics = [mean("orders"), mean("revenue"), mean("sessions")]
    holm = ab.analyze(DuckDBSource(tea_csv), metrics, variant="variant", correction="holm")
    bh = ab.analyze(DuckDBSource(tea_csv), metrics, variant="variant", correction="bh")
    for eh, eb in zip(holm.effects, bh.effects, strict=True):
        assert eh.pvalue_adjusted >= eb.pvalue_adjusted >= eh.pvalue


def test_sequential_interval_is_wider(tea_csv):
    res = ab.analyze(DuckDBSource(tea_csv), [mean("orders")], variant="variant", sequential_planned_n=4000)
    e = res.effects[0]
    assert e.sequential_ci_lower < e.ci_lower < e.ci_upper < e.sequential_ci_upper
