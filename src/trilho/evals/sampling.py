"""Stratified sampling for online judging (pure): a per-stratum inclusion probability, a deterministic
decision from a hash of the request id (reproducible across gateway replicas), inverse-probability weights,
and the weighted (Hájek) population estimate with a normal-approximation interval."""

from __future__ import annotations

import hashlib
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from trilho.errors import EvalError


@dataclass(frozen=True)
class StratifiedSampler:
    """Sample a stratum's responses with probability ``rates[stratum]`` (``default_rate`` otherwise)."""

    default_rate: float = 0.05
    rates: Mapping[str, float] = field(default_factory=dict)
    salt: str = "trilho"

    def __post_init__(self) -> None:
        for name, r in {"default": self.default_rate, **self.rates}.items():
            if not 0.0 < r <= 1.0:
                raise EvalError(
                    f"sampling rate for {name!r} must be in (0, 1], got {r}", field="rates", value=r
                )

    def rate(self, stratum: str) -> float:
        """Inclusion probability of ``stratum``."""
        return float(self.rates.get(stratum, self.default_rate))

    def sample(self, key: str, stratum: str) -> tuple[bool, float]:
        """(chosen?, inverse-probability weight) for the response identified by ``key``."""
        p = self.rate(stratum)
        h = int.from_bytes(hashlib.blake2b(f"{self.salt}:{key}".encode(), digest_size=8).digest(), "big")
        return (h / 2**64) < p, 1.0 / p


@dataclass(frozen=True)
class WeightedEstimate:
    """A population mean estimated from weighted samples."""

    mean: float
    low: float
    high: float
    n: int
    population: float

    def to_dict(self) -> dict[str, float]:
        """JSON-ready form."""
        return {
            "mean": self.mean,
            "low": self.low,
            "high": self.high,
            "n": self.n,
            "population": self.population,
        }


def hajek_estimate(
    values: Sequence[float], weights: Sequence[float], z: float = 1.959963984540054
) -> WeightedEstimate:
    """Hájek (ratio) estimator Σw·y / Σw with a linearised standard error."""
    if not values:
        return WeightedEstimate(math.nan, math.nan, math.nan, 0, 0.0)
    w_sum = sum(weights)
    mean = sum(w * y for w, y in zip(weights, values, strict=True)) / w_sum
    n = len(values)
    if n < 2:
        return WeightedEstimate(mean, math.nan, math.nan, n, w_sum)
    var = n / (n - 1) * sum((w * (y - mean)) ** 2 for w, y in zip(weights, values, strict=True)) / w_sum**2
    se = math.sqrt(var)
    return WeightedEstimate(mean, mean - z * se, mean + z * se, n, w_sum)
