"""Rollout experiments from the gateway's exposure log: what a model version changed in business metrics.

The exposure log (Parquet, ``day=…/model=…/part-*.parquet``, written by the gateway) says which unit was
routed to which version and when; an outcomes table holds events per unit with a time. One SQL pass makes
one row per unit: the version of its *first* exposure, each outcome summed over events at or after that
exposure, and each covariate summed over the events before it (pre-exposure events are covariates, never
outcomes). The per-version sufficient statistics of that table go through the A/B machinery
(:mod:`trilho.measure.ab`): CUPED, delta-method ratios, per-version lift against stable with always-valid
confidence sequences. The sample-ratio check counts the units first exposed under the newest routing
generation — the only ones assigned by the weights now in force.

The same SQL runs on DuckDB over the Parquet log and on PostgreSQL or SQLite where the log is a table beside
the events (``Dialect`` holds what differs). This module knows the log's layout, never the gateway.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from trilho.errors import MeasurementError
from trilho.measure.ab import ABResult, analyze_moments
from trilho.measure.metrics import Covariate, Metric
from trilho.measure.sql import (
    ANSI,
    Dialect,
    DuckDBSource,
    Source,
    SQLAlchemySource,
    read_moments,
    require_columns,
)
from trilho.measure.srm import srm_by_generation, srm_test

PRE = "_pre"
_IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def is_identifier(name: str) -> bool:
    """A plain SQL table name (letters, digits, underscores)."""
    return bool(_IDENT.fullmatch(name))


DEFAULT_PLANNED_UNITS = 100_000


@dataclass(frozen=True)
class ExposureSummary:
    """What the join saw: exposures, units, units seen on several versions, events before exposure."""

    model: str
    exposures: int
    units: int
    multi_version_units: int
    pre_exposure_events: int
    unexposed_events: int
    srm_generation: int | None
    planned_units: float
    srm_generations: tuple[int, ...] = ()  # every generation the sample-ratio check tested


@dataclass(frozen=True)
class RolloutResult:
    """A rollout's A/B analysis (control: the stable version) and what the exposure join saw."""

    ab: ABResult
    exposure: ExposureSummary

    def to_dict(self) -> dict:
        """JSON-ready form: the A/B result's (so reports render it) plus ``rollout``."""
        return {**self.ab.to_dict(), "rollout": asdict(self.exposure)}


@dataclass(frozen=True)
class UnitCovariates:
    """A table with one row per unit of covariates known before exposure (CUPAC: a model's prediction of the
    outcome from pre-period features), the time each was computed, and the columns used."""

    relation: str
    columns: tuple[str, ...]
    time: str


def table_relation(path: str | Path, what: str = "units") -> str:
    """The DuckDB FROM clause reading a Parquet or CSV file, folder or glob."""
    p = str(path)
    if "*" not in p and not Path(p).exists():
        raise MeasurementError(
            f"{what} table {p} does not exist", fix=f"check the --{what} path", field=what, value=p
        )
    lit = p.replace("'", "''")
    if Path(p).is_dir():
        return f"read_parquet('{lit.rstrip('/')}/**/*.parquet')"
    if p.lower().endswith((".parquet", ".pq")):
        return f"read_parquet('{lit}')"
    return f"read_csv_auto('{lit}')"


def exposures_relation(path: str | Path) -> str:
    """The FROM clause reading an exposure log folder (or a glob of its parts), partitions as columns."""
    p = str(path)
    if "*" not in p:
        if not Path(p).exists():
            raise MeasurementError(
                f"exposure log {p} does not exist",
                fix="pass --exposures <home>/exposures (the gateway's log) or a glob of its part files",
                field="exposures",
                value=p,
            )
        if Path(p).is_dir():
            p = f"{p.rstrip('/')}/**/*.parquet"
    return f"read_parquet('{p.replace(chr(39), chr(39) * 2)}', hive_partitioning = true)"


def covariate_column(spec: str) -> str:
    """The outcome column a covariate sums before exposure: ``orders_pre`` and ``orders`` both mean orders."""
    return spec[: -len(PRE)] if spec.endswith(PRE) else spec


