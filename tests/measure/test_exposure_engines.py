"""The exposure join runs where the data lives: the same one-row-per-unit SQL on PostgreSQL and SQLite tables
(the log loaded as a table beside the events) gives the numbers of the in-Python join (NumPy moments of the
simulated units) and of DuckDB over the Parquet log — first exposure, outcomes after it, pre-exposure
covariates, the sample-ratio counts and the step window (``since``)."""

from __future__ import annotations

import sqlite3
from datetime import timedelta

import duckdb
import numpy as np
import pytest
from sqlalchemy import create_engine, text

from trilho.errors import MeasurementError
from trilho.measure.ab import analyze_moments
from trilho.measure.exposure import analyze_rollout
from trilho.measure.exposure_sim import EPOCH, simulate_rollout, write_rollout
from trilho.measure.metrics import parse_metric, ratio
from trilho.measure.moments import Moments
from trilho.measure.sql import DuckDBSource, SQLAlchemySource

WEIGHTS = {"1": 0.7, "2": 0.2, "3": 0.1}
METRICS = [parse_metric("orders", "orders_pre"), ratio("clicks", "impressions")]
EXPOSURE_COLS = ("unit", "model", "version", "variant", "generation", "ts", "request_id")
OUTCOME_COLS = ("unit", "ts", "orders", "clicks", "impressions")


@pytest.fixture(scope="module")
def rollout(tmp_path_factory):
    folder = tmp_path_factory.mktemp("engines")
    sim = simulate_rollout(3000, WEIGHTS, stable="1", lifts={"2": 0.05}, seed=8)
    exposures, outcomes = write_rollout(sim, folder, "rec", unexposed=5)
    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")
    log = f"read_parquet('{exposures}/**/*.parquet', hive_partitioning = true)"
    exp_rows = con.execute(f"SELECT {', '.join(EXPOSURE_COLS)} FROM {log}").fetchall()
    out_rows = con.execute(f"SELECT {', '.join(OUTCOME_COLS)} FROM read_parquet('{outcomes}')").fetchall()
    return sim, exposures, outcomes, exp_rows, out_rows


def reference(sim):
    cols = ("orders", "orders_pre", "clicks", "impressions")
    data = np.column_stack([getattr(sim, c).astype(float) for c in cols])
    moments = {v: Moments.from_array(cols, data[sim.version == v]) for v in ("1", "2", "3")}
    return analyze_moments(METRICS, moments, control="1", variants=["1", "2", "3"], sequential_planned_n=1e5)


def assert_same(res, ref, sim):
    assert res.ab.control == "1" and res.ab.arms == ref.arms
    for got, want in zip(res.ab.effects, ref.effects, strict=True):
        assert (got.metric, got.treatment_arm) == (want.metric, want.treatment_arm)
        assert got.effect == pytest.approx(want.effect, rel=1e-9)
        assert got.se == pytest.approx(want.se, rel=1e-9)
        assert got.sequential_ci_lower == pytest.approx(want.sequential_ci_lower, rel=1e-9)
    e = res.exposure
    n = len(sim.version)
    assert (e.exposures, e.units, e.multi_version_units) == (2 * n, n, 0)
    assert (e.pre_exposure_events, e.unexposed_events, e.srm_generation) == (n, 5, 1)
    assert res.ab.srm is not None and res.ab.srm.passed
    assert res.ab.srm.counts == {v: int((sim.version == v).sum()) for v in WEIGHTS}


def sqlite_source(tmp_path, exp_rows, out_rows):
    path = tmp_path / "warehouse.db"
    with sqlite3.connect(path) as con:
        con.execute(
            "CREATE TABLE exposures (unit TEXT, model TEXT, version TEXT, variant TEXT, generation INTEGER, "
            "ts TEXT, request_id TEXT)"
        )
        con.execute(
            "CREATE TABLE events (unit TEXT, ts TEXT, orders INTEGER, clicks INTEGER, impressions INTEGER)"
        )
        con.executemany("INSERT INTO exposures VALUES (?, ?, ?, ?, ?, ?, ?)", [_iso(r, 5) for r in exp_rows])
        con.executemany("INSERT INTO events VALUES (?, ?, ?, ?, ?)", [_iso(r, 1) for r in out_rows])
    return SQLAlchemySource(create_engine(f"sqlite:///{path}"), "events")


def _iso(row, i):
    return (*row[:i], row[i].isoformat(), *row[i + 1 :])  # how SQLite holds times: ISO-8601 text


