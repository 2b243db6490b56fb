"""The protocol benchmark's model, importable with numpy alone: a 20-feature logistic scorer, vectorised
over the batch (the protocols' own costs, not the model's, are what the section measures). It takes a batch
held as columns whole (``columnar = True``), as the registry's sklearn, torch and ONNX flavours do."""

from __future__ import annotations

import numpy as np

FEATURES = [f"x{i}" for i in range(20)]
_W = np.linspace(-1.0, 1.0, len(FEATURES))


def predict(records):
    """Probability and label per record (a batch held as columns is stacked without building records)."""
    if hasattr(records, "matrix"):  # trilho's ColumnBatch (binary tensor requests)
        x = records.matrix(FEATURES, np.float64)
    else:
        x = np.array([[r[f] for f in FEATURES] for r in records], dtype=np.float64)
    p = 1.0 / (1.0 + np.exp(-(x @ _W + 0.1)))
    return [{"score": s, "label": int(s > 0.5)} for s in p.tolist()]


predict.columnar = True  # trilho may hand it a ColumnBatch whole
