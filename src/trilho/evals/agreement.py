"""Agreement statistics between raters (pure, no I/O): percent agreement, Cohen's κ, Krippendorff's α,
confusion matrices, per-class precision/recall and seeded bootstrap intervals.

Labels are any hashable values; ``None`` means "no rating" (ignored by α, rejected by κ).
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence
from dataclasses import dataclass, field

import numpy as np

from trilho.errors import EvalError


@dataclass(frozen=True)
class Interval:
    """A point estimate with a (percentile bootstrap) confidence interval."""

    estimate: float
    low: float
    high: float
    level: float = 0.95

    def to_dict(self) -> dict[str, float]:
        """JSON-ready form."""
        return {"estimate": self.estimate, "low": self.low, "high": self.high, "level": self.level}


@dataclass(frozen=True)
class PairAgreement:
    """How two raters (a reference and a candidate) agree on the same items."""

    labels: list[Hashable]
    n: int
    agree: int
    percent: Interval
    kappa: Interval
    confusion: list[list[int]]  # rows: reference label, columns: candidate label
    per_class: dict[str, dict[str, float]]
    ties: list[Hashable] = field(default_factory=list)
    n_without_ties: int = 0
    agree_without_ties: int = 0
    percent_without_ties: float | None = None

    def to_dict(self) -> dict:
        """JSON-ready form."""
        return {
            "labels": [str(x) for x in self.labels],
            "n": self.n,
            "agree": self.agree,
            "percent_agreement": self.percent.to_dict(),
            "cohen_kappa": self.kappa.to_dict(),
            "confusion": {"rows": "reference", "columns": "candidate", "matrix": self.confusion},
            "per_class": self.per_class,
            "ties": [str(t) for t in self.ties],
            "n_without_ties": self.n_without_ties,
            "agree_without_ties": self.agree_without_ties,
            "percent_without_ties": self.percent_without_ties,
        }


def _encode(a: Sequence[Hashable], b: Sequence[Hashable]) -> tuple[list[Hashable], np.ndarray, np.ndarray]:
    if len(a) != len(b):
        raise EvalError(f"the two raters label different numbers of items ({len(a)} vs {len(b)})")
    if len(a) == 0:
        raise EvalError("no items to compare", fix="pass a file with at least one labelled row")
    if any(x is None for x in a) or any(x is None for x in b):
        raise EvalError("a label is missing", fix="drop rows without a label in both columns first")
    labels = sorted(set(a) | set(b), key=str)
    index = {lab: i for i, lab in enumerate(labels)}
    return labels, np.array([index[x] for x in a]), np.array([index[x] for x in b])


def confusion_matrix(ref: np.ndarray, cand: np.ndarray, k: int) -> np.ndarray:
    """k×k counts, rows = reference label, columns = candidate label."""
    return np.bincount(ref * k + cand, minlength=k * k).reshape(k, k)


def kappa_from_confusion(cm: np.ndarray) -> float:
    """Cohen's κ from a confusion matrix (works on a stack of matrices: shape (..., k, k))."""
    cm = np.asarray(cm, dtype=float)
    n = cm.sum(axis=(-2, -1))
    po = np.trace(cm, axis1=-2, axis2=-1) / n
    pe = (cm.sum(axis=-1) * cm.sum(axis=-2)).sum(axis=-1) / n**2
    with np.errstate(divide="ignore", invalid="ignore"):
        kappa = np.where(pe < 1.0, (po - pe) / (1.0 - pe), 1.0)
    return kappa if kappa.ndim else float(kappa)


def cohen_kappa(a: Sequence[Hashable], b: Sequence[Hashable]) -> float:
    """Cohen's κ between two raters on the same items (1.0 when both use one identical label)."""
    labels, ra, rb = _encode(a, b)
    return float(kappa_from_confusion(confusion_matrix(ra, rb, len(labels))))


def percent_agreement(a: Sequence[Hashable], b: Sequence[Hashable]) -> float:
    """Share of items on which the two raters give the same label."""
    _, ra, rb = _encode(a, b)
    return float(np.mean(ra == rb))


def _percentile(samples: np.ndarray, level: float) -> tuple[float, float]:
    alpha = (1 - level) / 2
    lo, hi = np.nanquantile(samples, [alpha, 1 - alpha])
    return float(lo), float(hi)


