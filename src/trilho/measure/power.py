"""Experiment design: sample size, minimum detectable effect, power and duration, with and without CUPED.

Normal approximation for a two-sided test of a difference in means. CUPED with pre-period correlation
``rho`` multiplies the variance by ``1 - rho²``, so the same power needs ``1 - rho²`` of the units (and of
the days): ``rho = 0.7`` halves the experiment.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

from scipy import stats

from trilho.errors import MeasurementError


def _check(alpha: float, power: float, rho: float) -> None:
    if not 0 < alpha < 1:
        raise MeasurementError(f"alpha {alpha} must be in (0, 1)", field="alpha", value=str(alpha))
    if not 0 < power < 1:
        raise MeasurementError(f"power {power} must be in (0, 1)", field="power", value=str(power))
    if not 0 <= abs(rho) < 1:
        raise MeasurementError(f"rho {rho} must be in [0, 1)", field="rho", value=str(rho))


def variance_factor(rho: float) -> float:
    """Variance left after CUPED with a covariate of correlation ``rho``: ``1 - rho²``."""
    return 1.0 - rho * rho


def sample_size(
    mde: float, sd: float, *, alpha: float = 0.05, power: float = 0.8, ratio: float = 1.0, rho: float = 0.0
) -> tuple[int, int]:
    """Units in (control, treatment) to detect an absolute effect ``mde`` on a metric with unit sd ``sd``.

    ``ratio`` is treatment/control size.
    """
    _check(alpha, power, rho)
    if mde <= 0 or sd <= 0:
        raise MeasurementError("mde and sd must be positive", field="mde", value=str(mde))
    z = stats.norm.ppf(1 - alpha / 2) + stats.norm.ppf(power)
    n_c = z * z * sd * sd * variance_factor(rho) * (1 + 1 / ratio) / (mde * mde)
    return math.ceil(n_c), math.ceil(n_c * ratio)


def minimum_detectable_effect(
    n_control: float,
    n_treatment: float,
    sd: float,
    *,
    alpha: float = 0.05,
    power: float = 0.8,
    rho: float = 0.0,
) -> float:
    """The smallest absolute effect detected with probability ``power`` at these arm sizes."""
    _check(alpha, power, rho)
    z = stats.norm.ppf(1 - alpha / 2) + stats.norm.ppf(power)
    return float(z * sd * math.sqrt(variance_factor(rho) * (1 / n_control + 1 / n_treatment)))


def power_at(
    effect: float, n_control: float, n_treatment: float, sd: float, *, alpha: float = 0.05, rho: float = 0.0
) -> float:
    """Probability that a two-sided test at ``alpha`` detects an absolute ``effect``."""
    se = sd * math.sqrt(variance_factor(rho) * (1 / n_control + 1 / n_treatment))
    z = stats.norm.ppf(1 - alpha / 2)
    d = abs(effect) / se
    return float(stats.norm.sf(z - d) + stats.norm.cdf(-z - d))


@dataclass(frozen=True)
class DurationPlan:
    """How long an experiment must run, with and without CUPED."""

    mde: float
    sd: float
    rho: float
    units_per_day: float
    n_control: int
    n_treatment: int
    days: int
    n_control_cuped: int
    n_treatment_cuped: int
    days_cuped: int
    saving: float  # share of the duration saved by CUPED: rho²

    def to_dict(self) -> dict:
        """JSON-ready form."""
        return asdict(self)


def plan_duration(
    mde: float,
    sd: float,
    units_per_day: float,
    *,
    rho: float = 0.0,
    alpha: float = 0.05,
    power: float = 0.8,
    treatment_share: float = 0.5,
) -> DurationPlan:
    """Days needed at ``units_per_day`` new units (``treatment_share`` treated), plain and with CUPED."""
    if units_per_day <= 0:
        raise MeasurementError(
            "units per day must be positive", field="units_per_day", value=str(units_per_day)
        )
    if not 0 < treatment_share < 1:
        raise MeasurementError("treatment share must be in (0, 1)", field="treatment_share")
    ratio = treatment_share / (1 - treatment_share)
    nc, nt = sample_size(mde, sd, alpha=alpha, power=power, ratio=ratio)
    ncc, ntc = sample_size(mde, sd, alpha=alpha, power=power, ratio=ratio, rho=rho)
    days = math.ceil((nc + nt) / units_per_day)
    days_c = math.ceil((ncc + ntc) / units_per_day)
    return DurationPlan(mde, sd, rho, units_per_day, nc, nt, days, ncc, ntc, days_c, rho * rho)
