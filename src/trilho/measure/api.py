"""The task-level API behind ``trilho measure``: parse user-facing specs, run an analysis, return a result.

Each function takes plain values (paths, column names, ``"orders/sessions"`` specs) so the CLI stays a thin
layer and Python users get the same behaviour.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Sequence
from pathlib import Path

from trilho.errors import MeasurementError
from trilho.measure import ab
from trilho.measure.estimators import ratio_value_grad
from trilho.measure.files import read_table, require
from trilho.measure.geo import GeoResult, Predictor, multi_cell, synthetic_control
from trilho.measure.markets import PowerCurve, power_by_simulation, select_markets
from trilho.measure.metrics import Covariate, Metric, parse_metric
from trilho.measure.panel import Panel
from trilho.measure.power import DurationPlan, plan_duration
from trilho.measure.sql import DuckDBSource, Source, SQLAlchemySource, read_pooled_moments, require_columns
from trilho.measure.timing import CovariateTiming, parse_covariate_time, parse_time
from trilho.measure.trimmed_match import TrimmedMatchResult, trimmed_match

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
    proportions: Sequence[str] = (),
) -> list[Metric]:
    """Metrics from ``--metric``/``--ratio``/``--proportion`` specs (in that order); ``--covariate`` is
    positional or ``METRIC=COVARIATE``. A proportion is a 0/1 column analysed with the binomial variance."""
    specs = list(metrics) + list(ratios) + list(proportions)
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
        if spec in proportions and i >= len(metrics) + len(ratios):
            m = Metric(m.name, m.numerator, None, m.covariate, "proportion")
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
    proportions: Sequence[str] = (),
    **options,
) -> ab.ABResult:
    """Analyse an A/B test stored in ``data`` (file or, with ``table``, a database or Spark table)."""
    ms = build_metrics(metrics, ratios, covariates, covariate_times, proportions)
    source = open_source(data, table=table, schema=schema, threads=threads, engine=engine)
    return ab.analyze(
        source,
        ms,
        variant=variant,
        start=parse_time(start) if start else None,
        exposure_column=exposure_column,
        **options,
    )


def load_panel(
    data: str,
    *,
    unit_col: str,
    time_col: str,
    outcome_col: str,
    extra: Sequence[str] = (),
    sep: str | None = None,
    wide: bool = False,
) -> Panel:
    """A geo panel from a CSV/Parquet file, long or ``wide`` (``extra``: predictor columns)."""
    return Panel.from_file(
        data, unit=unit_col, time=time_col, outcome=outcome_col, extra=extra, sep=sep, wide=wide
    )


def _time_of(text: str, like):
    """A period bound typed like the panel's times (numbers for numeric times)."""
    if isinstance(like, int | float) and not isinstance(like, bool):
        try:
            x = float(text)
        except ValueError:
            raise MeasurementError(
                f"predictor period {text!r} is not a number like the panel's times ({like!r})",
                fix="e.g. --predictor cigsale:mean:1980..1988",
                field="predictor",
                value=text,
            ) from None
        return int(x) if x.is_integer() else x
    return text


NUMERIC_RANGE = re.compile(r"(-?\d+(?:\.\d+)?)-(-?\d+(?:\.\d+)?)")


def parse_predictor(spec: str, times: Sequence) -> Predictor:
    """``COLUMN:PERIOD`` or ``COLUMN:AGG:PERIOD``; PERIOD is items joined by ``,``, each ``A`` or ``A..B``
    (``A-B`` too for numeric times); AGG is mean (default), median, sum, min or max."""
    parts = spec.split(":")
    if len(parts) not in (2, 3) or not parts[0] or not parts[-1]:
        raise MeasurementError(
            f"--predictor {spec!r} is not COLUMN:PERIOD or COLUMN:AGG:PERIOD",
            fix="e.g. --predictor lnincome:mean:1980..1988 or --predictor cigsale:1975",
            field="predictor",
            value=spec,
        )
    column, op, period = parts[0], (parts[1] or "mean") if len(parts) == 3 else "mean", parts[-1]
    return Predictor(column, parse_period(period, times, flag="predictor"), op)


