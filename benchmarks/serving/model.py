"""The benchmark model, importable with numpy alone (the BentoML virtualenv has no trilho): a 16-feature
logistic scorer, and a variant that is 10x slower in latency (same compute, then a GIL-free wait, like a
larger model in torch or a remote call)."""

from __future__ import annotations

import time

import numpy as np

FEATURES = [f"f{i}" for i in range(16)]
_W = np.linspace(-1.0, 1.0, len(FEATURES))
_B = 0.1


def predict(records):
    """Score a batch: probability and label per record."""
    x = np.array([[r[f] for f in FEATURES] for r in records], dtype=np.float64)
    p = 1.0 / (1.0 + np.exp(-(x @ _W + _B)))
    return [{"score": float(v), "label": int(v > 0.5)} for v in p]


def predict_slow(records):
    """The same outputs, 10x the latency: compute, then wait 9x the compute time (at least 0.3 ms)."""
    start = time.perf_counter()
    out = predict(records)
    time.sleep(max(0.0003, 9.0 * (time.perf_counter() - start)))
    return out


def example(i: int = 0) -> dict:
    """One input record."""
    return {f: round(((i * 7 + k * 3) % 11) / 10.0 - 0.5, 3) for k, f in enumerate(FEATURES)}
