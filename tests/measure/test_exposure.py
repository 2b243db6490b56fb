"""Rollout analysis from an exposure log: the one-row-per-unit SQL against a NumPy reference, first exposure
attribution, pre-exposure events as covariates only, SRM against the weights in force, the CLI; calibration
of the confidence sequences over 24 looks."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from trilho.cli.main import app
from trilho.errors import MeasurementError
from trilho.measure.ab import analyze_moments
from trilho.measure.exposure import (
    analyze_rollout,
    exposures_relation,
    parse_weights,
    unit_table_sql,
)
from trilho.measure.exposure_sim import calibrate, simulate_rollout, write_rollout
from trilho.measure.metrics import parse_metric, ratio
from trilho.measure.moments import Moments
from trilho.measure.sql import DuckDBSource

T0 = datetime(2026, 3, 1, tzinfo=UTC)


@pytest.fixture(scope="module")
def rollout(tmp_path_factory):
    folder = tmp_path_factory.mktemp("rollout")
    sim = simulate_rollout(6000, {"1": 0.7, "2": 0.2, "3": 0.1}, stable="1", lifts={"2": 0.05}, seed=3)
    exposures, outcomes = write_rollout(sim, folder, "rec", unexposed=7)
    return sim, exposures, outcomes


def test_sql_unit_table_matches_numpy(rollout):
    sim, exposures, outcomes = rollout
    metrics = [parse_metric("orders", "orders_pre"), ratio("clicks", "impressions")]
    res = analyze_rollout(
        DuckDBSource(outcomes), exposures, "rec", metrics, weights={"1": 0.7, "2": 0.2, "3": 0.1}
    )
    cols = ("orders", "orders_pre", "clicks", "impressions")
    data = np.column_stack([getattr(sim, c).astype(float) for c in cols])
    moments = {v: Moments.from_array(cols, data[sim.version == v]) for v in ("1", "2", "3")}
    ref = analyze_moments(metrics, moments, control="1", variants=["1", "2", "3"], sequential_planned_n=1e5)
    assert res.ab.control == "1" and res.ab.arms == ref.arms
    for got, want in zip(res.ab.effects, ref.effects, strict=True):
        assert (got.metric, got.treatment_arm) == (want.metric, want.treatment_arm)
        assert got.effect == pytest.approx(want.effect, rel=1e-9)
        assert got.se == pytest.approx(want.se, rel=1e-9)
        assert got.sequential_ci_lower == pytest.approx(want.sequential_ci_lower, rel=1e-9)
        if want.variance_reduction is None:
            assert got.variance_reduction is None
        else:
            assert got.variance_reduction == pytest.approx(want.variance_reduction, rel=1e-9)
    e = res.exposure
    assert (e.exposures, e.units, e.multi_version_units) == (12000, 6000, 0)
    assert (e.pre_exposure_events, e.unexposed_events, e.srm_generation) == (6000, 7, 1)
    assert res.ab.srm is not None and res.ab.srm.passed
    orders = res.ab.effect("orders", "2")
    assert orders.variance_reduction > 0.1  # the pre-exposure covariate carries information


def _log(folder, rows):
    """Write exposure rows (unit, version, variant, generation, ts) in the gateway's layout."""
    part = folder / "day=2026-03-01" / "model=m"
    part.mkdir(parents=True, exist_ok=True)
    unit, version, variant, gen, ts = zip(*rows, strict=True)
    pq.write_table(
        pa.table(
            {
                "unit": list(unit),
                "version": list(version),
                "variant": list(variant),
                "generation": list(gen),
                "ts": pa.array(list(ts), pa.timestamp("us", tz="UTC")),
                "request_id": [f"r{i}" for i in range(len(rows))],
            }
        ),
        part / "part-x-1.parquet",
    )
    return folder


def test_first_exposure_decides_and_earlier_events_are_covariates(tmp_path):
    h = timedelta(hours=1)
    log = _log(
        tmp_path / "exposures",
        [
            ("a", "1", "stable", 1, T0 + 2 * h),  # a moves to 2 after a weight change: stays 1
            ("a", "2", "canary", 2, T0 + 5 * h),
            ("b", "2", "canary", 1, T0 + 3 * h),
            ("b", "2", "canary", 1, T0 + 1 * h),  # out of order in the file: the earlier one counts
        ],
    )
    events = tmp_path / "events.parquet"
    pq.write_table(
        pa.table(
            {
                "unit": ["a", "a", "a", "b", "b", "c"],
                "ts": pa.array(
                    [T0, T0 + 3 * h, T0 + 6 * h, T0 + h, T0 + 0.5 * h, T0], pa.timestamp("us", tz="UTC")
                ),
                "orders": [1.0, 2.0, 4.0, 8.0, 16.0, 32.0],
            }
        ),
        events,
    )
    src = DuckDBSource(events)
    src.query("SET TimeZone = 'UTC'")
    sql = unit_table_sql(
        exposures_relation(log),
        src.relation(),
        "m",
        unit="unit",
        time="ts",
        outcome_columns=["orders"],
        covariate_columns=["orders"],
    )
    rows = src.query(f"SELECT unit, version, generation, versions, orders, orders_pre FROM {sql} ORDER BY 1")
    assert rows == [("a", "1", 1, 2, 6.0, 1.0), ("b", "2", 1, 1, 8.0, 16.0)]


