"""`trilho measure …` end to end through the CLI (in-process runner, real files)."""

from __future__ import annotations

import json

import pytest


def test_ab_json_matches_reference(cli, tea_csv):
    r = cli(
        "measure",
        "ab",
        str(tea_csv),
        "--variant",
        "variant",
        "--metric",
        "orders",
        "--covariate",
        "orders_covariate",
        "--json",
    )
    assert r.exit_code == 0, r.output
    body = json.loads(r.stdout)
    e = body["result"]["effects"][0]
    assert e["relative"] == pytest.approx(0.1115, abs=5e-4) and e["pvalue"] == pytest.approx(
        0.00733, abs=5e-5
    )


def test_ab_rich_output_and_ratio(cli, tea_csv):
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
        "--covariate",
        "orders=orders_covariate",
    )
    assert r.exit_code == 0, r.output
    assert "orders" in r.stdout and "sample ratio" in r.stdout


def test_ab_missing_column_exits_2(cli, tea_csv):
    r = cli("measure", "ab", str(tea_csv), "--variant", "variant", "--metric", "clicks", "--json")
    assert r.exit_code == 2
    body = json.loads(r.stdout)
    assert body["error"] == "MeasurementError" and body["value"] == "clicks"


def test_ab_post_exposure_covariate_exits_2(cli, tea_csv):
    r = cli(
        "measure", "ab", str(tea_csv), "--variant", "variant", "--metric", "orders", "--covariate", "revenue"
    )
    assert r.exit_code == 2 and "no recording time" in r.output


def test_ab_srm_failure_exits_1(cli, tmp_path):
    p = tmp_path / "srm.csv"
    p.write_text(
        "v,y\n" + "".join(f"0,{i % 3}\n" for i in range(700)) + "".join(f"1,{i % 4}\n" for i in range(300))
    )
    r = cli("measure", "ab", str(p), "--variant", "v", "--metric", "y", "--json")
    assert r.exit_code == 1
    body = json.loads(r.stdout)
    assert body["ok"] is False and body["result"]["headline_blocked"] is True


def test_geo_and_report(cli, causal_data, tmp_path):
    r = cli(
        "measure",
        "geo",
        str(causal_data / "geolift_test.csv"),
        "--treated",
        "chicago,portland",
        "--start",
        "2021-04-01",
        "--end",
        "2021-04-15",
        "--json",
    )
    assert r.exit_code == 0, r.output
    body = json.loads(r.stdout)
    assert body["result"]["att"] == pytest.approx(155.556, abs=1e-3)
    res = tmp_path / "g.json"
    res.write_text(r.stdout)
    out = tmp_path / "rep"
    r2 = cli("measure", "report", str(res), "--out", str(out), "--json")
    assert r2.exit_code == 0, r2.output
    html = (out / "report.html").read_text()
    assert "<script src=" not in html and "Plotly" in html and "Observed vs synthetic" in html


def test_geo_treated_as_donor_exits_2(cli, causal_data):
    r = cli(
        "measure",
        "geo",
        str(causal_data / "geolift_test.csv"),
        "--treated",
        "chicago",
        "--donors",
        "chicago,miami,reno",
        "--start",
        "2021-04-01",
    )
    assert r.exit_code == 2 and "both treated and a donor" in r.output


def test_power_ab_from_data_and_flags(cli, tea_csv):
    r = cli(
        "measure",
        "power",
        str(tea_csv),
        "--metric",
        "orders",
        "--covariate",
        "orders_covariate",
        "--mde",
        "0.1",
        "--units-per-day",
        "500",
        "--json",
    )
    assert r.exit_code == 0, r.output
    plan = json.loads(r.stdout)
    assert 0.3 < plan["rho"] < 0.9 and plan["days_cuped"] < plan["days"]
    r = cli("measure", "power", "--sd", "1", "--mde", "0.1", "--absolute", "--rho", "0.7", "--json")
    assert json.loads(r.stdout)["saving"] == pytest.approx(0.49)


def test_power_geo_and_select_markets(cli, causal_data):
    pre = str(causal_data / "geolift_pretest.csv")
    r = cli(
        "measure",
        "power",
        pre,
        "--treated",
        "chicago,portland",
        "--duration",
        "10",
        "--windows",
        "3",
        "--effects",
        "0,0.1",
        "--json",
    )
    assert r.exit_code == 0, r.output
    assert len(json.loads(r.stdout)["power"]) == 2
    r = cli(
        "measure",
        "select-markets",
        pre,
        "--sizes",
        "2",
        "--duration",
        "10",
        "--candidates",
        "2",
        "--windows",
        "2",
        "--effects",
        "0,0.1",
        "--json",
    )
    assert r.exit_code == 0, r.output
    assert len(json.loads(r.stdout)["ranking"]) == 2


def test_simulate_then_analyse(cli, tmp_path):
    out = tmp_path / "imp"
    r = cli(
        "measure",
        "simulate",
        "impressions",
        str(out),
        "--days",
        "2",
        "--per-day",
        "20000",
        "--lift",
        "0.1",
        "--chunk-rows",
        "7000",
        "--json",
    )
    assert r.exit_code == 0, r.output
    assert len(list(out.glob("*.parquet"))) == 2
    r = cli(
        "measure",
        "ab",
        str(out),
        "--variant",
        "variant",
        "--metric",
        "clicks",
        "--covariate",
        "pre_clicks",
        "--json",
    )
    assert r.exit_code == 0, r.output
    geo = tmp_path / "geo.csv"
    r = cli(
        "measure", "simulate", "geo", str(geo), "--units", "12", "--periods", "60", "--lift", "0.1", "--json"
    )
    assert r.exit_code == 0 and geo.exists()
    truth = json.loads((tmp_path / "geo.csv.truth.json").read_text())
    assert truth["start"] == "2021-02-15"  # day 45 of 60 from 2021-01-01
    # one column convention: what `simulate geo` writes is what `measure geo` reads by default
    r = cli("measure", "geo", str(geo), "--treated", "geo000,geo001", "--start", truth["start"], "--json")
    assert r.exit_code == 0, r.output
    assert json.loads(r.stdout)["result"]["lift"] == pytest.approx(0.1, abs=0.05)
