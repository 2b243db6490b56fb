"""`trilho measure` commands: A/B analysis, geo experiments, power, market selection, simulation, reports.

A thin layer over :mod:`trilho.measure.api`: parse flags, call the API, print rich tables or ``--json``.
"""

from __future__ import annotations

import json
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from trilho.cli._common import JsonFlag, emit, err_console, handles_errors
from trilho.errors import CheckFailed, MeasurementError

app = typer.Typer(
    help="Causal measurement: A/B with CUPED, geo experiments, power, simulation, reports.",
    no_args_is_help=True,
)


# Options that several commands share, declared once.
UnitCol = Annotated[str, typer.Option("--unit-col", help="Panel column naming the unit (geo).")]
TimeCol = Annotated[str, typer.Option("--time-col", help="Panel column holding the period.")]
OutcomeCol = Annotated[str, typer.Option("--outcome-col", help="Panel column holding the outcome.")]
Ratios = Annotated[
    list[str], typer.Option("--ratio", help="Ratio metric NUM/DEN (delta method); repeatable.")
]
Seed = Annotated[int, typer.Option("--seed", help="Random seed (recorded in the output).")]
Alpha = Annotated[float, typer.Option("--alpha", help="Significance level.")]
Windows = Annotated[int, typer.Option("--windows", help="Historical windows simulated per candidate.")]
Duration = Annotated[int, typer.Option("--duration", help="Geo test length in periods.")]
Effects = Annotated[str, typer.Option("--effects", help="Relative lifts to simulate, comma-separated.")]
Sep = Annotated[
    str | None,
    typer.Option(
        "--sep", help="CSV separator (default: detected among , ; tab | space); 'tab'/'space' work."
    ),
]
Wide = Annotated[
    bool, typer.Option("--wide", help="Wide panel: one column per unit beside the period column.")
]
ReportDir = Annotated[Path | None, typer.Option("--report", help="Also write report.html/json here.")]


def register(root: typer.Typer) -> None:
    root.add_typer(app, name="measure")


def _split(value: str | None) -> list[str]:
    return [v.strip() for v in value.split(",") if v.strip()] if value else []


def _maybe_report(payload: dict, report_dir: Path | None, seed: int | None) -> None:
    if report_dir is None:
        return
    from trilho.measure.report import build_report, write_report

    j, h = write_report(build_report(payload["result"], seed=seed, inputs=payload["inputs"]), report_dir)
    payload["report"] = {"json": str(j), "html": str(h)}


