"""When a constant-effect conformal set cannot be read next to the ATT: why, and intervals that stay valid.

A conformal set (:mod:`trilho.measure.conformal`) inverts a test of a *constant* effect. When the effect
changes over the post-period no constant is consistent with the data, and the set comes out empty, in pieces,
or away from the ATT — an artefact, not an answer. This module adds, from the same CWZ machinery:

- a test of a constant effect: the largest p-value of the CWZ ``Σ|u|`` statistic over every constant effect
  (a valid p-value for "the effect is constant at some value");
- per-period (pointwise) intervals: each post period alone with the pre-period, a one-period test (CWZ
  Algorithm 1) — valid whatever the other periods' effects are;
- an average-effect interval valid under heterogeneity: pre- and post-periods collapsed into non-overlapping
  blocks of the post-period's length, the post block's mean effect tested against the pre blocks (CWZ
  Appendix A.1) — with ``B`` pre-period blocks its smallest p-value is ``1/(B+1)``, so it needs
  ``B >= floor(1/alpha)``; with fewer it is not computed and :func:`average_effect` says what would make it
  possible (a shorter post-period window, more pre-periods, or a larger alpha) instead of printing
  ``(-inf, inf)``.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from trilho.measure.conformal import ConformalResult, Refit, conformal_inference

RefitFactory = Callable[[np.ndarray], Refit]  # donors (rows × J) -> refit for a treated series of those rows


@dataclass(frozen=True)
class PeriodEffect:
    """One post period's effect (the gap of the pre-period fit) and its one-period conformal interval."""

    time: object
    effect: float
    lower: float
    upper: float
    pvalue: float

    def to_dict(self) -> dict:
        """JSON-ready form (unbounded ends are null)."""
        fin = lambda x: float(x) if math.isfinite(x) else None  # noqa: E731
        return {
            "time": self.time,
            "effect": self.effect,
            "lower": fin(self.lower),
            "upper": fin(self.upper),
            "pvalue": self.pvalue,
        }


@dataclass(frozen=True)
class Heterogeneity:
    """The constant-effect test, per-period intervals and the heterogeneity-robust average-effect interval."""

    constant_effect_pvalue: float
    pointwise: tuple[PeriodEffect, ...]
    average: ConformalResult | None
    blocks: int
    block_length: int
    average_note: str | None = None  # why there is no average-effect interval (too few blocks)

    def to_dict(self) -> dict:
        """JSON-ready form."""
        avg = self.average
        return {
            "constant_effect_test": {"statistic": "CWZ sum |u| (q=1)", "pvalue": self.constant_effect_pvalue},
            "pointwise": [p.to_dict() for p in self.pointwise],
            "average": None
            if avg is None
            else {
                "estimate": avg.estimate,
                "pvalue": avg.pvalue,
                "ci": avg.ci.to_dict(),
                "can_reject": avg.can_reject,
            },
            "average_unavailable": self.average_note,
            "blocks": self.blocks,
            "block_length": self.block_length,
        }


def needs_explanation(res: ConformalResult) -> bool:
    """True when the set cannot be printed next to the ATT without a word: empty, disjoint, excluding the
    ATT, or unable to reject any effect."""
    return not res.coherent or not res.can_reject


def min_blocks(alpha: float) -> int:
    """Fewest pre-period blocks with which the block-average test can reject at ``alpha``: the smallest
    p-value of ``B`` blocks and the post block is ``1/(B+1)``, which must be below ``alpha``."""
    return math.floor(1 / alpha + 1e-9)


def average_effect(
    y1: np.ndarray,
    Y0: np.ndarray,
    post: np.ndarray,
    make_refit: RefitFactory,
    att: float,
    *,
    alpha: float,
    scale: float,
    grid_size: int = 31,
) -> tuple[ConformalResult | None, int, int, str | None]:
    """The block-average interval (CWZ Appendix A.1): ``(result, blocks, block_length, note)``; ``result`` is
    None and ``note`` says why, and what would make it possible, when there are too few pre-period blocks."""
    post = np.asarray(post, dtype=bool)
    pre_idx = np.flatnonzero(~post)
    length = int(post.sum())
    blocks = len(pre_idx) // length
    need = min_blocks(alpha)
    if blocks < need:
        longest = len(pre_idx) // need
        shorter = (
            f"analyse a post-period of at most {longest} period(s)"
            if longest >= 1
            else f"collect at least {need} pre-periods"
        )
        larger = f", or use alpha ≥ {math.floor(100 / (blocks + 1)) / 100 + 0.01:.2f}" if blocks else ""
        note = (
            f"no average-effect interval: the {len(pre_idx)} pre-periods make {blocks} block(s) of the "
            f"post-period's {length} periods, and the block test needs at least {need} blocks to reject "
            f"anything at {1 - alpha:.0%} (its smallest p-value is 1/(blocks+1) = {1 / (blocks + 1):.3g}); "
            f"{shorter}{larger}"
        )
        return None, blocks, length, note
    used = pre_idx[len(pre_idx) - blocks * length :]
    yb = np.concatenate([y1[used].reshape(blocks, length).mean(axis=1), [y1[post].mean()]])
    Yb = np.vstack([Y0[used].reshape(blocks, length, -1).mean(axis=1), Y0[post].mean(axis=0)])
    last = np.zeros(blocks + 1, dtype=bool)
    last[-1] = True
    average = conformal_inference(
        yb, last, make_refit(Yb), att, alpha=alpha, scale=scale / math.sqrt(length), grid_size=grid_size
    )
    return average, blocks, length, None