def pair_agreement(
    reference: Sequence[Hashable],
    candidate: Sequence[Hashable],
    *,
    ties: Sequence[Hashable] = (),
    n_boot: int = 2000,
    level: float = 0.95,
    seed: int = 0,
) -> PairAgreement:
    """Full agreement report of ``candidate`` against ``reference``, with seeded bootstrap intervals.

    ``ties`` names labels that mean "no preference" (pairwise judging): agreement is then also reported on
    the items where neither rater said tie.
    """
    labels, ra, rc = _encode(reference, candidate)
    k, n = len(labels), len(ra)
    cm = confusion_matrix(ra, rc, k)
    agree = int(np.trace(cm))
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, n, size=(n_boot, n))
    flat = ra[idx] * k + rc[idx]
    offsets = (np.arange(n_boot) * k * k)[:, None]
    boot_cm = np.bincount((flat + offsets).ravel(), minlength=n_boot * k * k).reshape(n_boot, k, k)
    boot_pct = np.trace(boot_cm, axis1=1, axis2=2) / n
    boot_kappa = kappa_from_confusion(boot_cm)
    per_class: dict[str, dict[str, float]] = {}
    for i, lab in enumerate(labels):
        tp = cm[i, i]
        predicted, actual = cm[:, i].sum(), cm[i, :].sum()
        per_class[str(lab)] = {
            "support": int(actual),
            "predicted": int(predicted),
            "precision": float(tp / predicted) if predicted else float("nan"),
            "recall": float(tp / actual) if actual else float("nan"),
        }
    tie_set = set(ties)
    mask = np.array(
        [(r not in tie_set and c not in tie_set) for r, c in zip(reference, candidate, strict=True)]
    )
    n_nt = int(mask.sum())
    agree_nt = int((ra[mask] == rc[mask]).sum())
    return PairAgreement(
        labels=labels,
        n=n,
        agree=agree,
        percent=Interval(agree / n, *_percentile(boot_pct, level), level),
        kappa=Interval(float(kappa_from_confusion(cm)), *_percentile(boot_kappa, level), level),
        confusion=cm.tolist(),
        per_class=_nan_to_none(per_class),
        ties=list(ties),
        n_without_ties=n_nt,
        agree_without_ties=agree_nt,
        percent_without_ties=(agree_nt / n_nt) if n_nt else None,
    )


def _nan_to_none(d: dict[str, dict[str, float]]) -> dict:
    return {
        k: {kk: (None if isinstance(v, float) and np.isnan(v) else v) for kk, v in row.items()}
        for k, row in d.items()
    }


def krippendorff_alpha(ratings: Sequence[Sequence[Hashable | None]]) -> float:
    """Krippendorff's α (nominal) for any number of raters; ``ratings[r][i]`` is rater r's label of item i.

    Missing ratings are ``None``; items with fewer than two ratings are ignored.
    """
    if len(ratings) < 2:
        raise EvalError("Krippendorff's alpha needs at least two raters")
    n_items = len(ratings[0])
    if any(len(r) != n_items for r in ratings):
        raise EvalError("every rater must have one (possibly missing) rating per item")
    values = sorted({v for r in ratings for v in r if v is not None}, key=str)
    index = {v: i for i, v in enumerate(values)}
    k = len(values)
    counts = np.zeros((n_items, k))
    for r in ratings:
        for i, v in enumerate(r):
            if v is not None:
                counts[i, index[v]] += 1
    m = counts.sum(axis=1)
    keep = m >= 2
    counts, m = counts[keep], m[keep]
    if counts.shape[0] == 0:
        raise EvalError("no item has two or more ratings", fix="give at least two raters' labels per item")
    # coincidence matrix o_ck = Σ_u n_uc n_uk / (m_u − 1), minus the diagonal self-pairs
    o = np.einsum("uc,uk,u->ck", counts, counts, 1.0 / (m - 1)) - np.diag(
        (counts / (m - 1)[:, None]).sum(axis=0)
    )
    n_c = o.sum(axis=1)
    n = n_c.sum()
    d_o = o.sum() - np.trace(o)
    d_e = (n * n - (n_c**2).sum()) / (n - 1)
    if d_e == 0:
        return 1.0
    return float(1.0 - d_o / d_e)