def parse_period(period: str, times: Sequence, *, flag: str = "fit-period") -> tuple:
    """The panel times a PERIOD names: items joined by ``,``, each ``A`` or ``A..B`` (``A-B`` for numeric
    times), in panel order."""
    numeric = isinstance(times[0], int | float)
    chosen: list = []
    for item in (i.strip() for i in period.split(",")):
        dashed = NUMERIC_RANGE.fullmatch(item) if numeric else None
        if ".." in item or dashed:
            a, b = item.split("..", 1) if ".." in item else dashed.groups()
            lo, hi = _time_of(a.strip(), times[0]), _time_of(b.strip(), times[0])
            chosen += [t for t in times if lo <= t <= hi]
        else:
            t = _time_of(item, times[0])
            chosen += [x for x in times if x == t]
    if not chosen:
        raise MeasurementError(
            f"--{flag} {period!r} names no time in the panel ({times[0]}..{times[-1]})",
            fix="give a period inside the panel",
            field=flag,
            value=period,
        )
    return tuple(t for t in times if t in set(chosen))


def read_v(path: str) -> list[float]:
    """Custom predictor weights V from a file: a JSON list, a JSON object {predictor label: weight} in the
    order of ``--predictor``, or numbers one per line."""
    p = Path(path)
    if not p.exists():
        raise MeasurementError(
            f"V file {p} does not exist", fix="check --v-file", field="v-file", value=str(p)
        )
    text = p.read_text().strip()
    try:
        data = json.loads(text)
    except json.JSONDecodeError:
        data = [line.split(",")[-1] for line in text.splitlines() if line.strip()]
    values = list(data.values()) if isinstance(data, dict) else list(data)
    try:
        return [float(x) for x in values]
    except (TypeError, ValueError):
        raise MeasurementError(
            f"V file {p} does not hold numbers",
            fix="write a JSON list [0.5, 0.2, …] or one weight per line",
            field="v-file",
            value=str(p),
        ) from None


V_MODES = ("nested", "synth", "equal", "custom")


def parse_cells(spec: str) -> dict[str, list[str]]:
    """``"a,b;c,d"`` or ``"north=a,b;south=c,d"`` as cell name → treated units."""
    cells: dict[str, list[str]] = {}
    for i, part in enumerate(p for p in spec.split(";") if p.strip()):
        name, units = part.split("=", 1) if "=" in part else (f"cell{i + 1}", part)
        cells[name.strip()] = [u.strip() for u in units.split(",") if u.strip()]
    if len(cells) < 1 or any(not units for units in cells.values()):
        raise MeasurementError(
            f"--cells {spec!r} has an empty cell",
            fix='give units per cell, cells separated by ";", e.g. --cells "a,b;c,d"',
            field="cells",
            value=spec,
        )
    return cells


def _geo_options(
    panel: Panel, predictors: Sequence[str], v: str | None, v_file: str | None, options: dict
) -> dict:
    preds = [parse_predictor(p, panel.times) for p in predictors]
    if preds:
        options["predictors"] = preds
        options.setdefault("method", "classic")
        if options["method"] != "classic":
            raise MeasurementError(
                f"--predictor needs --method classic (got {options['method']})",
                fix="use --method classic, or drop --predictor",
                field="predictor",
            )
    mode = v or ("custom" if v_file else "nested")
    if mode not in V_MODES:
        raise MeasurementError(
            f"unknown --v {mode!r}", fix=f"use one of: {', '.join(V_MODES)}", field="v", value=mode
        )
    if mode == "custom" and not v_file:
        raise MeasurementError("--v custom needs --v-file", fix="pass --v-file v.json", field="v-file")
    if mode != "nested" and not preds:
        raise MeasurementError(f"--v {mode} needs --predictor specs", fix="add --predictor", field="v")
    if mode == "synth":
        options["v_search"] = "synth"
    elif mode == "equal":
        options["v"] = [1.0] * len(preds)
    elif mode == "custom":
        options["v"] = read_v(v_file)
    return options


