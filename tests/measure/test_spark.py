"""The same sufficient-statistics SQL on Spark (local mode) gives DuckDB's sums and the same A/B result.

pyspark is pinned in the dev extras, so this module runs in CI (no skip); one local[1] session serves it.
"""

from __future__ import annotations

from datetime import UTC, datetime

import numpy as np
import pytest

from trilho.errors import MeasurementError
from trilho.measure import ab
from trilho.measure.metrics import Covariate, Metric, mean, ratio
from trilho.measure.spark import SparkSource, local_session, stop_local_session
from trilho.measure.sql import SPARK, DuckDBSource, moments_sql, read_moments, read_pooled_moments
from trilho.measure.timing import CovariateTiming

pytestmark = [
    pytest.mark.xdist_group("spark"),
    pytest.mark.slow,
    pytest.mark.filterwarnings("ignore:PySpark does not yet fully support pandas:FutureWarning"),
]

COLS = ["sessions", "orders", "revenue", "sessions_covariate", "orders_covariate", "revenue_covariate"]


@pytest.fixture(scope="module")
def spark():
    session = local_session()
    yield session
    stop_local_session()


@pytest.fixture(scope="module")
def sources(spark, tea_csv):
    s, d = SparkSource(tea_csv, spark=spark), DuckDBSource(tea_csv)
    yield s, d
    s.close()
    d.close()


def test_spark_sql_is_the_shared_query_in_spark_spelling():
    sql = moments_sql("`t`", "variant", ["a", "b"], SPARK)
    assert "CAST(`a` AS DOUBLE)" in sql and "CAST(`variant` AS STRING)" in sql and '"' not in sql


def test_spark_sums_equal_duckdb(sources):
    s, d = sources
    got, ref = read_moments(s, "variant", COLS), read_moments(d, "variant", COLS)
    assert sorted(got) == sorted(ref) == ["0", "1"]
    for arm in ref:
        assert got[arm].n == ref[arm].n
        np.testing.assert_allclose(got[arm].sums, ref[arm].sums, rtol=1e-12)
        np.testing.assert_allclose(got[arm].cross, ref[arm].cross, rtol=1e-12)
    pooled_s, pooled_d = read_pooled_moments(s, COLS), read_pooled_moments(d, COLS)
    np.testing.assert_allclose(pooled_s.cross, pooled_d.cross, rtol=1e-12)


def test_spark_ab_result_matches_duckdb(sources):
    s, d = sources
    metrics = [
        mean("orders"),
        mean("orders", "orders_covariate"),
        ratio("orders", "sessions"),
        ratio("orders", "sessions", "orders_covariate/sessions_covariate"),
        mean("revenue", "revenue_covariate"),
    ]
    a, b = ab.analyze(s, metrics, variant="variant"), ab.analyze(d, metrics, variant="variant")
    assert a.srm.counts == b.srm.counts
    assert len(a.effects) == len(b.effects) == len(metrics)
    for ea, eb in zip(a.effects, b.effects, strict=True):
        assert ea.metric == eb.metric
        for attr in ("effect", "relative", "relative_ci_lower", "relative_ci_upper", "pvalue"):
            assert getattr(ea, attr) == pytest.approx(getattr(eb, attr), rel=1e-9), (ea.metric, attr)
    with pytest.raises(MeasurementError, match="'clicks' is missing"):
        ab.analyze(s, [mean("clicks")], variant="variant")


def test_spark_table_source_checks_covariate_timing(spark):
    rows = [
        (i % 2, float(i % 7), float(i % 5), datetime(2026, 1, 1 + i % 3), datetime(2026, 1, 5))
        for i in range(40)
    ]
    df = spark.createDataFrame(rows, "arm INT, y DOUBLE, x DOUBLE, x_time TIMESTAMP, exposed TIMESTAMP")
    df.createOrReplaceTempView("timed_units")
    src = SparkSource(table="timed_units", spark=spark)
    timed = Metric("y", "y", None, Covariate("x", None, CovariateTiming(time_column="x_time")), "mean")
    res = ab.analyze(src, [timed], variant="arm", exposure_column="exposed")  # per-unit exposure column
    assert res.effects[0].variance_reduction is not None
    late = [(r[0], r[1], r[2], datetime(2026, 1, 9), r[4]) for r in rows]
    spark.createDataFrame(late, df.schema).createOrReplaceTempView("timed_units")
    with pytest.raises(MeasurementError, match="recorded after exposure for 40 unit"):  # a start literal
        ab.analyze(src, [timed], variant="arm", start=datetime(2026, 1, 5, tzinfo=UTC))


def test_cli_ab_engine_spark_matches_duckdb(spark, cli, tea_csv):
    import json

    args = ["measure", "ab", str(tea_csv), "--variant", "variant", "--ratio", "orders/sessions"]
    args += ["--covariate", "orders_covariate/sessions_covariate", "--json"]
    on_spark, on_duckdb = cli(*args, "--engine", "spark"), cli(*args)
    assert on_spark.exit_code == 0, on_spark.output
    a = json.loads(on_spark.stdout)["result"]["effects"][0]
    b = json.loads(on_duckdb.stdout)["result"]["effects"][0]
    assert a["relative"] == pytest.approx(b["relative"], rel=1e-9)
    assert a["pvalue"] == pytest.approx(b["pvalue"], rel=1e-9)
    bad = cli(*args, "--engine", "sparks")
    assert bad.exit_code == 2 and "unknown engine 'sparks'" in bad.output


def test_spark_reads_a_parquet_folder_like_duckdb(spark, tea_csv, tmp_path):
    import duckdb

    (tmp_path / "part=b").mkdir()
    for arm, out in (("0", tmp_path / "a.parquet"), ("1", tmp_path / "part=b" / "b.parquet")):
        duckdb.sql(f"COPY (SELECT * FROM read_csv_auto('{tea_csv}') WHERE variant = {arm}) TO '{out}'")
    (tmp_path / "truth.json").write_text("{}")  # not Parquet: both engines must skip it
    got = read_moments(SparkSource(tmp_path, spark=spark), "variant", COLS)
    ref = read_moments(DuckDBSource(tmp_path), "variant", COLS)
    for arm in ("0", "1"):
        assert got[arm].n == ref[arm].n
        np.testing.assert_allclose(got[arm].cross, ref[arm].cross, rtol=1e-12)


def test_missing_java_is_a_clear_error(monkeypatch):
    import trilho.measure.spark as spark_mod

    monkeypatch.setattr(spark_mod, "_SESSION", None)
    monkeypatch.setattr(spark_mod.shutil, "which", lambda name: None)
    monkeypatch.delenv("JAVA_HOME", raising=False)
    with pytest.raises(MeasurementError, match="needs a Java runtime") as err:
        spark_mod.local_session()
    assert "JAVA_HOME" in err.value.fix


def test_spark_source_needs_exactly_one_of_path_or_table(spark):
    with pytest.raises(MeasurementError, match="exactly one of path or table"):
        SparkSource(spark=spark)
    with pytest.raises(MeasurementError, match="does not exist"):
        SparkSource("/no/such/file.csv", spark=spark)
