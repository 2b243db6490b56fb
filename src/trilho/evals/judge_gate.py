"""Calibration per target: a judge gates a model version only where its agreement with humans was measured.

A :class:`JudgeCalibration` names the population it was measured on (model, version, suite, time window).
Before the judge gates a candidate version, :func:`shift_test` asks whether the candidate's outputs come from
that population (MMD with an RBF kernel on sentence embeddings, permutation p-value: a false alarm rate of
``alpha`` by construction). If they do not, :func:`decide_judge_gate` answers "judge not calibrated for
<model@version>" with the number of items to label (:func:`plan_sample_size`, for a target width of the κ
interval), and :func:`candidate_sample` picks them from the candidate's outputs, stratified by the judge's
label, to seed an annotation queue. Once the candidate's own labelled sample is in, the judge is used only
when the lower bound of κ on it clears the floor. A judge whose κ interval includes 0, or whose accuracy does
not beat the majority-class baseline, never gates, whatever the population.
"""

from __future__ import annotations

import math
import random
from collections.abc import Hashable, Mapping, Sequence
from dataclasses import dataclass
from statistics import NormalDist
from typing import Any

import numpy as np

from trilho.errors import EvalError
from trilho.evals.agreement import PairAgreement, pair_agreement
from trilho.evals.calibration import DEFAULT_KAPPA_FLOOR
from trilho.evals.transfer import majority_accuracy

SHIFT_ALPHA = 0.01


@dataclass(frozen=True)
class Population:
    """Where a calibration was measured: model, version, suite and time window (ISO dates, optional)."""

    model: str
    version: str
    suite: str = ""
    window: tuple[str, str] | None = None

    @property
    def target(self) -> str:
        """``model@version``."""
        return f"{self.model}@{self.version}"

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {
            "model": self.model,
            "version": self.version,
            "suite": self.suite,
            "window": list(self.window) if self.window else None,
        }


@dataclass(frozen=True)
class JudgeCalibration:
    """A judge's agreement with humans on one population, beside the majority-class baseline."""

    judge: str
    population: Population
    agreement: PairAgreement
    majority: float

    @classmethod
    def measure(
        cls,
        judge: str,
        population: Population,
        human: Sequence[Hashable],
        judged: Sequence[Hashable],
        *,
        n_boot: int = 2000,
        seed: int = 0,
    ) -> JudgeCalibration:
        """Calibrate ``judge`` on labelled items of ``population``."""
        return cls(
            judge,
            population,
            pair_agreement(human, judged, n_boot=n_boot, seed=seed),
            majority_accuracy(human),
        )

    def unfit_reason(self, floor: float = DEFAULT_KAPPA_FLOOR) -> str | None:
        """Why this judge may not gate on its own population (None when it may)."""
        k, acc = self.agreement.kappa, self.agreement.percent
        if k.low <= 0:
            return f"judge {self.judge!r}: κ interval [{k.low:.3f}, {k.high:.3f}] includes 0"
        if acc.low <= self.majority:
            return (
                f"judge {self.judge!r}: accuracy {acc.estimate:.3f} [{acc.low:.3f}, {acc.high:.3f}] does not "
                f"beat the majority-class baseline {self.majority:.3f}"
            )
        if k.low < floor:
            return f"judge {self.judge!r}: κ lower bound {k.low:.3f} is below the floor {floor}"
        return None

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form (the calibration record)."""
        return {
            "judge": self.judge,
            "population": self.population.to_dict(),
            "agreement": self.agreement.to_dict(),
            "majority_accuracy": self.majority,
        }


@dataclass(frozen=True)
class ShiftResult:
    """Two-sample test of candidate vs calibration outputs."""

    statistic: float
    p_value: float
    alpha: float
    n_reference: int
    n_candidate: int

    @property
    def shifted(self) -> bool:
        """True when the candidate's outputs differ from the calibration population at level ``alpha``."""
        return self.p_value < self.alpha


