"""Geo design: power by simulation on a historical panel, and market selection.

Each simulated experiment plants a known lift on candidate treated markets over a historical window, then runs
the *same* synthetic-control estimator and conformal test used after the real test
(:func:`trilho.measure.geo.synthetic_control` internals), so the design promises what the analysis delivers.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field

import numpy as np

from trilho.errors import MeasurementError
from trilho.measure.conformal import conformal_pvalue
from trilho.measure.panel import Panel
from trilho.measure.synth import Method, counterfactual, fit_weights


@dataclass(frozen=True)
class PowerCurve:
    """Detection rate per planted lift for one set of treated markets and one duration."""

    treated: list[str]
    duration: int
    effects: list[float]
    power: list[float]
    simulations: int
    alpha: float
    mean_abs_error_at_zero: float
    mde: float | None
    baseline: float
    investment: float | None = None
    seed: int | None = None
    details: dict = field(default_factory=dict)

    def to_dict(self) -> dict:
        """JSON-ready form (NaN → None)."""
        d = asdict(self)
        return {k: (None if isinstance(v, float) and not math.isfinite(v) else v) for k, v in d.items()}


def _simulate_once(
    Y: np.ndarray,
    t_idx: list[int],
    d_idx: list[int],
    end: int,
    duration: int,
    lift: float,
    method: Method,
    alpha: float,
) -> tuple[bool, float, float]:
    """Plant ``lift`` on the treated markets in the ``duration`` periods ending before ``end``; test it."""
    rows = np.arange(end)
    y1 = Y[rows][:, t_idx].mean(axis=1).copy()
    Y0 = Y[rows][:, d_idx]
    post = rows >= end - duration
    pre = ~post
    y1_true = y1.copy()
    y1[post] *= 1 + lift
    fit = fit_weights(y1[pre], Y0[pre], method=method)
    synth = counterfactual(y1, Y0, fit, pre, method)
    att = float((y1 - synth)[post].mean())
    true_att = float((y1 - y1_true)[post].mean())
    all_rows = np.ones(len(y1), dtype=bool)

    def refit(y: np.ndarray) -> np.ndarray:
        return counterfactual(y, Y0, fit_weights(y, Y0, method=method), all_rows, method)

    p = conformal_pvalue(y1, post, refit)
    return p < alpha, att - true_att, float(synth[post].sum())


def power_by_simulation(
    panel: Panel,
    treated: Sequence[str],
    duration: int,
    effects: Sequence[float] = (0.0, 0.025, 0.05, 0.1, 0.15, 0.2),
    *,
    windows: int = 10,
    method: Method = "demeaned",
    alpha: float = 0.1,
    target_power: float = 0.8,
    cost_per_unit: float | None = None,
    seed: int | None = 0,
) -> PowerCurve:
    """Power for each relative lift in ``effects`` over ``windows`` historical windows (rolling ends)."""
    t_idx = [panel.unit_index(u) for u in treated]
    d_idx = [i for i in range(len(panel.units)) if i not in set(t_idx)]
    T = len(panel.times)
    if duration < 1:
        raise MeasurementError("duration must be at least 1 period", field="duration", value=str(duration))
    min_pre = max(4, 2 * duration)
    ends = [T - k for k in range(windows) if T - k - duration >= min_pre]
    if not ends:
        raise MeasurementError(
            f"the panel has {T} periods, too few for a {duration}-period test with {min_pre} pre-periods",
            fix="shorten --duration or use a longer history",
            field="duration",
            value=str(duration),
        )
    power, errors0, baselines = [], [], []
    for lift in effects:
        hits = 0
        for end in ends:
            hit, err, base = _simulate_once(panel.Y, t_idx, d_idx, end, duration, float(lift), method, alpha)
            hits += hit
            if lift == 0:
                errors0.append(abs(err))
            baselines.append(base)
        power.append(hits / len(ends))
    mde = next((float(e) for e, p in zip(effects, power, strict=True) if e > 0 and p >= target_power), None)
    baseline = float(np.mean(baselines)) * len(treated)
    investment = mde * baseline * cost_per_unit if (mde is not None and cost_per_unit is not None) else None
    return PowerCurve(
        treated=list(treated),
        duration=duration,
        effects=[float(e) for e in effects],
        power=power,
        simulations=len(ends),
        alpha=alpha,
        mean_abs_error_at_zero=float(np.mean(errors0)) if errors0 else math.nan,
        mde=mde,
        baseline=baseline,
        investment=investment,
        seed=seed,
    )


def select_markets(
    panel: Panel,
    sizes: Sequence[int],
    duration: int,
    effects: Sequence[float] = (0.0, 0.05, 0.1, 0.15, 0.2),
    *,
    include: Sequence[str] = (),
    exclude: Sequence[str] = (),
    candidates: int = 20,
    windows: int = 5,
    method: Method = "demeaned",
    alpha: float = 0.1,
    target_power: float = 0.8,
    cost_per_unit: float | None = None,
    seed: int = 0,
) -> list[PowerCurve]:
    """Rank candidate treatment groups (sizes in ``sizes``, must contain ``include``) by detectable lift.

    Candidates are sampled with ``seed``; ranking: smallest MDE first, then false-positive rate at zero effect
    closest to alpha, then smallest error at zero effect.
    """
    rng = np.random.default_rng(seed)
    pool = [u for u in panel.units if u not in set(exclude) and u not in set(include)]
    for u in include:
        panel.unit_index(u)
    groups: list[tuple[str, ...]] = []
    for size in sizes:
        k = size - len(include)
        if k < 0 or k > len(pool) - 2:
            raise MeasurementError(f"cannot build a group of {size} markets", field="sizes", value=str(size))
        total = math.comb(len(pool), k)
        if total <= candidates:
            combos = list(itertools.combinations(pool, k))
        else:
            seen: set[tuple[str, ...]] = set()
            while len(seen) < candidates:
                seen.add(tuple(sorted(rng.choice(pool, size=k, replace=False).tolist())))
            combos = sorted(seen)
        groups += [tuple(include) + tuple(c) for c in combos]
    curves = [
        power_by_simulation(
            panel,
            list(g),
            duration,
            effects,
            windows=windows,
            method=method,
            alpha=alpha,
            target_power=target_power,
            cost_per_unit=cost_per_unit,
            seed=seed,
        )
        for g in groups
    ]

    def key(c: PowerCurve):
        fpr = c.power[c.effects.index(0.0)] if 0.0 in c.effects else alpha
        return (c.mde if c.mde is not None else math.inf, abs(fpr - alpha), c.mean_abs_error_at_zero)

    return sorted(curves, key=key)


MIN_SIMULATIONS = 20  # below this a power estimate's standard error exceeds ~0.09 at 80 % power


def selection_warnings(curves: Sequence[PowerCurve]) -> list[str]:
    """What makes a market ranking unfit to choose from: too few simulated windows (each power is a share of
    a handful of runs), or every candidate at the floor of the effect grid (it cannot tell them apart)."""
    if not curves:
        return []
    out = []
    sims = min(c.simulations for c in curves)
    if sims < MIN_SIMULATIONS:
        se = math.sqrt(0.8 * 0.2 / sims)
        out.append(
            f"only {sims} simulated window(s) per candidate: each power is a share of {sims} runs "
            f"(standard error ≈ {se:.2f} at 80 % power), so the ranking is mostly noise; "
            f"raise --windows to at least {MIN_SIMULATIONS}"
        )
    positive = sorted(e for e in curves[0].effects if e > 0)
    mdes = {c.mde for c in curves}
    if positive and len(curves) > 1 and mdes == {positive[0]}:
        out.append(
            f"every candidate reaches 80 % power at the smallest effect tried ({positive[0]:.1%}): the grid "
            "cannot rank them; add smaller --effects"
        )
    elif len(curves) > 1 and mdes == {None}:
        out.append(
            f"no candidate reaches 80 % power at the largest effect tried ({max(positive or [0]):.1%}); "
            "add larger --effects or a longer --duration"
        )
    return out
