"""Pure statistics for regression gates: a seeded paired bootstrap interval of a mean difference."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


def bootstrap_ci(
    diffs: Sequence[float], *, confidence: float = 0.95, resamples: int = 2000, seed: int = 0
) -> tuple[float, float]:
    """Percentile bootstrap interval for the mean of paired differences (deterministic for a seed)."""
    values = np.asarray(diffs, dtype=float)
    if values.size == 0:
        return 0.0, 0.0
    if not 0 < confidence < 1:
        raise ValueError("confidence must be in (0, 1)")
    if np.all(values == values[0]):
        return float(values[0]), float(values[0])
    rng = np.random.default_rng(seed)
    chunk = max(1, 4_000_000 // values.size)  # bounded memory for large suites, same draws for a seed
    means = np.concatenate(
        [
            values[rng.integers(0, values.size, size=(min(chunk, resamples - start), values.size))].mean(
                axis=1
            )
            for start in range(0, resamples, chunk)
        ]
    )
    alpha = (1 - confidence) / 2
    lo, hi = np.quantile(means, [alpha, 1 - alpha])
    return float(lo), float(hi)


def gate_passes(ci_low: float, delta: float) -> bool:
    """The non-inferiority rule: the lower confidence bound of candidate − baseline must exceed −δ."""
    return ci_low > -delta
