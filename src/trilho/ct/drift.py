"""Drift statistics (pure, vectorised): PSI, KS, Wasserstein, chi-square per feature, and the drift rule.

A feature drifts when BOTH a significance test rejects "same distribution" at ``alpha`` (Bonferroni-corrected
over the features checked) AND the effect is large enough to matter (PSI ≥ ``psi_min`` or KS D ≥ ``ks_min``).
The test makes the rule sample-size aware (small windows need big effects to count); the effect floor keeps
huge windows (n = 10⁶) from flagging differences nobody cares about. Windows smaller than ``min_sample``
are reported as ``insufficient``, never as drift. Raw scores are always reported.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
from scipy import stats

EPS = 1e-4


@dataclass(frozen=True)
class DriftConfig:
    """Thresholds of the drift rule."""

    alpha: float = 0.01
    psi_min: float = 0.1
    ks_min: float = 0.1
    min_sample: int = 200
    bins: int = 10
    max_categories: int = 50


@dataclass(frozen=True)
class FeatureDrift:
    """One feature's scores and verdict (``ok``, ``drift`` or ``insufficient``)."""

    feature: str
    kind: str
    status: str
    n_reference: int
    n_current: int
    psi: float
    p_value: float
    threshold_p: float
    ks: float | None = None
    wasserstein: float | None = None
    chi2: float | None = None
    reason: str = ""

    @property
    def drifted(self) -> bool:
        """True when the feature drifted."""
        return self.status == "drift"

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready."""
        return asdict(self)


@dataclass(frozen=True)
class DriftReport:
    """Per-feature drift plus the overall verdict (and performance decay when labels were given)."""

    features: tuple[FeatureDrift, ...]
    config: DriftConfig
    performance: dict[str, Any] | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def drifted_features(self) -> list[str]:
        """Names of the features that drifted."""
        return [f.feature for f in self.features if f.drifted]

    @property
    def drifted(self) -> bool:
        """True when any feature drifted or performance decayed."""
        return bool(self.drifted_features) or bool(self.performance and self.performance.get("decayed"))

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready."""
        return {
            "drifted": self.drifted,
            "drifted_features": self.drifted_features,
            "features": [f.to_dict() for f in self.features],
            "performance": self.performance,
            "config": asdict(self.config),
            **self.extra,
        }


def psi_from_counts(ref_counts: np.ndarray, cur_counts: np.ndarray) -> float:
    """Population stability index between two histograms over the same bins (proportions floored at EPS)."""
    p = np.maximum(ref_counts / max(ref_counts.sum(), 1), EPS)
    q = np.maximum(cur_counts / max(cur_counts.sum(), 1), EPS)
    return float(np.sum((q - p) * np.log(q / p)))


def quantile_edges(reference: np.ndarray, bins: int) -> np.ndarray:
    """Inner bin edges at the reference's quantiles (duplicates removed, so ties never make empty bins)."""
    qs = np.quantile(reference, np.linspace(0, 1, bins + 1)[1:-1])
    return np.unique(qs)


def numeric_psi(reference: np.ndarray, current: np.ndarray, bins: int = 10) -> float:
    """PSI of ``current`` against ``reference`` over the reference's quantile bins."""
    edges = quantile_edges(reference, bins)
    ref_counts = np.bincount(np.searchsorted(edges, reference, side="right"), minlength=len(edges) + 1)
    cur_counts = np.bincount(np.searchsorted(edges, current, side="right"), minlength=len(edges) + 1)
    return psi_from_counts(ref_counts.astype(float), cur_counts.astype(float))