@app.command("ab")
@handles_errors
def ab_cmd(
    data: Annotated[
        str, typer.Argument(help="CSV/Parquet file, folder or glob (or a database URL with --table).")
    ],
    variant: Annotated[str, typer.Option("--variant", help="Column holding the arm of each unit.")],
    metric: Annotated[
        list[str], typer.Option("--metric", help="Metric column (mean/proportion); repeatable.")
    ] = [],  # noqa: B006
    ratio: Ratios = [],  # noqa: B006
    proportion: Annotated[
        list[str],
        typer.Option(
            "--proportion", help="0/1 metric column, binomial variance p(1-p) (as gbstats); repeatable."
        ),
    ] = [],  # noqa: B006
    covariate: Annotated[
        list[str],
        typer.Option(
            "--covariate",
            help="Pre-period covariate per metric, in order, or METRIC=COV (NUM/DEN for ratios).",
        ),
    ] = [],  # noqa: B006
    covariate_time: Annotated[
        list[str],
        typer.Option("--covariate-time", help="COL=TIMESTAMP (window end) or COL=@TIME_COLUMN (per unit)."),
    ] = [],  # noqa: B006
    control: Annotated[
        str | None, typer.Option("--control", help="Control value of the variant column.")
    ] = None,
    variants: Annotated[
        str | None, typer.Option("--variants", help="Expected variant values, comma-separated.")
    ] = None,
    start: Annotated[
        str | None, typer.Option("--start", help="Exposure start (ISO), for covariate timing.")
    ] = None,
    exposure_col: Annotated[
        str | None, typer.Option("--exposure-col", help="Per-unit first exposure time.")
    ] = None,
    alpha: Alpha = 0.05,
    correction: Annotated[str, typer.Option("--correction", help="holm | bh | none")] = "holm",
    srm_method: Annotated[str, typer.Option("--srm-method", help="chisquare | binomial")] = "chisquare",
    no_srm: Annotated[bool, typer.Option("--no-srm", help="Skip the sample-ratio check.")] = False,
    relative_ci: Annotated[
        str,
        typer.Option(
            "--relative-ci",
            help="Headline relative interval: log (tea-tasting's, default) | delta (gbstats'); "
            "both are shown.",
        ),
    ] = "log",
    sequential: Annotated[
        float | None,
        typer.Option("--sequential", help="Planned total units: add anytime-valid confidence sequences."),
    ] = None,
    table: Annotated[
        str | None, typer.Option("--table", help="Read DATA as a SQLAlchemy URL and this table.")
    ] = None,
    schema: Annotated[str | None, typer.Option("--schema")] = None,
    threads: Annotated[int | None, typer.Option("--threads", help="DuckDB threads.")] = None,
    engine: Annotated[
        str,
        typer.Option(
            "--engine", help="duckdb (files; --table: SQLAlchemy URL) | spark (local Spark session)."
        ),
    ] = "duckdb",
    report: ReportDir = None,
    json_out: JsonFlag = False,
) -> None:
    """Analyse an A/B test from sufficient statistics computed in SQL (DuckDB, a database or Spark)."""
    from trilho.measure.api import run_ab

    res = run_ab(
        data,
        variant=variant,
        metrics=metric,
        ratios=ratio,
        proportions=proportion,
        covariates=covariate,
        covariate_times=covariate_time,
        start=start,
        exposure_column=exposure_col,
        table=table,
        schema=schema,
        threads=threads,
        engine=engine,
        control=control,
        variants=_split(variants) or None,
        alpha=alpha,
        correction=correction,
        srm=not no_srm,
        srm_method=srm_method,
        relative_ci=relative_ci,
        sequential_planned_n=sequential,
    )
    inputs = {
        "data": table if table else Path(data).name,
        "variant": variant,
        "metrics": metric,
        "ratios": ratio,
        "covariates": covariate,
    }
    payload = {"ok": not res.headline_blocked, "result": res.to_dict(), "inputs": inputs, "seed": None}
    _maybe_report(payload, report, None)

    def render(c):
        t = Table(title=f"A/B analysis of {inputs['data']} (control = {res.control})")
        for col in (
            "metric",
            "arm",
            "control",
            "treatment",
            "effect (interval)",
            "p",
            "relative",
            "interval (log)",
            "interval (delta)",
            "p (relative)",
            "CUPED var. ↓",
        ):
            t.add_column(col)
        blocked = res.headline_blocked
        for e in res.effects:
            p = e.pvalue_adjusted if e.pvalue_adjusted is not None else e.pvalue
            t.add_row(
                e.metric + (" (proportion)" if e.kind == "proportion" else ""),
                e.treatment_arm,
                f"{e.control_mean:.4g}",
                f"{e.treatment_mean:.4g}",
                "blocked" if blocked else f"{e.effect:+.4g} [{e.ci_lower:+.4g}, {e.ci_upper:+.4g}]",
                f"{p:.3g}",
                "blocked" if blocked else f"{e.relative:+.2%}",
                _pct_interval(e.relative_log_ci_lower, e.relative_log_ci_upper),
                _pct_interval(e.relative_delta_ci_lower, e.relative_delta_ci_upper),
                "-" if e.relative_pvalue is None else f"{e.relative_pvalue:.3g}",
                f"{e.variance_reduction:.0%}" if e.variance_reduction is not None else "-",
            )
        c.print(t)
        c.print(
            f"relative: the {relative_ci} interval is the headline; log = delta method on "
            "log(treatment/control) (tea-tasting; never below -100%), delta = effect / control mean with its "
            "delta-method s.e. and p (GrowthBook gbstats). They can disagree on 0 near significance."
        )
        if res.srm:
            c.print(
                f"sample ratio: {res.srm.counts}, p = {res.srm.pvalue:.3g} "
                f"({'ok' if res.srm.passed else 'MISMATCH'})"
            )
        for w in res.warnings:
            c.print(f"[yellow]warning:[/] {w}")

    emit(payload, json_out, render)
    if res.headline_blocked:  # a failed check: results are printed, the exit code says "do not ship"
        err_console.print(
            "[bold red]check failed:[/] sample ratio mismatch, no lift is claimed "
            "(fix: find the assignment or logging bug)"
        )
        raise typer.Exit(CheckFailed.exit_code)


def _pct_interval(lo: float | None, hi: float | None) -> str:
    return "-" if lo is None or hi is None else f"[{lo:+.2%}, {hi:+.2%}]"


