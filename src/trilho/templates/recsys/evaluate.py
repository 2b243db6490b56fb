"""Evaluate the recommender on the held-out test split (full ranking) and write build/metrics.json."""

import json
from pathlib import Path

from trilho.recsys.api import evaluate


def main() -> None:
    report = evaluate("build/model", "data/interactions.csv", k=20)
    metrics = {
        "recall@20": report["model"]["recall@20"],
        "ndcg@20": report["model"]["ndcg@20"],
        "popularity_recall@20": report["popularity"]["recall@20"],
    }
    Path("build/metrics.json").write_text(json.dumps(metrics, indent=2))


if __name__ == "__main__":
    main()