def test_sqlite_join_gives_the_in_python_numbers(rollout, tmp_path):
    sim, _, _, exp_rows, out_rows = rollout
    res = analyze_rollout(
        sqlite_source(tmp_path, exp_rows, out_rows), "exposures", "rec", METRICS, weights=WEIGHTS
    )
    assert_same(res, reference(sim), sim)


def test_duckdb_over_parquet_gives_the_in_python_numbers(rollout):
    sim, exposures, outcomes, _, _ = rollout
    assert_same(
        analyze_rollout(DuckDBSource(outcomes), exposures, "rec", METRICS, weights=WEIGHTS),
        reference(sim),
        sim,
    )


def test_the_step_window_is_the_same_on_every_engine(rollout, tmp_path):
    sim, exposures, outcomes, exp_rows, out_rows = rollout
    since = EPOCH + timedelta(hours=12)
    duck = analyze_rollout(DuckDBSource(outcomes), exposures, "rec", METRICS, since=since)
    lite = analyze_rollout(
        sqlite_source(tmp_path, exp_rows, out_rows), "exposures", "rec", METRICS, since=since
    )
    late = sim.arrival >= 12 * 3600 - 300  # a unit's repeat exposure 5 min later counts too
    assert duck.exposure.units == lite.exposure.units == int(late.sum())
    for a, b in zip(duck.ab.effects, lite.ab.effects, strict=True):
        assert a.effect == pytest.approx(b.effect, rel=1e-9) and a.se == pytest.approx(b.se, rel=1e-9)


def test_an_exposures_name_that_is_not_a_table_is_refused(rollout, tmp_path):
    _, _, _, exp_rows, out_rows = rollout
    with pytest.raises(MeasurementError) as err:
        analyze_rollout(sqlite_source(tmp_path, exp_rows, out_rows), "x; DROP TABLE events", "rec", METRICS)
    assert err.value.fields["field"] == "exposures"


@pytest.mark.postgres
def test_postgresql_join_gives_the_in_python_numbers(rollout, pg_schema):
    sim, _, _, exp_rows, out_rows = rollout
    url, schema = pg_schema
    engine = create_engine(url)
    with engine.begin() as conn:
        conn.execute(
            text(
                f'CREATE TABLE "{schema}".exposures (unit text, model text, version text, variant text, '
                "generation bigint, ts timestamptz, request_id text)"
            )
        )
        conn.execute(
            text(
                f'CREATE TABLE "{schema}".events (unit text, ts timestamptz, orders bigint, clicks bigint, '
                "impressions bigint)"
            )
        )
        raw = conn.connection.driver_connection
        with raw.cursor() as cur:
            with cur.copy(f'COPY "{schema}".exposures ({", ".join(EXPOSURE_COLS)}) FROM STDIN') as copy:
                for r in exp_rows:
                    copy.write_row(r)
            with cur.copy(f'COPY "{schema}".events ({", ".join(OUTCOME_COLS)}) FROM STDIN') as copy:
                for r in out_rows:
                    copy.write_row(r)
    source = SQLAlchemySource(engine, "events", schema=schema)
    res = analyze_rollout(source, "exposures", "rec", METRICS, weights=WEIGHTS)
    assert_same(res, reference(sim), sim)
    since = EPOCH + timedelta(hours=12)
    windowed = analyze_rollout(source, "exposures", "rec", METRICS, since=since)
    assert windowed.exposure.units == int((sim.arrival >= 12 * 3600 - 300).sum())
    with engine.begin() as conn:  # CUPAC from a table of the same database
        conn.execute(
            text(f'CREATE TABLE "{schema}".preds (unit text, pred double precision, at timestamptz)')
        )
        cur = conn.connection.driver_connection.cursor()
        with cur.copy(f'COPY "{schema}".preds (unit, pred, at) FROM STDIN') as copy:
            for r in _predictions(sim):
                copy.write_row(r)
    metric = [parse_metric("orders", "pred")]
    cupac = analyze_rollout(source, "exposures", "rec", metric, units_table="preds", units_time="at")
    data = np.column_stack([sim.orders, [p for _, p, _ in _predictions(sim)]]).astype(float)
    ref = {v: Moments.from_array(("orders", "pred"), data[sim.version == v]) for v in ("1", "2", "3")}
    want = analyze_moments(metric, ref, control="1", variants=["1", "2", "3"]).effects
    for got, exp in zip(cupac.ab.effects, want, strict=True):
        assert got.effect == pytest.approx(exp.effect, rel=1e-9) and got.se == pytest.approx(exp.se, rel=1e-9)
    engine.dispose()


