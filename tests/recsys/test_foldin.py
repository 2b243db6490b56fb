"""Fold-in must match LightGCN's math: cosine ≥ 0.99 against re-propagating the graph with the new edges."""

import numpy as np
import torch

from trilho.recsys.graph import normalized_adjacency, propagate
from trilho.recsys.predictor import RecsysPredictor


def _cos(a, b):
    return float(a @ b / (np.linalg.norm(a) * np.linalg.norm(b)))


def _recompute(ds, model, extra_users, extra_items, n_users):
    """Full propagation with extra edges (users ≥ ds.n_users are new nodes with a zero ego embedding)."""
    users = np.concatenate([ds.train.users, extra_users])
    items = np.concatenate([ds.train.items, extra_items])
    adj = normalized_adjacency(users, items, n_users, ds.n_items)
    ego_u = model.user_emb.weight.detach()
    if n_users > ds.n_users:
        ego_u = torch.cat([ego_u, torch.zeros(n_users - ds.n_users, ego_u.shape[1])])
    with torch.no_grad():
        final = propagate(adj, torch.cat([ego_u, model.item_emb.weight.detach()]), model.layers)
    return final[:n_users].numpy()


def test_foldin_matches_full_recompute_for_known_users(tiny_ds, trained, artifact):
    pred = RecsysPredictor(artifact)
    v_ptr = np.concatenate([[0], np.cumsum(np.bincount(tiny_ds.valid.users, minlength=tiny_ds.n_users))])
    order = np.argsort(tiny_ds.valid.users, kind="stable")
    v_items = tiny_ds.valid.items[order]
    cosines = []
    for u in range(0, tiny_ds.n_users, 6):
        held_out = v_items[v_ptr[u] : v_ptr[u + 1]]
        folded = pred.embed([{"user_id": u, "recent_items": held_out.tolist()}])[0]
        full = _recompute(tiny_ds, trained.model, np.full(held_out.size, u), held_out, tiny_ds.n_users)[u]
        cosines.append(_cos(folded, full))
    print("fold-in cosine min", min(cosines), "mean", np.mean(cosines))
    assert min(cosines) >= 0.99, (min(cosines), np.mean(cosines))
    # ... and folding in nothing new gives back the trained embedding exactly
    assert np.allclose(pred.embed([{"user_id": 5, "recent_items": []}])[0], artifact.arrays["user_final"][5])


def test_foldin_matches_full_recompute_for_a_new_user(tiny_ds, trained, artifact):
    pred = RecsysPredictor(artifact)
    rng = np.random.default_rng(0)
    for size in (1, 5, 30):
        items = rng.choice(tiny_ds.n_items, size, replace=False)
        folded = pred.embed([{"user_id": "someone-new", "recent_items": items.tolist()}])[0]
        full = _recompute(tiny_ds, trained.model, np.full(size, tiny_ds.n_users), items, tiny_ds.n_users + 1)[
            -1
        ]
        assert _cos(folded, full) >= 0.99
