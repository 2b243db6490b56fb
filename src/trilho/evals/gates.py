"""Eval gates (pure): thresholds on suite metrics and regressions against a baseline run, judged by paired
tests — exact McNemar for pass/fail metrics, a seeded paired bootstrap for scores — with a minimum effect.

``decide_gate(...)`` returns one :class:`GateDecision`; the CLI prints it and takes the exit code from it, so
the verdict people read and the code CI sees cannot disagree.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from trilho.errors import EvalError


@dataclass(frozen=True)
class PairedTest:
    """A paired comparison of one metric between a candidate and a baseline run."""

    metric: str
    test: str  # "mcnemar" | "paired_bootstrap"
    n: int
    baseline: float
    candidate: float
    diff: float
    low: float
    high: float
    p_value: float
    regressed: bool
    detail: Mapping[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {
            "metric": self.metric,
            "test": self.test,
            "n": self.n,
            "baseline": self.baseline,
            "candidate": self.candidate,
            "diff": self.diff,
            "ci": [self.low, self.high],
            "p_value": self.p_value,
            "regressed": self.regressed,
            **dict(self.detail),
        }


def mcnemar_exact(b: int, c: int) -> float:
    """Two-sided exact McNemar p-value from the discordant counts ``b`` and ``c``."""
    n = b + c
    if n == 0:
        return 1.0
    k = min(b, c)
    tail = sum(math.comb(n, i) for i in range(k + 1)) / 2**n
    return min(1.0, 2 * tail)


def paired_binary(
    metric: str, base: Sequence[float], cand: Sequence[float], *, alpha: float = 0.05, min_effect: float = 0.0
) -> PairedTest:
    """McNemar test on paired pass(1)/fail(0) outcomes; regressed when the candidate passes significantly
    less often by at least ``min_effect`` (absolute pass-rate points)."""
    b_arr, c_arr = np.asarray(base) > 0.5, np.asarray(cand) > 0.5
    n = len(b_arr)
    lost = int((b_arr & ~c_arr).sum())  # passed before, fails now
    gained = int((~b_arr & c_arr).sum())
    diff = (gained - lost) / n
    p = mcnemar_exact(lost, gained)
    # Wald interval for a paired difference in proportions
    se = math.sqrt(max(0.0, (lost + gained) / n - diff**2) / n) if n else 0.0
    z = 1.959963984540054 if abs(alpha - 0.05) < 1e-12 else _z(1 - alpha / 2)
    regressed = lost > gained and p < alpha and -diff >= min_effect
    return PairedTest(
        metric,
        "mcnemar",
        n,
        float(b_arr.mean()),
        float(c_arr.mean()),
        diff,
        diff - z * se,
        diff + z * se,
        p,
        regressed,
        {"lost": lost, "gained": gained},
    )


def paired_bootstrap(
    metric: str,
    base: Sequence[float],
    cand: Sequence[float],
    *,
    alpha: float = 0.05,
    min_effect: float = 0.0,
    n_boot: int = 5000,
    seed: int = 0,
) -> PairedTest:
    """Paired bootstrap of the mean difference (candidate − baseline); regressed when the whole (1 − α)
    interval is below zero and the drop is at least ``min_effect``."""
    d = np.asarray(cand, dtype=float) - np.asarray(base, dtype=float)
    n = len(d)
    rng = np.random.default_rng(seed)
    means = d[rng.integers(0, n, size=(n_boot, n))].mean(axis=1)
    lo, hi = np.quantile(means, [alpha / 2, 1 - alpha / 2])
    p = float(min(1.0, 2 * min((means >= 0).mean(), (means <= 0).mean())))
    diff = float(d.mean())
    regressed = bool(hi < 0 and -diff >= min_effect)
    return PairedTest(
        metric,
        "paired_bootstrap",
        n,
        float(np.mean(base)),
        float(np.mean(cand)),
        diff,
        float(lo),
        float(hi),
        p,
        regressed,
    )


def _z(q: float) -> float:
    from scipy.stats import norm

    return float(norm.ppf(q))


@dataclass(frozen=True)
class ThresholdCheck:
    """One metric against its threshold."""

    metric: str
    value: float | None
    min: float | None
    max: float | None
    passed: bool

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {
            "metric": self.metric,
            "value": self.value,
            "min": self.min,
            "max": self.max,
            "passed": self.passed,
        }


@dataclass(frozen=True)
class GateDecision:
    """The gate's verdict and every reason behind it."""

    passed: bool
    thresholds: tuple[ThresholdCheck, ...]
    regressions: tuple[PairedTest, ...]
    reasons: tuple[str, ...]
    baseline_run: str | None = None

    @property
    def decision(self) -> str:
        """``"pass"`` or ``"fail"``."""
        return "pass" if self.passed else "fail"

    @property
    def exit_code(self) -> int:
        """0 when the gate passes, 1 when it fails."""
        return 0 if self.passed else 1

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {
            "decision": self.decision,
            "passed": self.passed,
            "reasons": list(self.reasons),
            "baseline_run": self.baseline_run,
            "thresholds": [t.to_dict() for t in self.thresholds],
            "regressions": [r.to_dict() for r in self.regressions],
        }