def run_geo(
    data: str,
    *,
    treated: Sequence[str] = (),
    start: str,
    end: str | None = None,
    unit_col: str = "location",
    time_col: str = "date",
    outcome_col: str = "Y",
    predictors: Sequence[str] = (),
    v: str | None = None,
    v_file: str | None = None,
    cells: str | None = None,
    fit_period: str | None = None,
    sep: str | None = None,
    wide: bool = False,
    **options,
) -> GeoResult | dict[str, GeoResult]:
    """Synthetic-control analysis of a geo test from a long panel file.

    ``predictors`` are ``COLUMN[:AGG]:PERIOD`` specs (classic method), ``v`` picks the predictor weights
    (nested search, R Synth's path, equal, or custom from ``v_file``); ``cells`` (``"a,b;c,d"``) runs a
    multi-cell test — each cell against donors that exclude every treated unit — and returns one result per
    cell. ``fit_period`` limits the classic method's outcome fit (default: the whole pre-period).
    """
    columns = list(dict.fromkeys(p.split(":")[0] for p in predictors if p.split(":")[0] != outcome_col))
    panel = load_panel(
        data, unit_col=unit_col, time_col=time_col, outcome_col=outcome_col, extra=columns, sep=sep, wide=wide
    )
    options = _geo_options(panel, predictors, v, v_file, options)
    if fit_period:
        options["fit_times"] = parse_period(fit_period, panel.times)
    if cells:
        if treated:
            raise MeasurementError(
                "--treated and --cells both given", fix="put every treated unit in --cells", field="cells"
            )
        return multi_cell(panel, parse_cells(cells), start, end, **options)
    if not treated:
        raise MeasurementError("no treated unit given", fix="pass --treated a,b or --cells", field="treated")
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
    sep: str | None = None,
    wide: bool = False,
    **options,
) -> PowerCurve:
    """Power by simulation for one candidate treatment group on a historical panel."""
    panel = load_panel(
        data, unit_col=unit_col, time_col=time_col, outcome_col=outcome_col, sep=sep, wide=wide
    )
    return power_by_simulation(panel, list(treated), duration, **options)


def markets(
    data: str,
    *,
    sizes: Sequence[int],
    duration: int,
    unit_col: str = "location",
    time_col: str = "date",
    outcome_col: str = "Y",
    sep: str | None = None,
    wide: bool = False,
    **options,
) -> list[PowerCurve]:
    """Market selection on a historical panel."""
    panel = load_panel(
        data, unit_col=unit_col, time_col=time_col, outcome_col=outcome_col, sep=sep, wide=wide
    )
    return select_markets(panel, list(sizes), duration, **options)


def run_trimmed_match(
    data: str,
    *,
    pair_col: str = "pair",
    assignment_col: str = "assignment",
    treatment: str = "1",
    response_col: str = "response",
    spend_col: str = "cost",
    time_col: str | None = None,
    start: str | None = None,
    end: str | None = None,
    sep: str | None = None,
    confidence: float = 0.8,
    trim_rate: float | None = None,
    max_trim_rate: float = 0.25,
) -> TrimmedMatchResult:
    """Trimmed match on a long geo file: per pair, treatment minus control response and spend summed over the
    test window (``start``..``end`` on ``time_col``), then the iROAS and its interval."""
    df = read_table(data, sep=sep)
    cols = [pair_col, assignment_col, response_col, spend_col] + ([time_col] if time_col else [])
    require(
        df, cols, source=Path(data).name, hint="pass --pair-col/--assignment-col/--response-col/--spend-col"
    )
    if (start or end) and not time_col:
        raise MeasurementError("--start/--end need --time-col", fix="pass --time-col date", field="time-col")
    if time_col:
        t = df[time_col].astype(str)
        if start:
            df = df[t >= start]
            t = t[t >= start]
        if end:
            df = df[t <= end + "\uffff"]  # an end date includes that whole day of timestamps
        if df.empty:
            raise MeasurementError(
                f"no row between {start} and {end} in {time_col}", fix="check --start/--end", field="start"
            )
    arm = df[assignment_col].astype(str) == str(treatment)
    if arm.all() or not arm.any():
        raise MeasurementError(
            f"assignment column '{assignment_col}' has {'only' if arm.all() else 'no'} rows equal to "
            f"{treatment!r}",
            fix="pass --treatment with the treatment value (values: "
            + ", ".join(map(str, sorted(df[assignment_col].astype(str).unique())[:6]))
            + ")",
            field="treatment",
            value=str(treatment),
        )
    sums = df.assign(_arm=arm).groupby([pair_col, "_arm"])[[response_col, spend_col]].sum().unstack("_arm")
    incomplete = sums.isna().any(axis=1)
    if incomplete.any():
        raise MeasurementError(
            f"pair {incomplete.idxmax()!r} lacks a treatment or a control geo",
            fix="every pair needs one treatment and one control geo",
            field="pair",
            value=str(incomplete.idxmax()),
        )
    dy = (sums[response_col][True] - sums[response_col][False]).to_numpy(float)
    dx = (sums[spend_col][True] - sums[spend_col][False]).to_numpy(float)
    return trimmed_match(dy, dx, confidence=confidence, trim_rate=trim_rate, max_trim_rate=max_trim_rate)
