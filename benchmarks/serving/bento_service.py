"""The same model served by BentoML 1.4 (run inside its own virtualenv with ``bentoml serve``)."""

from __future__ import annotations

import os
import sys

import bentoml

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from model import predict  # noqa: E402


@bentoml.service(workers=1, traffic={"timeout": 30})
class Scorer:
    """One JSON endpoint: ``POST /predict {"instances": [...]}`` → ``{"predictions": [...]}``."""

    @bentoml.api
    def predict(self, instances: list[dict]) -> dict:
        """Score the instances."""
        return {"predictions": predict(instances)}
