"""Embedding features for the offline judges, cached by content, and the input rail fitted on XSTest prompts
with out-of-fold predictions. The refusal judge is fitted leave-one-model-out in ``trilho.evals.transfer``;
no hallucination judge is offered (``benchmarks/bench_evals.py`` section 5 measures why). Embeddings are
cached under a folder you choose (a tmp dir in tests; never committed)."""

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