def unit_table_sql(
    exposures: str,
    outcomes: str,
    model: str,
    *,
    unit: str,
    time: str,
    outcome_columns: Sequence[str],
    covariate_columns: Sequence[str],
    dialect: Dialect = ANSI,
    since: datetime | None = None,
    unit_covariates: UnitCovariates | None = None,
) -> str:
    """One row per exposed unit: version (first exposure), generation, versions seen, first exposure time,
    ``<col>`` summed at or after the first exposure for each outcome column, ``<col>_pre`` summed before it
    for each covariate. With ``since``, only exposures at or after it count (a rollout step's own units).
    With ``unit_covariates``, each unit's row of that table (CUPAC predictions) is joined, with its time as
    ``_covariate_ts``."""
    q = dialect.quote
    cols = list(dict.fromkeys([*outcome_columns, *covariate_columns]))
    picked = ", ".join(f"CAST({q(c)} AS {dialect.double}) AS {q(c)}" for c in cols)
    sums = [
        f"COALESCE(SUM(CASE WHEN o.t >= f.first_ts THEN o.{q(c)} END), 0) AS {q(c)}"
        for c in dict.fromkeys(outcome_columns)
    ] + [
        f"COALESCE(SUM(CASE WHEN o.t < f.first_ts THEN o.{q(c)} END), 0) AS {q(c + PRE)}"
        for c in dict.fromkeys(covariate_columns)
    ]
    body = (
        f"WITH {first_exposure_ctes(exposures, model, since, dialect)}, "
        f"o AS (SELECT CAST({q(unit)} AS {dialect.text}) AS unit, {dialect.as_time(q(time))} AS t"
        f"{', ' + picked if picked else ''} FROM {outcomes}) "
        "SELECT f.unit, f.version, f.variant, f.generation, f.versions, f.first_ts"
        f"{', ' + ', '.join(sums) if sums else ''} "
        "FROM f LEFT JOIN o ON o.unit = f.unit "
        "GROUP BY f.unit, f.version, f.variant, f.generation, f.versions, f.first_ts"
    )
    if unit_covariates is None:
        return f"({body}) AS units"
    uc = unit_covariates
    ucols = ", ".join(f"CAST({q(c)} AS {dialect.double}) AS {q(c)}" for c in uc.columns)
    picked_u = ", ".join("uc." + q(c) for c in uc.columns)
    return (
        f"(SELECT x.*, {picked_u}, uc.t AS _covariate_ts FROM ({body}) AS x "
        f"LEFT JOIN (SELECT CAST({q(unit)} AS {dialect.text}) AS unit, {dialect.as_time(q(uc.time))} AS t, "
        f"{ucols} FROM {uc.relation}) AS uc ON uc.unit = x.unit) AS units"
    )


def summary_sql(
    exposures: str,
    outcomes: str,
    model: str,
    *,
    unit: str,
    time: str,
    dialect: Dialect = ANSI,
    since: datetime | None = None,
):
    """Counts for :class:`ExposureSummary`: exposures, units, multi-version units, events before exposure,
    events of units never exposed, and the newest generation any unit was first exposed under."""
    q = dialect.quote
    return (
        f"WITH {first_exposure_ctes(exposures, model, since, dialect)}, "
        f"o AS (SELECT CAST({q(unit)} AS {dialect.text}) AS unit, {dialect.as_time(q(time))} AS t "
        f"FROM {outcomes}) "
        "SELECT (SELECT COUNT(*) FROM a), (SELECT COUNT(*) FROM f), "
        "(SELECT COUNT(*) FROM f WHERE versions > 1), "
        "(SELECT COUNT(*) FROM o JOIN f ON o.unit = f.unit WHERE o.t < f.first_ts), "
        "(SELECT COUNT(*) FROM o LEFT JOIN f ON o.unit = f.unit WHERE f.unit IS NULL), "
        "(SELECT max(generation) FROM f)"
    )


