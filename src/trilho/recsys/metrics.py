"""Ranking metrics and full-ranking evaluation: recall@k and ndcg@k over all items, known items masked.

Definitions follow the LightGCN reference code: ``recall@k = hits in top-k / |test items|`` and
``ndcg@k = DCG / IDCG`` with ``IDCG`` over ``min(|test items|, k)`` ideal hits; users without test items are
skipped; both are averaged over users.

**Expectation on real data.** On the public Gowalla split (LightGCN text format, ``train.txt``/``test.txt``),
a 3-layer, 64-dim LightGCN trained with BPR (one negative, Adam lr 1e-3, L2 1e-4, batch 2048) reaches
recall@20 ≈ 0.18 and ndcg@20 ≈ 0.155 (the paper reports 0.1830 / 0.1554 after ~1000 epochs). trilho cannot
download that split here; point ``trilho recsys train`` at a folder holding it to reproduce. Without a
``valid.txt``, trilho carves 10 % of train out for early stopping (never test), which costs a little recall.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from trilho.recsys.csr import build_csr, gather_rows
from trilho.recsys.data import Interactions


def hits_matrix(topk: np.ndarray, truth_pos: np.ndarray, truth_items: np.ndarray, n_items: int) -> np.ndarray:
    """Boolean ``(B, k)``: is ``topk[b, j]`` among row ``b``'s truth pairs ``(truth_pos, truth_items)``?"""
    b = topk.shape[0]
    truth_keys = np.unique(truth_pos.astype(np.int64) * n_items + truth_items)
    keys = np.arange(b, dtype=np.int64)[:, None] * n_items + topk.astype(np.int64)
    return np.isin(keys, truth_keys)


def recall_ndcg(hits: np.ndarray, n_truth: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-row recall@k and ndcg@k from a ``(B, k)`` hits matrix and each row's number of relevant items."""
    hits = np.asarray(hits, dtype=np.float64)
    k = hits.shape[1]
    n_truth = np.asarray(n_truth, dtype=np.float64)
    discounts = 1.0 / np.log2(np.arange(2, k + 2))
    dcg = hits @ discounts
    ideal_len = np.minimum(n_truth, k).astype(np.int64)
    idcg = np.concatenate([[0.0], np.cumsum(discounts)])[ideal_len]
    with np.errstate(invalid="ignore", divide="ignore"):
        recall = np.where(n_truth > 0, hits.sum(axis=1) / n_truth, 0.0)
        ndcg = np.where(idcg > 0, dcg / idcg, 0.0)
    return recall, ndcg


def masked_topk(
    user_vecs: torch.Tensor, item_vecs: torch.Tensor, mask_pos: np.ndarray, mask_items: np.ndarray, k: int
) -> tuple[np.ndarray, np.ndarray]:
    """One matrix product, known items set to −inf, then top-k: ``(indices, scores)`` as numpy."""
    scores = user_vecs @ item_vecs.T
    if mask_pos.size:
        scores[torch.from_numpy(mask_pos), torch.from_numpy(mask_items)] = float("-inf")
    vals, idx = torch.topk(scores, min(k, scores.shape[1]), dim=1)
    return idx.numpy(), vals.numpy()


@dataclass(frozen=True)
class EvalResult:
    """Averaged ranking metrics over the users that have relevant items."""

    k: int
    recall: float
    ndcg: float
    users: int

    def to_dict(self) -> dict:
        """JSON-ready metrics: ``recall@k``, ``ndcg@k``, ``users``."""
        return {f"recall@{self.k}": self.recall, f"ndcg@{self.k}": self.ndcg, "users": self.users}


def evaluate_embeddings(
    user_vecs: torch.Tensor | np.ndarray,
    item_vecs: torch.Tensor | np.ndarray,
    truth: Interactions,
    known: list[Interactions],
    *,
    k: int = 20,
    batch_size: int = 1024,
) -> EvalResult:
    """Full ranking of every item for each user with relevant items in ``truth``, ``known`` items masked."""
    user_vecs = torch.as_tensor(user_vecs, dtype=torch.float32)
    item_vecs = torch.as_tensor(item_vecs, dtype=torch.float32)
    n_users, n_items = truth.n_users, truth.n_items
    t_ptr, t_idx = build_csr(truth.users, truth.items, n_users)
    ku = np.concatenate([x.users for x in known]) if known else np.zeros(0, dtype=np.int64)
    ki = np.concatenate([x.items for x in known]) if known else np.zeros(0, dtype=np.int64)
    k_ptr, k_idx = build_csr(ku, ki, n_users)
    users = np.flatnonzero(np.diff(t_ptr))
    recalls, ndcgs = [], []
    with torch.no_grad():
        for start in range(0, users.size, batch_size):
            batch = users[start : start + batch_size]
            mpos, mitems = gather_rows(k_ptr, k_idx, batch)
            top, _ = masked_topk(user_vecs[torch.from_numpy(batch)], item_vecs, mpos, mitems, k)
            tpos, titems = gather_rows(t_ptr, t_idx, batch)
            r, n = recall_ndcg(hits_matrix(top, tpos, titems, n_items), np.diff(t_ptr)[batch])
            recalls.append(r)
            ndcgs.append(n)
    if not users.size:
        return EvalResult(k, 0.0, 0.0, 0)
    return EvalResult(
        k, float(np.concatenate(recalls).mean()), float(np.concatenate(ndcgs).mean()), int(users.size)
    )


def evaluate_popularity(
    train: Interactions, truth: Interactions, known: list[Interactions], *, k: int = 20
) -> EvalResult:
    """The popularity baseline: every user gets the most-interacted training items they have not seen."""
    deg = train.item_degree().astype(np.float32)
    # Ties broken by item id: a tiny decreasing epsilon keeps the order deterministic.
    score = deg + np.linspace(0.0, 1e-3, deg.size, dtype=np.float32)[::-1]
    return evaluate_embeddings(
        np.ones((truth.n_users, 1), dtype=np.float32), score[:, None], truth, known, k=k
    )
