"""Leave-one-model-out: does a fitted judge or rule set hold on answers of a model it was never fitted on?

Every fitted or tuned component (the refusal rules, the offline refusal judge and its regularisation) is
fitted on the answers of all models but one and measured on the held-out model's answers, for every split.
Each row puts the component's Cohen's κ (with a bootstrap interval) beside the reference labels' κ on the
same split (the GPT-4 classifier's ``gpt4_label`` in the XSTest files) and the majority-class baseline.
The fitting functions only ever receive the training models' data, so nothing of the held-out model leaks.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from trilho.errors import EvalError
from trilho.evals.agreement import Interval, PairAgreement, cohen_kappa, pair_agreement
from trilho.evals.checks.refusal import RefusalClassifier, fit_refusal_rules

XSTEST_ANSWERS = {
    "gpt4": "xstest_v2_completions_gpt4_gpteval.csv",
    "llama2new": "xstest_v2_completions_llama2new_gpteval.csv",
    "llama2orig": "xstest_v2_completions_llama2orig_gpteval.csv",
}
COMPLIANCE = "1_full_compliance"
JUDGE_C_GRID = (0.3, 1.0, 3.0)


@dataclass(frozen=True)
class ModelAnswers:
    """One model's answers to the same prompts, with human labels and a reference judge's labels."""

    model: str
    prompts: list[str]
    completions: list[str]
    labels: list[str]
    reference: list[str]

    @property
    def refusals(self) -> list[bool]:
        """Binary human label: any refusal (full or partial)."""
        return [lab != COMPLIANCE for lab in self.labels]


def load_xstest_answers(
    folder: str | Path, models: Sequence[str] = tuple(XSTEST_ANSWERS)
) -> dict[str, ModelAnswers]:
    """The XSTest v2 completion files of ``models`` under ``folder``."""
    import pandas as pd

    out = {}
    for m in models:
        if m not in XSTEST_ANSWERS:
            raise EvalError(
                f"unknown XSTest answer file {m!r}",
                field="model",
                value=m,
                fix=f"use one of {sorted(XSTEST_ANSWERS)}",
            )
        df = pd.read_csv(Path(folder) / XSTEST_ANSWERS[m], dtype=str, keep_default_na=False)
        out[m] = ModelAnswers(
            m,
            df["prompt"].tolist(),
            df["completion"].tolist(),
            df["final_label"].tolist(),
            df["gpt4_label"].tolist(),
        )
    return out


def splits(models: Sequence[str]) -> list[tuple[str, list[str]]]:
    """(held-out model, training models) for every model."""
    if len(models) < 2:
        raise EvalError("leave-one-model-out needs at least two models", field="models", value=list(models))
    return [(h, [m for m in models if m != h]) for h in models]


@dataclass(frozen=True)
class TransferRow:
    """One component measured on one held-out model."""

    component: str
    held_out: str
    trained_on: list[str]
    agreement: PairAgreement
    reference: PairAgreement
    majority: float
    detail: dict[str, Any]

    @property
    def beats_majority(self) -> bool:
        """Lower bound of accuracy above the majority-class accuracy, and κ's lower bound above 0."""
        return self.agreement.percent.low > self.majority and self.agreement.kappa.low > 0

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form (the bench table row)."""

        def iv(x: Interval) -> str:
            return f"{x.estimate:.3f} [{x.low:.3f}, {x.high:.3f}]"

        return {
            "component": self.component,
            "held_out": self.held_out,
            "trained_on": "+".join(self.trained_on),
            "classes": len(self.agreement.labels),
            "kappa": iv(self.agreement.kappa),
            "kappa_value": round(self.agreement.kappa.estimate, 4),
            "kappa_low": round(self.agreement.kappa.low, 4),
            "accuracy": iv(self.agreement.percent),
            "gpt4_labels_kappa": iv(self.reference.kappa),
            "gpt4_labels_kappa_value": round(self.reference.kappa.estimate, 4),
            "majority_accuracy": round(self.majority, 4),
            "beats_majority": self.beats_majority,
            **self.detail,
        }


def majority_accuracy(labels: Sequence[Any]) -> float:
    """Accuracy of always answering the held-out set's most frequent label (the most generous baseline)."""
    values, counts = np.unique(np.asarray(labels, dtype=object).astype(str), return_counts=True)
    return float(counts.max() / len(labels)) if len(values) else 0.0


