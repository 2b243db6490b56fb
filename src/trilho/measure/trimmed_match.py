"""Trimmed match (Chen & Au 2019): iROAS from paired geo experiments, robust to outlying pairs.

For pairs with response difference ``y`` and spend difference ``x`` (treatment − control), the estimate
``theta`` makes the trimmed mean of the residuals ``y - theta * x`` zero. As in google/trimmed_match: the
trim rate is the smallest of ``0, 1/n, …, max_trim_rate`` whose standard error is within
``1 + 0.25 / sqrt(n)`` of the minimum, and the interval is every ``theta`` whose studentized trimmed mean of
residuals stays within the normal quantile — found exactly, since between consecutive pairwise slopes
``(y_i - y_j) / (x_i - x_j)`` the residual order is fixed and the condition is a quadratic inequality.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import numpy as np
from scipy import optimize, stats

from trilho.errors import MeasurementError

EXTREME_CI_WIDTH = 1e6  # wider than this many standard errors: fall back to ±3 normal-approximation widths


@dataclass(frozen=True)
class TrimmedMatchResult:
    """iROAS with its interval and the trim rate used."""

    iroas: float
    ci_lower: float
    ci_upper: float
    confidence: float
    trim_rate: float
    trimmed_pairs: int
    pairs: int
    se: float

    def to_dict(self) -> dict:
        """JSON-ready form."""
        return asdict(self)


def _trim(z: np.ndarray, m: int) -> np.ndarray:
    s = np.sort(z)
    return s[m : len(s) - m] if m else s


def _tmean(z: np.ndarray, m: int) -> float:
    return float(_trim(z, m).mean())


def _solve_theta(y: np.ndarray, x: np.ndarray, m: int) -> float:
    if m == 0:
        return float(y.sum() / x.sum())

    def f(theta: float) -> float:
        return _tmean(y - theta * x, m)

    # f is non-increasing in theta when spend differences are positive; bracket and bisect.
    lo, hi = -1.0, 1.0
    while f(lo) < 0 and math.isfinite(lo):
        lo *= 2
    while f(hi) > 0 and math.isfinite(hi):
        hi *= 2
    if not (math.isfinite(lo) and math.isfinite(hi) and math.isfinite(f(lo)) and math.isfinite(f(hi))):
        raise MeasurementError(
            "the trimmed spend differences are too close to zero to give an iROAS "
            f"(trim {m} pair(s) from each end; largest spend difference {float(np.max(x)):.3g}, "
            f"largest response difference {float(np.max(np.abs(y))):.3g})",
            fix="check the spend column and the test window: treatment geos must spend measurably more",
            field="spend",
            value=f"{float(np.max(x)):.3g}",
        )
    return float(optimize.brentq(f, lo, hi, xtol=1e-12))


def _std_error(y: np.ndarray, x: np.ndarray, theta: float, m: int) -> float:
    """Eq. (8.2) of Chen & Au: winsorized residual sum of squares over the trimmed spend total."""
    n = len(y)
    order = np.argsort(y - theta * x, kind="stable")
    e = (y - theta * x)[order]
    body = slice(m, n - m)
    ss = float(np.sum(e[body] ** 2)) + m * (e[m] ** 2 + e[n - 1 - m] ** 2)
    spend = float(x[order][body].sum()) / n
    return math.sqrt(ss / (spend * spend * n) / n) if spend > 0 else math.inf


def _quadratic(y: np.ndarray, x: np.ndarray, order: np.ndarray, m: int, H: float) -> tuple[float, ...]:
    """``(A, B, C)`` with ``A t² − 2 B t + C >= 0`` ⇔ ``t`` is in the interval, for one residual order:
    ``H · Σ_w (e − ē_w)² >= (Σ_body e)²`` (``w``: winsorized at the m-th residual from each end)."""
    n = len(y)
    body, ends = order[m : n - m], (order[m], order[n - 1 - m])
    wx = np.concatenate([x[body], np.repeat([x[i] for i in ends], m)])
    wy = np.concatenate([y[body], np.repeat([y[i] for i in ends], m)])
    x1, y1 = float(x[body].sum()), float(y[body].sum())
    a = H * (wx @ wx - wx.sum() ** 2 / n) - x1 * x1
    b = H * (wx @ wy - wx.sum() * wy.sum() / n) - x1 * y1
    c = H * (wy @ wy - wy.sum() ** 2 / n) - y1 * y1
    return a, b, c


def _probe(a: float, b: float) -> float:
    """A point strictly inside ``[a, b]`` (either end may be infinite)."""
    if math.isfinite(a) and math.isfinite(b):
        return (a + b) / 2
    return b - 1.0 if math.isfinite(b) else (a + 1.0 if math.isfinite(a) else 0.0)


def _interval(y: np.ndarray, x: np.ndarray, m: int, z: float) -> tuple[float, float]:
    """Convex hull of ``{t : studentized trimmed mean of y − t·x within ±z}`` (google/trimmed_match)."""
    n = len(y)
    h = n - 2 * m
    H = z * z * h / (h - 1)
    i, j = np.triu_indices(n, 1)
    dx = x[i] - x[j]
    slopes = np.unique((y[i] - y[j])[dx != 0] / dx[dx != 0])
    edges = np.concatenate([[-math.inf], slopes, [math.inf]])
    lo, hi = math.inf, -math.inf
    for a, b in zip(edges[:-1], edges[1:], strict=True):
        A, B, C = _quadratic(y, x, np.argsort(y - _probe(a, b) * x, kind="stable"), m, H)
        roots: list[float] = []
        if A != 0:
            disc = B * B - A * C
            if disc >= 0:
                roots = [(B - math.sqrt(disc)) / A, (B + math.sqrt(disc)) / A]
        elif B != 0:
            roots = [C / (2 * B)]
        cuts = sorted([a, b, *(r for r in roots if a < r < b)])
        for p, q in zip(cuts[:-1], cuts[1:], strict=True):
            t = _probe(p, q)
            if A * t * t - 2 * B * t + C >= 0:
                lo, hi = min(lo, p), max(hi, q)
    return lo, hi


def trimmed_match(
    delta_response,
    delta_spend,
    *,
    confidence: float = 0.8,
    max_trim_rate: float = 0.25,
    trim_rate: float | None = None,
) -> TrimmedMatchResult:
    """iROAS from paired differences; ``trim_rate=None`` picks the rate with the smallest std. error."""
    y = np.asarray(delta_response, dtype=float)
    x = np.asarray(delta_spend, dtype=float)
    if len(y) != len(x) or len(y) < 3:
        raise MeasurementError(
            "trimmed match needs at least 3 pairs with one response and one spend difference", field="pairs"
        )
    if not (np.all(np.isfinite(y)) and np.all(np.isfinite(x))):
        raise MeasurementError(
            "response or spend differences contain NaN", fix="drop or fix those pairs", field="pairs"
        )
    if np.all(x == 0):
        raise MeasurementError(
            "every spend difference is zero, so iROAS is undefined",
            fix="check the spend column: treatment geos must spend more than control",
            field="spend",
            value="0",
        )
    if np.any(x < 0):
        raise MeasurementError(
            "some spend differences are negative", fix="orient pairs as treatment − control", field="spend"
        )
    n = len(y)
    cap = min(max_trim_rate, 0.5 - 1.0 / n)
    if trim_rate is not None:
        if not 0 <= trim_rate <= cap:
            raise MeasurementError(
                f"trim rate {trim_rate} is outside [0, {cap:.3g}]",
                fix="pick a smaller trim_rate",
                field="trim_rate",
            )
        trims = [math.ceil(trim_rate * n - 1e-9)]
    else:
        trims = [k for k in range(math.ceil(cap * n) + 1) if k / n <= cap + 1e-12]
    candidates = []
    with np.errstate(all="ignore"):  # near-zero spend: reported as a MeasurementError, not as warnings
        for m in trims:
            theta = _solve_theta(y, x, m)
            candidates.append((m, theta, _std_error(y, x, theta, m)))
    floor = min(c[2] for c in candidates) * (1 + 0.25 / math.sqrt(n))
    m, theta, se = next(c for c in candidates if c[2] <= floor)
    z = float(stats.norm.ppf(0.5 + 0.5 * confidence))
    lo, hi = _interval(y, x, m, z)
    if lo > hi or not hi - lo <= EXTREME_CI_WIDTH * se:  # empty (a perfect fit) or unbounded
        lo, hi = theta - 3 * z * se, theta + 3 * z * se
    return TrimmedMatchResult(theta, float(lo), float(hi), confidence, m / n, m, n, se)
