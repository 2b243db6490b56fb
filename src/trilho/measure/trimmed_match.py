"""Trimmed match (Chen & Au 2019): iROAS from paired geo experiments, robust to outlying pairs.

For pairs with response difference ``y`` and spend difference ``x`` (treatment − control), the estimate
``theta`` makes the trimmed mean of the residuals ``y - theta * x`` zero. The trim rate is chosen from
``0, 1/n, …, max_trim_rate`` to minimise the standard error; the interval inverts Yuen's trimmed t-test.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import numpy as np
from scipy import optimize, stats

from trilho.errors import MeasurementError


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


def _yuen_se(z: np.ndarray, m: int) -> float:
    n = len(z)
    s = np.sort(z)
    w = np.clip(s, s[m], s[n - 1 - m])
    return float(np.std(w, ddof=1) / ((1 - 2 * m / n) * math.sqrt(n)))


def _solve_theta(y: np.ndarray, x: np.ndarray, m: int) -> float:
    def f(theta: float) -> float:
        return _tmean(y - theta * x, m)

    # f is non-increasing in theta when spend differences are positive; bracket and bisect.
    lo, hi = -1.0, 1.0
    while f(lo) < 0:
        lo *= 2
    while f(hi) > 0:
        hi *= 2
    return float(optimize.brentq(f, lo, hi, xtol=1e-12))


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
    rates = [trim_rate] if trim_rate is not None else [m / n for m in range(int(n * max_trim_rate) + 1)]
    best = None
    for r in rates:
        m = int(round(r * n))
        if n - 2 * m < 2:
            continue
        theta = _solve_theta(y, x, m)
        se = _yuen_se(y - theta * x, m) / max(_tmean(x, m), 1e-300)
        if best is None or se < best[2] - 1e-15:
            best = (m, theta, se)
    assert best is not None
    m, theta, se = best
    df = n - 2 * m - 1
    q = float(stats.t.ppf((1 + confidence) / 2, df))

    def t_stat(th: float) -> float:
        e = y - th * x
        s = _yuen_se(e, m)
        return _tmean(e, m) / s if s > 0 else math.copysign(math.inf, _tmean(e, m))

    width = max(10 * se, 1e-6)
    lo = optimize.brentq(lambda th: t_stat(th) - q, theta - 50 * width, theta, xtol=1e-12)
    hi = optimize.brentq(lambda th: t_stat(th) + q, theta, theta + 50 * width, xtol=1e-12)
    return TrimmedMatchResult(theta, float(lo), float(hi), confidence, m / n, m, n, se)
