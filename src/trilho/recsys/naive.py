"""The naive serving path, kept as the benchmark's baseline: re-propagate the whole graph on every request.

This is what a straight PyG ``LightGCN.recommend()`` call does (full propagation, then scoring); unlike PyG it
at least masks seen items, so its answers equal :class:`~trilho.recsys.predictor.RecsysPredictor`'s for known
users and only the cost differs. Never use it to serve real traffic.
"""

from __future__ import annotations

import numpy as np
import torch

from trilho.errors import RecsysError
from trilho.recsys.artifact import RecsysArtifact
from trilho.recsys.csr import gather_rows
from trilho.recsys.graph import normalized_adjacency, propagate


class NaivePredictor:
    """Per-request full LightGCN propagation + scoring + top-k (the slow baseline)."""

    def __init__(self, artifact: RecsysArtifact):
        a = artifact.arrays
        self.n_users, self.n_items = artifact.n_users, artifact.n_items
        self.layers = int(artifact.meta.get("layers", 3))
        ptr, idx = a["graph_indptr"], a["graph_indices"]
        users = np.repeat(np.arange(self.n_users), np.diff(ptr))
        self.adj = normalized_adjacency(users, idx, self.n_users, self.n_items)
        self.ego = torch.cat([torch.from_numpy(artifact.user_ego), torch.from_numpy(artifact.item_ego)])
        self.s_ptr, self.s_idx = a["seen_indptr"], a["seen_indices"]

    def predict(self, records: list[dict]) -> list[dict]:
        """One full propagation per record, as a per-request ``recommend()`` would do."""
        return [self._one(r) for r in records]

    def _one(self, record: dict) -> dict:
        user, k = record.get("user_id"), record.get("k", 20)
        if not isinstance(user, int) or not 0 <= user < self.n_users:
            raise RecsysError(f"unknown user {user!r} (the naive path has no cold start)", field="user_id")
        if not isinstance(k, int) or not 1 <= k <= self.n_items:
            raise RecsysError(f"k must be in 1..{self.n_items}", field="k", value=k)
        with torch.no_grad():
            final = propagate(self.adj, self.ego, self.layers)
            scores = final[user] @ final[self.n_users :].T
            _, seen = gather_rows(self.s_ptr, self.s_idx, np.array([user]))
            scores[torch.from_numpy(seen)] = float("-inf")
            vals, idx = torch.topk(scores, k)
        return {"items": idx.tolist(), "scores": vals.tolist(), "source": "naive"}