@app.command("geo")
@handles_errors
def geo_cmd(
    data: Annotated[str, typer.Argument(help="Long panel CSV/Parquet: one row per unit and time.")],
    start: Annotated[str, typer.Option("--start", help="First treated time.")],
    treated: Annotated[
        str | None, typer.Option("--treated", help="Treated units, comma-separated (or --cells).")
    ] = None,
    cells: Annotated[
        str | None,
        typer.Option(
            "--cells",
            help='Multi-cell test: "a,b;c,d" or "north=a,b;south=c,d"; each cell excludes the others '
            "from its donors.",
        ),
    ] = None,
    end: Annotated[
        str | None, typer.Option("--end", help="Last treated time (default: end of panel).")
    ] = None,
    unit_col: UnitCol = "location",
    time_col: TimeCol = "date",
    outcome_col: OutcomeCol = "Y",
    sep: Sep = None,
    wide: Wide = False,
    method: Annotated[
        str | None,
        typer.Option(
            "--method", help="demeaned | classic | ridge (default: demeaned; classic with --predictor)"
        ),
    ] = None,
    predictor: Annotated[
        list[str],
        typer.Option(
            "--predictor",
            help="Classic-method predictor COLUMN[:AGG]:PERIOD, e.g. lnincome:mean:1980..1988, cigsale:1975 "
            "(AGG: mean, median, sum, min, max); repeatable.",
        ),
    ] = [],  # noqa: B006
    v: Annotated[
        str | None,
        typer.Option(
            "--v",
            help="Predictor weights V: nested (searched, default) | synth (R Synth's search) | equal "
            "| custom (--v-file).",
        ),
    ] = None,
    fit_period: Annotated[
        str | None,
        typer.Option(
            "--fit-period", help="Classic: pre-periods whose outcome V is tuned on, e.g. 1960..1969."
        ),
    ] = None,
    v_file: Annotated[
        str | None,
        typer.Option(
            "--v-file", help="Custom V (standardised predictors): JSON list/object or one per line."
        ),
    ] = None,
    donors: Annotated[str | None, typer.Option("--donors", help="Donor pool (default: all others).")] = None,
    exclude: Annotated[str | None, typer.Option("--exclude", help="Units never used as donors.")] = None,
    inference: Annotated[
        str, typer.Option("--inference", help="conformal | placebo | both | none")
    ] = "conformal",
    permutations: Annotated[
        str, typer.Option("--permutations", help="block (exact) | iid (Monte Carlo)")
    ] = "block",
    statistic: Annotated[str, typer.Option("--statistic", help="mean (average effect) | lq (CWZ)")] = "mean",
    draws: Annotated[int, typer.Option("--draws")] = 1000,
    seed: Seed = 0,
    alpha: Alpha = 0.1,
    ridge_lambda: Annotated[float | None, typer.Option("--ridge-lambda")] = None,
    spend: Annotated[float | None, typer.Option("--spend", help="Incremental spend, for iROAS.")] = None,
    report: ReportDir = None,
    json_out: JsonFlag = False,
) -> None:
    """Estimate a geo test's effect with synthetic control, with conformal and/or placebo inference."""
    from trilho.measure.api import run_geo

    options = {"method": method} if method else {}
    with _one_blas_thread():
        res = run_geo(
            data,
            treated=_split(treated),
            cells=cells,
            start=start,
            end=end,
            unit_col=unit_col,
            time_col=time_col,
            outcome_col=outcome_col,
            sep=sep,
            wide=wide,
            predictors=predictor,
            v=v,
            v_file=v_file,
            fit_period=fit_period,
            donors=_split(donors) or None,
            exclude=_split(exclude),
            inference=inference,
            permutations=permutations,
            statistic=statistic,
            draws=draws,
            seed=seed,
            alpha=alpha,
            ridge_lambda=ridge_lambda,
            spend=spend,
            **options,
        )
    inputs = {
        "data": Path(data).name,
        "treated": _split(treated),
        "cells": cells,
        "start": start,
        "end": end,
        "method": method,
        "predictors": predictor,
        "v": v,
        "inference": inference,
        "permutations": permutations,
        "statistic": statistic,
        "draws": draws,
    }
    results = res if isinstance(res, dict) else {"": res}
    if isinstance(res, dict):
        payload = {
            "ok": True,
            "result": {"kind": "geo-cells", "cells": {k: r.to_dict() for k, r in res.items()}},
            "inputs": inputs,
            "seed": seed,
        }
        if report is not None:
            payload["reports"] = {}
            for name, r in res.items():
                one = {"result": r.to_dict(), "inputs": {**inputs, "cell": name}}
                _maybe_report(one, report / name, seed)
                payload["reports"][name] = one["report"]
    else:
        payload = {"ok": True, "result": res.to_dict(), "inputs": inputs, "seed": seed}
        _maybe_report(payload, report, seed)

    def render(c):
        for name, r in results.items():
            _print_geo(c, r, alpha, name)

    emit(payload, json_out, render)