def analyse(
    y1: np.ndarray,
    Y0: np.ndarray,
    post: np.ndarray,
    make_refit: RefitFactory,
    times: Sequence,
    gaps: np.ndarray,
    att: float,
    *,
    alpha: float,
    scale: float,
    main: ConformalResult,
    grid_size: int = 31,
) -> Heterogeneity:
    """Constant-effect test, pointwise intervals and the block-average interval for one treated series."""
    post = np.asarray(post, dtype=bool)
    if main.statistic == "lq" and main.q == 1.0:
        constant = main
    else:
        constant = conformal_inference(
            y1, post, make_refit(Y0), att, alpha=alpha, statistic="lq", scale=scale, grid_size=grid_size
        )
    pre_idx = np.flatnonzero(~post)
    periods = []
    for t in np.flatnonzero(post):
        rows = np.concatenate([pre_idx, [t]])
        one = np.zeros(len(rows), dtype=bool)
        one[-1] = True
        r = conformal_inference(
            y1[rows], one, make_refit(Y0[rows]), float(gaps[t]), alpha=alpha, scale=scale, grid_size=grid_size
        )
        periods.append(PeriodEffect(times[t], float(gaps[t]), r.ci.lower, r.ci.upper, r.pvalue))
    average, blocks, length, note = average_effect(
        y1, Y0, post, make_refit, att, alpha=alpha, scale=scale, grid_size=grid_size
    )
    return Heterogeneity(max(constant.grid_pvalues), tuple(periods), average, blocks, length, note)


def disjoint_periods(periods: Sequence[PeriodEffect]) -> tuple[PeriodEffect, PeriodEffect] | None:
    """The period with the highest lower end and the one with the lowest upper end when their intervals do
    not overlap (no constant lies in both), else None."""
    bounded = [p for p in periods if math.isfinite(p.lower) and math.isfinite(p.upper)]
    if len(bounded) < 2:
        return None
    hi = max(bounded, key=lambda p: p.lower)
    lo = min(bounded, key=lambda p: p.upper)
    return (hi, lo) if hi.lower > lo.upper else None


def explain(main: ConformalResult, het: Heterogeneity | None) -> str:
    """Why the set reads as it does, and what to read instead."""
    level = f"{1 - main.ci.alpha:.0%}"
    if not main.can_reject:
        return (
            f"With {round(1 / main.min_pvalue)} permutations the smallest attainable p-value is "
            f"{main.min_pvalue:.3g} ≥ alpha = {main.ci.alpha:g}: this test cannot reject any effect at "
            f"{level} (add periods or raise alpha)."
        )
    if not main.ci.pieces:
        what = f"No constant effect is consistent with the data at {level} (every value is rejected)"
    elif len(main.ci.pieces) > 1:
        what = f"The {level} set falls into {len(main.ci.pieces)} disjoint pieces"
    elif not main.ci.bounded:
        what = f"The {level} set is unbounded"
    else:
        what = (
            f"The {level} set excludes the ATT {main.att:.4g} (p = {main.att_pvalue:.3g} for a constant "
            f"effect equal to it); it is centred on {main.estimate:.4g}, where the post-period residuals "
            "of the synthetic control refitted on all periods balance"
        )
    if het is None:
        return what + "."
    pc = het.constant_effect_pvalue
    if pc < main.ci.alpha:
        why = (
            "Evidence of a time-varying effect: a constant effect is rejected at every value "
            f"(CWZ Σ|u| test, largest p = {pc:.3g} < {main.ci.alpha:g}), so a constant-effect set is "
            "an artefact"
        )
    else:
        why = (
            f"No evidence against a constant effect (CWZ Σ|u| test, largest p = {pc:.3g}); the fit on all "
            "periods the test needs and the pre-period fit give different counterfactuals, so the ATT "
            "depends on the fit window — trust it less"
        )
        apart = disjoint_periods(het.pointwise)
        if apart is not None:
            hi, lo = apart
            why += (
                f". Yet the per-period intervals of {hi.time} [{hi.lower:.4g}, {hi.upper:.4g}] and {lo.time} "
                f"[{lo.lower:.4g}, {lo.upper:.4g}] do not overlap: the effect looks time-varying "
                f"(descriptive — {len(het.pointwise)} intervals at {level} each, not a joint test)"
            )
    read = (
        "read the per-period intervals and the average-effect interval, which do not assume a constant effect"
    )
    if het.average_note:
        read += f" ({het.average_note})"
    return f"{what}. {why}; {read}."
