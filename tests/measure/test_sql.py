"""The same sufficient-statistics SQL on DuckDB and PostgreSQL gives the same moments and estimates."""

from __future__ import annotations

import csv

import numpy as np
import pytest
from sqlalchemy import create_engine, text

from trilho.errors import MeasurementError
from trilho.measure import ab
from trilho.measure.metrics import mean, ratio
from trilho.measure.moments import Moments
from trilho.measure.sql import DuckDBSource, SQLAlchemySource, moments_sql, read_moments

COLS = ["sessions", "orders", "revenue", "sessions_covariate", "orders_covariate", "revenue_covariate"]


def test_duckdb_moments_match_numpy(tea_csv):
    got = read_moments(DuckDBSource(tea_csv), "variant", COLS)
    with open(tea_csv) as f:
        rows = list(csv.DictReader(f))
    for arm in ("0", "1"):
        arr = np.array([[float(r[c]) for c in COLS] for r in rows if r["variant"] == arm])
        ref = Moments.from_array(COLS, arr)
        assert got[arm].n == ref.n
        np.testing.assert_allclose(got[arm].sums, ref.sums, rtol=1e-12)
        np.testing.assert_allclose(got[arm].cross, ref.cross, rtol=1e-12)


def test_query_pulls_only_aggregates():
    sql = moments_sql("t", "variant", ["a", "b"])
    assert "GROUP BY" in sql and sql.count("SUM(") == 2 + 3


@pytest.mark.postgres
def test_same_sql_on_postgresql(tea_csv, pg_schema):
    url, schema = pg_schema
    engine = create_engine(url)
    with open(tea_csv) as f:
        rows = list(csv.DictReader(f))
    cols = ["user", "variant", *COLS]
    with engine.begin() as conn:
        conn.execute(
            text(
                f'CREATE TABLE "{schema}".users ("user" integer, variant integer, sessions integer, '
                "orders integer, "
                "revenue double precision, sessions_covariate integer, orders_covariate integer, "
                "revenue_covariate double precision)"
            )
        )
        conn.execute(
            text(f'INSERT INTO "{schema}".users VALUES ({", ".join(":" + c for c in cols)})'),
            [{c: float(r[c]) if c.startswith("revenue") else int(r[c]) for c in cols} for r in rows],
        )
    pg = SQLAlchemySource(engine, "users", schema=schema)
    metrics = [
        mean("orders", "orders_covariate"),
        ratio("orders", "sessions", "orders_covariate/sessions_covariate"),
    ]
    a = ab.analyze(pg, metrics, variant="variant")
    b = ab.analyze(DuckDBSource(tea_csv), metrics, variant="variant")
    for ea, eb in zip(a.effects, b.effects, strict=True):
        assert ea.effect == pytest.approx(eb.effect, rel=1e-9)
        assert ea.pvalue == pytest.approx(eb.pvalue, rel=1e-9)
    with pytest.raises(MeasurementError, match="'clicks' is missing"):
        ab.analyze(pg, [mean("clicks")], variant="variant")
    engine.dispose()
