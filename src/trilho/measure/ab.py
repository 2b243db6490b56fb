"""A/B analysis end to end: sufficient statistics from a source, SRM, estimates, multiplicity, headline.

``analyze_source`` is the I/O edge (one SQL pass); ``analyze_moments`` is pure and takes per-arm moments.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Literal

from trilho.errors import MeasurementError
from trilho.measure.estimators import Effect, RelativeCI, estimate
from trilho.measure.metrics import Covariate, Metric
from trilho.measure.moments import Moments
from trilho.measure.multiplicity import Method, adjust
from trilho.measure.sequential import sequential_interval
from trilho.measure.sql import Source, late_covariate_sql, read_moments, require_columns
from trilho.measure.srm import DEFAULT_SRM_ALPHA, SRMResult, srm_test
from trilho.measure.telemetry import observed
from trilho.measure.timing import TimingCheck, check_timing


@dataclass(frozen=True)
class ABResult:
    """Everything an A/B analysis found: trust checks, per-metric effects, whether to show a headline."""

    control: str
    arms: dict[str, int]
    srm: SRMResult | None
    effects: list[Effect]
    correction: str
    alpha: float
    timing: list[TimingCheck] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    @property
    def headline_blocked(self) -> bool:
        """A failed sample-ratio check means the arms are not comparable: no lift headline."""
        return self.srm is not None and not self.srm.passed

    def effect(self, metric: str, treatment: str | None = None) -> Effect:
        """The effect for ``metric`` (and treatment arm, when there are several)."""
        for e in self.effects:
            if e.metric == metric and (treatment is None or e.treatment_arm == treatment):
                return e
        raise KeyError(metric)

    def to_dict(self) -> dict:
        """JSON-ready form."""
        return {
            "kind": "ab",
            "control": self.control,
            "arms": self.arms,
            "alpha": self.alpha,
            "correction": self.correction,
            "srm": self.srm.to_dict() if self.srm else None,
            "headline_blocked": self.headline_blocked,
            "effects": [e.to_dict() for e in self.effects],
            "covariate_timing": [t.to_dict() for t in self.timing],
            "warnings": list(self.warnings),
        }


def _pick_control(arms: Sequence[str], control: str | None) -> str:
    if control is not None:
        if control not in arms:
            raise MeasurementError(
                f"control value {control!r} does not occur in the variant column (found: {', '.join(arms)})",
                fix=f"pass --control with one of: {', '.join(arms)}",
                field="control",
                value=control,
            )
        return control
    for guess in ("control", "0", "A", "a", "baseline"):
        if guess in arms:
            return guess
    return sorted(arms)[0]


def analyze_moments(
    metrics: Sequence[Metric],
    moments: Mapping[str, Moments],
    *,
    control: str | None = None,
    variants: Sequence[str] | None = None,
    alpha: float = 0.05,
    correction: Method = "holm",
    srm: bool = True,
    srm_ratios: Mapping[str, float] | None = None,
    srm_method: Literal["chisquare", "binomial"] = "chisquare",
    srm_alpha: float = DEFAULT_SRM_ALPHA,
    relative_ci: RelativeCI = "log",
    sequential_planned_n: float | None = None,
) -> ABResult:
    """Analyse every metric for every treatment arm against control, from per-arm moments (pure)."""
    arms = sorted(moments)
    if variants is not None:
        unexpected = [a for a in arms if a not in {str(v) for v in variants}]
        if unexpected:
            raise MeasurementError(
                f"variant column has unexpected value(s) {unexpected}; expected {list(variants)}",
                fix="filter the data to the experiment's arms or pass the full --variants list",
                field="variant",
                value=str(unexpected[0]),
            )
    if len(arms) < 2:
        raise MeasurementError(
            f"the variant column has {len(arms)} value(s) ({', '.join(arms)}); an A/B test needs two or more",
            fix="check the variant column and any filters",
            field="variant",
        )
    ctrl = _pick_control(arms, control)
    if variants is None and len(arms) > 2 and control is None:
        raise MeasurementError(
            f"the variant column has {len(arms)} values {arms} and no control was named",
            fix="pass --control (and --variants to list the arms)",
            field="variant",
        )
    effects: list[Effect] = []
    for arm in arms:
        if arm == ctrl:
            continue
        for m in metrics:
            e = estimate(
                m,
                moments[ctrl],
                moments[arm],
                control_arm=ctrl,
                treatment_arm=arm,
                alpha=alpha,
                relative_ci=relative_ci,
            )
            if sequential_planned_n is not None:
                lo, hi = sequential_interval(
                    e.effect, e.se, e.n_control + e.n_treatment, alpha, sequential_planned_n
                )
                e = replace(e, sequential_ci_lower=lo, sequential_ci_upper=hi)
            effects.append(e)
    if correction != "none" and len(effects) > 1:
        adj = adjust([e.pvalue for e in effects], correction)
        effects = [replace(e, pvalue_adjusted=a) for e, a in zip(effects, adj, strict=True)]
    warnings: list[str] = []
    for arm in arms:
        if arm == ctrl:
            continue
        for m in metrics:
            cv = m.covariate
            if cv is None:
                continue
            bal = estimate(
                Metric(f"balance:{cv.label}", cv.numerator, cv.denominator),
                moments[ctrl],
                moments[arm],
                alpha=alpha,
                relative_ci="delta",
            )
            if bal.pvalue < srm_alpha:
                warnings.append(
                    f"covariate '{cv.label}' differs between arms (p = {bal.pvalue:.2g}): "
                    "a pre-period covariate "
                    "is balanced by randomisation, so it may have been recorded after exposure"
                )
    counts = {a: int(moments[a].n) for a in arms}
    srm_res = srm_test(counts, srm_ratios, method=srm_method, alpha=srm_alpha) if srm else None
    if srm_res is not None and not srm_res.passed:
        warnings.append(
            f"sample ratio mismatch (p = {srm_res.pvalue:.2g} < {srm_alpha}): the arms are not comparable, "
            "so no lift is claimed; find the assignment or logging bug first"
        )
    return ABResult(ctrl, counts, srm_res, effects, correction, alpha, [], warnings)


def analyze(
    source: Source,
    metrics: Sequence[Metric],
    *,
    variant: str,
    start: datetime | None = None,
    exposure_column: str | None = None,
    **options,
) -> ABResult:
    """Analyse an experiment where it lives: checks columns and covariate timing, then one SQL pass."""
    with observed("ab", source=source.name, metrics=len(metrics)):
        return _analyze(
            source, metrics, variant=variant, start=start, exposure_column=exposure_column, **options
        )


def _analyze(
    source: Source,
    metrics: Sequence[Metric],
    *,
    variant: str,
    start: datetime | None,
    exposure_column: str | None,
    **options,
) -> ABResult:
    if not metrics:
        raise MeasurementError("no metric to analyse", fix="pass at least one --metric", field="metric")
    require_columns(source, [variant], flag="variant")
    require_columns(source, [c for m in metrics for c in (m.numerator, m.denominator) if c], flag="metric")
    covs: list[Covariate] = [m.covariate for m in metrics if m.covariate]
    require_columns(source, [c for cv in covs for c in cv.columns], flag="covariate")
    checks: dict[str, TimingCheck] = {}
    for cv in covs:
        for col in cv.columns:
            check = check_timing(col, cv.timing, start=start, exposure_column=exposure_column)
            if cv.timing is not None and cv.timing.time_column:
                require_columns(source, [cv.timing.time_column], flag="covariate-time")
                exposure = (
                    source.dialect.quote(exposure_column) if exposure_column else f"'{start.isoformat()}'"  # type: ignore[union-attr]
                )
                sql = late_covariate_sql(source.relation(), cv.timing.time_column, exposure, source.dialect)
                late = int(source.query(sql)[0][0])
                if late:
                    raise MeasurementError(
                        f"covariate '{col}' was recorded after exposure for {late} unit(s) "
                        f"(column '{cv.timing.time_column}')",
                        fix="recompute the covariate over the pre-exposure window only",
                        field="covariate",
                        value=col,
                    )
            checks[col] = check
    moments = read_moments(source, variant, [c for m in metrics for c in m.columns])
    result = analyze_moments(metrics, moments, **options)
    warnings = list(result.warnings)
    for m in metrics:
        if m.covariate is None:
            continue
        for e in result.effects:
            if e.metric == m.name and e.variance_reduction is not None and e.variance_reduction < 0:
                warnings.append(f"covariate '{m.covariate.label}' did not reduce the variance of '{m.name}'")
    return replace(result, timing=list(checks.values()), warnings=warnings)
