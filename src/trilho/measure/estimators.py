"""Pure A/B estimators on sufficient statistics: difference in means, delta method, CUPED/CUPAC, Welch tests.

Nothing here reads data. Each function takes :class:`~trilho.measure.moments.Moments` per arm and returns
numbers, so the same code analyses 4,000 users from a CSV or 300M impressions summarised in a warehouse.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Literal

import numpy as np
from scipy import stats

from trilho.errors import MeasurementError
from trilho.measure.metrics import Metric
from trilho.measure.moments import Moments

RelativeCI = Literal["log", "delta"]


@dataclass(frozen=True)
class Effect:
    """One metric, one treatment arm against control: absolute and relative effects with intervals."""

    metric: str
    kind: str
    control_arm: str
    treatment_arm: str
    n_control: int
    n_treatment: int
    control_mean: float
    treatment_mean: float
    effect: float
    ci_lower: float
    ci_upper: float
    se: float
    df: float
    statistic: float
    pvalue: float
    relative: float
    relative_ci_lower: float
    relative_ci_upper: float
    alpha: float
    covariate: str | None = None
    theta: float | None = None
    variance_reduction: float | None = None
    unadjusted_ci_lower: float | None = None
    unadjusted_ci_upper: float | None = None
    pvalue_adjusted: float | None = None
    sequential_ci_lower: float | None = None
    sequential_ci_upper: float | None = None
    relative_se: float | None = None
    relative_pvalue: float | None = None
    relative_ci_method: str = "log"
    relative_log_ci_lower: float | None = None
    relative_log_ci_upper: float | None = None
    relative_delta_ci_lower: float | None = None
    relative_delta_ci_upper: float | None = None

    @property
    def significant(self) -> bool:
        """True when the (multiplicity-adjusted, if any) p-value is below alpha."""
        p = self.pvalue if self.pvalue_adjusted is None else self.pvalue_adjusted
        return p < self.alpha

    def to_dict(self) -> dict:
        """JSON-ready form."""
        return asdict(self)


def ratio_value_grad(m: Moments, num: str, den: str | None) -> tuple[float, np.ndarray]:
    """Value of mean(num)/mean(den) at the arm's means and its gradient w.r.t. the column means."""
    mu = m.mean
    g = np.zeros(len(m.columns))
    i = m.index(num)
    if den is None:
        g[i] = 1.0
        return float(mu[i]), g
    j = m.index(den)
    if mu[j] == 0:
        raise MeasurementError(
            f"the mean of denominator '{den}' is zero in an arm",
            fix="choose a denominator that is not all zero",
            field="metric",
            value=den,
        )
    g[i] = 1.0 / mu[j]
    g[j] = -mu[i] / mu[j] ** 2
    return float(mu[i] / mu[j]), g


def binomial_variance(m: Moments, column: str) -> float:
    """``p(1 − p)`` of a 0/1 column (GrowthBook gbstats' proportion variance, not the n − 1 sample variance);
    a MeasurementError when the column's moments show values other than 0 and 1."""
    i = m.index(column)
    p = float(m.mean[i])
    second = float(m.cov[i, i]) * (m.n - 1) / m.n + p * p if m.n > 1 else p * p  # mean of x²
    if not (-1e-9 <= p <= 1 + 1e-9) or abs(second - p) > 1e-9 * max(1.0, abs(p)):
        raise MeasurementError(
            f"proportion metric '{column}' holds values other than 0 and 1 (mean {p:.4g}, mean of squares "
            f"{second:.4g})",
            fix="pass it as --metric (a mean), or recode it to 0/1",
            field="proportion",
            value=column,
        )
    return p * (1 - p)


@dataclass(frozen=True)
class _Arm:
    n: float
    value: float  # unadjusted metric value
    adjusted: float  # CUPED-adjusted value (= value without covariate)
    var: float  # unit-level variance of the (adjusted) metric's influence function
    var_unadjusted: float


def _arms(metric: Metric, control: Moments, treatment: Moments) -> tuple[_Arm, _Arm, float | None]:
    pooled = control + treatment
    cov = metric.covariate
    theta = None
    out = []
    if cov is not None:
        _, g_y = ratio_value_grad(pooled, metric.numerator, metric.denominator)
        c_pool, g_x = ratio_value_grad(pooled, cov.numerator, cov.denominator)
        s = pooled.cov
        var_x = float(g_x @ s @ g_x)
        if var_x <= 0:
            raise MeasurementError(
                f"covariate '{cov.label}' is constant, so it cannot reduce variance",
                fix="drop --covariate or choose a covariate that varies",
                field="covariate",
                value=cov.label,
            )
        theta = float(g_y @ s @ g_x) / var_x
    for m in (control, treatment):
        v, gy = ratio_value_grad(m, metric.numerator, metric.denominator)
        s = m.cov
        vy = binomial_variance(m, metric.numerator) if metric.kind == "proportion" else float(gy @ s @ gy)
        if cov is None:
            out.append(_Arm(m.n, v, v, vy, vy))
            continue
        c, gx = ratio_value_grad(m, cov.numerator, cov.denominator)
        vx = float(gx @ s @ gx)
        cxy = float(gy @ s @ gx)
        adj = v - theta * (c - c_pool)
        out.append(_Arm(m.n, v, adj, max(vy + theta * theta * vx - 2 * theta * cxy, 0.0), vy))
    return out[0], out[1], theta


def _welch(vc: float, nc: float, vt: float, nt: float) -> tuple[float, float]:
    """Standard error of a difference in means and its Welch–Satterthwaite degrees of freedom."""
    a, b = vc / nc, vt / nt
    se = math.sqrt(a + b)
    den = (a * a / (nc - 1) if nc > 1 else 0.0) + (b * b / (nt - 1) if nt > 1 else 0.0)
    df = (a + b) ** 2 / den if den > 0 else float("inf")
    return se, df