def numeric_drift(
    name: str, reference: np.ndarray, current: np.ndarray, config: DriftConfig, *, n_tests: int = 1
) -> FeatureDrift:
    """PSI + two-sample KS (Wasserstein reported) for a numeric feature."""
    ref = np.asarray(reference, dtype=float)
    cur = np.asarray(current, dtype=float)
    ref, cur = ref[np.isfinite(ref)], cur[np.isfinite(cur)]
    threshold = config.alpha / max(n_tests, 1)
    if len(ref) < config.min_sample or len(cur) < config.min_sample:
        return FeatureDrift(
            name,
            "numeric",
            "insufficient",
            len(ref),
            len(cur),
            float("nan"),
            float("nan"),
            threshold,
            reason=f"fewer than {config.min_sample} values",
        )
    psi = numeric_psi(ref, cur, config.bins)
    ks = stats.ks_2samp(ref, cur, method="asymp")
    wd = float(stats.wasserstein_distance(ref, cur))
    significant = float(ks.pvalue) < threshold
    large = psi >= config.psi_min or float(ks.statistic) >= config.ks_min
    status = "drift" if significant and large else "ok"
    reason = (
        f"KS p={float(ks.pvalue):.2g} < {threshold:.2g} and PSI={psi:.3f}, D={float(ks.statistic):.3f}"
        if status == "drift"
        else ("effect below the floor" if significant else "not significant")
    )
    return FeatureDrift(
        name,
        "numeric",
        status,
        len(ref),
        len(cur),
        psi,
        float(ks.pvalue),
        threshold,
        ks=float(ks.statistic),
        wasserstein=wd,
        reason=reason,
    )


def categorical_drift(
    name: str, reference: np.ndarray, current: np.ndarray, config: DriftConfig, *, n_tests: int = 1
) -> FeatureDrift:
    """PSI + chi-square goodness of fit of the current counts against the reference proportions."""
    ref = np.asarray(reference, dtype=object)
    cur = np.asarray(current, dtype=object)
    threshold = config.alpha / max(n_tests, 1)
    if len(ref) < config.min_sample or len(cur) < config.min_sample:
        return FeatureDrift(
            name,
            "categorical",
            "insufficient",
            len(ref),
            len(cur),
            float("nan"),
            float("nan"),
            threshold,
            reason=f"fewer than {config.min_sample} values",
        )
    ref_s, cur_s = ref.astype(str), cur.astype(str)
    levels, ref_counts = np.unique(ref_s, return_counts=True)
    if len(levels) > config.max_categories:  # keep the top levels, pool the rest
        top = levels[np.argsort(-ref_counts)[: config.max_categories]]
        ref_s = np.where(np.isin(ref_s, top), ref_s, "__other__")
        cur_s = np.where(np.isin(cur_s, top), cur_s, "__other__")
    all_levels = np.unique(np.concatenate([ref_s, cur_s]))
    ref_c = np.array([np.count_nonzero(ref_s == v) for v in all_levels], dtype=float)
    cur_c = np.array([np.count_nonzero(cur_s == v) for v in all_levels], dtype=float)
    psi = psi_from_counts(ref_c, cur_c)
    expected = np.maximum(ref_c / ref_c.sum(), EPS)
    expected = expected / expected.sum() * cur_c.sum()
    chi2 = float(np.sum((cur_c - expected) ** 2 / expected))
    dof = max(len(all_levels) - 1, 1)
    p = float(stats.chi2.sf(chi2, dof))
    status = "drift" if p < threshold and psi >= config.psi_min else "ok"
    reason = f"chi2 p={p:.2g} < {threshold:.2g} and PSI={psi:.3f}" if status == "drift" else "within limits"
    return FeatureDrift(
        name, "categorical", status, len(ref), len(cur), psi, p, threshold, chi2=chi2, reason=reason
    )


def performance_decay(
    ref_correct: np.ndarray,
    cur_correct: np.ndarray,
    *,
    alpha: float = 0.01,
    min_drop: float = 0.05,
    min_sample: int = 200,
) -> dict[str, Any]:
    """Accuracy on the reference vs. the current labelled window; decayed when the drop is significant and
    at least ``min_drop`` (one-sided two-proportion z-test)."""
    a, b = np.asarray(ref_correct, dtype=float), np.asarray(cur_correct, dtype=float)
    out: dict[str, Any] = {"metric": "accuracy", "n_reference": len(a), "n_current": len(b)}
    if len(a) < min_sample or len(b) < min_sample:
        return {**out, "decayed": False, "status": "insufficient"}
    pa, pb = float(a.mean()), float(b.mean())
    pooled = (a.sum() + b.sum()) / (len(a) + len(b))
    se = float(np.sqrt(max(pooled * (1 - pooled), 1e-12) * (1 / len(a) + 1 / len(b))))
    z = (pa - pb) / se
    p = float(stats.norm.sf(z))
    decayed = p < alpha and (pa - pb) >= min_drop
    return {
        **out,
        "reference": pa,
        "current": pb,
        "drop": pa - pb,
        "p_value": p,
        "decayed": decayed,
        "status": "decayed" if decayed else "ok",
    }
