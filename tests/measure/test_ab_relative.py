"""A/B output people compare with other tools (issue 21, item 4): relative lift with its delta-method standard
error and p-value beside the absolute test, both relative intervals, proportions with the binomial variance
p(1 − p) as GrowthBook's gbstats, and tables that keep every column when stdout is a pipe."""

from __future__ import annotations

import json
import math

import pandas as pd
import pytest
from scipy import stats


@pytest.fixture(scope="module")
def users(tea_csv):
    return pd.read_csv(tea_csv)


def _ab(cli, path, *args):
    r = cli("measure", "ab", str(path), "--variant", "variant", *args, "--json")
    assert r.exit_code == 0, r.output
    return json.loads(r.stdout)["result"]["effects"]


def test_relative_lift_has_its_delta_method_se_and_p(cli, tea_csv, users):
    (e,) = _ab(cli, tea_csv, "--metric", "orders")
    c, t = (users.loc[users.variant == v, "orders"] for v in (0, 1))
    mc, mt = c.mean(), t.mean()
    se = math.sqrt(t.var() / len(t) / mc**2 + mt**2 * c.var() / len(c) / mc**4)  # gbstats' delta method
    assert e["relative"] == pytest.approx(mt / mc - 1, rel=1e-9)
    assert e["relative_se"] == pytest.approx(se, rel=1e-9)
    p = 2 * stats.t(e["df"]).sf(abs((mt / mc - 1) / se))
    assert e["relative_pvalue"] == pytest.approx(p, rel=1e-9)
    # tea-tasting's published +8.0 % [−2.0 %, +19 %] stays the headline (log); the delta interval is beside it
    assert (e["relative_ci_lower"], e["relative_ci_upper"]) == pytest.approx((-0.020, 0.19), abs=0.005)
    assert e["relative_log_ci_lower"] == e["relative_ci_lower"]
    assert e["relative_delta_ci_lower"] < e["relative_log_ci_lower"] < 0 < e["relative_delta_ci_upper"]
    (d,) = _ab(cli, tea_csv, "--metric", "orders", "--relative-ci", "delta")
    assert d["relative_ci_lower"] == pytest.approx(e["relative_delta_ci_lower"])


def test_proportion_uses_the_binomial_variance(cli, tmp_path, users):
    data = tmp_path / "conv.csv"
    users.assign(converted=(users.orders > 0).astype(int)).to_csv(data, index=False)
    (e,) = _ab(cli, data, "--proportion", "converted")
    c, t = (users.loc[users.variant == v, "orders"].gt(0) for v in (0, 1))
    pc, pt = c.mean(), t.mean()
    binomial = math.sqrt(pc * (1 - pc) / len(c) + pt * (1 - pt) / len(t))
    assert e["kind"] == "proportion" and e["se"] == pytest.approx(binomial, rel=1e-9)
    (m,) = _ab(cli, data, "--metric", "converted")  # as a mean: the n − 1 sample variance, slightly larger
    assert m["se"] > e["se"] and m["se"] == pytest.approx(e["se"], rel=1e-3)
    r = cli("measure", "ab", str(data), "--variant", "variant", "--proportion", "orders")
    assert r.exit_code == 2 and "values other than 0 and 1" in r.output


def test_table_keeps_every_column_when_stdout_is_not_a_terminal(cli, tea_csv):
    r = cli(
        "measure",
        "ab",
        str(tea_csv),
        "--variant",
        "variant",
        "--metric",
        "orders",
        "--ratio",
        "orders/sessions",
    )
    assert r.exit_code == 0, r.output
    assert "…" not in r.stdout
    for col in ("interval (log)", "interval (delta)", "p (relative)", "CUPED var. ↓", "orders/sessions"):
        assert col in r.stdout
