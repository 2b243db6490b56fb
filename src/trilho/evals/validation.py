"""Validation of checks on labelled data (pure scoring + small loaders): PII token-level precision/recall/F2
on the presidio synthetic set, over/under-refusal of an input rail on XSTest prompts, binary detection
metrics with record-level bootstrap intervals. Used by tests and ``make bench-evals``."""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from trilho.evals.agreement import Interval

_TOKEN = re.compile(r"\w+|[^\w\s]")


@dataclass(frozen=True)
class PIIScores:
    """Token-level PII detection scores with bootstrap intervals (resampling records)."""

    precision: Interval
    recall: Interval
    f2: Interval
    tp: int
    fp: int
    fn: int
    records: int

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {
            "precision": self.precision.to_dict(),
            "recall": self.recall.to_dict(),
            "f2": self.f2.to_dict(),
            "tp": self.tp,
            "fp": self.fp,
            "fn": self.fn,
            "records": self.records,
        }


def load_presidio_synth(path: str | Path, limit: int | None = None) -> list[dict[str, Any]]:
    """Records of the presidio-research synthetic set: ``full_text`` and ``spans`` (type, start, end)."""
    data = json.loads(Path(path).read_text(encoding="utf-8"))
    return data[:limit] if limit else data


def _token_counts(
    text: str, gold: Sequence[tuple[int, int]], pred: Sequence[tuple[int, int]]
) -> tuple[int, int, int]:
    """(tp, fp, fn) over word tokens: a token is PII when it overlaps a span (entity-agnostic, like
    presidio-research's ``pii_precision`` / ``pii_recall``)."""
    tp = fp = fn = 0
    for m in _TOKEN.finditer(text):
        s, e = m.span()
        g = any(a < e and s < b for a, b in gold)
        p = any(a < e and s < b for a, b in pred)
        tp += g and p
        fp += p and not g
        fn += g and not p
    return tp, fp, fn


def f_beta(p: np.ndarray | float, r: np.ndarray | float, beta: float = 2.0) -> np.ndarray | float:
    """F-beta from precision and recall (0 where both are 0)."""
    b2 = beta * beta
    with np.errstate(divide="ignore", invalid="ignore"):
        out = np.where((b2 * p + r) > 0, (1 + b2) * p * r / (b2 * p + r), 0.0)
    return out if np.ndim(out) else float(out)


def score_pii(
    records: Sequence[dict[str, Any]],
    detect: Callable[[str], Sequence[tuple[int, int]]],
    *,
    n_boot: int = 1000,
    seed: int = 0,
    level: float = 0.95,
) -> PIIScores:
    """Token-level PII precision / recall / F2 of ``detect`` (text → spans) with a record bootstrap."""
    counts = np.array(
        [
            _token_counts(
                r["full_text"],
                [(s["start_position"], s["end_position"]) for s in r["spans"]],
                detect(r["full_text"]),
            )
            for r in records
        ],
        dtype=float,
    )
    return _pii_from_counts(counts, n_boot=n_boot, seed=seed, level=level)


def _pii_from_counts(counts: np.ndarray, *, n_boot: int, seed: int, level: float) -> PIIScores:
    tp, fp, fn = counts.sum(axis=0)
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, len(counts), size=(n_boot, len(counts)))
    b = counts[idx].sum(axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        bp = np.where(b[:, 0] + b[:, 1] > 0, b[:, 0] / (b[:, 0] + b[:, 1]), 0.0)
        br = np.where(b[:, 0] + b[:, 2] > 0, b[:, 0] / (b[:, 0] + b[:, 2]), 0.0)
    bf = f_beta(bp, br)
    p = tp / (tp + fp) if tp + fp else 0.0
    r = tp / (tp + fn) if tp + fn else 0.0
    a = (1 - level) / 2

    def iv(est: float, samples: np.ndarray) -> Interval:
        lo, hi = np.quantile(samples, [a, 1 - a])
        return Interval(float(est), float(lo), float(hi), level)

    return PIIScores(
        iv(p, bp), iv(r, br), iv(float(f_beta(p, r)), bf), int(tp), int(fp), int(fn), len(counts)
    )


@dataclass(frozen=True)
class BinaryScores:
    """Detection of a positive class against labels, with bootstrap intervals."""

    n: int
    positives: int
    precision: Interval
    recall: Interval
    false_positive_rate: Interval
    accuracy: Interval

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {
            "n": self.n,
            "positives": self.positives,
            "precision": self.precision.to_dict(),
            "recall": self.recall.to_dict(),
            "false_positive_rate": self.false_positive_rate.to_dict(),
            "accuracy": self.accuracy.to_dict(),
        }


def binary_scores(
    truth: Sequence[bool],
    predicted: Sequence[bool],
    *,
    n_boot: int = 1000,
    seed: int = 0,
    level: float = 0.95,
) -> BinaryScores:
    """Precision, recall, false-positive rate and accuracy of ``predicted`` vs ``truth`` with intervals."""
    t = np.asarray(truth, dtype=bool)
    p = np.asarray(predicted, dtype=bool)
    rng = np.random.default_rng(seed)
    idx = np.vstack([np.arange(len(t)), rng.integers(0, len(t), size=(n_boot, len(t)))])
    tt, pp = t[idx], p[idx]
    tp = (tt & pp).sum(1)
    fp = (~tt & pp).sum(1)
    fn = (tt & ~pp).sum(1)
    tn = (~tt & ~pp).sum(1)
    with np.errstate(divide="ignore", invalid="ignore"):
        metrics = {
            "precision": np.where(tp + fp > 0, tp / (tp + fp), np.nan),
            "recall": np.where(tp + fn > 0, tp / (tp + fn), np.nan),
            "fpr": np.where(fp + tn > 0, fp / (fp + tn), np.nan),
            "accuracy": (tp + tn) / len(t),
        }
    a = (1 - level) / 2

    def iv(x: np.ndarray) -> Interval:
        lo, hi = np.nanquantile(x[1:], [a, 1 - a])
        return Interval(float(x[0]), float(lo), float(hi), level)

    return BinaryScores(
        len(t),
        int(t.sum()),
        iv(metrics["precision"]),
        iv(metrics["recall"]),
        iv(metrics["fpr"]),
        iv(metrics["accuracy"]),
    )
