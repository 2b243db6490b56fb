"""The same model served by BentoML 1.4 with its adaptive batching on (``batchable=True``): requests' instance
lists are concatenated into one model call of up to 32 rows, waiting at most 2 ms — the same bounds as the
gateway's micro-batcher. Answers are the prediction list itself (a batchable API returns one item per row)."""

from __future__ import annotations

import os
import sys

import bentoml

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from model import predict  # noqa: E402


@bentoml.service(workers=1, traffic={"timeout": 30})
class ScorerBatched:
    """``POST /predict {"instances": [...]}`` → the predictions, batched across concurrent requests."""

    @bentoml.api(batchable=True, batch_dim=0, max_batch_size=32, max_latency_ms=2)
    def predict(self, instances: list[dict]) -> list[dict]:
        """Score a batch of instances (BentoML joins and splits the requests' lists)."""
        return predict(instances)