def _rbf(x: np.ndarray, bandwidth: float) -> np.ndarray:
    sq = np.sum(x * x, axis=1)
    d = np.maximum(sq[:, None] + sq[None, :] - 2 * x @ x.T, 0.0)
    return np.exp(-d / (2 * bandwidth**2))


def shift_test(
    reference: np.ndarray,
    candidate: np.ndarray,
    *,
    alpha: float = SHIFT_ALPHA,
    permutations: int = 500,
    max_n: int = 300,
    seed: int = 0,
) -> ShiftResult:
    """MMD² (RBF kernel, median-distance bandwidth) between two sets of embeddings, with a permutation
    p-value: under "same population" it falsely alarms with probability ``alpha``."""
    if len(reference) < 5 or len(candidate) < 5:
        raise EvalError(
            "the shift test needs at least 5 outputs on each side",
            field="outputs",
            value=[len(reference), len(candidate)],
            fix="collect more outputs of the candidate",
        )
    rng = np.random.default_rng(seed)
    a = reference[rng.permutation(len(reference))[:max_n]]
    b = candidate[rng.permutation(len(candidate))[:max_n]]
    x = np.vstack([a, b]).astype(np.float64)
    n, m = len(a), len(b)
    d = np.sqrt(np.maximum(np.sum(x * x, 1)[:, None] + np.sum(x * x, 1)[None, :] - 2 * x @ x.T, 0.0))
    k = _rbf(x, float(np.median(d[d > 0])) or 1.0)

    def mmd(idx: np.ndarray) -> float:
        i, j = idx[:n], idx[n:]
        return float(k[np.ix_(i, i)].mean() + k[np.ix_(j, j)].mean() - 2 * k[np.ix_(i, j)].mean())

    observed = mmd(np.arange(n + m))
    null = np.array([mmd(rng.permutation(n + m)) for _ in range(permutations)])
    p = float((1 + np.sum(null >= observed)) / (1 + permutations))
    return ShiftResult(observed, p, alpha, n, m)


def plan_sample_size(
    calibration: JudgeCalibration, *, half_width: float = 0.1, level: float = 0.95, minimum: int = 30
) -> int:
    """Items to label so the κ interval's half-width is about ``half_width``, assuming the judge agrees on
    the candidate as it did on its calibration population (large-sample SE of κ: √(pₒ(1−pₒ)/n)/(1−pₑ))."""
    if not 0 < half_width < 1:
        raise EvalError(
            f"half_width == {half_width}, must be in (0, 1)", field="half_width", value=half_width
        )
    cm = np.asarray(calibration.agreement.confusion, dtype=float)
    total = cm.sum()
    po = float(np.trace(cm) / total)
    pe = float((cm.sum(0) * cm.sum(1)).sum() / total**2)
    z = NormalDist().inv_cdf((1 + level) / 2)
    po = min(max(po, 0.05), 0.95)  # keep the plan finite for a perfect or useless judge
    n = po * (1 - po) * z**2 / (half_width**2 * max(1 - pe, 1e-6) ** 2)
    return max(minimum, math.ceil(n))


def candidate_sample(
    items: Sequence[Mapping[str, Any]], n: int, *, stratum: str = "judge", seed: int = 0
) -> list[dict[str, Any]]:
    """``n`` of the candidate's outputs, stratified by ``item[stratum]`` (proportional allocation, at least
    one per stratum, seeded): the items to label for a per-target calibration."""
    if n <= 0 or not items:
        raise EvalError("nothing to sample", field="n", value=n, fix="pass the candidate's outputs and n > 0")
    groups: dict[str, list[int]] = {}
    for i, it in enumerate(items):
        groups.setdefault(str(it.get(stratum)), []).append(i)
    n = min(n, len(items))
    alloc = {g: max(1, round(n * len(ix) / len(items))) for g, ix in groups.items()}
    while sum(alloc.values()) > n:
        alloc[max(alloc, key=lambda g: alloc[g])] -= 1
    rng = random.Random(seed)
    chosen = sorted(i for g, ix in sorted(groups.items()) for i in rng.sample(ix, min(alloc[g], len(ix))))
    return [dict(items[i]) for i in chosen]


