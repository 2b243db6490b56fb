"""Fit the offline judges on the labelled GenAI reference data, with out-of-fold predictions for honest
agreement figures. Embeddings are cached under a folder you choose (a tmp dir in tests; never committed)."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from trilho.evals.judges.embed import Embedder
from trilho.evals.judges.offline import (
    OfflineClassifier,
    cross_val_labels,
    features,
    fit_classifier,
    halueval_rows,
    xstest_refusal_rows,
)


@dataclass(frozen=True)
class TrainedJudge:
    """A fitted classifier, its training labels and out-of-fold predictions (for calibration)."""

    classifier: OfflineClassifier
    labels: list[str]
    oof: list[str]
    lengths: list[int]


def embed_pairs(
    embedder: Embedder,
    questions: Sequence[str],
    responses: Sequence[str],
    cache_dir: str | Path | None = None,
) -> np.ndarray:
    """Pair features for (question, response) rows, cached on disk by content hash."""
    h = hashlib.sha256("\x1e".join(list(questions) + ["\x1f"] + list(responses)).encode()).hexdigest()[:24]
    path = Path(cache_dir) / f"pairs-{h}.npy" if cache_dir else None
    if path is not None and path.exists():
        return np.load(path, allow_pickle=False)
    x = features(embedder.encode(questions), embedder.encode(responses))
    if path is not None:  # atomic: parallel test workers may share the cache folder
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(f".{os.getpid()}.tmp.npy")
        np.save(tmp, x, allow_pickle=False)
        os.replace(tmp, path)
    return x


def train_refusal_judge(
    csv_path: str | Path,
    embedder: Embedder,
    *,
    cache_dir: str | Path | None = None,
    name: str = "trilho-refusal-minilm",
    folds: int = 5,
    seed: int = 0,
) -> TrainedJudge:
    """Refusal judge on XSTest v2 completions (labels: full compliance / full refusal / partial refusal)."""
    q, r, y = xstest_refusal_rows(csv_path)
    x = embed_pairs(embedder, q, r, cache_dir)
    clf = fit_classifier(name, x, y, good="1_full_compliance")
    return TrainedJudge(clf, y, cross_val_labels(x, y, folds=folds, seed=seed), [len(s) for s in r])


def train_hallucination_judge(
    jsonl_path: str | Path,
    embedder: Embedder,
    *,
    limit: int | None = None,
    cache_dir: str | Path | None = None,
    name: str = "trilho-halu-minilm",
    folds: int = 5,
    seed: int = 0,
) -> TrainedJudge:
    """Hallucination judge on HaluEval general (labels: hallucination yes / no; "no" is good)."""
    q, r, y = halueval_rows(jsonl_path, limit)
    x = embed_pairs(embedder, q, r, cache_dir)
    clf = fit_classifier(name, x, y, good="no")
    return TrainedJudge(clf, y, cross_val_labels(x, y, folds=folds, seed=seed), [len(s) for s in r])


def train_input_rail(
    csv_path: str | Path,
    embedder: Embedder,
    *,
    cache_dir: str | Path | None = None,
    name: str = "trilho-xstest-rail",
    folds: int = 5,
    seed: int = 0,
) -> TrainedJudge:
    """Input rail on XSTest prompts (labels: safe / unsafe; features of the prompt with an empty response,
    as :class:`~trilho.evals.checks.classifier.ClassifierCheck` computes them on inputs)."""
    import pandas as pd

    df = pd.read_csv(csv_path, dtype=str, keep_default_na=False)
    prompts, y = df["prompt"].tolist(), df["label"].tolist()
    x = embed_pairs(embedder, prompts, [""] * len(prompts), cache_dir)
    clf = fit_classifier(name, x, y, good="safe")
    return TrainedJudge(clf, y, cross_val_labels(x, y, folds=folds, seed=seed), [len(p) for p in prompts])
