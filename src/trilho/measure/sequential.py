"""Confidence sequences for peeking: intervals valid at every look, not just at the planned end.

Uses the asymptotic normal-mixture confidence sequence of Waudby-Smith et al. (2021, "Time-uniform central
limit theory"): for an estimate that behaves like a mean of ``t`` units with per-unit standard deviation
``sigma``, the half-width at ``t`` is
``sigma * sqrt(2 (t rho² + 1) / (t² rho²) * log(sqrt(t rho² + 1) / alpha))``.
``rho`` is tuned so the sequence is tightest at the planned sample size (Howard et al. 2021).
"""

from __future__ import annotations

import math


def mixture_rho(planned_n: float, alpha: float) -> float:
    """The mixture parameter that makes the boundary tightest at ``planned_n`` units."""
    la = -2 * math.log(alpha)
    return math.sqrt((la + math.log(la) + 1) / planned_n)


def cs_half_width(sigma: float, t: float, alpha: float = 0.05, planned_n: float | None = None) -> float:
    """Half-width of the (1 − alpha) asymptotic confidence sequence at ``t`` units."""
    rho = mixture_rho(planned_n or t, alpha)
    r2 = rho * rho
    return sigma * math.sqrt(2 * (t * r2 + 1) / (t * t * r2) * math.log(math.sqrt(t * r2 + 1) / alpha))


def sequential_interval(
    estimate: float, se: float, n: float, alpha: float = 0.05, planned_n: float | None = None
) -> tuple[float, float]:
    """An anytime-valid interval for an estimate with standard error ``se`` computed from ``n`` units."""
    sigma = se * math.sqrt(n)
    h = cs_half_width(sigma, n, alpha, planned_n)
    return estimate - h, estimate + h