def _since(since: datetime | None, dialect: Dialect) -> str:
    """The exposure filter for ``since`` (an aware time; a naive one is UTC)."""
    if since is None:
        return ""
    if since.tzinfo is None:
        since = since.replace(tzinfo=UTC)
    return f" AND {dialect.as_time('ts')} >= {dialect.as_time(repr(since.astimezone(UTC).isoformat()))}"


def first_exposure_ctes(exposures: str, model: str, since: datetime | None, dialect: Dialect = ANSI) -> str:
    """CTEs ``a`` (the model's exposures), ``e`` (those with a unit) and ``f`` (one row per unit: version,
    variant and generation of its first exposure, ``first_ts``, distinct versions seen), in SQL that DuckDB,
    PostgreSQL and SQLite share (a window function, no ``arg_min``; ties broken by version)."""
    model_lit = "'" + model.replace("'", "''") + "'"
    t = dialect.as_time("ts")
    return (
        f"a AS (SELECT unit, version, variant, generation, {t} AS ts FROM {exposures} "
        f"WHERE model = {model_lit}{_since(since, dialect)}), "
        f"e AS (SELECT CAST(unit AS {dialect.text}) AS unit, version, variant, generation, ts FROM a "
        "WHERE unit IS NOT NULL), "
        "r AS (SELECT unit, version, variant, generation, ts, "
        "ROW_NUMBER() OVER (PARTITION BY unit ORDER BY ts, version) AS rn FROM e), "
        "c AS (SELECT unit, COUNT(DISTINCT version) AS versions FROM e GROUP BY unit), "
        "f AS (SELECT r.unit, r.version, r.variant, r.generation, r.ts AS first_ts, c.versions "
        "FROM r JOIN c ON c.unit = r.unit WHERE r.rn = 1)"
    )


def generation_counts_sql(units: str) -> str:
    """Units per (generation, version) of first exposure: the all-generations sample-ratio check's counts."""
    return f"SELECT generation, version, COUNT(*) FROM {units} GROUP BY generation, version"


def newest_generation_counts_sql(units: str, generation: int) -> str:
    """Units per version among those first exposed under ``generation`` (the sample-ratio check's counts)."""
    return f"SELECT version, COUNT(*) FROM {units} WHERE generation = {int(generation)} GROUP BY version"


def _refuse_pre_outcomes(metrics: Sequence[Metric], have: Sequence[str]) -> None:
    for m in metrics:
        for col in (m.numerator, m.denominator):
            if col and col.endswith(PRE) and col not in have and col[: -len(PRE)] in have:
                raise MeasurementError(
                    f"metric '{col}' would count events before exposure as an outcome",
                    fix=f"use --metric {col[: -len(PRE)]} (counted after exposure) and {col} as --covariate",
                    field="metric",
                    value=col,
                )


def _unit_metric(m: Metric, unit_level: Sequence[str] = ()) -> Metric:
    """The metric over the unit table's columns: its covariate reads the ``_pre`` sums, or a column of the
    unit covariates table as it is (``unit_level``)."""
    cv = m.covariate
    if cv is None:
        return m

    def col(c: str) -> str:
        return c if c in unit_level else covariate_column(c) + PRE

    num = col(cv.numerator)
    den = col(cv.denominator) if cv.denominator else None
    return replace(m, covariate=Covariate(num, den, cv.timing))


