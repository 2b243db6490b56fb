"""Checks that compare a candidate with its baseline over one window, and the step decision they lead to.

Every check returns a :class:`CheckResult` whose status is ``pass``, ``fail``, ``insufficient`` or ``error``;
a window with no traffic can never pass. :func:`decide` turns a step's results, its elapsed time and the plan
into one :class:`StepDecision` (hold, advance, extend, rollback or abort). Pure: no clock, no store.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from trilho.obs.histograms import quantile
from trilho.rollout.business import StepLifts, check_business_metric
from trilho.rollout.plan import (
    AgreementCheck,
    Analysis,
    ErrorRateCheck,
    LatencyCheck,
    OnlineScoreCheck,
    OnlineViolationCheck,
    Plan,
    UserMetricCheck,
)
from trilho.rollout.statistics import (
    conditional_mixture_p_value,
    mann_whitney_greater,
    msprt_mean_p_value,
    msprt_p_value,
    wilson_interval,
)

Status = Literal["pass", "fail", "insufficient", "error"]


@dataclass(frozen=True)
class VersionWindow:
    """What one version did over a window: counts, a latency histogram, shadow agreement, user metrics."""

    version: str
    requests: int = 0
    errors: int = 0
    latency_bounds: tuple[float, ...] = ()
    latency_counts: tuple[float, ...] = ()
    shadow_pairs: int = 0
    shadow_agree: int = 0
    metrics: Mapping[str, tuple[float, float]] = field(default_factory=dict)  # name -> (sum, count)
    online: Mapping[str, Any] | None = None  # trilho.evals.online_store.online_summary, when read

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready snapshot (used as audit evidence)."""
        out = {
            "version": self.version, "requests": self.requests, "errors": self.errors,
            "shadow_pairs": self.shadow_pairs, "shadow_agree": self.shadow_agree,
            "latency_observations": float(sum(self.latency_counts)),
        }  # fmt: skip
        if self.online is not None:
            out["online"] = {
                k: self.online.get(k) for k in ("seen", "checked", "violating", "violations", "judged")
            } | {"judge_score": {k: _finite(v) for k, v in (self.online.get("judge_score") or {}).items()}}
        return out


