"""The statistics behind rollout checks, pure and vectorisable (numpy / scipy only, no I/O).

- :func:`conditional_mixture_p_value` (the default): an always-valid one-sided p-value for "the candidate
  errs more often than the baseline". Given the errors so far, each one comes from the candidate with
  probability ``π0 = n_cand / (n_cand + n_base)`` under the null; a uniform mixture over ``π ∈ [π0, 1]``
  of the Bernoulli likelihood ratio is a test martingale (Ville's inequality), exact for rare errors where
  normal approximations over-reject.
- :func:`msprt_p_value`: an always-valid p-value for "candidate error rate differs from baseline's" — the
  normal-mixture mSPRT of Johari, Pekelis & Walsh (2017) on the difference of two proportions. Because the
  p-value is valid at every stopping time, the controller may look every interval without inflating α.
- :func:`msprt_mean_p_value`: the same normal-mixture mSPRT for a difference of two means with an estimated
  variance (the online judge scores of canary and baseline).
- :func:`mann_whitney_greater`: a rank test computed
  from histogram buckets (what the gateway stores), ties handled with mid-ranks.
- :func:`wilson_interval`: confidence bounds for an agreement proportion."""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
from scipy import special, stats


def conditional_mixture_p_value(x_base, n_base, x_cand, n_cand):
    """Always-valid one-sided p-value that the candidate's error rate exceeds the baseline's.

    ``p = 1 / Λ`` with ``Λ = ∫_{π0}^{1} π^xc (1-π)^xb dπ / ((1-π0) π0^xc (1-π0)^xb)``; arms with no requests,
    or no errors at all, give p = 1.
    """
    x_b = np.asarray(x_base, dtype=float)
    n_b = np.asarray(n_base, dtype=float)
    x_c = np.asarray(x_cand, dtype=float)
    n_c = np.asarray(n_cand, dtype=float)
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        pi0 = n_c / (n_b + n_c)
        log_lambda = (
            special.betaln(x_c + 1.0, x_b + 1.0)
            + np.log(special.betaincc(x_c + 1.0, x_b + 1.0, pi0))
            - np.log1p(-pi0)
            - x_c * np.log(pi0)
            - x_b * np.log1p(-pi0)
        )
        p = np.minimum(1.0, np.exp(-log_lambda))
    # no errors at all: Λ = 1 exactly (the float integral can land a hair below it)
    p = np.where((n_b > 0) & (n_c > 0) & (x_b + x_c > 0) & np.isfinite(p), p, 1.0)
    return p if p.ndim else float(p)


def msprt_p_value(x_base, n_base, x_cand, n_cand, tau: float):
    """Always-valid two-sided p-value for ``p_cand - p_base = 0`` from cumulative counts (arrays broadcast).

    The variance of the difference uses the pooled rate with a Laplace (add-one) correction, so zero errors in
    both arms still give a finite, positive variance. Arms with no requests give p = 1 (no evidence).
    """
    x_b = np.asarray(x_base, dtype=float)
    n_b = np.asarray(n_base, dtype=float)
    x_c = np.asarray(x_cand, dtype=float)
    n_c = np.asarray(n_cand, dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):
        pooled = (x_b + x_c + 1.0) / (n_b + n_c + 2.0)
        var = pooled * (1.0 - pooled) * (1.0 / n_b + 1.0 / n_c)
        diff = x_c / n_c - x_b / n_b
        t2 = tau * tau
        log_lambda = 0.5 * np.log(var / (var + t2)) + (t2 * diff * diff) / (2.0 * var * (var + t2))
        p = np.minimum(1.0, np.exp(-log_lambda))
    p = np.where((n_b > 0) & (n_c > 0), p, 1.0)
    return p if p.ndim else float(p)


def msprt_mean_p_value(diff: float, var: float, tau: float) -> float:
    """Always-valid two-sided p-value for "the means are equal" from their difference ``diff`` and its
    variance ``var`` (the sum of both arms' squared standard errors): ``p = min(1, 1/Λ)`` with the
    normal-mixture likelihood ratio ``Λ = sqrt(V/(V+τ²)) exp(τ² d² / (2V(V+τ²)))``. With ``var = 0`` the
    data decide alone: p = 1 for equal means, 0 otherwise. NaN inputs give p = 1 (no evidence)."""
    if not (math.isfinite(diff) and math.isfinite(var)) or tau <= 0:
        return 1.0
    if var <= 0:
        return 1.0 if diff == 0 else 0.0
    t2 = tau * tau
    log_lambda = 0.5 * math.log(var / (var + t2)) + t2 * diff * diff / (2.0 * var * (var + t2))
    return float(min(1.0, math.exp(-log_lambda)))


def mann_whitney_greater(counts_base: Sequence[float], counts_cand: Sequence[float]) -> float:
    """One-sided p-value that the candidate's latency is stochastically greater, from histograms.

    Observations in one bucket are ties (mid-ranks); the normal approximation uses the tie-corrected variance.
    Returns 1.0 when either side is empty or every observation falls in one bucket.
    """
    a = np.asarray(counts_base, dtype=float)
    b = np.asarray(counts_cand, dtype=float)
    n1, n2 = a.sum(), b.sum()
    if n1 <= 0 or n2 <= 0:
        return 1.0
    t = a + b
    n = n1 + n2
    start = np.cumsum(t) - t
    midrank = start + (t + 1.0) / 2.0
    rank_sum_cand = float((b * midrank).sum())
    u = rank_sum_cand - n2 * (n2 + 1.0) / 2.0
    mean = n1 * n2 / 2.0
    tie = float((t**3 - t).sum())
    var = n1 * n2 / 12.0 * ((n + 1.0) - tie / (n * (n - 1.0))) if n > 1 else 0.0
    if var <= 0:
        return 1.0
    z = (u - mean - 0.5) / math.sqrt(var)
    return float(stats.norm.sf(z))


def wilson_interval(successes: float, total: float, confidence: float = 0.95) -> tuple[float, float]:
    """Wilson score interval for a proportion; ``(0, 1)`` when there are no observations."""
    if total <= 0:
        return 0.0, 1.0
    z = float(stats.norm.ppf(0.5 + confidence / 2.0))
    p = successes / total
    denom = 1.0 + z * z / total
    centre = (p + z * z / (2 * total)) / denom
    half = z * math.sqrt(p * (1 - p) / total + z * z / (4 * total * total)) / denom
    return max(0.0, centre - half), min(1.0, centre + half)
