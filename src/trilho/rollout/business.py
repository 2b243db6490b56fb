"""Business-metric checks of a canary step: the candidate's lift over the stable version on outcomes joined to
the gateway's exposure log, judged by an always-valid confidence sequence.

:func:`check_business_metric` is pure: it takes one metric's :class:`LiftReading` (what the join found for
the step's units) and the plan's :class:`~trilho.rollout.plan.BusinessMetricCheck`, and says pass, fail or
insufficient with the metric's interval in the message. :func:`read_lifts` is the I/O edge: it runs
:func:`trilho.measure.exposure.analyze_rollout` (one DuckDB pass; CUPED and the delta method live there) over
the exposures since the step began. The sequence is the one ``trilho measure rollout`` reports
(:func:`trilho.measure.sequential.sequential_interval`), applied to the relative lift, so looking every
interval never inflates the false-rollback rate beyond α.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import asdict, dataclass, replace
from datetime import datetime
from pathlib import Path
from typing import Any

from trilho.rollout.plan import BusinessAnalysis, BusinessMetricCheck


@dataclass(frozen=True)
class LiftReading:
    """One metric's candidate-vs-stable estimate over a step's exposed units (delta-method relative lift)."""

    n_base: int
    n_cand: int
    base_mean: float
    cand_mean: float
    relative: float  # (candidate − stable) / stable, CUPED-adjusted when the metric names a covariate
    relative_se: float
    variance_reduction: float | None = None
    srm_pvalue: float | None = None  # the sample-ratio check on the step's units, when it ran
    srm_passed: bool = True

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready."""
        return asdict(self)

    @classmethod
    def from_effect(cls, e: Any, srm: Any = None) -> LiftReading:
        """The reading of a :class:`trilho.measure.estimators.Effect` (its delta-method relative lift, the
        estimate its interval is centred on) and an optional sample-ratio result."""
        lo, hi = e.relative_delta_ci_lower, e.relative_delta_ci_upper
        return cls(
            n_base=e.n_control,
            n_cand=e.n_treatment,
            base_mean=e.control_mean,
            cand_mean=e.treatment_mean,
            relative=(lo + hi) / 2 if lo is not None and hi is not None else math.nan,
            relative_se=e.relative_se if e.relative_se is not None else math.nan,
            variance_reduction=e.variance_reduction,
            srm_pvalue=srm.pvalue if srm is not None else None,
            srm_passed=srm.passed if srm is not None else True,
        )


@dataclass(frozen=True)
class StepLifts:
    """What :func:`read_lifts` found: a reading per metric label, or why there is none."""

    readings: Mapping[str, LiftReading]
    problem: str | None = None  # set when nothing could be read (the reason)
    insufficient: bool = False  # True when the problem is only "not enough units yet"


def _pct(x: float) -> str:
    return f"{x:+.2%}"


def lift_interval(reading: LiftReading, alpha: float, planned_units: float) -> tuple[float, float]:
    """The (1 − α) always-valid interval of the relative lift at this look."""
    from trilho.measure.sequential import sequential_interval  # the measure package loads ~1 s: on use only

    n = reading.n_base + reading.n_cand
    return sequential_interval(reading.relative, reading.relative_se, n, alpha, planned_units)


def check_business_metric(
    reading: LiftReading | None, cfg: BusinessMetricCheck, alpha: float, planned_units: float
) -> tuple[str, str, dict[str, Any]]:
    """``(status, message, evidence)`` of one business metric: a guardrail fails when its whole interval
    is on the wrong side of the threshold, a goal passes only when its whole interval is on the right side."""
    ev: dict[str, Any] = {
        "role": cfg.role,
        "direction": cfg.direction,
        "threshold": cfg.threshold,
        "alpha": alpha,
        "planned_units": planned_units,
    }
    if reading is None:
        return "insufficient", "no unit exposed to both versions since the step began", ev
    ev.update(reading.to_dict())
    need = cfg.min_units or 1  # a plan fills it with the step's min_requests
    have = min(reading.n_base, reading.n_cand)
    if have < need:
        return "insufficient", f"{have} of {need} exposed units per arm", ev
    if not reading.srm_passed:
        return (
            "insufficient",
            f"sample ratio mismatch among the step's units (p = {reading.srm_pvalue:.2g}): no lift is "
            "trusted until the routing or logging problem is found",
            ev,
        )
    if not (math.isfinite(reading.relative) and math.isfinite(reading.relative_se)):
        return "error", "the relative lift or its standard error is not finite", ev
    lo, hi = lift_interval(reading, alpha, planned_units)
    ev.update(lower=lo, upper=hi)
    conf = f"{1 - alpha:.1%}".replace(".0%", "%")
    shown = f"lift {_pct(reading.relative)} [{_pct(lo)}, {_pct(hi)}] ({conf} always-valid)"
    up = cfg.direction == "increase"
    t = _pct(cfg.threshold)
    if cfg.role == "guardrail":
        harmed = hi < cfg.threshold if up else lo > cfg.threshold
        if harmed:
            side = "below" if up else "above"
            return "fail", f"{shown} is wholly {side} the {t} guardrail", ev
        return "pass", f"{shown}: no significant harm beyond {t}", ev
    cleared = lo > cfg.threshold if up else hi < cfg.threshold
    if cleared:
        return "pass", f"{shown} clears the {t} goal", ev
    bound = "lower bound" if up else "upper bound"
    return "insufficient", f"{shown}: its {bound} has not cleared the {t} goal", ev