@dataclass(frozen=True)
class CheckResult:
    """The outcome of one check with the numbers behind it."""

    name: str
    status: Status
    message: str
    evidence: Mapping[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready form (NaN/inf become None)."""
        return {
            "name": self.name,
            "status": self.status,
            "message": self.message,
            "evidence": {k: _finite(v) for k, v in self.evidence.items()},
        }


def _finite(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def _least(minimum: int | None) -> int:
    """A check's minimum sample. Unset only for a check run outside a plan (a plan's steps fill it in with
    their ``min_requests``: :meth:`~trilho.rollout.plan.Plan.analysis_for`); then one observation does."""
    return minimum if minimum is not None else 1


def error_rate_p_value(x_base, n_base, x_cand, n_cand, cfg: ErrorRateCheck):
    """The always-valid p-value of the configured method (arrays broadcast)."""
    if cfg.method == "msprt":
        return msprt_p_value(x_base, n_base, x_cand, n_cand, cfg.mde)
    return conditional_mixture_p_value(x_base, n_base, x_cand, n_cand)


def check_error_rate(
    base: VersionWindow, cand: VersionWindow, cfg: ErrorRateCheck, alpha: float
) -> CheckResult:
    """mSPRT on the error-rate difference: fail when significant *and* the candidate is worse."""
    ev: dict[str, Any] = {
        "n_base": base.requests,
        "x_base": base.errors,
        "n_cand": cand.requests,
        "x_cand": cand.errors,
        "alpha": alpha,
        "method": cfg.method,
    }
    if base.errors > base.requests or cand.errors > cand.requests or min(base.errors, cand.errors) < 0:
        return CheckResult("error_rate", "error", "more errors than requests in the aggregates", ev)
    if cand.requests <= 0 or base.requests <= 0:
        return CheckResult("error_rate", "insufficient", "no traffic in one arm", ev)
    rate_b = base.errors / base.requests
    rate_c = cand.errors / cand.requests
    p = float(error_rate_p_value(base.errors, base.requests, cand.errors, cand.requests, cfg))
    ev.update(rate_base=rate_b, rate_cand=rate_c, p_value=p)
    if cfg.max_rate is not None:
        lower, _ = wilson_interval(cand.errors, cand.requests, 0.99)
        ev["rate_cand_lower_99"] = lower
        if lower > cfg.max_rate:
            return CheckResult(
                "error_rate",
                "fail",
                f"candidate error rate {rate_c:.2%} is above the {cfg.max_rate:.2%} guardrail",
                ev,
            )
    if p <= alpha and rate_c > rate_b:
        return CheckResult(
            "error_rate",
            "fail",
            f"error rate {rate_c:.2%} vs baseline {rate_b:.2%} (always-valid p={p:.2g} ≤ {alpha:.2g})",
            ev,
        )
    need = _least(cfg.min_requests)
    if min(cand.requests, base.requests) < need:
        return CheckResult(
            "error_rate",
            "insufficient",
            f"{min(cand.requests, base.requests)} of {need} requests per arm",
            ev,
        )
    return CheckResult(
        "error_rate", "pass", f"error rate {rate_c:.2%} vs baseline {rate_b:.2%} (p={p:.2g})", ev
    )


def check_latency(base: VersionWindow, cand: VersionWindow, cfg: LatencyCheck, alpha: float) -> CheckResult:
    """Quantile ratio above ``max_ratio`` confirmed by a one-sided Mann–Whitney test fails."""
    ev: dict[str, Any] = {"quantile": cfg.quantile, "max_ratio": cfg.max_ratio, "alpha": alpha}
    if tuple(base.latency_bounds) != tuple(cand.latency_bounds):
        return CheckResult("latency", "error", "baseline and candidate histograms use different buckets", ev)
    n_b, n_c = float(sum(base.latency_counts)), float(sum(cand.latency_counts))
    ev.update(n_base=n_b, n_cand=n_c)
    if n_b <= 0 or n_c <= 0:
        return CheckResult("latency", "insufficient", "no latency observations in one arm", ev)
    q_b = quantile(base.latency_bounds, base.latency_counts, cfg.quantile) or 0.0  # both arms hold
    q_c = quantile(cand.latency_bounds, cand.latency_counts, cfg.quantile) or 0.0  # observations here
    ratio = q_c / q_b if q_b > 0 else (math.inf if q_c > 0 else 1.0)
    p = mann_whitney_greater(base.latency_counts, cand.latency_counts)
    ev.update(q_base=q_b, q_cand=q_c, ratio=ratio, p_value=p)
    need = _least(cfg.min_requests)
    enough = min(n_b, n_c) >= need
    label = f"p{round(cfg.quantile * 100, 1):g}"
    if enough and cfg.max_seconds is not None and q_c > cfg.max_seconds:
        return CheckResult(
            "latency", "fail", f"candidate {label} {q_c:.4g}s is above the {cfg.max_seconds}s guardrail", ev
        )
    if enough and ratio > cfg.max_ratio and p <= alpha:
        return CheckResult(
            "latency",
            "fail",
            f"{label} {q_c:.4g}s is {ratio:.2f}× baseline's {q_b:.4g}s (Mann–Whitney p={p:.2g})",
            ev,
        )
    if not enough:
        return CheckResult("latency", "insufficient", f"{int(min(n_b, n_c))} of {need} observations", ev)
    return CheckResult("latency", "pass", f"{label} ratio {ratio:.2f} (p={p:.2g})", ev)


def check_agreement(cand: VersionWindow, cfg: AgreementCheck) -> CheckResult:
    """Pass when the agreement's lower bound clears the threshold; fail when the upper bound is below it."""
    pairs, agree = cand.shadow_pairs, cand.shadow_agree
    ev: dict[str, Any] = {
        "pairs": pairs,
        "agree": agree,
        "threshold": cfg.threshold,
        "confidence": cfg.confidence,
    }
    if agree > pairs or agree < 0:
        return CheckResult("shadow_agreement", "error", "more agreements than compared pairs", ev)
    if pairs <= 0:
        return CheckResult("shadow_agreement", "insufficient", "no compared shadow pairs", ev)
    lower, upper = wilson_interval(agree, pairs, cfg.confidence)
    ev.update(agreement=agree / pairs, lower=lower, upper=upper)
    if upper < cfg.threshold:
        return CheckResult(
            "shadow_agreement",
            "fail",
            f"agreement {agree / pairs:.1%} (upper bound {upper:.1%}) is below {cfg.threshold:.1%}",
            ev,
        )
    if pairs >= _least(cfg.min_pairs) and lower >= cfg.threshold:
        return CheckResult(
            "shadow_agreement",
            "pass",
            f"agreement {agree / pairs:.1%} (lower bound {lower:.1%} ≥ {cfg.threshold:.1%})",
            ev,
        )
    return CheckResult(
        "shadow_agreement",
        "insufficient",
        f"agreement {agree / pairs:.1%} over {pairs} pairs: bounds [{lower:.1%}, {upper:.1%}] "
        f"straddle {cfg.threshold:.1%}",
        ev,
    )


