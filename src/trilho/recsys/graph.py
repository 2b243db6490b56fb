"""LightGCN propagation: the symmetric-normalised user–item adjacency and the layer-mean of its powers.

``Â = D^-½ A D^-½`` over the bipartite graph of ``n_users + n_items`` nodes (users first), stored as a torch
sparse CSR matrix, so one layer is one sparse × dense product — no Python loop over edges. The final embedding
is ``mean_k Â^k E₀`` for ``k = 0..K`` (LightGCN, He et al. 2020, eq. 4).
"""

from __future__ import annotations

import warnings

import numpy as np
import torch


def normalized_adjacency(users: np.ndarray, items: np.ndarray, n_users: int, n_items: int) -> torch.Tensor:
    """``D^-½ A D^-½`` of the bipartite graph as a float32 torch sparse CSR tensor (users first)."""
    n = n_users + n_items
    u = torch.as_tensor(users, dtype=torch.int64)
    i = torch.as_tensor(items, dtype=torch.int64) + n_users
    rows = torch.cat([u, i])
    cols = torch.cat([i, u])
    deg = torch.bincount(rows, minlength=n).to(torch.float32)
    inv_sqrt = torch.where(deg > 0, deg.rsqrt(), torch.zeros_like(deg))
    vals = inv_sqrt[rows] * inv_sqrt[cols]
    adj = torch.sparse_coo_tensor(torch.stack([rows, cols]), vals, (n, n), check_invariants=False).coalesce()
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*Sparse CSR tensor support is in beta.*")
        return adj.to_sparse_csr()


class _SymmetricSpMM(torch.autograd.Function):
    """``Â @ x`` whose backward reuses ``Â`` (it is symmetric), so no sparse transpose per step."""

    @staticmethod
    def forward(ctx, adj: torch.Tensor, x: torch.Tensor) -> torch.Tensor:  # type: ignore[override]
        ctx.adj = adj
        return adj @ x

    @staticmethod
    def backward(ctx, grad: torch.Tensor):  # type: ignore[override]
        return None, ctx.adj @ grad


def spmm(adj: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """One propagation step ``Â @ x`` (differentiable in ``x``; ``Â`` must be symmetric)."""
    return _SymmetricSpMM.apply(adj, x) if x.requires_grad else adj @ x


def propagate(adj: torch.Tensor, ego: torch.Tensor, layers: int) -> torch.Tensor:
    """LightGCN's final embeddings: the mean of ``Â^k ego`` for ``k = 0..layers``."""
    out = ego
    h = ego
    for _ in range(layers):
        h = spmm(adj, h)
        out = out + h
    return out / (layers + 1)


def propagate_layers(adj: torch.Tensor, ego: torch.Tensor, layers: int) -> list[torch.Tensor]:
    """Every layer ``Â^k ego`` for ``k = 0..layers`` (used to precompute the fold-in matrix)."""
    hs = [ego]
    for _ in range(layers):
        hs.append(adj @ hs[-1])
    return hs