def test_pre_exposure_sums_are_refused_as_outcomes(rollout):
    _, exposures, outcomes = rollout
    with pytest.raises(MeasurementError) as err:
        analyze_rollout(DuckDBSource(outcomes), exposures, "rec", [parse_metric("orders_pre")])
    assert err.value.fields["field"] == "metric" and "--covariate" in str(err.value)


def test_weights_not_in_force_fail_the_sample_ratio_check_through_the_cli(rollout, tmp_path):
    _, exposures, outcomes = rollout
    base = ["--home", str(tmp_path / "home"), "measure", "rollout", "rec", "--exposures", str(exposures)]
    base += ["--outcomes", str(outcomes), "--metric", "orders", "--covariate", "orders_pre"]
    runner = CliRunner()
    ok = runner.invoke(app, [*base, "--weights", "1=0.7,2=0.2,3=0.1", "--json", "--report", str(tmp_path)])
    assert ok.exit_code == 0, ok.output
    body = json.loads(ok.stdout)
    assert body["result"]["rollout"]["units"] == 6000 and body["result"]["srm"]["passed"]
    report = json.loads((tmp_path / "report.json").read_text())
    (join,) = [c for c in report["trust_checks"] if c["name"] == "exposure join"]
    assert join["status"] == "pass" and "6000 units" in join["detail"]
    assert all("Anytime-valid interval" in f["headline"] for f in report["findings"])
    assert "exposure join" in (tmp_path / "report.html").read_text()
    bad = runner.invoke(app, [*base, "--weights", "1=0.5,2=0.4,3=0.1"])
    assert bad.exit_code == 1 and "sample ratio mismatch" in bad.output
    refused = runner.invoke(app, [*base, "--weights", "1=half"])
    assert refused.exit_code == 2
    unknown = runner.invoke(app, [*base[:4], "nope", *base[5:]])
    assert unknown.exit_code == 2 and "no unit routed to model 'nope'" in unknown.output


@settings(max_examples=25, deadline=None)
@given(
    first=st.integers(0, 10),
    events=st.lists(st.tuples(st.integers(0, 20), st.integers(0, 5)), max_size=12),
)
def test_every_event_counts_once_before_or_after_exposure(first, events):
    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")
    con.execute(
        "CREATE TABLE e (model VARCHAR, unit VARCHAR, version VARCHAR, variant VARCHAR, "
        "generation BIGINT, ts TIMESTAMPTZ)"
    )
    con.execute("INSERT INTO e VALUES ('m', 'u', '1', 'stable', 1, ?)", [T0 + timedelta(minutes=first)])
    con.execute("CREATE TABLE o (unit VARCHAR, ts TIMESTAMPTZ, orders DOUBLE)")
    for minute, n in events:
        con.execute("INSERT INTO o VALUES ('u', ?, ?)", [T0 + timedelta(minutes=minute), n])
    sql = unit_table_sql(
        "e", "o", "m", unit="unit", time="ts", outcome_columns=["orders"], covariate_columns=["orders"]
    )
    ((post, pre),) = con.execute(f"SELECT orders, orders_pre FROM {sql}").fetchall()
    assert post == sum(n for m, n in events if m >= first)
    assert pre == sum(n for m, n in events if m < first)


@settings(deadline=None)
@given(st.dictionaries(st.text("abc123", min_size=1, max_size=4), st.integers(0, 100), min_size=1))
def test_weights_parse_back(weights):
    text = ",".join(f"{k}={v / 100}" for k, v in weights.items())
    assert parse_weights(text) == {k: v / 100 for k, v in weights.items()}


@pytest.mark.slow  # a few seconds: 70 simulated rollouts x 24 looks
def test_calibration_aa_false_rollbacks_and_coverage_over_24_looks():
    aa = calibrate(40, looks=24, lift=0.0, seed=11)
    assert aa.rollback_rate <= aa.alpha  # a look at every 1/24 of the units
    assert aa.coverage >= 0.95
    known = calibrate(30, looks=24, lift=0.03, seed=12)
    assert known.coverage >= 0.95  # the true +3 % inside the sequence at all 24 looks at once
    assert known.rollbacks == 0