def check_user_metric(base: VersionWindow, cand: VersionWindow, cfg: UserMetricCheck) -> CheckResult:
    """A guardrail on the candidate's mean of a user metric (absolute bounds and/or ratio to baseline)."""
    name = f"metric:{cfg.name}"
    s_c, n_c = cand.metrics.get(cfg.name, (0.0, 0.0))
    ev: dict[str, Any] = {"count": n_c}
    need = _least(cfg.min_count)
    if n_c < need:
        return CheckResult(name, "insufficient", f"{int(n_c)} of {need} observations", ev)
    mean = s_c / n_c
    ev["mean"] = mean
    if not math.isfinite(mean):
        return CheckResult(name, "error", "the metric's mean is not finite", ev)
    if cfg.min is not None and mean < cfg.min:
        return CheckResult(name, "fail", f"{cfg.name} mean {mean:.4g} is below {cfg.min}", ev)
    if cfg.max is not None and mean > cfg.max:
        return CheckResult(name, "fail", f"{cfg.name} mean {mean:.4g} is above {cfg.max}", ev)
    if cfg.max_ratio_to_baseline is not None:
        s_b, n_b = base.metrics.get(cfg.name, (0.0, 0.0))
        if n_b < need:
            return CheckResult(name, "insufficient", f"baseline has {int(n_b)} of {need} observations", ev)
        base_mean = s_b / n_b
        ratio = mean / base_mean if base_mean else math.inf
        ev.update(base_mean=base_mean, ratio=ratio)
        if ratio > cfg.max_ratio_to_baseline:
            return CheckResult(name, "fail", f"{cfg.name} is {ratio:.2f}× baseline", ev)
    return CheckResult(name, "pass", f"{cfg.name} mean {mean:.4g} within bounds", ev)


def _online(w: VersionWindow) -> Mapping[str, Any]:
    return w.online or {}


def check_online_score(
    base: VersionWindow, cand: VersionWindow, cfg: OnlineScoreCheck, alpha: float
) -> CheckResult:
    """Online judge score of the candidate vs the baseline (inverse-probability-weighted means of the judged
    samples): fail when the always-valid mixture test rejects equality and the candidate's mean is lower by
    more than ``min_effect``. The normal approximation needs ``min_judged`` per arm before it decides."""
    name = "online:judge_score"
    sb, sc = _online(base).get("judge_score") or {}, _online(cand).get("judge_score") or {}
    n_b, n_c = int(sb.get("n") or 0), int(sc.get("n") or 0)
    ev: dict[str, Any] = {"n_base": n_b, "n_cand": n_c, "alpha": alpha, "mde": cfg.mde}
    if min(n_b, n_c) < cfg.min_judged:
        return CheckResult(
            name, "insufficient", f"{min(n_b, n_c)} of {cfg.min_judged} judged answers per arm", ev
        )
    m_b, m_c = float(sb["mean"]), float(sc["mean"])
    se_b, se_c = float(sb.get("se", math.nan)), float(sc.get("se", math.nan))
    ev.update(mean_base=m_b, mean_cand=m_c, se_base=se_b, se_cand=se_c)
    if not all(math.isfinite(v) for v in (m_b, m_c, se_b, se_c)):
        return CheckResult(name, "error", "the online judge score or its standard error is not finite", ev)
    diff = m_c - m_b
    p = msprt_mean_p_value(diff, se_b * se_b + se_c * se_c, cfg.mde)
    ev.update(diff=diff, p_value=p)
    if p <= alpha and diff < -cfg.min_effect:
        return CheckResult(
            name,
            "fail",
            f"online judge score {m_c:.3f} vs baseline {m_b:.3f} (always-valid p={p:.2g} ≤ {alpha:.2g})",
            ev,
        )
    return CheckResult(name, "pass", f"online judge score {m_c:.3f} vs baseline {m_b:.3f} (p={p:.2g})", ev)


