"""Train the model: logistic regression on data/train.csv, saved with skops to build/model.skops."""

from pathlib import Path

import pandas as pd
import skops.io as sio
import yaml
from sklearn.linear_model import LogisticRegression

FEATURES = ["tenure_months", "monthly_spend"]
TARGET = "churn"


def split(frame: pd.DataFrame, seed: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    """A seeded 80/20 split shared with evaluate.py."""
    test = frame.sample(frac=0.2, random_state=seed)
    return frame.drop(test.index), test


def main() -> None:
    params = yaml.safe_load(Path("params.yaml").read_text())
    train, _ = split(pd.read_csv("data/train.csv"), params["seed"])
    model = LogisticRegression(C=params["C"], max_iter=params["max_iter"])
    model.fit(train[FEATURES], train[TARGET])
    Path("build").mkdir(exist_ok=True)
    sio.dump(model, "build/model.skops")


if __name__ == "__main__":
    main()