def read_lifts(
    cfg: BusinessAnalysis,
    model: str,
    baseline: str,
    candidate: str,
    *,
    since: datetime,
    weights: Mapping[str, float] | None,
    exposures: str | Path | None,
) -> StepLifts:
    """Per-metric readings for ``candidate`` vs ``baseline`` over the units first exposed since ``since``
    (the step's start), from ``cfg.outcomes`` joined to the exposure log (``cfg.exposures`` or
    ``exposures``); ``weights`` (version → live share) drive the sample-ratio check."""
    from trilho.errors import MeasurementError
    from trilho.measure.exposure import analyze_rollout
    from trilho.measure.metrics import parse_metric
    from trilho.measure.sql import DuckDBSource

    where = cfg.exposures or exposures
    if where is None:
        return StepLifts(
            {}, "no exposure log: set analysis.business.exposures or run the controller on a home"
        )
    metrics = [replace(parse_metric(m.metric, m.covariate), name=m.label) for m in cfg.metrics]
    source = None
    try:
        source = DuckDBSource(cfg.outcomes)
        result = analyze_rollout(
            source,
            where,
            model,
            metrics,
            unit=cfg.unit,
            time=cfg.time,
            weights=weights,
            stable=baseline,
            planned_units=cfg.planned_units,
            since=since,
        )
    except MeasurementError as exc:  # few units yet (one arm, constant outcomes) is waiting, not broken
        early = exc.fields.get("field") in ("model", "variant", "stable") or any(
            w in exc.message for w in ("zero variance", "non-positive control mean")
        )
        return StepLifts({}, exc.message if early else str(exc), insufficient=early)
    except Exception as exc:  # an unreadable table is reported (an error result), never passed
        return StepLifts({}, f"outcomes or exposures unreadable: {type(exc).__name__}: {exc}"[:500])
    finally:
        if source is not None:
            source.close()
    ab = result.ab
    if candidate not in ab.arms or baseline not in ab.arms:
        return StepLifts({}, "no unit exposed to both versions since the step began", insufficient=True)
    out = {m.label: LiftReading.from_effect(ab.effect(m.label, candidate), ab.srm) for m in cfg.metrics}
    return StepLifts(out)


def record_readings(store, rollout_id: int, step: int, at: datetime, results) -> int:
    """Store the business checks of one tick that have an interval (``CheckResult`` with ``lower``/``upper``
    evidence) for the dashboard's lift over time; returns how many rows were written."""
    from trilho.store.tables.rollout import rollout_business_readings

    rows = []
    for r in results:
        ev = r.evidence or {}
        if not r.name.startswith("business:") or ev.get("lower") is None or ev.get("upper") is None:
            continue
        rel = ev.get("relative")
        rows.append(
            {
                "rollout_id": rollout_id,
                "step": step,
                "at": at.isoformat(),
                "metric": r.name.split(":", 1)[1][:200],
                "status": r.status,
                "relative": rel if isinstance(rel, float) and math.isfinite(rel) else None,
                "lower": float(ev["lower"]),
                "upper": float(ev["upper"]),
                "n_base": int(ev.get("n_base") or 0),
                "n_cand": int(ev.get("n_cand") or 0),
            }
        )
    if rows:
        from sqlalchemy import insert

        with store.transaction() as conn:
            conn.execute(insert(rollout_business_readings), rows)
    return len(rows)


def read_readings(store, rollout_id: int) -> list[dict[str, Any]]:
    """Every stored business reading of a rollout, oldest first."""
    from sqlalchemy import select

    from trilho.store.tables.rollout import rollout_business_readings as t

    q = select(t).where(t.c.rollout_id == rollout_id).order_by(t.c.at, t.c.id)
    with store.connect() as conn:
        return [dict(r) for r in conn.execute(q).mappings()]
