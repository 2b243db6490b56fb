"""Conformal inference for synthetic control (Chernozhukov, Wüthrich & Zhu 2021).

Under ``H0: effect = tau0`` in every post period, subtract ``tau0`` from the treated post outcomes, refit the
weights on *all* periods, and compare the post-period residual size with its value under permutations of the
time index (all cyclic shifts — exact — or ``draws`` random permutations — Monte Carlo, with its standard
error). The confidence set is the set of ``tau0`` that are not rejected, computed on a grid that always
contains 0, so "the interval excludes 0" and "p < alpha" are the same statement by construction.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal

import numpy as np

Refit = Callable[[np.ndarray], np.ndarray]  # treated series (all T) -> synthetic series (all T)


@dataclass(frozen=True)
class ConfidenceSet:
    """A union of intervals (usually one) of effects not rejected at ``alpha``."""

    pieces: tuple[tuple[float, float], ...]
    alpha: float

    @property
    def lower(self) -> float:
        """Smallest accepted effect (−inf/nan if none)."""
        return self.pieces[0][0] if self.pieces else math.nan

    @property
    def upper(self) -> float:
        """Largest accepted effect."""
        return self.pieces[-1][1] if self.pieces else math.nan

    def contains(self, x: float) -> bool:
        """True when ``x`` lies in one of the pieces."""
        return any(lo <= x <= hi for lo, hi in self.pieces)

    def to_dict(self) -> dict:
        """JSON-ready form."""
        return {
            "lower": self.lower if self.pieces else None,
            "upper": self.upper if self.pieces else None,
            "pieces": [list(p) for p in self.pieces],
            "alpha": self.alpha,
        }


@dataclass(frozen=True)
class ConformalResult:
    """p-value of ``effect = 0`` and the confidence set, from the same permutation test."""

    pvalue: float
    ci: ConfidenceSet
    permutations: str
    draws: int
    mc_se: float | None
    q: float
    seed: int | None
    statistic: str = "mean"
    grid: list[float] = field(default_factory=list)
    grid_pvalues: list[float] = field(default_factory=list)

    def to_dict(self) -> dict:
        """JSON-ready form."""
        return {
            "method": "conformal",
            "pvalue": self.pvalue,
            "ci": self.ci.to_dict(),
            "permutations": self.permutations,
            "draws": self.draws,
            "mc_se": self.mc_se,
            "q": self.q,
            "seed": self.seed,
            "statistic": self.statistic,
        }


Statistic = Literal["mean", "lq"]


def _stat(u: np.ndarray, post_len: int, q: float, statistic: Statistic = "mean") -> np.ndarray:
    """``|Σ post residuals|`` (average-effect test, GeoLift's "Total") or CWZ's ``(Σ |u|^q)^(1/q)``."""
    tail = u[..., -post_len:]
    if statistic == "mean":
        return np.abs(tail.sum(axis=-1))
    return (np.abs(tail) ** q).sum(axis=-1) ** (1 / q)


def permutation_pvalue(
    u: np.ndarray,
    post_len: int,
    *,
    q: float = 1.0,
    permutations: Literal["block", "iid"] = "block",
    draws: int = 1000,
    rng: np.random.Generator | None = None,
    statistic: Statistic = "mean",
) -> float:
    """Share of time permutations of residuals ``u`` (post periods last) at least as extreme as observed."""
    T = len(u)
    obs = _stat(u, post_len, q, statistic)
    if permutations == "block":
        idx = (np.arange(T)[None, :] - np.arange(T)[:, None]) % T  # all cyclic shifts, identity included
        stats = _stat(u[idx], post_len, q, statistic)
        return float(np.mean(stats >= obs - 1e-12 * max(1.0, abs(obs))))
    rng = rng or np.random.default_rng(0)
    perms = np.argsort(rng.random((draws, T)), axis=1)
    stats = _stat(u[perms], post_len, q, statistic)
    return float((1 + np.sum(stats >= obs - 1e-12 * max(1.0, abs(obs)))) / (1 + draws))


def conformal_pvalue(
    y1: np.ndarray,
    post: np.ndarray,
    refit: Refit,
    tau0: float = 0.0,
    *,
    q: float = 1.0,
    permutations: Literal["block", "iid"] = "block",
    draws: int = 1000,
    seed: int | None = 0,
    statistic: Statistic = "mean",
) -> float:
    """The conformal p-value of ``effect = tau0`` alone (no interval): one refit and the permutations."""
    post = np.asarray(post, dtype=bool)
    order = np.concatenate([np.flatnonzero(~post), np.flatnonzero(post)])
    y = y1 - tau0 * post
    u = (y - refit(y))[order]
    rng = np.random.default_rng(seed) if permutations == "iid" else None
    return permutation_pvalue(
        u, int(post.sum()), q=q, permutations=permutations, draws=draws, rng=rng, statistic=statistic
    )


def conformal_inference(
    y1: np.ndarray,
    post: np.ndarray,
    refit: Refit,
    estimate: float,
    *,
    alpha: float = 0.1,
    q: float = 1.0,
    permutations: Literal["block", "iid"] = "block",
    draws: int = 1000,
    seed: int | None = 0,
    grid_size: int = 41,
    statistic: Statistic = "mean",
    scale: float | None = None,
) -> ConformalResult:
    """Test ``effect = 0`` and invert the same test over a grid of constant effects ``tau0``.

    ``refit(y)`` must return the synthetic series fitted on all periods of ``y``; ``post`` marks post periods,
    which must be the last ones.
    """
    post = np.asarray(post, dtype=bool)
    post_len = int(post.sum())
    order = np.concatenate([np.flatnonzero(~post), np.flatnonzero(post)])

    def pval(tau0: float) -> float:
        y = y1 - tau0 * post
        u = (y - refit(y))[order]
        rng = np.random.default_rng(seed) if permutations == "iid" else None
        return permutation_pvalue(
            u, post_len, q=q, permutations=permutations, draws=draws, rng=rng, statistic=statistic
        )

    width = scale if scale is not None else max(abs(estimate), 1e-9)
    for _ in range(4):  # widen the grid until both ends are rejected
        grid = np.unique(
            np.concatenate([np.linspace(estimate - 3 * width, estimate + 3 * width, grid_size), [0.0]])
        )
        pv = np.array([pval(float(t)) for t in grid])
        accepted = pv >= alpha
        if not (accepted[0] or accepted[-1]):
            break
        width *= 3
    pieces: list[tuple[float, float]] = []
    i = 0
    while i < len(grid):
        if accepted[i]:
            j = i
            while j + 1 < len(grid) and accepted[j + 1]:
                j += 1
            pieces.append((float(grid[i]), float(grid[j])))
            i = j + 1
        else:
            i += 1
    p0 = float(pv[int(np.flatnonzero(grid == 0.0)[0])])
    mcse = math.sqrt(p0 * (1 - p0) / draws) if permutations == "iid" else None
    return ConformalResult(
        pvalue=p0,
        ci=ConfidenceSet(tuple(pieces), alpha),
        permutations=permutations,
        draws=draws if permutations == "iid" else len(y1),
        mc_se=mcse,
        q=q,
        statistic=statistic,
        seed=seed if permutations == "iid" else None,
        grid=grid.tolist(),
        grid_pvalues=pv.tolist(),
    )
