"""The offline judge model: sentence embeddings of (question, response) plus a logistic-regression classifier
fitted on human-labelled data (XSTest refusal labels). Saved as plain arrays
(``.npz`` + JSON), so loading never unpickles code."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from trilho.errors import EvalError
from trilho.evals.judges.embed import Embedder


def features(q: np.ndarray, r: np.ndarray) -> np.ndarray:
    """Pair features of question and response embeddings: [q, r, q·r elementwise]."""
    return np.hstack([q, r, q * r])


@dataclass
class OfflineClassifier:
    """A fitted multinomial logistic regression over pair embeddings; ``good`` is the label that counts as a
    pass (e.g. ``"1_full_compliance"``)."""

    name: str
    labels: list[str]
    good: str
    coef: np.ndarray
    intercept: np.ndarray

    def proba_from_features(self, x: np.ndarray) -> np.ndarray:
        """Class probabilities (n, K) in ``labels`` order."""
        if len(self.labels) == 2 and self.coef.shape[0] == 1:
            z = x @ self.coef[0] + self.intercept[0]
            p1 = 1.0 / (1.0 + np.exp(-z))
            return np.column_stack([1 - p1, p1])
        z = x @ self.coef.T + self.intercept
        z -= z.max(axis=1, keepdims=True)
        e = np.exp(z)
        return e / e.sum(axis=1, keepdims=True)

    def predict(self, embedder: Embedder, questions: Sequence[str], responses: Sequence[str]) -> np.ndarray:
        """Class probabilities for (question, response) pairs."""
        return self.proba_from_features(features(embedder.encode(questions), embedder.encode(responses)))

    def predict_labels(self, x: np.ndarray) -> list[str]:
        """The most probable label of each row of pair features ``x``."""
        return [self.labels[i] for i in np.argmax(self.proba_from_features(x), axis=1)]

    def p_good(self, proba: np.ndarray) -> np.ndarray:
        """Probability of the ``good`` label."""
        return proba[:, self.labels.index(self.good)]

    def save(self, folder: str | Path) -> Path:
        """Write ``<name>.npz`` and ``<name>.json`` under ``folder``."""
        d = Path(folder)
        d.mkdir(parents=True, exist_ok=True)
        np.savez(d / f"{self.name}.npz", coef=self.coef, intercept=self.intercept)
        (d / f"{self.name}.json").write_text(
            json.dumps({"name": self.name, "labels": self.labels, "good": self.good})
        )
        return d / f"{self.name}.json"

    @classmethod
    def load(cls, folder: str | Path, name: str) -> OfflineClassifier:
        """Read a classifier written by :meth:`save`."""
        d = Path(folder)
        try:
            meta = json.loads((d / f"{name}.json").read_text())
            arrays = np.load(d / f"{name}.npz", allow_pickle=False)
        except (OSError, ValueError) as exc:
            raise EvalError(
                f"cannot load offline judge {name!r} from {d}: {exc}", field="judge", value=name
            ) from exc
        return cls(meta["name"], list(meta["labels"]), meta["good"], arrays["coef"], arrays["intercept"])


def _logreg(c: float = 1.0, balanced: bool = True):
    from sklearn.linear_model import LogisticRegression

    return LogisticRegression(C=c, max_iter=2000, class_weight="balanced" if balanced else None)


def fit_classifier(
    name: str, x: np.ndarray, labels: Sequence[str], good: str, *, c: float = 1.0, balanced: bool = True
) -> OfflineClassifier:
    """Fit on pair features ``x`` and string labels (``balanced``: weight classes by inverse frequency, which
    over-predicts a class that is rarer where the judge is used than where it was fitted)."""
    if good not in set(labels):
        raise EvalError(
            f"the good label {good!r} does not occur in the training labels", field="good", value=good
        )
    clf = _logreg(c, balanced).fit(x, list(labels))
    return OfflineClassifier(
        name, [str(c_) for c_ in clf.classes_], good, clf.coef_.copy(), clf.intercept_.copy()
    )


def cross_val_labels(
    x: np.ndarray, labels: Sequence[str], *, folds: int = 5, seed: int = 0, c: float = 1.0
) -> list[str]:
    """Out-of-fold predicted labels (every row predicted by a model that never saw it)."""
    from sklearn.model_selection import StratifiedKFold, cross_val_predict

    y = np.asarray(labels)
    _, counts = np.unique(y, return_counts=True)
    k = max(2, min(folds, int(counts.min())))
    cv = StratifiedKFold(n_splits=k, shuffle=True, random_state=seed)
    return [str(v) for v in cross_val_predict(_logreg(c), x, y, cv=cv)]


# --- the two labelled sets shipped in shared/data/genai ---------------------------------------------
def xstest_refusal_rows(path: str | Path) -> tuple[list[str], list[str], list[str]]:
    """(prompts, completions, final_label) of the XSTest v2 GPT-4 completions file."""
    import pandas as pd

    df = pd.read_csv(path, dtype=str, keep_default_na=False)
    return df["prompt"].tolist(), df["completion"].tolist(), df["final_label"].tolist()


def halueval_rows(path: str | Path, limit: int | None = None) -> tuple[list[str], list[str], list[str]]:
    """(user_query, chatgpt_response, hallucination yes/no) of HaluEval general."""
    qs, rs, ys = [], [], []
    with open(path, encoding="utf-8") as fh:
        for line in fh:
            if not line.strip():
                continue
            row: dict[str, Any] = json.loads(line)
            qs.append(str(row["user_query"]))
            rs.append(str(row["chatgpt_response"]))
            ys.append(str(row["hallucination"]).strip().lower())
            if limit and len(qs) >= limit:
                break
    return qs, rs, ys