def analyze_rollout(
    outcomes: Source,
    exposures: str | Path,
    model: str,
    metrics: Sequence[Metric],
    *,
    unit: str = "unit",
    time: str = "ts",
    weights: Mapping[str, float] | None = None,
    stable: str | None = None,
    alpha: float = 0.05,
    planned_units: float = DEFAULT_PLANNED_UNITS,
    since: datetime | None = None,
    generation_weights: Mapping[int, Mapping[str, float]] | None = None,
    units_table: str | Path | None = None,
    units_time: str | None = None,
) -> RolloutResult:
    """Per-version lift vs stable from the exposure log joined to ``outcomes``; ``weights`` (version → share
    of live traffic, the routing weights in force) drive the sample-ratio check, ``stable`` names the
    control; ``since`` keeps only exposures at or after it (a rollout step's window). With
    ``generation_weights`` (generation → version → share, the store's routing history) the check covers
    every generation's units against the shares then in force (``weights`` still overrides the newest).
    A covariate may name a column of ``units_table`` (one row per unit, e.g. a CUPAC prediction computed at
    ``units_time``): a unit whose row was computed at or after its first exposure is refused."""
    if not metrics:
        raise MeasurementError("no metric to analyse", fix="pass --metric or --ratio", field="metric")
    have = outcomes.columns()
    _refuse_pre_outcomes(metrics, have)
    require_columns(outcomes, [unit], flag="unit-col")
    require_columns(outcomes, [time], flag="time-col")
    out_cols = [c for m in metrics for c in (m.numerator, m.denominator) if c]
    require_columns(outcomes, out_cols, flag="metric")
    ucov = _unit_covariates(outcomes, metrics, units_table, units_time, unit, have)
    unit_level = ucov.columns if ucov else ()
    cov_cols = [
        covariate_column(c)
        for m in metrics
        if m.covariate
        for c in m.covariate.columns
        if c not in unit_level
    ]
    require_columns(outcomes, cov_cols, flag="covariate")
    exp = _exposures_in(outcomes, exposures)
    rel, dialect = outcomes.relation(), outcomes.dialect
    units = unit_table_sql(
        exp,
        rel,
        model,
        unit=unit,
        time=time,
        outcome_columns=out_cols,
        covariate_columns=cov_cols,
        since=since,
        unit_covariates=ucov,
        dialect=dialect,
    )
    row = outcomes.query(summary_sql(exp, rel, model, unit=unit, time=time, since=since, dialect=dialect))[0]
    n_exp, n_units, multi, pre, unexposed, gen = row
    if not n_units:
        raise MeasurementError(
            f"the exposure log has no unit routed to model {model!r}",
            fix="check the model name and the --exposures folder (requests need an X-Trilho-Unit)",
            field="model",
            value=model,
        )
    if ucov is not None:
        _refuse_late_unit_covariates(outcomes, units, ucov)
    unit_metrics = [_unit_metric(m, unit_level) for m in metrics]
    moments = read_moments(_Units(outcomes, units), "version", [c for m in unit_metrics for c in m.columns])
    control = stable or _stable_version(outcomes, units)
    ab = analyze_moments(
        unit_metrics,
        moments,
        control=control,
        variants=sorted(moments),
        alpha=alpha,
        srm=False,
        sequential_planned_n=planned_units,
    )
    warnings = list(ab.warnings)
    srm = None
    tested: tuple[int, ...] = ()
    if generation_weights:
        srm, tested = _srm_all_generations(outcomes, units, generation_weights, weights, gen, warnings)
    elif weights:
        counts = dict(outcomes.query(newest_generation_counts_sql(units, gen)))
        live = {v: w for v, w in weights.items() if w > 0}
        for v in counts:
            if v not in live:
                warnings.append(
                    f"version {v} received units under generation {gen} but has no weight in force: "
                    "the weights given are not the ones these units were routed by"
                )
        counts = {v: int(counts.get(v, 0)) for v in live}
        srm = srm_test(counts, live)
        if not srm.passed:
            warnings.append(
                f"sample ratio mismatch among units first exposed under generation {gen} "
                f"(p = {srm.pvalue:.2g}): no lift is claimed until the routing or logging problem is found"
            )
    else:
        warnings.append("no routing weights given: the sample-ratio check was skipped")
    if multi:
        warnings.append(
            f"{multi} unit(s) were routed to more than one version (a weight change moved them): each is "
            "analysed with the version of its first exposure"
        )
    summary = ExposureSummary(
        model, int(n_exp), int(n_units), int(multi), int(pre), int(unexposed), gen, planned_units, tested
    )
    return RolloutResult(replace(ab, srm=srm, warnings=warnings), summary)


