"""Reports: deterministic JSON for the same input and seed, self-contained HTML."""

from __future__ import annotations

import pandas as pd

from trilho.measure import ab
from trilho.measure.geo import synthetic_control
from trilho.measure.metrics import mean
from trilho.measure.panel import Panel
from trilho.measure.report import build_report, report_json, write_report
from trilho.measure.sql import DuckDBSource


def _geo(causal_data, seed):
    df = pd.read_csv(causal_data / "geolift_test.csv")
    panel = Panel.from_frame(df, unit="location", time="date", outcome="Y")
    return synthetic_control(
        panel,
        ["chicago", "portland"],
        "2021-04-01",
        inference="both",
        permutations="iid",
        draws=300,
        seed=seed,
    )


def test_geo_report_is_byte_identical_for_same_seed(causal_data, tmp_path):
    a = report_json(build_report(_geo(causal_data, 11).to_dict(), seed=11))
    b = report_json(build_report(_geo(causal_data, 11).to_dict(), seed=11))
    c = report_json(build_report(_geo(causal_data, 12).to_dict(), seed=12))
    assert a == b and a != c
    assert '"seed": 11' in a
    j, h = write_report(build_report(_geo(causal_data, 11).to_dict(), seed=11), tmp_path)
    assert j.read_text() == a
    html = h.read_text()
    assert "<script src=" not in html and "Donor weights" in html and "Placebo distribution" in html


def test_ab_report_blocks_headline_on_srm_and_shows_cuped(tea_csv, tmp_path):
    res = ab.analyze(DuckDBSource(tea_csv), [mean("orders", "orders_covariate")], variant="variant")
    rep = build_report(res.to_dict())
    assert "+11.2%" in rep["findings"][0]["headline"]
    assert any(c["name"] == "sample ratio" and c["status"] == "pass" for c in rep["trust_checks"])
    assert any(c["name"].startswith("covariate timing") for c in rep["trust_checks"])
    _, h = write_report(rep, tmp_path)
    assert "CUPED: intervals before and after" in h.read_text()
    blocked = res.to_dict() | {"headline_blocked": True}
    assert "no lift is reported" in build_report(blocked)["findings"][0]["headline"]