def test_the_cli_joins_tables_of_a_database(rollout, tmp_path):
    import json

    from typer.testing import CliRunner

    from trilho.cli.main import app

    sim, _, _, exp_rows, out_rows = rollout
    source = sqlite_source(tmp_path, exp_rows, out_rows)
    url = str(source.engine.url)
    base = [
        "--home",
        str(tmp_path / "home"),
        "measure",
        "rollout",
        "rec",
        "--outcomes",
        url,
        "--table",
        "events",
    ]
    base += ["--metric", "orders", "--covariate", "orders_pre", "--weights", "1=0.7,2=0.2,3=0.1"]
    out = CliRunner().invoke(app, [*base, "--json"])
    assert out.exit_code == 0, out.output
    assert json.loads(out.stdout)["result"]["rollout"]["units"] == len(sim.version)
    bad = CliRunner().invoke(app, [*base, "--exposures", "no such table"])
    assert bad.exit_code == 2 and "not a table name" in bad.output


def test_spark_join_over_the_parquet_log_gives_the_in_python_numbers(rollout):
    """Spark reads the log folder in place (Hive partitions) and runs the same SQL text."""
    from trilho.measure.spark import SparkSource

    sim, exposures, outcomes, _, _ = rollout
    res = analyze_rollout(SparkSource(outcomes), exposures, "rec", METRICS, weights=WEIGHTS)
    assert_same(res, reference(sim), sim)
    since = EPOCH + timedelta(hours=12)
    windowed = analyze_rollout(SparkSource(outcomes), exposures, "rec", METRICS, since=since)
    assert windowed.exposure.units == int((sim.arrival >= 12 * 3600 - 300).sum())
    import json

    from typer.testing import CliRunner

    from trilho.cli.main import app

    args = ["measure", "rollout", "rec", "--outcomes", str(outcomes), "--exposures", str(exposures)]
    args += ["--metric", "orders", "--weights", "1=0.7,2=0.2,3=0.1", "--engine", "spark", "--json"]
    out = CliRunner().invoke(app, args)
    assert out.exit_code == 0, out.output
    assert json.loads(out.stdout)["result"]["rollout"]["units"] == len(sim.version)


def _predictions(sim):
    """(unit, a CUPAC-like prediction, when it was computed: before any exposure) per simulated unit."""
    at = EPOCH - timedelta(days=2)
    return [(f"u{i}", 0.8 * float(p) + 0.3, at) for i, p in enumerate(sim.orders_pre)]


def test_cupac_from_a_table_of_the_database_matches_the_parquet_units_file(rollout, tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    sim, exposures, outcomes, exp_rows, out_rows = rollout
    preds = _predictions(sim)
    units_file = tmp_path / "units.parquet"
    u, p, at = zip(*preds, strict=True)
    pq.write_table(
        pa.table({"unit": u, "pred": p, "at": pa.array(at, pa.timestamp("us", tz="UTC"))}), units_file
    )
    metric = [parse_metric("orders", "pred")]
    duck = analyze_rollout(
        DuckDBSource(outcomes), exposures, "rec", metric, units_table=units_file, units_time="at"
    )
    source = sqlite_source(tmp_path, exp_rows, out_rows)
    with sqlite3.connect(tmp_path / "warehouse.db") as con:
        con.execute("CREATE TABLE preds (unit TEXT, pred REAL, at TEXT)")
        con.executemany("INSERT INTO preds VALUES (?, ?, ?)", [_iso(r, 2) for r in preds])
    lite = analyze_rollout(source, "exposures", "rec", metric, units_table="preds", units_time="at")
    for a, b in zip(duck.ab.effects, lite.ab.effects, strict=True):
        assert a.covariate == b.covariate == "pred"
        assert a.effect == pytest.approx(b.effect, rel=1e-9) and a.se == pytest.approx(b.se, rel=1e-9)
        assert (
            a.variance_reduction == pytest.approx(b.variance_reduction, rel=1e-9) and a.variance_reduction > 0
        )
    with pytest.raises(MeasurementError) as err:
        analyze_rollout(source, "exposures", "rec", metric, units_table="preds; --", units_time="at")
    assert err.value.fields["field"] == "units"