def _row(
    component: str,
    held: ModelAnswers,
    train: list[str],
    truth: list[str],
    pred: list[str],
    reference: list[str],
    n_boot: int,
    detail: dict[str, Any],
) -> TransferRow:
    return TransferRow(
        component,
        held.model,
        train,
        pair_agreement(truth, pred, n_boot=n_boot),
        pair_agreement(truth, reference, n_boot=n_boot),
        majority_accuracy(truth),
        detail,
    )


def _two(labels: Sequence[str]) -> list[str]:
    return ["compliance" if lab == COMPLIANCE else "refusal" for lab in labels]


def lomo_rules(answers: Mapping[str, ModelAnswers], *, n_boot: int = 2000) -> list[TransferRow]:
    """The refusal rules fitted (rule selection) on the other models' answers, measured on each model's."""
    rows = []
    for held, train in splits(list(answers)):
        rules = fit_refusal_rules([(answers[m].completions, answers[m].refusals) for m in train])
        clf = RefusalClassifier(rules=rules)
        a = answers[held]
        rows.append(
            _row(
                "refusal rules (2 classes)",
                a,
                train,
                _two(a.labels),
                [clf(c) for c in a.completions],
                _two(a.reference),
                n_boot,
                {"rules": len(rules)},
            )
        )
    return rows


def fit_judge(
    xs: Sequence[np.ndarray],
    ys: Sequence[Sequence[str]],
    *,
    name: str = "trilho-refusal-minilm",
    c_grid: Sequence[float] = JUDGE_C_GRID,
):
    """Fit the offline judge on training groups only; C is tuned by leave-one-group-out among them."""
    from trilho.evals.judges.offline import fit_classifier

    if len(xs) != len(ys) or not xs:
        raise EvalError("one label list per feature matrix is needed", field="groups", value=len(xs))
    best_c = c_grid[0]
    if len(xs) > 1 and len(c_grid) > 1:
        scores = []
        for c in c_grid:
            ks = []
            for i in range(len(xs)):
                rest = [j for j in range(len(xs)) if j != i]
                clf = fit_classifier(
                    name,
                    np.vstack([xs[j] for j in rest]),
                    sum((list(ys[j]) for j in rest), []),
                    good=COMPLIANCE,
                    c=c,
                    balanced=False,
                )
                ks.append(cohen_kappa(list(ys[i]), clf.predict_labels(xs[i])))
            scores.append(float(np.mean(ks)))
        best_c = c_grid[int(np.argmax(scores))]
    clf = fit_classifier(
        name, np.vstack(xs), sum((list(y) for y in ys), []), good=COMPLIANCE, c=best_c, balanced=False
    )
    return clf, best_c


def lomo_judge(
    answers: Mapping[str, ModelAnswers],
    features: Callable[[ModelAnswers], np.ndarray],
    *,
    n_boot: int = 2000,
    c_grid: Sequence[float] = JUDGE_C_GRID,
) -> list[TransferRow]:
    """The offline refusal judge (3 classes) fitted on the other models' answers, measured on each model's."""
    x = {m: features(a) for m, a in answers.items()}
    rows = []
    for held, train in splits(list(answers)):
        clf, c = fit_judge([x[m] for m in train], [answers[m].labels for m in train], c_grid=c_grid)
        a = answers[held]
        rows.append(
            _row(
                "offline judge (3 classes)",
                a,
                train,
                a.labels,
                clf.predict_labels(x[held]),
                a.reference,
                n_boot,
                {"C": c},
            )
        )
    return rows


def targets_met(
    rules: Sequence[TransferRow],
    judge: Sequence[TransferRow],
    *,
    rule_floor: float = 0.70,
    judge_margin: float = 0.05,
) -> dict[str, bool]:
    """The issue's transfer targets, computed: rules κ ≥ floor and judge κ ≥ reference κ − margin on every
    held-out model, both above the majority baseline with the interval's lower bound."""
    return {
        "rules_kappa_floor": all(r.agreement.kappa.estimate >= rule_floor for r in rules),
        "judge_within_reference": all(
            r.agreement.kappa.estimate >= r.reference.kappa.estimate - judge_margin for r in judge
        ),
        "rules_beats_majority": all(r.beats_majority for r in rules),
        "judge_beats_majority": all(r.beats_majority for r in judge),
    }