def _srm_all_generations(source, units, generation_weights, weights, newest, warnings):
    """The sample-ratio check over every generation's units (``srm_by_generation``); adds its warnings."""
    shares = {int(g): dict(w) for g, w in generation_weights.items()}
    if weights and newest is not None:
        shares[int(newest)] = dict(weights)
    counts: dict[int, dict[str, int]] = {}
    for g, v, n in source.query(generation_counts_sql(units)):
        counts.setdefault(int(g), {})[str(v)] = int(n)
    res = srm_by_generation(counts, shares)
    for key, n in res.unexpected.items():
        g, _, v = key.partition("/")
        warnings.append(
            f"{n} unit(s) were first routed to version {v} under generation {g}, which gave it no share"
        )
    if res.unknown:
        warnings.append(
            "the routing weights of generation(s) "
            f"{', '.join(map(str, res.unknown))} are not in the store's history: their units were not checked"
        )
    if not res.passed:
        warnings.append(
            f"sample ratio mismatch across generations {', '.join(map(str, res.tested)) or '-'} "
            f"(p = {res.result.pvalue:.2g}): no lift is claimed until the routing or logging problem is found"
        )
    return res.result, res.tested


def _exposures_in(outcomes: Source, exposures: str | Path) -> str:
    """Where the exposures are read beside ``outcomes``: the Parquet log (files, read by DuckDB), or a table
    of the outcomes' database (PostgreSQL, SQLite, a warehouse) with the log's columns and ``model``."""
    if isinstance(outcomes, DuckDBSource):
        outcomes.query("SET TimeZone = 'UTC'")  # outcome times without a zone are UTC, as the log's
        return exposures_relation(exposures)
    q = outcomes.dialect.quote
    if outcomes.dialect.name == "spark" and Path(str(exposures)).exists():
        return _spark_log_view(outcomes, exposures)
    schema = getattr(outcomes, "schema", None)
    name = str(exposures)
    if not is_identifier(name):
        raise MeasurementError(
            f"exposures {name!r} is not a table name of the outcomes' database",
            fix="load the exposure log into a table there (columns unit, model, version, variant, "
            "generation, ts, request_id) and name it",
            field="exposures",
            value=name,
        )
    return f"{q(schema)}.{q(name)}" if schema else q(name)


def _spark_log_view(outcomes: Any, exposures: str | Path) -> str:
    """The exposure log folder as a Spark temporary view (``day``/``model`` from the Hive folders; hidden
    parts still being written are skipped, as Spark skips dot files)."""
    spark = outcomes.spark
    view = f"trilho_exposures_{abs(hash(str(exposures))):x}"
    spark.read.option("basePath", str(exposures)).parquet(str(exposures)).createOrReplaceTempView(view)
    return outcomes.dialect.quote(view)


def _units_relation(outcomes: Source, units_table: str | Path) -> tuple[str, list[str]]:
    """The units table's FROM clause and columns: a Parquet/CSV file beside DuckDB, else a table of the
    outcomes' database (or Spark catalogue)."""
    if isinstance(outcomes, DuckDBSource):
        rel = table_relation(units_table)
        return rel, [r[0] for r in outcomes.query(f"DESCRIBE SELECT * FROM {rel}")]
    name = str(units_table)
    if not is_identifier(name):
        raise MeasurementError(
            f"units {name!r} is not a table name of the outcomes' database",
            fix="load the predictions into a table there (unit, prediction columns, computed-at time)",
            field="units",
            value=name,
        )
    q = outcomes.dialect.quote
    if isinstance(outcomes, SQLAlchemySource):
        cols = SQLAlchemySource(outcomes.engine, name, schema=outcomes.schema).columns()
        return (f"{q(outcomes.schema)}.{q(name)}" if outcomes.schema else q(name)), cols
    spark = getattr(outcomes, "spark", None)
    if spark is not None:
        return q(name), list(spark.table(name).columns)
    raise MeasurementError(
        f"a units table cannot be read beside {type(outcomes).__name__}",
        fix="put the prediction in the outcomes as a column",
        field="units",
    )