@dataclass(frozen=True)
class JudgeGateDecision:
    """Whether the judge may gate this candidate, and why."""

    target: str
    use_judge: bool
    status: str  # calibrated | calibrated_on_candidate | not_calibrated | judge_unfit
    reason: str
    shift: ShiftResult | None = None
    items_to_label: int = 0
    candidate_agreement: PairAgreement | None = None

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {
            "target": self.target,
            "use_judge": self.use_judge,
            "status": self.status,
            "reason": self.reason,
            "items_to_label": self.items_to_label,
            "shift": None
            if self.shift is None
            else {
                "mmd2": self.shift.statistic,
                "p_value": self.shift.p_value,
                "alpha": self.shift.alpha,
                "shifted": self.shift.shifted,
            },
            "candidate_kappa": None
            if self.candidate_agreement is None
            else self.candidate_agreement.kappa.to_dict(),
        }


def decide_judge_gate(
    calibration: JudgeCalibration,
    candidate: Population,
    reference_embeddings: np.ndarray,
    candidate_embeddings: np.ndarray,
    *,
    labelled: tuple[Sequence[Hashable], Sequence[Hashable]] | None = None,
    floor: float = DEFAULT_KAPPA_FLOOR,
    half_width: float = 0.1,
    alpha: float = SHIFT_ALPHA,
    seed: int = 0,
) -> JudgeGateDecision:
    """May ``calibration``'s judge gate ``candidate``? ``labelled`` is (human, judge) on the candidate's own
    labelled sample, when there is one."""
    target = candidate.target
    unfit = calibration.unfit_reason(floor)
    if unfit is not None:
        return JudgeGateDecision(target, False, "judge_unfit", f"{unfit}: it can never gate")
    if labelled is not None and len(labelled[0]) > 0:
        human, judged = labelled
        needed = plan_sample_size(calibration, half_width=half_width)
        if len(human) < needed:
            return JudgeGateDecision(
                target,
                False,
                "not_calibrated",
                f"judge not calibrated for {target}: {len(human)} of {needed} planned items labelled",
                items_to_label=needed - len(human),
            )
        own = JudgeCalibration.measure(calibration.judge, candidate, human, judged, seed=seed)
        reason = own.unfit_reason(floor)
        if reason is not None:
            return JudgeGateDecision(
                target,
                False,
                "judge_unfit",
                f"on {target}'s labelled sample, {reason}",
                candidate_agreement=own.agreement,
            )
        k = own.agreement.kappa
        return JudgeGateDecision(
            target,
            True,
            "calibrated_on_candidate",
            f"κ on {target}'s {len(human)} labelled items {k.estimate:.3f} "
            f"[{k.low:.3f}, {k.high:.3f}] clears the floor {floor}",
            candidate_agreement=own.agreement,
        )
    shift = shift_test(reference_embeddings, candidate_embeddings, alpha=alpha, seed=seed)
    if not shift.shifted:
        return JudgeGateDecision(
            target,
            True,
            "calibrated",
            f"{target}'s outputs match the calibration population "
            f"{calibration.population.target} (MMD p = {shift.p_value:.3f} ≥ {alpha})",
            shift,
        )
    needed = plan_sample_size(calibration, half_width=half_width)
    return JudgeGateDecision(
        target,
        False,
        "not_calibrated",
        f"judge not calibrated for {target}: its outputs differ from "
        f"{calibration.population.target}'s (MMD p = {shift.p_value:.3f} < {alpha}); "
        f"label {needed} of its outputs",
        shift,
        needed,
    )
