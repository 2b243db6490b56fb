"""The GNN recommender workload: data, LightGCN training and evaluation, and the optimised serving predictor.

Modules (one job each): ``data`` (LightGCN text files, CSV/Parquet logs), ``synth`` (seeded Gowalla-shaped
graphs), ``graph`` (normalised adjacency, propagation), ``train`` (BPR + early stopping on validation),
``metrics`` (full-ranking recall/ndcg), ``artifact`` (the saved model), ``foldin`` (fresh interactions without
propagation), ``index`` (exact / faiss top-k with masking and recall parity), ``predictor`` (the serving
path), ``naive`` (the per-request-propagation baseline), ``api`` (the workflows behind ``trilho recsys``).

Heavy imports (torch, faiss) stay in the submodules: ``import trilho.recsys`` is cheap. (The training
function is ``trilho.recsys.train.train``: the package attribute ``train`` is that submodule.)
"""

from __future__ import annotations

from typing import Any

__all__ = [
    "Dataset",
    "Interactions",
    "PredictorConfig",
    "RecsysPredictor",
    "TrainConfig",
    "evaluate",
    "fit",
    "load",
    "load_data",
    "register",
    "synthesize",
]

_WHERE = {
    "Dataset": "data",
    "Interactions": "data",
    "PredictorConfig": "predictor",
    "RecsysPredictor": "predictor",
    "load": "predictor",
    "TrainConfig": "train",
    "synthesize": "synth",
    "evaluate": "api",
    "fit": "api",
    "load_data": "api",
    "register": "api",
}


def __getattr__(name: str) -> Any:
    if name in _WHERE:
        import importlib

        return getattr(importlib.import_module(f"trilho.recsys.{_WHERE[name]}"), name)
    raise AttributeError(f"module 'trilho.recsys' has no attribute {name!r}")