def check_thresholds(
    metrics: Mapping[str, float], thresholds: Mapping[str, Mapping[str, float]]
) -> list[ThresholdCheck]:
    """Each thresholded metric against its ``min`` / ``max``; a missing metric fails."""
    out = []
    for name, bound in thresholds.items():
        lo, hi = bound.get("min"), bound.get("max")
        value = metrics.get(name)
        ok = value is not None and (lo is None or value >= lo) and (hi is None or value <= hi)
        out.append(ThresholdCheck(name, value, lo, hi, bool(ok)))
    return out


def decide_gate(
    metrics: Mapping[str, float],
    thresholds: Mapping[str, Mapping[str, float]],
    *,
    candidate_items: Mapping[str, Mapping[str, float]] | None = None,
    baseline_items: Mapping[str, Mapping[str, float]] | None = None,
    binary_metrics: set[str] | frozenset[str] = frozenset(),
    alpha: float = 0.05,
    min_effect: float = 0.0,
    baseline_run: str | None = None,
    seed: int = 0,
) -> GateDecision:
    """Thresholds plus (when a baseline is given) paired regression tests on every metric both runs share.

    ``*_items`` map item id → {metric: value}; only items present in both runs are paired.
    """
    checks = check_thresholds(metrics, thresholds)
    reasons = [
        f"{c.metric} = {c.value if c.value is None else round(c.value, 4)} misses "
        f"{'min ' + str(c.min) if c.min is not None else ''}{' max ' + str(c.max) if c.max is not None else ''}".strip()  # noqa: E501
        for c in checks
        if not c.passed
    ]
    tests: list[PairedTest] = []
    if baseline_items is not None and candidate_items is not None:
        shared = sorted(set(baseline_items) & set(candidate_items))
        if not shared:
            raise EvalError(
                "the baseline run shares no item ids with this run",
                fix="compare runs of the same suite",
                field="baseline",
                value=baseline_run,
            )
        metric_names = sorted(
            set.intersection(*(set(baseline_items[i]) & set(candidate_items[i]) for i in shared))
        )
        for m in metric_names:
            b = [float(baseline_items[i][m]) for i in shared]
            c = [float(candidate_items[i][m]) for i in shared]
            t = (
                paired_binary(m, b, c, alpha=alpha, min_effect=min_effect)
                if m in binary_metrics
                else paired_bootstrap(m, b, c, alpha=alpha, min_effect=min_effect, seed=seed)
            )
            tests.append(t)
            if t.regressed:
                reasons.append(
                    f"{m} regressed vs baseline: {t.baseline:.4f} → {t.candidate:.4f} "
                    f"({t.test}, p={t.p_value:.3g})"
                )
    return GateDecision(not reasons, tuple(checks), tuple(tests), tuple(reasons), baseline_run)
