"""Stand-ins for the files the README's commands name, written into the doc test's empty folder.

Static ones are copied from ``files/``; the rest are made here from what trilho ships (its reference data,
its tabular template): a reader brings their own data and models, the test brings these.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pandas as pd

from trilho import datasets
from trilho.templates import init_project

FILES = Path(__file__).resolve().parent / "files"


def write_all(dest: Path) -> None:
    """Every stand-in the README's blocks read, written into ``dest``."""
    for f in FILES.iterdir():
        if f.is_file() and f.name != "README.md":
            shutil.copy(f, dest / f.name)
    pd.read_csv(dest / "data.csv").to_parquet(dest / "data.parquet")
    _churn(dest)
    _measurement(dest)


def _churn(dest: Path) -> None:
    """churn.yaml, churn.csv, two scikit-learn models and a golden suite, from the tabular template."""
    import skops.io as sio
    from sklearn.linear_model import LogisticRegression

    project = init_project("churn", template="tabular", dest=dest / ".churn-template").dest
    shutil.copy(project / "contracts" / "model.yaml", dest / "churn.yaml")
    shutil.copy(project / "data" / "train.csv", dest / "churn.csv")
    shutil.copy(project / "golden" / "cases.jsonl", dest / "cases.jsonl")
    shutil.copy(project / "golden" / "suite.yaml", dest / "suite.yaml")
    frame = pd.read_csv(dest / "churn.csv")
    for name, c in (("churn.skops", 1.0), ("churn-2.skops", 0.5)):
        model = LogisticRegression(C=c, max_iter=1000).fit(
            frame[["tenure_months", "monthly_spend"]], frame["churn"]
        )
        sio.dump(model, dest / name)
    shutil.rmtree(dest / ".churn-template")


def _measurement(dest: Path) -> None:
    """The measurement section's tables, from the published data sets trilho reproduces."""
    causal = datasets.path("causal")
    users = pd.read_csv(causal / "tea_tasting_users_seed42.csv")
    users["converted"] = (users["orders"] > 0).astype(int)
    users.to_csv(dest / "users.csv", index=False)
    shutil.copy(causal / "geolift_test.csv", dest / "geo.csv")
    shutil.copy(causal / "geolift_pretest.csv", dest / "pretest.csv")
    shutil.copy(causal / "prop99_smoking.csv", dest / "prop99.csv")
    shutil.copy(causal / "trimmed_match_post_analysis.csv", dest / "pairs.csv")
    (dest / "v.json").write_text(json.dumps([0.5, 0.5]))
    rng = np.random.default_rng(0)
    names = ["VolksWagen", "BMW", "Allianz", "Siemens", "BASF", "Bayer", "SAP", "Adidas"]
    dates = pd.date_range("2020-01-01", periods=40, freq="D")
    base = rng.normal(0, 1, len(dates)).cumsum()
    values = (
        100 + base[:, None] * rng.uniform(0.5, 1.5, len(names)) + rng.normal(0, 0.3, (len(dates), len(names)))
    )
    lines = ["Date " + " ".join(f'"{n}"' for n in names)]
    lines += [
        f"{d:%Y-%m-%d} " + " ".join(f"{y:.3f}" for y in row) for d, row in zip(dates, values, strict=True)
    ]
    (dest / "stocks.txt").write_text("\n".join(lines) + "\n")
