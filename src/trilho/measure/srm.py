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


@dataclass(frozen=True)
class GenerationSRM:
    """The sample-ratio check over every routing generation: units first routed under a generation against
    the shares in force then. ``result`` is the combined test (chi-square statistics and degrees of freedom
    summed over the generations tested: their units are disjoint); ``unexpected`` counts units routed to a
    version with no share under their generation (a mismatch whatever the p-value); ``unknown`` lists
    generations whose shares are not known (not tested)."""

    result: SRMResult
    tested: tuple[int, ...]
    unexpected: dict[str, int]
    unknown: tuple[int, ...]

    @property
    def passed(self) -> bool:
        """No evidence of a mismatch in any tested generation and no unit on a version without a share."""
        return self.result.passed and not self.unexpected


def srm_by_generation(
    counts: Mapping[int, Mapping[str, int]],
    shares: Mapping[int, Mapping[str, float]],
    *,
    alpha: float = DEFAULT_SRM_ALPHA,
) -> GenerationSRM:
    """Chi-square test of each generation's units per version against that generation's ``shares``
    (generation → version → share), combined into one test (pure)."""
    stat = 0.0
    df = 0
    tested: list[int] = []
    unknown: list[int] = []
    unexpected: dict[str, int] = {}
    obs_out: dict[str, int] = {}
    exp_out: dict[str, float] = {}
    for gen in sorted(counts):
        got = {str(v): int(n) for v, n in counts[gen].items() if int(n) > 0}
        if gen not in shares:
            unknown.append(gen)
            continue
        live = {str(v): float(w) for v, w in shares[gen].items() if float(w) > 0}
        for v, n in got.items():
            if v not in live:
                unexpected[f"{gen}/{v}"] = n
        total = sum(n for v, n in got.items() if v in live)
        if len(live) < 2 or total == 0:
            continue
        weight_sum = sum(live.values())
        for v, w in live.items():
            expected = total * w / weight_sum
            observed = got.get(v, 0)
            stat += (observed - expected) ** 2 / expected
            obs_out[f"{gen}/{v}"] = observed
            exp_out[f"{gen}/{v}"] = expected
        df += len(live) - 1
        tested.append(gen)
    p = float(stats.chi2.sf(stat, df)) if df > 0 else 1.0
    if unexpected:
        p = 0.0
    result = SRMResult(obs_out, exp_out, p, "chisquare per generation", alpha)
    return GenerationSRM(result, tuple(tested), unexpected, tuple(unknown))
