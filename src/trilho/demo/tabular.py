"""The demo's tabular workload: a churn model on generated data, its contract and its golden suite.

Shared by ``trilho demo`` (act 1) and the end-to-end tests, so both tell the same story.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import yaml


def train_churn_model(folder: Path, seed: int = 7) -> tuple[Path, Path]:
    """Train a logistic regression on generated churn data; save it with skops and the data as CSV."""
    import pandas as pd
    import skops.io as sio
    from sklearn.linear_model import LogisticRegression

    rng = np.random.default_rng(seed)
    n = 2000
    tenure = rng.integers(1, 72, n)
    spend = rng.uniform(10, 120, n)
    logit = 2.5 - 0.12 * tenure + 0.03 * (spend - 60)
    churn = (rng.random(n) < 1 / (1 + np.exp(-logit))).astype(int)
    frame = pd.DataFrame({"tenure_months": tenure, "monthly_spend": spend, "churn": churn})
    folder.mkdir(parents=True, exist_ok=True)
    data = folder / "churn.csv"
    frame.to_csv(data, index=False)
    model = LogisticRegression(max_iter=500).fit(frame[["tenure_months", "monthly_spend"]], frame["churn"])
    path = folder / "churn.skops"
    sio.dump(model, path)
    return path, data


def write_churn_contract(path: Path, *, version: str = "1.0.0", with_region: bool = False) -> Path:
    """The churn model's contract; ``with_region`` adds a required input, which breaks existing callers."""
    inputs = [
        {
            "name": "tenure_months",
            "logicalType": "integer",
            "physicalType": "int32",
            "required": True,
            "logicalTypeOptions": {"minimum": 0, "maximum": 600},
        },
        {
            "name": "monthly_spend",
            "logicalType": "number",
            "physicalType": "float64",
            "required": True,
            "logicalTypeOptions": {"minimum": 0},
        },
    ]
    example = {"tenure_months": 3, "monthly_spend": 99.0}
    if with_region:
        inputs.append({"name": "region", "logicalType": "string", "physicalType": "string", "required": True})
        example["region"] = "north"
    doc = {
        "apiVersion": "v3.0.2",
        "kind": "DataContract",
        "id": "churn-model-io",
        "name": "churn",
        "version": version,
        "schema": [
            {"name": "customer", "x-trilho": {"role": "input", "examples": [example]}, "properties": inputs},
            {
                "name": "prediction",
                "x-trilho": {"role": "output"},
                "properties": [
                    {
                        "name": "churn",
                        "logicalType": "integer",
                        "physicalType": "int64",
                        "required": True,
                        "quality": [{"metric": "invalidValues", "validValues": [0, 1], "mustBe": 0}],
                    }
                ],
            },
        ],
    }
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    return path


def write_churn_suite(folder: Path) -> Path:
    """A golden suite of clear-cut customers: new and expensive churn, long-standing and cheap stay."""
    cases = [
        {
            "id": f"new-{t}-{s}",
            "input": {"tenure_months": t, "monthly_spend": s},
            "expected": {"churn": 1},
            "tags": ["churn"],
        }
        for t in (1, 2, 3)
        for s in (90.0, 110.0)
    ] + [
        {
            "id": f"loyal-{t}-{s}",
            "input": {"tenure_months": t, "monthly_spend": s},
            "expected": {"churn": 0},
            "tags": ["loyal"],
        }
        for t in (48, 60, 70)
        for s in (20.0, 40.0)
    ]
    (folder / "churn_cases.jsonl").write_text("".join(json.dumps(c) + "\n" for c in cases))
    suite = folder / "churn_suite.yaml"
    suite.write_text(
        yaml.safe_dump(
            {
                "name": "churn-golden",
                "cases": "churn_cases.jsonl",
                "fields": {"churn": "class"},
                "gate": {"delta": 0.05},
            }
        )
    )
    return suite