def _unit_covariates(outcomes, metrics, units_table, units_time, unit, have) -> UnitCovariates | None:
    """The unit covariates table the metrics' covariates read (None without one), checked for its columns."""
    if units_table is None:
        return None
    rel, ucols = _units_relation(outcomes, units_table)
    named = [c for m in metrics if m.covariate for c in m.covariate.columns]
    used = tuple(dict.fromkeys(c for c in named if c in ucols and c != unit))
    if not used:
        raise MeasurementError(
            f"no covariate names a column of the units table {units_table} (it has: {', '.join(ucols)})",
            fix="name one of its columns with --covariate METRIC=COLUMN, or leave --units out",
            field="covariate",
        )
    for col, flag in ((unit, "unit-col"), (units_time, "units-time")):
        if col is None or col not in ucols:
            raise MeasurementError(
                f"the units table {units_table} has no column {col!r} (it has: {', '.join(ucols)})",
                fix="pass --units-time with the column saying when each unit's covariates were computed "
                "(they must predate its first exposure)"
                if flag == "units-time"
                else f"give the units table the --{flag} column the outcomes use",
                field=flag,
                value=col,
            )
    dupes = outcomes.query(f"SELECT COUNT(*) - COUNT(DISTINCT {unit}) FROM {rel}")[0][0]
    if dupes:
        raise MeasurementError(
            f"the units table {units_table} has {dupes} repeated unit(s): a unit's covariates are one row",
            fix="keep one row per unit (the newest computed before the experiment)",
            field="units",
            value=str(units_table),
        )
    return UnitCovariates(rel, used, units_time)  # type: ignore[arg-type]


def _refuse_late_unit_covariates(source: Source, units: str, ucov: UnitCovariates) -> None:
    """Covariates computed at or after a unit's first exposure may carry the treatment: refused, counted."""
    late, missing = source.query(
        "SELECT SUM(CASE WHEN _covariate_ts >= first_ts THEN 1 ELSE 0 END), "
        f"SUM(CASE WHEN _covariate_ts IS NULL THEN 1 ELSE 0 END) FROM {units}"
    )[0]
    if late:
        raise MeasurementError(
            f"covariate(s) {', '.join(ucov.columns)} were computed at or after the first exposure of {late} "
            f"unit(s) (column '{ucov.time}')",
            fix="recompute them from pre-experiment data only (CUPAC predictions must predate exposure)",
            field="covariate",
            value=ucov.columns[0],
        )
    if missing:
        raise MeasurementError(
            f"{missing} exposed unit(s) have no row in the units table, so no {', '.join(ucov.columns)}",
            fix="give every unit a row (a prediction from whatever pre-period data it has)",
            field="units",
        )


def _stable_version(source: Source, units: str) -> str:
    rows = source.query(
        f"SELECT version, COUNT(*) AS n FROM {units} WHERE variant = 'stable' "
        "GROUP BY version ORDER BY n DESC"
    )
    if not rows:
        raise MeasurementError(
            "no unit was first routed to a stable version",
            fix="name the control with --stable VERSION",
            field="stable",
        )
    return str(rows[0][0])


@dataclass
class _Units:
    """The unit table as a :class:`Source` for :func:`read_moments` (same engine, a subquery relation)."""

    source: Source
    units: str

    def __post_init__(self) -> None:
        self.name = self.source.name
        self.dialect = self.source.dialect

    def relation(self) -> str:
        return self.units

    def columns(self) -> list[str]:
        return []

    def query(self, sql: str) -> list[tuple]:
        return self.source.query(sql)


def parse_weights(text: str) -> dict[str, float]:
    """``"1=0.9,2=0.1"`` → version → share of live traffic."""
    out: dict[str, float] = {}
    for part in (p.strip() for p in text.split(",") if p.strip()):
        version, _, value = part.partition("=")
        try:
            weight = float(value)
        except ValueError:
            weight = -1.0
        if not version.strip() or not 0 <= weight <= 1:
            raise MeasurementError(
                f"--weights {text!r}: {part!r} is not VERSION=SHARE with a share between 0 and 1",
                fix="e.g. --weights 1=0.9,2=0.1 (the routing weights in force)",
                field="weights",
                value=text,
            )
        out[version.strip()] = weight
    return out
