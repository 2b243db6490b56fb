"""Geo experiments: synthetic control on a panel — effect, lift, fit quality, conformal and placebo inference.

``synthetic_control`` is the one code path used for post-test analysis, for market selection and for power
simulation (:mod:`trilho.measure.markets`).
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Literal

import numpy as np

from trilho.errors import MeasurementError
from trilho.measure import heterogeneity
from trilho.measure.conformal import ConformalResult, conformal_inference
from trilho.measure.panel import Panel
from trilho.measure.synth import Method, VSearch, WeightFit, counterfactual, fit_weights, raw_v
from trilho.measure.telemetry import observed

AGGREGATIONS = {
    "mean": np.nanmean,
    "median": np.nanmedian,
    "sum": np.nansum,
    "min": np.nanmin,
    "max": np.nanmax,
}


@dataclass(frozen=True)
class Predictor:
    """A classic-method predictor: ``op`` (mean, median, sum, min, max) of ``column`` over ``times``."""

    column: str
    times: tuple
    op: str = "mean"

    def __post_init__(self) -> None:
        if self.op not in AGGREGATIONS:
            raise MeasurementError(
                f"unknown predictor aggregation {self.op!r}",
                fix=f"use one of: {', '.join(AGGREGATIONS)}",
                field="predictor",
                value=self.op,
            )
        if not self.times:
            raise MeasurementError(
                f"predictor {self.column} has no times",
                fix="give a period, e.g. 1980..1988",
                field="predictor",
            )

    @property
    def label(self) -> str:
        """Readable name, e.g. ``cigsale[1975]`` (``median:…`` when not the mean)."""
        t = self.times
        span = f"{t[0]}" if len(t) == 1 else f"{t[0]}-{t[-1]}"
        return f"{self.column}[{span}]" if self.op == "mean" else f"{self.op}:{self.column}[{span}]"


@dataclass(frozen=True)
class PlaceboResult:
    """Placebo-in-space: the treated unit's post/pre MSPE ratio ranked among every donor's."""

    ratio: float
    rank: int
    units: int
    pvalue: float
    ratios: dict[str, float]

    def to_dict(self) -> dict:
        """JSON-ready form."""
        return {
            "method": "placebo-in-space",
            "ratio": self.ratio,
            "rank": self.rank,
            "units": self.units,
            "pvalue": self.pvalue,
            "ratios": self.ratios,
        }


@dataclass(frozen=True)
class GeoResult:
    """A synthetic-control estimate for one treatment cell."""

    treated: list[str]
    start: object
    end: object
    method: str
    times: list
    observed: list[float]
    synthetic: list[float]
    weights: dict[str, float]
    att: float
    lift: float
    incremental: float
    pre_rmspe: float
    post_rmspe: float
    scaled_l2_imbalance: float
    v: dict[str, float] | None = None
    ridge_lambda: float | None = None
    conformal: ConformalResult | None = None
    placebo: PlaceboResult | None = None
    iroas: float | None = None
    warnings: list[str] = field(default_factory=list)

    @property
    def post_periods(self) -> int:
        """Number of post-treatment periods analysed."""
        return sum(1 for t in self.times if self._post(t))

    def _post(self, t) -> bool:
        return t >= self.start and (self.end is None or t <= self.end)

    @property
    def donor_concentration(self) -> float:
        """Herfindahl index of the donor weights (1 = one donor carries everything)."""
        return float(sum(w * w for w in self.weights.values()))

    def to_dict(self) -> dict:
        """JSON-ready form."""
        return {
            "kind": "geo",
            "treated": self.treated,
            "start": self.start,
            "end": self.end,
            "method": self.method,
            "att": self.att,
            "lift": self.lift,
            "incremental": self.incremental,
            "iroas": self.iroas,
            "pre_rmspe": self.pre_rmspe,
            "post_rmspe": self.post_rmspe,
            "scaled_l2_imbalance": self.scaled_l2_imbalance,
            "donor_concentration": self.donor_concentration,
            "weights": self.weights,
            "v": self.v,
            "ridge_lambda": self.ridge_lambda,
            "times": self.times,
            "observed": self.observed,
            "synthetic": self.synthetic,
            "conformal": self.conformal.to_dict() if self.conformal else None,
            "placebo": self.placebo.to_dict() if self.placebo else None,
            "warnings": self.warnings,
        }


@dataclass
class _Problem:
    y1: np.ndarray  # (T,) aggregated treated outcome
    Y0: np.ndarray  # (T, J) donors
    pre: np.ndarray  # bool (T,)
    post: np.ndarray  # bool (T,) analysed post periods
    keep: np.ndarray  # bool (T,) periods used at all (pre + analysed post)
    donors: list[str]
    X1: np.ndarray | None
    X0: np.ndarray | None
    fit_rows: np.ndarray  # bool (T,) rows of the outcome fit (classic outer loss)


MIN_PRE_PERIODS = 4


def _problem(
    panel: Panel,
    treated: Sequence[str],
    start,
    end,
    donors: Sequence[str] | None,
    exclude: Sequence[str],
    predictors: Sequence[Predictor] | None,
    fit_times: Sequence | None,
    min_pre_periods: int,
) -> _Problem:
    if not treated:
        raise MeasurementError("no treated unit given", fix="pass --treated a,b", field="treated")
    t_idx = [panel.unit_index(u) for u in treated]
    pool = (
        list(donors)
        if donors is not None
        else [u for u in panel.units if u not in set(treated) | set(exclude)]
    )
    both = sorted(set(pool) & set(treated))
    if both:
        raise MeasurementError(
            f"unit '{both[0]}' is both treated and a donor",
            fix=f"remove '{both[0]}' from --donors",
            field="donors",
            value=both[0],
        )
    d_idx = [panel.unit_index(u) for u in pool]
    if len(d_idx) < 2:
        raise MeasurementError(
            f"only {len(d_idx)} donor unit(s)", fix="keep at least two untreated units", field="donors"
        )
    T = len(panel.times)
    s = panel.time_index(start, field_name="start")
    pre = np.arange(T) < s
    post = ~pre
    if end is not None:
        e = panel.time_index(end, field_name="end")
        if panel.times[e] != _coerce_like(end, panel.times[e]):
            e -= 1
        post &= np.arange(T) <= e
    if pre.sum() < min_pre_periods:
        raise MeasurementError(
            f"only {int(pre.sum())} pre-period(s) before {start}; "
            f"at least {min_pre_periods} are needed to fit "
            "donor weights",
            fix="start later or add history to the panel",
            field="start",
            value=str(start),
        )
    if post.sum() == 0:
        raise MeasurementError(
            "no post-treatment period in the panel", fix="check --start/--end", field="end"
        )
    y1 = panel.Y[:, t_idx].mean(axis=1)
    if np.all(panel.Y[pre][:, t_idx] == 0):
        raise MeasurementError(
            f"treated unit(s) {', '.join(treated)} have an all-zero pre-period outcome",
            fix="check the outcome column (a lift on zero is undefined)",
            field="outcome",
            value=panel.outcome,
        )
    X1 = X0 = None
    if predictors:
        rows1, rows0 = [], []
        for p in predictors:
            col = panel.column(p.column)
            ti = [i for i, t in enumerate(panel.times) if t in set(p.times)]
            if not ti:
                raise MeasurementError(
                    f"predictor {p.label} has no matching times", field="predictor", value=p.label
                )
            block = col[ti]
            agg = AGGREGATIONS[p.op]
            with np.errstate(all="ignore"), warnings.catch_warnings():
                warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN slices: reported below by name
                v1 = agg(block[:, t_idx], axis=0).mean()
                v0 = agg(block[:, d_idx], axis=0)
            if not np.isfinite(v1) or not np.all(np.isfinite(v0)):
                bad = (
                    pool[int(np.flatnonzero(~np.isfinite(v0))[0])]
                    if not np.all(np.isfinite(v0))
                    else treated[0]
                )
                raise MeasurementError(
                    f"predictor {p.label} is NaN for unit '{bad}'",
                    field="predictor",
                    value=bad,
                    fix="choose times where the predictor is observed",
                )
            rows1.append(v1)
            rows0.append(v0)
        X1, X0 = np.array(rows1), np.array(rows0)
    fit_rows = pre.copy()
    if fit_times is not None:
        fit_rows = np.array([t in set(fit_times) for t in panel.times]) & pre
    return _Problem(y1, panel.Y[:, d_idx], pre, post, pre | post, pool, X1, X0, fit_rows)


def _coerce_like(value, like):
    if isinstance(like, int | float):
        try:
            return type(like)(float(value))
        except (TypeError, ValueError):
            return value
    return str(value) if isinstance(like, str) else value


def _fit(pb: _Problem, method: Method, ridge_lambda: float | None, v=None, v_search: VSearch = "global"):
    r = pb.fit_rows
    return fit_weights(
        pb.y1[r],
        pb.Y0[r],
        X1=pb.X1,
        X0=pb.X0,
        method=method,
        ridge_lambda=ridge_lambda,
        v=v,
        v_search=v_search,
    )


def synthetic_control(
    panel: Panel,
    treated: Sequence[str],
    start,
    end=None,
    *,
    donors: Sequence[str] | None = None,
    exclude: Sequence[str] = (),
    method: Method = "demeaned",
    predictors: Sequence[Predictor] | None = None,
    fit_times: Sequence | None = None,
    ridge_lambda: float | None = None,
    v_search: VSearch = "global",
    v: Sequence[float] | None = None,
    inference: Literal["conformal", "placebo", "both", "none"] = "conformal",
    alpha: float = 0.1,
    permutations: Literal["block", "iid"] = "block",
    statistic: Literal["mean", "lq"] = "mean",
    draws: int = 1000,
    seed: int | None = 0,
    grid_size: int = 41,
    spend: float | None = None,
    min_pre_periods: int = MIN_PRE_PERIODS,
) -> GeoResult:
    """Synthetic-control effect on ``treated`` (averaged into one series) from ``start`` to ``end``.

    ``att`` is per treated unit and period; ``incremental`` = att × post periods × treated units; ``lift`` =
    incremental outcome / counterfactual outcome over the post period. ``spend`` gives iROAS.

    Methods: ``demeaned`` (default; unit fixed effects, GeoLift's augsynth with ``fixedeff``), ``classic``
    (Abadie; with ``predictors`` the predictor weights V are searched by ``v_search``, or given as ``v``: one
    weight per predictor on standardised predictors, as R Synth's ``custom.v``) and ``ridge``
    (augmented SCM; ``ridge_lambda`` or augsynth-style leave-one-period-out CV).

    Inference: ``conformal`` refits the weights on all periods under each null (``classic`` refits on the
    outcome path with V = I, as Chernozhukov–Wüthrich–Zhu do); ``statistic="mean"`` tests the average effect,
    ``"lq"`` the CWZ constant-effect statistic (augsynth's default). ``placebo`` reruns the estimator with
    every donor as the treated unit (classic: with the treated fit's V) and ranks post/pre MSPE ratios.
    """
    with observed("geo", treated=",".join(treated), method=method):
        return _synthetic_control(
            panel,
            treated,
            start,
            end,
            donors=donors,
            exclude=exclude,
            method=method,
            predictors=predictors,
            fit_times=fit_times,
            ridge_lambda=ridge_lambda,
            v_search=v_search,
            v=v,
            inference=inference,
            alpha=alpha,
            permutations=permutations,
            statistic=statistic,
            draws=draws,
            seed=seed,
            grid_size=grid_size,
            spend=spend,
            min_pre_periods=min_pre_periods,
        )


def _synthetic_control(
    panel: Panel,
    treated: Sequence[str],
    start,
    end,
    *,
    donors,
    exclude,
    method: Method,
    predictors,
    fit_times,
    ridge_lambda,
    v_search,
    v,
    inference,
    alpha,
    permutations,
    statistic,
    draws,
    seed,
    grid_size,
    spend,
    min_pre_periods,
) -> GeoResult:
    pb = _problem(panel, treated, start, end, donors, exclude, predictors, fit_times, min_pre_periods)
    if v is not None and not predictors:
        raise MeasurementError(
            "custom predictor weights V need predictors", fix="add --predictor specs or drop --v", field="v"
        )
    if v is not None and len(v) != len(predictors):
        raise MeasurementError(
            f"{len(v)} predictor weights for {len(predictors)} predictors",
            fix="give one weight per predictor, in order",
            field="v",
            value=str(len(v)),
        )
    raw = None if v is None else raw_v(pb.X1, pb.X0, np.asarray(v, dtype=float))
    fit = _fit(pb, method, ridge_lambda, v=raw, v_search=v_search)
    synth = counterfactual(pb.y1, pb.Y0, fit, pb.pre, method)
    gap = pb.y1 - synth
    att = float(gap[pb.post].mean())
    n_post = int(pb.post.sum())
    incremental = att * n_post * len(treated)
    base = float(synth[pb.post].sum())
    lift = float(gap[pb.post].sum() / base) if base != 0 else math.nan
    if not math.isfinite(lift):
        raise MeasurementError(
            "the synthetic counterfactual sums to zero over the post period; lift is undefined",
            fix="check the outcome column",
            field="outcome",
        )
    pre_rmspe = float(np.sqrt(np.mean(gap[pb.pre] ** 2)))
    post_rmspe = float(np.sqrt(np.mean(gap[pb.post] ** 2)))
    z1 = pb.y1[pb.pre] - (pb.y1[pb.pre].mean() if method != "classic" else 0)
    z0 = pb.Y0[pb.pre] - (pb.Y0[pb.pre].mean(axis=0) if method != "classic" else 0)
    uni = np.linalg.norm(z1 - z0.mean(axis=1))
    imb = float(np.linalg.norm(z1 - z0 @ fit.effective) / uni) if uni > 0 else 0.0  # augsynth: augmented w
    weights = {
        d: float(w)
        for d, w in sorted(zip(pb.donors, fit.weights, strict=True), key=lambda t: -t[1])
        if w > 1e-6
    }
    v = None
    if fit.v is not None and predictors:
        v = {p.label: float(x) for p, x in zip(predictors, fit.v, strict=True)}
    conf = plac = None
    if inference in ("conformal", "both"):
        conf = _conformal(
            pb,
            [t for t, k in zip(panel.times, pb.keep, strict=True) if k],
            method,
            fit,
            att,
            alpha,
            permutations,
            statistic,
            draws,
            seed,
            grid_size,
        )
    if inference in ("placebo", "both"):
        plac = _placebo(pb, method, fit, treated)
    iroas = None
    if spend is not None:
        if spend == 0:
            raise MeasurementError(
                "spend is zero, so iROAS is undefined",
                fix="pass the incremental spend (> 0)",
                field="spend",
                value="0",
            )
        iroas = incremental / spend
    keep = pb.keep
    warnings = []
    if max(weights.values()) > 0.8:
        top = max(weights, key=weights.get)
        warnings.append(
            f"one donor ('{top}') carries {weights[top]:.0%} of the weight: the estimate rests on it"
        )
    if imb > 0.5:
        warnings.append(f"pre-period fit is weak (scaled L2 imbalance {imb:.2f}); trust the estimate less")
    if plac is not None and 1 / plac.units >= alpha:
        warnings.append(
            f"placebo-in-space with {plac.units} units: its smallest possible p-value is 1/{plac.units} = "
            f"{1 / plac.units:.3g} ≥ alpha {alpha:g}, so it can never be significant; add donors or read the "
            "conformal test"
        )
    return GeoResult(
        treated=list(treated),
        start=panel.times[int(np.argmax(~pb.pre))],
        end=panel.times[int(np.flatnonzero(pb.post)[-1])],
        method=method,
        times=[t for t, k in zip(panel.times, keep, strict=True) if k],
        observed=pb.y1[keep].tolist(),
        synthetic=synth[keep].tolist(),
        weights=weights,
        att=att,
        lift=lift,
        incremental=incremental,
        pre_rmspe=pre_rmspe,
        post_rmspe=post_rmspe,
        scaled_l2_imbalance=imb,
        v=v,
        ridge_lambda=fit.ridge_lambda,
        conformal=conf,
        placebo=plac,
        iroas=iroas,
        warnings=warnings,
    )


def _conformal(
    pb: _Problem,
    times: list,
    method: Method,
    fit: WeightFit,
    att: float,
    alpha,
    permutations,
    statistic,
    draws,
    seed,
    grid_size,
):
    keep = pb.keep
    Y0 = pb.Y0[keep]
    post = pb.post[keep]

    def make_refit(donors: np.ndarray):
        rows = np.ones(len(donors), dtype=bool)

        last: list[np.ndarray] = []  # the previous solution warm-starts the next (the grid moves slowly)

        def refit(y: np.ndarray) -> np.ndarray:
            f = fit_weights(
                y, donors, method=method, ridge_lambda=fit.ridge_lambda, w0=last[0] if last else None
            )
            last[:] = [f.weights]
            return counterfactual(y, donors, f, rows, method)

        return refit

    refit = make_refit(Y0)

    gaps = pb.y1 - counterfactual(pb.y1, pb.Y0, fit, pb.pre, method)
    scale = max(abs(att), 2 * float(np.std(gaps[pb.pre])), 1e-9)
    res = conformal_inference(
        pb.y1[keep],
        post,
        refit,
        att,
        alpha=alpha,
        permutations=permutations,
        draws=draws,
        seed=seed,
        scale=scale,
        statistic=statistic,
        grid_size=grid_size,
    )
    if statistic == "lq":  # its set holds constant effects; the average effect is the mean statistic's
        mean = conformal_inference(
            pb.y1[keep],
            post,
            refit,
            att,
            alpha=alpha,
            permutations=permutations,
            draws=draws,
            seed=seed,
            scale=scale,
            statistic="mean",
            grid_size=grid_size,
        )
        res = replace(res, average=mean)
    if not heterogeneity.needs_explanation(res):
        return res
    het = None
    if res.can_reject:
        het = heterogeneity.analyse(
            pb.y1[keep], Y0, post, make_refit, times, gaps[keep], att, alpha=alpha, scale=scale, main=res
        )
    return replace(res, explanation=heterogeneity.explain(res, het), heterogeneity=het)


def _placebo(pb: _Problem, method: Method, fit: WeightFit, treated) -> PlaceboResult:
    def ratio(y1, Y0, X1, X0) -> float:
        sub = _Problem(y1, Y0, pb.pre, pb.post, pb.keep, [], X1, X0, pb.fit_rows)
        f = _fit(sub, method, fit.ridge_lambda, v=fit.v if X0 is not None else None)
        g = y1 - counterfactual(y1, Y0, f, pb.pre, method)
        pre = np.mean(g[pb.pre] ** 2)
        return float(np.mean(g[pb.post] ** 2) / pre) if pre > 0 else math.inf

    own = ratio(pb.y1, pb.Y0, pb.X1, pb.X0)
    ratios = {"+".join(treated): own}
    for j, name in enumerate(pb.donors):
        others = [i for i in range(len(pb.donors)) if i != j]
        X1 = pb.X0[:, j] if pb.X0 is not None else None
        X0 = pb.X0[:, others] if pb.X0 is not None else None
        ratios[name] = ratio(pb.Y0[:, j], pb.Y0[:, others], X1, X0)
    rank = 1 + sum(1 for k, r in ratios.items() if r > own and k != "+".join(treated))
    n = len(ratios)
    return PlaceboResult(own, rank, n, rank / n, ratios)


def multi_cell(
    panel: Panel, cells: dict[str, Sequence[str]], start, end=None, **options
) -> dict[str, GeoResult]:
    """A multi-cell test: each cell against donors that exclude every treated unit of every cell."""
    everyone = [u for units in cells.values() for u in units]
    dup = sorted({u for u in everyone if everyone.count(u) > 1})
    if dup:
        raise MeasurementError(
            f"unit '{dup[0]}' is in more than one cell",
            fix="give each unit one cell",
            field="treated",
            value=dup[0],
        )
    exclude = list(options.pop("exclude", ()))
    return {
        name: synthetic_control(panel, list(units), start, end, exclude=[*exclude, *everyone], **options)
        for name, units in cells.items()
    }