def _violation_counts(w: VersionWindow, check: str | None) -> tuple[int, int]:
    o = _online(w)
    n = int(o.get("checked") or 0)
    x = int(o.get("violating") or 0) if check is None else int((o.get("violations") or {}).get(check, 0))
    return x, n


def check_online_violations(
    base: VersionWindow, cand: VersionWindow, cfg: OnlineViolationCheck, alpha: float
) -> list[CheckResult]:
    """Guardrail violation rate(s) of the candidate vs the baseline: one result for "any check", or one per
    listed check with α split evenly; the same always-valid one-sided test as the error rate."""
    targets: list[str | None] = list(cfg.checks) or [None]
    alpha = alpha / len(targets)
    out = []
    for check in targets:
        name = "online:violations" if check is None else f"online:violations:{check}"
        x_b, n_b = _violation_counts(base, check)
        x_c, n_c = _violation_counts(cand, check)
        ev: dict[str, Any] = {"n_base": n_b, "x_base": x_b, "n_cand": n_c, "x_cand": x_c, "alpha": alpha}
        if x_b > n_b or x_c > n_c:
            out.append(CheckResult(name, "error", "more violating answers than checked ones", ev))
            continue
        if n_b <= 0 or n_c <= 0:
            out.append(CheckResult(name, "insufficient", "no online-checked answers in one arm", ev))
            continue
        rate_b, rate_c = x_b / n_b, x_c / n_c
        p = float(conditional_mixture_p_value(x_b, n_b, x_c, n_c))
        ev.update(rate_base=rate_b, rate_cand=rate_c, p_value=p)
        what = "violation rate" if check is None else f"{check} violation rate"
        if cfg.max_rate is not None:
            lower, _ = wilson_interval(x_c, n_c, 0.99)
            ev["rate_cand_lower_99"] = lower
            if lower > cfg.max_rate:
                out.append(
                    CheckResult(
                        name, "fail", f"candidate {what} {rate_c:.2%} is above {cfg.max_rate:.2%}", ev
                    )
                )
                continue
        if p <= alpha and rate_c > rate_b:
            msg = f"{what} {rate_c:.2%} vs baseline {rate_b:.2%} (always-valid p={p:.2g} ≤ {alpha:.2g})"
            out.append(CheckResult(name, "fail", msg, ev))
        elif min(n_b, n_c) < _least(cfg.min_checked):
            msg = f"{min(n_b, n_c)} of {_least(cfg.min_checked)} checked answers"
            out.append(CheckResult(name, "insufficient", msg, ev))
        else:
            out.append(
                CheckResult(name, "pass", f"{what} {rate_c:.2%} vs baseline {rate_b:.2%} (p={p:.2g})", ev)
            )
    return out


def _tested_steps(plan: Plan, attr: str) -> int:
    return max(1, sum(1 for i in range(len(plan.steps)) if getattr(plan.analysis_for(i), attr) is not None))