@contextmanager
def _one_blas_thread():
    """Synthetic-control fits are many small matrix problems: one BLAS thread beats a thread pool (the GeoLift
    walkthrough with --method ridge, load ~8 on 2 cores, runs interleaved: 4.7-5.7 s with one thread,
    7.3-13.9 s threaded). A thread count the user set in the environment is kept."""
    import os

    if any(os.environ.get(k) for k in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")):
        yield
        return
    from threadpoolctl import threadpool_limits

    with threadpool_limits(1, user_api="blas"):
        yield


def _print_geo(c, res, alpha: float, cell: str = "") -> None:
    """One synthetic-control result as people read it: effect, inference (with its explanation), weights."""
    label = f"{cell}: " if cell else ""
    c.print(
        f"[bold]{label}{' + '.join(res.treated)}[/]: ATT {res.att:.4g} per unit-period, "
        f"lift {res.lift:+.2%}, incremental {res.incremental:.5g} ({res.method} synthetic control)"
    )
    if res.conformal:
        cf = res.conformal
        mc = f", {cf.draws} draws, MC s.e. {cf.mc_se:.3f}" if cf.mc_se is not None else f", {cf.draws} shifts"
        c.print(f"conformal p = {cf.pvalue:.3g}{mc}; {cf.describe()}")
        if cf.average is not None:
            a = cf.average
            c.print(
                f"average effect (mean statistic, same permutations; the lq set holds constant effects): "
                f"{1 - alpha:.0%} interval {a.ci.text()} (centred on {a.estimate:.4g}), p = {a.pvalue:.3g}"
            )
        if cf.heterogeneity is not None:
            _print_heterogeneity(c, cf.heterogeneity, alpha, cf.explanation or "")
    if res.placebo:
        c.print(f"placebo rank {res.placebo.rank}/{res.placebo.units}, p = {res.placebo.pvalue:.3g}")
    if res.v:
        t = Table(title="predictor weights V")
        t.add_column("predictor")
        t.add_column("weight")
        for k, x in res.v.items():
            t.add_row(k, f"{x:.4f}")
        c.print(t)
    t = Table(title="donor weights")
    t.add_column("donor")
    t.add_column("weight")
    for k, w in res.weights.items():
        t.add_row(k, f"{w:.4f}")
    c.print(t)
    c.print(f"pre-period RMSPE {res.pre_rmspe:.4g}, scaled L2 imbalance {res.scaled_l2_imbalance:.4f}")
    for w in res.warnings:
        c.print(f"[yellow]warning:[/] {w}")


def _print_heterogeneity(c, het, alpha: float, explanation: str = "") -> None:
    """Per-period conformal intervals and the heterogeneity-robust average-effect interval."""
    t = Table(title=f"per-period effects, {1 - alpha:.0%} conformal intervals (each period tested alone)")
    for col in ("time", "effect", "interval", "p"):
        t.add_column(col)
    for p in het.pointwise:
        t.add_row(str(p.time), f"{p.effect:.4g}", f"[{p.lower:.4g}, {p.upper:.4g}]", f"{p.pvalue:.3g}")
    c.print(t)
    if het.average is not None:
        a = het.average
        c.print(
            f"average effect, valid under a time-varying effect ({het.blocks} pre-period blocks of "
            f"{het.block_length}): {1 - alpha:.0%} interval {a.ci.text()}, p = {a.pvalue:.3g}"
        )
    elif het.average_note and het.average_note not in explanation:
        c.print(f"average effect, valid under a time-varying effect: {het.average_note}")


@app.command("trimmed-match")
@handles_errors
def trimmed_match_cmd(
    data: Annotated[str, typer.Argument(help="Long geo file: pair, assignment, response and spend per row.")],
    pair_col: Annotated[str, typer.Option("--pair-col", help="Column naming each geo's pair.")] = "pair",
    assignment_col: Annotated[
        str, typer.Option("--assignment-col", help="Column holding treatment/control.")
    ] = "assignment",
    treatment: Annotated[
        str, typer.Option("--treatment", help="Value of the assignment column for treatment geos.")
    ] = "1",
    response_col: Annotated[str, typer.Option("--response-col", help="Response column.")] = "response",
    spend_col: Annotated[str, typer.Option("--spend-col", help="Spend (cost) column.")] = "cost",
    time_col: Annotated[
        str | None, typer.Option("--time-col", help="Period column, for --start/--end.")
    ] = None,
    start: Annotated[str | None, typer.Option("--start", help="First test period (inclusive).")] = None,
    end: Annotated[str | None, typer.Option("--end", help="Last test period (inclusive).")] = None,
    confidence: Annotated[float, typer.Option("--confidence", help="Interval confidence level.")] = 0.8,
    trim_rate: Annotated[
        float | None, typer.Option("--trim-rate", help="Fixed trim rate (default: chosen by std. error).")
    ] = None,
    max_trim_rate: Annotated[float, typer.Option("--max-trim-rate")] = 0.25,
    sep: Sep = None,
    report: ReportDir = None,
    json_out: JsonFlag = False,
) -> None:
    """iROAS of a paired geo test by trimmed match (Chen & Au), robust to outlying pairs."""
    from trilho.measure.api import run_trimmed_match

    res = run_trimmed_match(
        data,
        pair_col=pair_col,
        assignment_col=assignment_col,
        treatment=treatment,
        response_col=response_col,
        spend_col=spend_col,
        time_col=time_col,
        start=start,
        end=end,
        sep=sep,
        confidence=confidence,
        trim_rate=trim_rate,
        max_trim_rate=max_trim_rate,
    )
    inputs = {"data": Path(data).name, "start": start, "end": end, "confidence": confidence}
    payload = {
        "ok": True,
        "result": {"kind": "trimmed-match", **res.to_dict()},
        "inputs": inputs,
        "seed": None,
    }
    _maybe_report(payload, report, None)
    emit(
        payload,
        json_out,
        lambda c: c.print(
            f"iROAS {res.iroas:.4g}, {confidence:.0%} interval [{res.ci_lower:.4g}, {res.ci_upper:.4g}] "
            f"(trimmed match, {res.pairs} pairs, {res.trimmed_pairs} trimmed from each end, "
            f"std. error {res.se:.3g})"
        ),
    )


@app.command("power")
@handles_errors
def power_cmd(
    data: Annotated[
        str | None, typer.Argument(help="Historical unit data (A/B) or a geo panel (with --treated).")
    ] = None,
    mde: Annotated[
        float, typer.Option("--mde", help="Minimum detectable effect (relative unless --absolute).")
    ] = 0.05,
    units_per_day: Annotated[float, typer.Option("--units-per-day")] = 10_000,
    metric: Annotated[str | None, typer.Option("--metric", help="Metric column or NUM/DEN.")] = None,
    covariate: Annotated[
        str | None, typer.Option("--covariate", help="CUPED covariate: its correlation is used.")
    ] = None,
    sd: Annotated[float | None, typer.Option("--sd")] = None,
    baseline: Annotated[float | None, typer.Option("--baseline")] = None,
    rho: Annotated[float | None, typer.Option("--rho", help="Pre-period correlation for CUPED.")] = None,
    absolute: Annotated[bool, typer.Option("--absolute")] = False,
    alpha: Alpha = 0.05,
    power: Annotated[float, typer.Option("--power")] = 0.8,
    treated: Annotated[
        str | None, typer.Option("--treated", help="Geo mode: candidate treated units.")
    ] = None,
    duration: Duration = 14,
    effects: Effects = "0,0.025,0.05,0.1,0.2",
    windows: Windows = 10,
    unit_col: UnitCol = "location",
    time_col: TimeCol = "date",
    outcome_col: OutcomeCol = "Y",
    sep: Sep = None,
    wide: Wide = False,
    json_out: JsonFlag = False,
) -> None:
    """Plan an A/B test (sample size, duration, CUPED saving) or simulate geo-test power on history."""
    from trilho.measure import api

    if treated:
        if data is None:
            raise MeasurementError("geo power needs a panel file", fix="pass DATA", field="data")
        curve = api.geo_power(
            data,
            treated=_split(treated),
            duration=duration,
            effects=[float(x) for x in _split(effects)],
            windows=windows,
            unit_col=unit_col,
            time_col=time_col,
            outcome_col=outcome_col,
            sep=sep,
            wide=wide,
            alpha=alpha,
        )
        out = curve.to_dict()

        def render(c):
            t = Table(
                title=f"power by simulation: {' + '.join(curve.treated)}, {duration} periods, "
                f"{curve.simulations} windows"
            )
            t.add_column("lift")
            t.add_column("power")
            for e, p in zip(curve.effects, curve.power, strict=True):
                t.add_row(f"{e:.1%}", f"{p:.0%}")
            c.print(t)
            c.print(f"MDE at 80% power: {curve.mde if curve.mde is None else f'{curve.mde:.1%}'}")

        emit(out, json_out, render)
        return
    plan = api.ab_design(
        data,
        mde=mde,
        units_per_day=units_per_day,
        metric=metric,
        covariate=covariate,
        sd=sd,
        baseline=baseline,
        rho=rho,
        relative=not absolute,
        alpha=alpha,
        power=power,
    )

    def render_ab(c):
        c.print(
            f"to detect {plan.mde:.4g} (absolute) with {power:.0%} power at alpha {alpha}: "
            f"{plan.n_control:,} + {plan.n_treatment:,} units, {plan.days} day(s)"
        )
        c.print(
            f"with CUPED (rho = {plan.rho:.3f}): "
            f"{plan.n_control_cuped:,} + {plan.n_treatment_cuped:,} units, "
            f"{plan.days_cuped} day(s) — {plan.saving:.0%} fewer units"
        )

    emit(plan.to_dict(), json_out, render_ab)


@app.command("select-markets")
@handles_errors
def select_markets_cmd(
    data: Annotated[str, typer.Argument(help="Historical geo panel (long CSV/Parquet).")],
    sizes: Annotated[str, typer.Option("--sizes", help="Numbers of treated markets to try, e.g. 2,3.")] = "2",
    duration: Duration = 14,
    effects: Effects = "0,0.05,0.1,0.15,0.2",
    include: Annotated[str | None, typer.Option("--include", help="Markets that must be treated.")] = None,
    exclude: Annotated[
        str | None, typer.Option("--exclude", help="Markets that must not be treated.")
    ] = None,
    candidates: Annotated[int, typer.Option("--candidates", help="Sampled groups per size.")] = 20,
    windows: Windows = 5,
    cost_per_unit: Annotated[
        float | None, typer.Option("--cost-per-unit", help="Cost per incremental unit.")
    ] = None,
    seed: Seed = 0,
    top: Annotated[int, typer.Option("--top")] = 10,
    unit_col: UnitCol = "location",
    time_col: TimeCol = "date",
    outcome_col: OutcomeCol = "Y",
    sep: Sep = None,
    wide: Wide = False,
    json_out: JsonFlag = False,
) -> None:
    """Rank candidate treatment markets by the lift they can detect (power by simulation)."""
    from rich.progress import Progress

    from trilho.measure import api
    from trilho.measure.markets import selection_warnings

    with Progress(transient=True, disable=json_out) as prog, _one_blas_thread():
        prog.add_task("simulating candidate markets", total=None)
        curves = api.markets(
            data,
            sizes=[int(s) for s in _split(sizes)],
            duration=duration,
            effects=[float(x) for x in _split(effects)],
            include=_split(include),
            exclude=_split(exclude),
            candidates=candidates,
            windows=windows,
            cost_per_unit=cost_per_unit,
            seed=seed,
            unit_col=unit_col,
            time_col=time_col,
            outcome_col=outcome_col,
            sep=sep,
            wide=wide,
        )
    notes = selection_warnings(curves)
    out = {"seed": seed, "ranking": [c.to_dict() for c in curves[:top]], "warnings": notes}

    def render(c):
        t = Table(title=f"market selection ({duration} periods)")
        for col in ("rank", "markets", "MDE", "false-positive rate", "investment"):
            t.add_column(col)
        for i, cv in enumerate(curves[:top], 1):
            fpr = cv.power[cv.effects.index(0.0)] if 0.0 in cv.effects else float("nan")
            t.add_row(
                str(i),
                ", ".join(cv.treated),
                "-" if cv.mde is None else f"{cv.mde:.1%}",
                f"{fpr:.0%}",
                "-" if cv.investment is None else f"{cv.investment:,.0f}",
            )
        c.print(t)
        for w in notes:
            c.print(f"[yellow]warning:[/] {w}")

    emit(out, json_out, render)


@app.command("simulate")
@handles_errors
def simulate_cmd(
    kind: Annotated[str, typer.Argument(help="impressions | geo")],
    out: Annotated[Path, typer.Argument(help="Output folder (impressions) or CSV path (geo).")],
    days: Annotated[int, typer.Option("--days")] = 30,
    per_day: Annotated[int, typer.Option("--per-day", help="Impressions per day.")] = 10_000_000,
    lift: Annotated[float, typer.Option("--lift", help="True relative lift.")] = 0.02,
    seed: Seed = 0,
    chunk_rows: Annotated[int, typer.Option("--chunk-rows")] = 2_000_000,
    units: Annotated[int, typer.Option("--units", help="Geo: number of geos.")] = 40,
    periods: Annotated[int, typer.Option("--periods", help="Geo: number of periods.")] = 120,
    treated: Annotated[int, typer.Option("--treated", help="Geo: number of treated geos.")] = 2,
    test_periods: Annotated[int, typer.Option("--test-periods")] = 15,
    json_out: JsonFlag = False,
) -> None:
    """Write simulated data with a known true lift: impression logs (Parquet) or a geo panel (CSV)."""
    from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn

    from trilho.measure.simulate import ImpressionSpec, simulate_geo_panel, simulate_impressions

    if kind == "impressions":
        spec = ImpressionSpec(days=days, per_day=per_day, lift=lift, seed=seed, chunk_rows=chunk_rows)
        with Progress(
            TextColumn("simulating"),
            BarColumn(),
            TextColumn("{task.completed:,}/{task.total:,} rows"),
            TimeRemainingColumn(),
            disable=json_out,
        ) as prog:
            task = prog.add_task("rows", total=days * per_day)
            truth = simulate_impressions(out, spec, lambda done, total: prog.update(task, completed=done))
    elif kind == "geo":
        _, truth = simulate_geo_panel(
            out,
            units=units,
            periods=periods,
            treated=treated,
            test_periods=test_periods,
            lift=lift,
            seed=seed,
        )
    else:
        raise MeasurementError(
            f"unknown simulation kind {kind!r}", fix="use impressions or geo", field="kind", value=kind
        )
    emit(
        {"ok": True, "out": str(out), "truth": truth},
        json_out,
        lambda c: c.print(
            f"wrote {out} (truth: {json.dumps(truth.get('true_relative_lift_clicks', truth))})"
        ),
    )


@app.command("report")
@handles_errors
def report_cmd(
    result: Annotated[Path, typer.Argument(help="JSON written by `trilho measure ab/geo --json`.")],
    out: Annotated[Path, typer.Option("--out", help="Folder for report.html and report.json.")] = Path(
        "report"
    ),
    json_out: JsonFlag = False,
) -> None:
    """Write a self-contained HTML lift report (plotly inline) and the JSON behind it."""
    from trilho.measure.report import build_report, write_report

    if not result.exists():
        raise MeasurementError(
            f"result file {result} does not exist",
            fix="run `trilho measure ab/geo --json > r.json`",
            field="result",
            value=str(result),
        )
    try:
        payload = json.loads(result.read_text())
    except json.JSONDecodeError as exc:
        raise MeasurementError(
            f"{result} is not JSON ({exc.msg})", field="result", value=str(result)
        ) from None
    body = payload.get("result", payload)
    seed, inputs = payload.get("seed"), payload.get("inputs")
    if body.get("kind") == "geo-cells":  # a multi-cell test: one report per cell
        written = {
            name: [str(p) for p in write_report(build_report(cell, seed=seed, inputs=inputs), out / name)]
            for name, cell in body["cells"].items()
        }
        emit(
            {"ok": True, "cells": written},
            json_out,
            lambda c: c.print(f"wrote {len(written)} reports in {out}"),
        )
        return
    j, h = write_report(build_report(body, seed=seed, inputs=inputs), out)
    emit({"ok": True, "json": str(j), "html": str(h)}, json_out, lambda c: c.print(f"wrote {h} and {j}"))


# --- trilho measure rollout: business metrics of a rollout from the gateway's exposure log ---------------
@app.command("rollout")
@handles_errors
def rollout_cmd(
    ctx: typer.Context,
    model: Annotated[str, typer.Argument(help="The model whose rollout to analyse.")],
    outcomes: Annotated[
        str,
        typer.Option(
            "--outcomes",
            help="Events per unit with a time: a Parquet/CSV file or glob (with --table: a SQLAlchemy URL).",
        ),
    ],
    exposures: Annotated[
        str | None,
        typer.Option(
            "--exposures",
            help="Exposure log folder or glob (default: the home's exposures/); with --table, the table "
            "holding the log in that database (default: exposures).",
        ),
    ] = None,
    table: Annotated[
        str | None,
        typer.Option(
            "--table", help="Read --outcomes as a SQLAlchemy URL (PostgreSQL…) and this events table."
        ),
    ] = None,
    schema: Annotated[str | None, typer.Option("--schema", help="The database schema of --table.")] = None,
    engine: Annotated[
        str,
        typer.Option(
            "--engine", help="duckdb (files; --table: SQLAlchemy URL) | spark (local Spark session)."
        ),
    ] = "duckdb",
    metric: Annotated[
        list[str], typer.Option("--metric", help="Outcome column summed after exposure; repeatable.")
    ] = [],  # noqa: B006
    ratio: Ratios = [],  # noqa: B006
    covariate: Annotated[
        list[str],
        typer.Option(
            "--covariate", help="COL_pre (COL summed before exposure) per metric, in order, or METRIC=COV."
        ),
    ] = [],  # noqa: B006
    unit_col: Annotated[str, typer.Option("--unit-col", help="Outcomes column naming the unit.")] = "unit",
    time_col: Annotated[str, typer.Option("--time-col", help="Outcomes column with the event time.")] = "ts",
    units: Annotated[
        str | None,
        typer.Option(
            "--units",
            help="One row per unit of pre-exposure covariates (CUPAC predictions): Parquet/CSV, or with "
            "--table a table of that database; a --covariate may name its columns.",
        ),
    ] = None,
    units_time: Annotated[
        str | None,
        typer.Option("--units-time", help="--units column: when each row was computed (before exposure)."),
    ] = None,
    weights: Annotated[
        str | None,
        typer.Option("--weights", help="Routing weights in force, VERSION=SHARE,... (default: the store's)."),
    ] = None,
    stable: Annotated[str | None, typer.Option("--stable", help="Control version (default: stable).")] = None,
    planned_units: Annotated[
        float, typer.Option("--planned-units", help="Units the confidence sequences are tightest at.")
    ] = 100_000,
    alpha: Alpha = 0.05,
    report: ReportDir = None,
    json_out: JsonFlag = False,
) -> None:
    """Per-version lift vs stable from the gateway's exposure log joined to outcome events (first exposure
    per unit; events before it are covariates, never outcomes), with CUPED, delta-method ratios, a
    sample-ratio check against the routing weights and anytime-valid confidence sequences."""
    from trilho.cli._common import settings
    from trilho.measure.api import build_metrics, open_source
    from trilho.measure.exposure import analyze_rollout, parse_weights

    s = settings(ctx)
    shares, control = (parse_weights(weights) if weights else None), stable
    history = None  # generation → shares: the sample-ratio check covers every generation's units
    if shares is None:
        from trilho.store import open_store
        from trilho.store.routing import get_deployment, live_shares, shares_by_generation

        store = open_store(s)
        dep = get_deployment(store, model)
        if dep is not None:
            shares = live_shares(dep)
            control = control or dep.stable.version
            history = shares_by_generation(store, model) or None
    if table:
        source = open_source(outcomes, table=table, schema=schema, engine=engine)
        where: str | Path = exposures or "exposures"
    else:
        source, where = open_source(outcomes, engine=engine), exposures or s.home / "exposures"
    res = analyze_rollout(
        source,
        where,
        model,
        build_metrics(metric, ratio, covariate),
        unit=unit_col,
        time=time_col,
        weights=shares,
        stable=control,
        alpha=alpha,
        planned_units=planned_units,
        generation_weights=history,
        units_table=units,
        units_time=units_time,
    )
    ab, summary = res.ab, res.exposure
    inputs = {"model": model, "outcomes": Path(outcomes).name, "metrics": metric, "ratios": ratio}
    payload = {"ok": not ab.headline_blocked, "result": res.to_dict(), "inputs": inputs, "seed": None}
    _maybe_report(payload, report, None)

    def render(c):
        t = Table(title=f"rollout of {model}: lift vs stable {ab.control} ({summary.units} units)")
        for col in ("metric", "version", "stable", "version mean", "lift", "interval", "anytime-valid", "p"):
            t.add_column(col)
        for e in ab.effects:
            p = e.pvalue_adjusted if e.pvalue_adjusted is not None else e.pvalue
            t.add_row(
                e.metric,
                e.treatment_arm,
                f"{e.control_mean:.4g}",
                f"{e.treatment_mean:.4g}",
                "blocked" if ab.headline_blocked else f"{e.relative:+.2%}",
                _pct_interval(e.relative_ci_lower, e.relative_ci_upper),
                f"{e.sequential_ci_lower:+.4g} to {e.sequential_ci_upper:+.4g}",
                f"{p:.3g}",
            )
        c.print(t)
        c.print(
            f"{summary.exposures} exposures, {summary.units} units "
            f"({summary.multi_version_units} on more than one version), "
            f"{summary.pre_exposure_events} events before exposure (covariates only)"
        )
        if ab.srm:
            gens = summary.srm_generations or (summary.srm_generation,)
            c.print(
                f"sample ratio (generation{'s' if len(gens) > 1 else ''} {', '.join(map(str, gens))}): "
                f"{ab.srm.counts}, p = {ab.srm.pvalue:.3g}"
            )
        for w in ab.warnings:
            c.print(f"[yellow]warning:[/] {w}")

    emit(payload, json_out, render)
    if ab.headline_blocked:
        err_console.print("[bold red]check failed:[/] sample ratio mismatch, no lift is claimed")
        raise typer.Exit(CheckFailed.exit_code)