def estimate(
    metric: Metric,
    control: Moments,
    treatment: Moments,
    *,
    control_arm: str = "control",
    treatment_arm: str = "treatment",
    alpha: float = 0.05,
    relative_ci: RelativeCI = "log",
) -> Effect:
    """Welch t-test on the (CUPED-adjusted) metric; absolute and relative effects with (1 − alpha) intervals.

    Relative intervals: ``"log"`` applies the delta method to log(treatment/control) as tea-tasting does
    (asymmetric, never crosses −100 %); ``"delta"`` applies it to effect / unadjusted control mean, as
    GrowthBook's gbstats does. Both are always computed (``relative_log_ci_*``, ``relative_delta_ci_*``, with
    the delta method's ``relative_se`` and ``relative_pvalue``); ``relative_ci`` picks the headline one.
    Proportion metrics use the binomial variance p(1 − p).
    """
    c, t, theta = _arms(metric, control, treatment)
    se, df = _welch(c.var, c.n, t.var, t.n)
    effect = t.adjusted - c.adjusted
    dist = stats.t(df) if math.isfinite(df) else stats.norm()
    q = float(dist.ppf(1 - alpha / 2))
    if se == 0:
        raise MeasurementError(
            f"metric '{metric.name}' has zero variance in both arms; no interval can be computed",
            fix="check that the metric column is not constant",
            field="metric",
            value=metric.name,
        )
    stat = effect / se
    p = float(2 * dist.sf(abs(stat)))
    if c.adjusted == 0 or (relative_ci == "log" and t.adjusted <= 0) or c.adjusted < 0:
        raise MeasurementError(
            f"metric '{metric.name}' has a non-positive control mean, so a relative effect is undefined",
            fix="analyse the absolute effect only or pick a positive metric",
            field="metric",
            value=metric.name,
        )
    # both relative intervals, always: "log" (tea-tasting's, asymmetric) and "delta" (effect / control mean,
    # with its delta-method standard error and p-value, as GrowthBook gbstats reports relative lift)
    rel_log = t.adjusted / c.adjusted - 1 if t.adjusted > 0 else math.nan
    log_lo = log_hi = math.nan
    if t.adjusted > 0:
        lse, ldf = _welch(c.var / c.adjusted**2, c.n, t.var / t.adjusted**2, t.n)
        lq = float((stats.t(ldf) if math.isfinite(ldf) else stats.norm()).ppf(1 - alpha / 2))
        h = math.exp(lq * lse)
        log_lo, log_hi = (rel_log + 1) / h - 1, (rel_log + 1) * h - 1
    base = c.value
    rel_delta = effect / base
    # Var(effect / base) by the delta method; Cov(effect, base) = -Cov(adjusted control, control mean).
    cov_adj_base = (c.var_unadjusted if theta is None else _cov_adj_unadj(metric, control, theta)) / c.n
    var = (
        se**2 / base**2 + effect**2 * (c.var_unadjusted / c.n) / base**4 + 2 * effect * cov_adj_base / base**3
    )
    rel_se = math.sqrt(max(var, 0.0))
    rel_p = float(2 * dist.sf(abs(rel_delta / rel_se))) if rel_se > 0 else (0.0 if rel_delta else 1.0)
    delta_lo, delta_hi = rel_delta - q * rel_se, rel_delta + q * rel_se
    if relative_ci == "log":
        rel, rel_lo, rel_hi = rel_log, log_lo, log_hi
    else:
        rel, rel_lo, rel_hi = rel_delta, delta_lo, delta_hi
    un_lo = un_hi = vr = None
    if theta is not None:
        use, _ = _welch(c.var_unadjusted, c.n, t.var_unadjusted, t.n)
        raw = t.value - c.value
        un_lo, un_hi = raw - q * use, raw + q * use
        pooled_unadj = c.var_unadjusted + t.var_unadjusted
        vr = 1 - (c.var + t.var) / pooled_unadj if pooled_unadj > 0 else 0.0
    return Effect(
        metric=metric.name,
        kind=metric.kind,
        control_arm=control_arm,
        treatment_arm=treatment_arm,
        n_control=int(c.n),
        n_treatment=int(t.n),
        control_mean=c.adjusted,
        treatment_mean=t.adjusted,
        effect=effect,
        ci_lower=effect - q * se,
        ci_upper=effect + q * se,
        se=se,
        df=df,
        statistic=stat,
        pvalue=p,
        relative=rel,
        relative_ci_lower=rel_lo,
        relative_ci_upper=rel_hi,
        alpha=alpha,
        covariate=metric.covariate.label if metric.covariate else None,
        theta=theta,
        variance_reduction=vr,
        unadjusted_ci_lower=un_lo,
        unadjusted_ci_upper=un_hi,
        relative_se=rel_se,
        relative_pvalue=rel_p,
        relative_ci_method=relative_ci,
        relative_log_ci_lower=log_lo if math.isfinite(log_lo) else None,
        relative_log_ci_upper=log_hi if math.isfinite(log_hi) else None,
        relative_delta_ci_lower=delta_lo,
        relative_delta_ci_upper=delta_hi,
    )


def _cov_adj_unadj(metric: Metric, m: Moments, theta: float) -> float:
    """Unit-level covariance between the CUPED-adjusted and the raw metric in one arm."""
    _, gy = ratio_value_grad(m, metric.numerator, metric.denominator)
    cov = metric.covariate
    assert cov is not None
    _, gx = ratio_value_grad(m, cov.numerator, cov.denominator)
    s = m.cov
    return float(gy @ s @ gy) - theta * float(gy @ s @ gx)
