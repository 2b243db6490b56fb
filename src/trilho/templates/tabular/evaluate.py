"""Evaluate the trained model on the held-out 20% and write build/metrics.json."""

import json
from pathlib import Path

import pandas as pd
import skops.io as sio
import yaml
from sklearn.metrics import accuracy_score, roc_auc_score

FEATURES = ["tenure_months", "monthly_spend"]
TARGET = "churn"


def split(frame: pd.DataFrame, seed: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The seeded 80/20 split train.py uses."""
    test = frame.sample(frac=0.2, random_state=seed)
    return frame.drop(test.index), test


def main() -> None:
    params = yaml.safe_load(Path("params.yaml").read_text())
    _, test = split(pd.read_csv("data/train.csv"), params["seed"])
    model = sio.load("build/model.skops", trusted=sio.get_untrusted_types(file="build/model.skops"))
    proba = model.predict_proba(test[FEATURES])[:, 1]
    metrics = {
        "accuracy": float(accuracy_score(test[TARGET], proba >= 0.5)),
        "auc": float(roc_auc_score(test[TARGET], proba)),
    }
    Path("build/metrics.json").write_text(json.dumps(metrics, indent=2))


if __name__ == "__main__":
    main()
