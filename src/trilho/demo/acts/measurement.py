"""Act 5 — causal measurement: an A/B test on simulated impression logs with a known lift, analysed from SQL
sufficient statistics with CUPED; a geo experiment with a planted effect, analysed by synthetic control with
conformal inference; both written as HTML lift reports a manager can read."""

from __future__ import annotations

from trilho.demo.runner import ActResult, DemoContext


def act(ctx: DemoContext) -> ActResult:
    """Run act 5 and report what it saw."""
    from trilho.measure import ImpressionSpec, mean, simulate_geo_panel, simulate_impressions
    from trilho.measure import ab as ab_analysis
    from trilho.measure.api import run_geo
    from trilho.measure.report import build_report, write_report
    from trilho.measure.sql import DuckDBSource

    work = ctx.workdir / "measure"
    lift = 0.03
    spec = ImpressionSpec(
        days=2 if ctx.quick else 7,
        per_day=200_000 if ctx.quick else 1_000_000,
        lift=lift,
        seed=7,
        heterogeneity=0.5,
        pre_impressions=50,
    )
    with ctx.console.status(
        f"simulating {spec.days * spec.per_day:,} impressions with a true lift of {lift:.0%}"
    ):
        simulate_impressions(work / "impressions", spec)
    source = DuckDBSource(str(work / "impressions"), threads=2)
    with ctx.console.status("A/B analysis from per-arm sums in SQL (DuckDB), with and without CUPED"):
        result = ab_analysis.analyze(
            source, [mean("clicks", "pre_clicks")], variant="variant", correction="none"
        )
    e = result.effects[0]
    ctx.console.print(
        f"clicks lift {e.relative:+.2%} [{e.relative_ci_lower:+.2%}, {e.relative_ci_upper:+.2%}] "
        f"(true {lift:+.0%}); CUPED cut the variance by {e.variance_reduction or 0:.0%}"
    )
    ab_json, ab_html = write_report(
        build_report(result.to_dict(), seed=spec.seed), ctx.settings.reports_dir / "ab"
    )

    panel_csv = work / "geo_panel.csv"
    _, truth = simulate_geo_panel(
        panel_csv, units=30, periods=90, treated=2, test_periods=14, lift=0.05, seed=3
    )
    with ctx.console.status("geo experiment: synthetic control with conformal inference"):
        geo = run_geo(
            str(panel_csv),
            treated=truth["treated"],
            start=str(truth["start"]),
            draws=200 if ctx.quick else 1000,
            seed=0,
        )
    cf = geo.conformal
    ctx.console.print(
        f"geo lift {geo.lift:+.2%} (true +5%), ATT {geo.att:.1f} per geo-day"
        + (f", p = {cf.pvalue:.3f}, {cf.describe()}" if cf else "")
    )
    geo_json, geo_html = write_report(build_report(geo.to_dict(), seed=0), ctx.settings.reports_dir / "geo")
    covered = e.relative_ci_lower <= lift <= e.relative_ci_upper
    return ActResult(
        title="A/B with CUPED and a geo experiment analysed; HTML lift reports written",
        ok=covered and geo.lift > 0,
        figures=[
            (
                "A/B clicks lift (true +3%)",
                f"{e.relative:+.2%} [{e.relative_ci_lower:+.2%}, {e.relative_ci_upper:+.2%}]",
            ),
            ("CUPED variance reduction", f"{e.variance_reduction or 0:.0%}"),
            (
                "geo lift (true +5%)",
                f"{geo.lift:+.2%}" + (f", p = {geo.conformal.pvalue:.3f}" if geo.conformal else ""),
            ),
            ("reports", f"{ab_html.parent.parent}"),
        ],
        artifacts=[str(ab_html), str(geo_html), str(ab_json), str(geo_json)],
    )