def run_checks(
    plan: Plan, step: int, base: VersionWindow, cand: VersionWindow, lifts: StepLifts | None = None
) -> list[CheckResult]:
    """Every check the step's analysis asks for; a check that raises becomes an ``error`` result.
    ``lifts`` are the step's business-metric readings (:func:`trilho.rollout.business.read_lifts`).

    Each sequential test gets α split evenly over the steps that run it (Bonferroni), so the whole rollout's
    false-rollback rate stays ≤ α however many intervals and steps are checked.
    """
    analysis: Analysis = plan.analysis_for(step)
    kind = plan.steps[step].kind
    results: list[CheckResult] = []

    def guarded(name: str, fn, *args) -> None:
        try:
            results.append(fn(*args))
        except Exception as exc:  # a broken check must not stop the others; it is reported, never passed
            results.append(CheckResult(name, "error", f"{type(exc).__name__}: {exc}"))

    if analysis.error_rate is not None:
        alpha = analysis.error_rate.alpha / _tested_steps(plan, "error_rate")
        guarded("error_rate", check_error_rate, base, cand, analysis.error_rate, alpha)
    if analysis.latency is not None:
        alpha = analysis.latency.alpha / _tested_steps(plan, "latency")
        guarded("latency", check_latency, base, cand, analysis.latency, alpha)
    if kind == "shadow" and analysis.shadow_agreement is not None:
        guarded("shadow_agreement", check_agreement, cand, analysis.shadow_agreement)
    for metric in analysis.user_metrics:
        guarded(f"metric:{metric.name}", check_user_metric, base, cand, metric)
    online = analysis.online_eval
    if kind == "canary" and online is not None:  # shadow answers never reach users: not evaluated online
        steps = max(
            1,
            sum(
                1
                for i, st in enumerate(plan.steps)
                if st.kind == "canary" and plan.analysis_for(i).online_eval is not None
            ),
        )
        if online.judge_score is not None:
            alpha = online.judge_score.alpha / steps
            guarded("online:judge_score", check_online_score, base, cand, online.judge_score, alpha)
        if online.violations is not None:
            try:
                results.extend(
                    check_online_violations(base, cand, online.violations, online.violations.alpha / steps)
                )
            except Exception as exc:  # reported, never passed
                results.append(CheckResult("online:violations", "error", f"{type(exc).__name__}: {exc}"))
    if kind == "canary" and analysis.business is not None:
        results.extend(_business_results(plan, analysis, lifts))
    return results


def _business_results(plan: Plan, analysis: Analysis, lifts: StepLifts | None) -> list[CheckResult]:
    """One result per business metric; α split evenly over the canary steps that test business metrics."""
    business = analysis.business
    assert business is not None
    steps = max(
        1,
        sum(
            1
            for i, st in enumerate(plan.steps)
            if st.kind == "canary" and plan.analysis_for(i).business is not None
        ),
    )
    out = []
    for m in business.metrics:
        name = f"business:{m.label}"
        if lifts is not None and lifts.problem:
            out.append(CheckResult(name, "insufficient" if lifts.insufficient else "error", lifts.problem))
            continue
        reading = lifts.readings.get(m.label) if lifts is not None else None
        try:
            status, message, ev = check_business_metric(reading, m, m.alpha / steps, business.planned_units)
            out.append(CheckResult(name, status, message, ev))  # type: ignore[arg-type]
        except Exception as exc:  # reported, never passed
            out.append(CheckResult(name, "error", f"{type(exc).__name__}: {exc}"))
    return out


Action = Literal["hold", "advance", "extend", "rollback", "abort"]


@dataclass(frozen=True)
class StepDecision:
    """What the controller should do after one analysis of the current step, and why."""

    action: Action
    reason: str
    results: tuple[CheckResult, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready form."""
        return {"action": self.action, "reason": self.reason, "checks": [r.to_dict() for r in self.results]}


def decide(
    plan: Plan, step: int, results: list[CheckResult], *, elapsed: float, cand_requests: int, extensions: int
) -> StepDecision:
    """Fail → rollback at once; otherwise wait out the step; then advance only if every check passed."""
    res = tuple(results)
    failed = [r for r in results if r.status == "fail"]
    if failed:
        return StepDecision("rollback", "; ".join(f"{r.name}: {r.message}" for r in failed), res)
    body = plan.steps[step].body
    policy = plan.on_insufficient_data
    needed = body.min_duration + extensions * policy.extend_by
    if elapsed < needed:
        return StepDecision("hold", f"step {step} running: {elapsed:.0f}s of {needed:.0f}s", res)
    errored = [r for r in results if r.status == "error"]
    if errored:
        return StepDecision("hold", "; ".join(f"{r.name}: {r.message}" for r in errored), res)
    waiting = [r for r in results if r.status == "insufficient"]
    if cand_requests >= body.min_requests and not waiting and cand_requests > 0:
        return StepDecision("advance", f"step {step} passed every check with {cand_requests} requests", res)
    why = (
        "; ".join(f"{r.name}: {r.message}" for r in waiting)
        or f"{cand_requests} of {body.min_requests} requests"
    )
    if policy.action == "hold":
        return StepDecision("hold", f"insufficient data, holding: {why}", res)
    if policy.action == "extend" and extensions < policy.max_extensions:
        return StepDecision("extend", f"insufficient data, extending by {policy.extend_by:.0f}s: {why}", res)
    return StepDecision("abort", f"insufficient data after {extensions} extension(s): {why}", res)
