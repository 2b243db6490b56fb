"""Sample-ratio-mismatch check: are the arm sizes what the assignment promised?"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np
from scipy import stats

from trilho.errors import MeasurementError

DEFAULT_SRM_ALPHA = 0.001


@dataclass(frozen=True)
class SRMResult:
    """Observed vs expected arm sizes and the p-value of the mismatch test."""

    counts: dict[str, int]
    expected: dict[str, float]
    pvalue: float
    method: str
    alpha: float

    @property
    def passed(self) -> bool:
        """True when there is no evidence of a mismatch at ``alpha``."""
        return self.pvalue >= self.alpha

    def to_dict(self) -> dict:
        """JSON-ready form."""
        return {
            "counts": self.counts,
            "expected": self.expected,
            "pvalue": self.pvalue,
            "method": self.method,
            "alpha": self.alpha,
            "passed": self.passed,
        }


def srm_test(
    counts: Mapping[str, int],
    ratios: Mapping[str, float] | Sequence[float] | None = None,
    *,
    method: Literal["chisquare", "binomial"] = "chisquare",
    alpha: float = DEFAULT_SRM_ALPHA,
) -> SRMResult:
    """Chi-square (default) or exact binomial (two arms) test of arm sizes against ``ratios``."""
    names = list(counts)
    obs = np.array([int(counts[k]) for k in names], dtype=float)
    if ratios is None:
        r = np.ones(len(names))
    elif isinstance(ratios, Mapping):
        missing = [k for k in names if k not in ratios]
        if missing:
            raise MeasurementError(
                f"no expected ratio for variant(s) {missing}",
                fix="give a ratio for every variant",
                field="ratios",
            )
        r = np.array([float(ratios[k]) for k in names])
    else:
        r = np.asarray(list(ratios), dtype=float)
    if len(r) != len(names) or np.any(r <= 0):
        raise MeasurementError("expected ratios must be positive, one per variant", field="ratios")
    share = r / r.sum()
    total = obs.sum()
    if method == "binomial":
        if len(names) != 2:
            raise MeasurementError(
                "the binomial SRM test needs exactly two arms", fix="use method='chisquare'"
            )
        p = float(stats.binomtest(int(obs[0]), int(total), float(share[0])).pvalue)
    else:
        p = float(stats.chisquare(obs, total * share).pvalue) if len(names) > 1 else 1.0
    return SRMResult(
        counts={k: int(v) for k, v in zip(names, obs, strict=True)},
        expected={k: float(v) for k, v in zip(names, total * share, strict=True)},
        pvalue=p,
        method=method,
        alpha=alpha,
    )
