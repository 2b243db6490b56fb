"""Rollout experiments from the gateway's exposure log: what a model version changed in business metrics.

The exposure log (Parquet, ``day=…/model=…/part-*.parquet``, written by the gateway) says which unit was
routed to which version and when; an outcomes table holds events per unit with a time. One SQL pass makes
one row per unit: the version of its *first* exposure, each outcome summed over events at or after that
exposure, and each covariate summed over the events before it (pre-exposure events are covariates, never
outcomes). The per-version sufficient statistics of that table go through the A/B machinery
(:mod:`trilho.measure.ab`): CUPED, delta-method ratios, per-version lift against stable with always-valid
confidence sequences. The sample-ratio check counts the units first exposed under the newest routing
generation — the only ones assigned by the weights now in force.

This module reads files only; it knows the log's layout, never the gateway.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, replace
from datetime import UTC, datetime
from pathlib import Path

from trilho.errors import MeasurementError
from trilho.measure.ab import ABResult, analyze_moments
from trilho.measure.metrics import Covariate, Metric
from trilho.measure.sql import ANSI, Dialect, Source, read_moments, require_columns
from trilho.measure.srm import srm_test

PRE = "_pre"
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


@dataclass(frozen=True)
class RolloutResult:
    """A rollout's A/B analysis (control: the stable version) and what the exposure join saw."""

    ab: ABResult
    exposure: ExposureSummary

    def to_dict(self) -> dict:
        """JSON-ready form: the A/B result's (so reports render it) plus ``rollout``."""
        return {**self.ab.to_dict(), "rollout": asdict(self.exposure)}


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
) -> str:
    """One row per exposed unit: version (first exposure), generation, versions seen, ``<col>`` summed at or
    after the first exposure for each outcome column, ``<col>_pre`` summed before it for each covariate.
    With ``since``, only exposures at or after it count (a rollout step's own units)."""
    q = dialect.quote
    model_lit = "'" + model.replace("'", "''") + "'"
    cols = list(dict.fromkeys([*outcome_columns, *covariate_columns]))
    picked = ", ".join(f"CAST({q(c)} AS {dialect.double}) AS {q(c)}" for c in cols)
    sums = [
        f"COALESCE(SUM(CASE WHEN o.t >= f.first_ts THEN o.{q(c)} END), 0) AS {q(c)}"
        for c in dict.fromkeys(outcome_columns)
    ] + [
        f"COALESCE(SUM(CASE WHEN o.t < f.first_ts THEN o.{q(c)} END), 0) AS {q(c + PRE)}"
        for c in dict.fromkeys(covariate_columns)
    ]
    return (
        "(WITH e AS (SELECT CAST(unit AS VARCHAR) AS unit, version, variant, generation, ts "
        f"FROM {exposures} WHERE model = {model_lit} AND unit IS NOT NULL{_since(since)}), "
        "f AS (SELECT unit, arg_min(version, ts) AS version, arg_min(variant, ts) AS variant, "
        "arg_min(generation, ts) AS generation, min(ts) AS first_ts, COUNT(DISTINCT version) AS versions "
        "FROM e GROUP BY unit), "
        f"o AS (SELECT CAST({q(unit)} AS VARCHAR) AS unit, CAST({q(time)} AS TIMESTAMPTZ) AS t"
        f"{', ' + picked if picked else ''} FROM {outcomes}) "
        "SELECT f.unit, f.version, f.variant, f.generation, f.versions"
        f"{', ' + ', '.join(sums) if sums else ''} "
        "FROM f LEFT JOIN o ON o.unit = f.unit "
        "GROUP BY f.unit, f.version, f.variant, f.generation, f.versions) AS units"
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
    model_lit = "'" + model.replace("'", "''") + "'"
    return (
        "WITH e AS (SELECT CAST(unit AS VARCHAR) AS unit, version, generation, ts "
        f"FROM {exposures} WHERE model = {model_lit}{_since(since)}), "
        "f AS (SELECT unit, min(ts) AS first_ts, arg_min(generation, ts) AS generation, "
        "COUNT(DISTINCT version) AS versions FROM e WHERE unit IS NOT NULL GROUP BY unit), "
        f"o AS (SELECT CAST({q(unit)} AS VARCHAR) AS unit, CAST({q(time)} AS TIMESTAMPTZ) AS t "
        f"FROM {outcomes}) "
        "SELECT (SELECT COUNT(*) FROM e), (SELECT COUNT(*) FROM f), "
        "(SELECT COUNT(*) FROM f WHERE versions > 1), "
        "(SELECT COUNT(*) FROM o JOIN f ON o.unit = f.unit WHERE o.t < f.first_ts), "
        "(SELECT COUNT(*) FROM o LEFT JOIN f ON o.unit = f.unit WHERE f.unit IS NULL), "
        "(SELECT max(generation) FROM f)"
    )


def _since(since: datetime | None) -> str:
    """The exposure filter for ``since`` (an aware time; a naive one is UTC)."""
    if since is None:
        return ""
    if since.tzinfo is None:
        since = since.replace(tzinfo=UTC)
    return f" AND ts >= CAST('{since.astimezone(UTC).isoformat()}' AS TIMESTAMPTZ)"


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


def _unit_metric(m: Metric) -> Metric:
    """The metric over the unit table's columns: its covariate reads the ``_pre`` sums."""
    cv = m.covariate
    if cv is None:
        return m
    num = covariate_column(cv.numerator) + PRE
    den = covariate_column(cv.denominator) + PRE if cv.denominator else None
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
) -> RolloutResult:
    """Per-version lift vs stable from the exposure log joined to ``outcomes``; ``weights`` (version → share
    of live traffic, the routing weights in force) drive the sample-ratio check, ``stable`` names the
    control; ``since`` keeps only exposures at or after it (a rollout step's window)."""
    if not metrics:
        raise MeasurementError("no metric to analyse", fix="pass --metric or --ratio", field="metric")
    have = outcomes.columns()
    _refuse_pre_outcomes(metrics, have)
    require_columns(outcomes, [unit], flag="unit-col")
    require_columns(outcomes, [time], flag="time-col")
    out_cols = [c for m in metrics for c in (m.numerator, m.denominator) if c]
    require_columns(outcomes, out_cols, flag="metric")
    cov_cols = [covariate_column(c) for m in metrics if m.covariate for c in m.covariate.columns]
    require_columns(outcomes, cov_cols, flag="covariate")
    outcomes.query("SET TimeZone = 'UTC'")  # outcome times without a zone are UTC, as the log's
    exp = exposures_relation(exposures)
    rel = outcomes.relation()
    units = unit_table_sql(
        exp,
        rel,
        model,
        unit=unit,
        time=time,
        outcome_columns=out_cols,
        covariate_columns=cov_cols,
        since=since,
    )
    row = outcomes.query(summary_sql(exp, rel, model, unit=unit, time=time, since=since))[0]
    n_exp, n_units, multi, pre, unexposed, gen = row
    if not n_units:
        raise MeasurementError(
            f"the exposure log has no unit routed to model {model!r}",
            fix="check the model name and the --exposures folder (requests need an X-Trilho-Unit)",
            field="model",
            value=model,
        )
    unit_metrics = [_unit_metric(m) for m in metrics]
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
    if weights:
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
        model, int(n_exp), int(n_units), int(multi), int(pre), int(unexposed), gen, planned_units
    )
    return RolloutResult(replace(ab, srm=srm, warnings=warnings), summary)


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
