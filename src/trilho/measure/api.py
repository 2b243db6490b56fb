"""The task-level API behind ``trilho measure``: parse user-facing specs, run an analysis, return a result.

Each function takes plain values (paths, column names, ``"orders/sessions"`` specs) so the CLI stays a thin
layer and Python users get the same behaviour.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from trilho.errors import MeasurementError
from trilho.measure import ab
from trilho.measure.estimators import ratio_value_grad
from trilho.measure.geo import GeoResult, synthetic_control
from trilho.measure.markets import PowerCurve, power_by_simulation, select_markets
from trilho.measure.metrics import Covariate, Metric, parse_metric
from trilho.measure.panel import Panel
from trilho.measure.power import DurationPlan, plan_duration
from trilho.measure.sql import DuckDBSource, Source, SQLAlchemySource, read_pooled_moments, require_columns
from trilho.measure.timing import CovariateTiming, parse_covariate_time, parse_time

ENGINES = ("duckdb", "spark")


def open_source(
    data: str,
    *,
    table: str | None = None,
    schema: str | None = None,
    threads: int | None = None,
    engine: str = "duckdb",
) -> Source:
    """DuckDB over a file/folder/glob, (with ``table``) a table behind a SQLAlchemy URL, or Spark.

    ``engine="spark"`` reads the file(s) with a local Spark session, or with ``table`` a table of that
    session's catalogue (``data`` is then ignored). Every engine runs the same SQL.
    """
    if engine not in ENGINES:
        raise MeasurementError(
            f"unknown engine {engine!r}",
            fix=f"use one of: {', '.join(ENGINES)}",
            field="engine",
            value=engine,
        )
    if engine == "spark":
        from trilho.measure.spark import SparkSource

        return SparkSource(table=table) if table else SparkSource(data)
    if table:
        from sqlalchemy import create_engine

        return SQLAlchemySource(create_engine(data), table, schema=schema)
    return DuckDBSource(data, threads=threads)


def build_metrics(
    metrics: Sequence[str],
    ratios: Sequence[str] = (),
    covariates: Sequence[str] = (),
    covariate_times: Sequence[str] = (),
) -> list[Metric]:
    """Metrics from ``--metric``/``--ratio`` specs; ``--covariate`` is positional or ``METRIC=COVARIATE``."""
    specs = list(metrics) + list(ratios)
    for r in ratios:
        if "/" not in r:
            raise MeasurementError(
                f"--ratio {r!r} is not NUM/DEN", fix="e.g. --ratio orders/sessions", field="ratio", value=r
            )
    timings: dict[str, CovariateTiming] = dict(parse_covariate_time(s) for s in covariate_times)
    mapping: dict[str, str] = {}
    positional = [c for c in covariates if "=" not in c]
    for c in covariates:
        if "=" in c:
            m, cov = c.split("=", 1)
            mapping[m.strip()] = cov.strip()
    if len(positional) > len(specs):
        raise MeasurementError(
            f"{len(positional)} covariates for {len(specs)} metrics",
            fix="give at most one --covariate per metric, or METRIC=COVARIATE",
            field="covariate",
        )
    out = []
    for i, spec in enumerate(specs):
        cov = mapping.get(spec, positional[i] if i < len(positional) else None)
        m = parse_metric(spec, cov)
        if m.covariate is not None:
            cv = m.covariate
            timing = timings.get(cv.numerator) or (timings.get(cv.denominator) if cv.denominator else None)
            m = Metric(
                m.name, m.numerator, m.denominator, Covariate(cv.numerator, cv.denominator, timing), m.kind
            )
        out.append(m)
    return out


def run_ab(
    data: str,
    *,
    variant: str,
    metrics: Sequence[str] = (),
    ratios: Sequence[str] = (),
    covariates: Sequence[str] = (),
    covariate_times: Sequence[str] = (),
    start: str | None = None,
    exposure_column: str | None = None,
    table: str | None = None,
    schema: str | None = None,
    threads: int | None = None,
    engine: str = "duckdb",
    **options,
) -> ab.ABResult:
    """Analyse an A/B test stored in ``data`` (file or, with ``table``, a database or Spark table)."""
    ms = build_metrics(metrics, ratios, covariates, covariate_times)
    source = open_source(data, table=table, schema=schema, threads=threads, engine=engine)
    return ab.analyze(
        source,
        ms,
        variant=variant,
        start=parse_time(start) if start else None,
        exposure_column=exposure_column,
        **options,
    )


def load_panel(data: str, *, unit_col: str, time_col: str, outcome_col: str) -> Panel:
    """A geo panel from a long CSV/Parquet file."""
    return Panel.from_file(data, unit=unit_col, time=time_col, outcome=outcome_col)


def run_geo(
    data: str,
    *,
    treated: Sequence[str],
    start: str,
    end: str | None = None,
    unit_col: str = "location",
    time_col: str = "date",
    outcome_col: str = "Y",
    **options,
) -> GeoResult:
    """Synthetic-control analysis of a geo test from a long panel file."""
    panel = load_panel(data, unit_col=unit_col, time_col=time_col, outcome_col=outcome_col)
    return synthetic_control(panel, list(treated), start, end, **options)


def ab_design(
    data: str | None,
    *,
    mde: float,
    units_per_day: float,
    metric: str | None = None,
    covariate: str | None = None,
    sd: float | None = None,
    baseline: float | None = None,
    rho: float | None = None,
    relative: bool = True,
    alpha: float = 0.05,
    power: float = 0.8,
    treatment_share: float = 0.5,
) -> DurationPlan:
    """Duration plan for an A/B test; sd, baseline and CUPED rho from ``data`` (one SQL pass) or flags."""
    if data is not None:
        if metric is None:
            raise MeasurementError("power from data needs --metric", field="metric")
        m = parse_metric(metric, covariate)
        src = open_source(data)
        require_columns(src, m.columns, flag="metric")
        pooled = read_pooled_moments(src, m.columns)
        baseline, g = ratio_value_grad(pooled, m.numerator, m.denominator)
        s = pooled.cov
        sd = math.sqrt(float(g @ s @ g))
        if m.covariate is not None:
            _, gx = ratio_value_grad(pooled, m.covariate.numerator, m.covariate.denominator)
            vx = float(gx @ s @ gx)
            rho = float(g @ s @ gx) / math.sqrt(vx * sd * sd) if vx > 0 and sd > 0 else 0.0
    if sd is None:
        raise MeasurementError(
            "the metric's standard deviation is unknown", fix="pass DATA --metric M, or --sd", field="sd"
        )
    effect = mde
    if relative:
        if baseline is None or baseline == 0:
            raise MeasurementError(
                "a relative MDE needs the baseline mean", fix="pass --baseline or DATA", field="baseline"
            )
        effect = mde * abs(baseline)
    return plan_duration(
        effect, sd, units_per_day, rho=rho or 0.0, alpha=alpha, power=power, treatment_share=treatment_share
    )


def geo_power(
    data: str,
    *,
    treated: Sequence[str],
    duration: int,
    unit_col: str = "location",
    time_col: str = "date",
    outcome_col: str = "Y",
    **options,
) -> PowerCurve:
    """Power by simulation for one candidate treatment group on a historical panel."""
    panel = load_panel(data, unit_col=unit_col, time_col=time_col, outcome_col=outcome_col)
    return power_by_simulation(panel, list(treated), duration, **options)


def markets(
    data: str,
    *,
    sizes: Sequence[int],
    duration: int,
    unit_col: str = "location",
    time_col: str = "date",
    outcome_col: str = "Y",
    **options,
) -> list[PowerCurve]:
    """Market selection on a historical panel."""
    panel = load_panel(data, unit_col=unit_col, time_col=time_col, outcome_col=outcome_col)
    return select_markets(panel, list(sizes), duration, **options)
