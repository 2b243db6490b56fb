"""The protocol benchmark's model, importable with numpy alone: a 20-feature logistic scorer, vectorised
over the batch (the protocols' own costs, not the model's, are what the section measures)."""

from __future__ import annotations

import numpy as np

FEATURES = [f"x{i}" for i in range(20)]
_W = np.linspace(-1.0, 1.0, len(FEATURES))


def predict(records):
    """Probability and label per record."""
    x = np.array([[r[f] for f in FEATURES] for r in records], dtype=np.float64)
    p = 1.0 / (1.0 + np.exp(-(x @ _W + 0.1)))
    return [{"score": float(v), "label": int(v > 0.5)} for v in p]
