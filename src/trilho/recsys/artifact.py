"""The saved recommender: torch weights, serving arrays precomputed once, and metadata.

Layout (all ``.npy`` arrays load without pickle; ``model.pt`` loads with ``weights_only=True``)::

    model.pt                  LightGCN ego embeddings (torch state dict)
    user_final.npy            final user embeddings (mean over layers 0..K)
    item_final.npy            final item embeddings
    item_foldin.npy           Σ_{k<K} item layer k (fold-in numerator, see trilho.recsys.foldin)
    item_degree.npy           training degree of each item
    graph_indptr/indices.npy  training edges as CSR (users → items)
    seen_indptr/indices.npy   items each user already has (train ∪ validation): masked when serving
    popularity.npy            item ids by descending interaction count (the cold-start fallback)
    item_count.npy            interactions per item (train ∪ validation): the popularity scores
    user_ids.npy, item_ids.npy   raw ids when they are not 0..n-1 (CSV/Parquet logs)
    meta.json                 config, seeds, metrics, counts, the content version
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from trilho.errors import RecsysError
from trilho.recsys.csr import build_csr
from trilho.recsys.data import Dataset, IdMap
from trilho.recsys.graph import normalized_adjacency, propagate_layers
from trilho.recsys.train import TrainResult

CONTRACT_PATH = Path(__file__).with_name("contract.yaml")
_ARRAYS = (
    "user_final",
    "item_final",
    "item_foldin",
    "item_degree",
    "graph_indptr",
    "graph_indices",
    "seen_indptr",
    "seen_indices",
    "popularity",
    "item_count",
)


@dataclass
class RecsysArtifact:
    """Everything the serving predictor needs, loaded from (or about to be written to) a folder."""

    arrays: dict[str, np.ndarray]
    meta: dict
    user_ego: np.ndarray
    item_ego: np.ndarray
    user_ids: np.ndarray | None = None
    item_ids: np.ndarray | None = None

    @property
    def version(self) -> str:
        """Content version of the embeddings (keys the per-user cache)."""
        return str(self.meta["version"])

    @property
    def n_users(self) -> int:
        """Number of users the model knows."""
        return int(self.arrays["user_final"].shape[0])

    @property
    def n_items(self) -> int:
        """Number of items in the catalogue."""
        return int(self.arrays["item_final"].shape[0])


def build_artifact(result: TrainResult, ds: Dataset, ids: IdMap | None = None) -> RecsysArtifact:
    """Propagate the trained graph once and precompute every serving array."""
    tr = ds.train
    model = result.model
    layers = model.layers
    adj = normalized_adjacency(tr.users, tr.items, tr.n_users, tr.n_items)
    with torch.no_grad():
        hs = propagate_layers(adj, model.ego(), layers)
        final = torch.stack(hs).mean(0)
        foldin = (
            torch.stack(hs[:layers]).sum(0)[tr.n_users :] if layers else torch.zeros_like(hs[0][tr.n_users :])
        )
    g_ptr, g_idx = build_csr(tr.users, tr.items, tr.n_users)
    s_ptr, s_idx = build_csr(
        np.concatenate([tr.users, ds.valid.users]), np.concatenate([tr.items, ds.valid.items]), tr.n_users
    )
    counts = np.bincount(np.concatenate([tr.items, ds.valid.items]), minlength=tr.n_items)
    arrays = {
        "user_final": final[: tr.n_users].numpy().astype(np.float32),
        "item_final": final[tr.n_users :].numpy().astype(np.float32),
        "item_foldin": foldin.numpy().astype(np.float32),
        "item_degree": tr.item_degree().astype(np.int64),
        "graph_indptr": g_ptr,
        "graph_indices": g_idx,
        "seen_indptr": s_ptr,
        "seen_indices": s_idx,
        "popularity": np.lexsort((np.arange(tr.n_items), -counts)).astype(np.int64),
        "item_count": counts.astype(np.int64),
    }
    digest = hashlib.sha256()
    for name in ("user_final", "item_final"):
        digest.update(np.ascontiguousarray(arrays[name]).tobytes())
    meta = {
        "format": "trilho.recsys/1",
        "model": "lightgcn",
        "version": digest.hexdigest()[:16],
        "n_users": tr.n_users,
        "n_items": tr.n_items,
        "dim": int(arrays["user_final"].shape[1]),
        "layers": layers,
        "train": result.summary(),
        "dataset": ds.summary(),
    }
    return RecsysArtifact(
        arrays,
        meta,
        model.user_emb.weight.detach().numpy().copy(),
        model.item_emb.weight.detach().numpy().copy(),
        ids.user_ids if ids is not None else None,
        ids.item_ids if ids is not None else None,
    )


def save_artifact(art: RecsysArtifact, folder: str | Path) -> Path:
    """Write the artifact folder (and a copy of the serving contract)."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    torch.save(
        {
            "user_emb.weight": torch.from_numpy(art.user_ego),
            "item_emb.weight": torch.from_numpy(art.item_ego),
        },
        folder / "model.pt",
    )
    for name in _ARRAYS:
        np.save(folder / f"{name}.npy", art.arrays[name], allow_pickle=False)
    for name, ids in (("user_ids", art.user_ids), ("item_ids", art.item_ids)):
        if ids is not None:
            np.save(folder / f"{name}.npy", _plain(ids), allow_pickle=False)
    (folder / "meta.json").write_text(
        json.dumps(art.meta, indent=2, sort_keys=True, default=str) + "\n", "utf-8"
    )
    if CONTRACT_PATH.is_file():
        (folder / "contract.yaml").write_text(CONTRACT_PATH.read_text("utf-8"), "utf-8")
    return folder


def load_artifact(folder: str | Path) -> RecsysArtifact:
    """Read an artifact folder written by :func:`save_artifact`."""
    folder = Path(folder)
    meta_path = folder / "meta.json"
    if not meta_path.is_file():
        raise RecsysError(
            f"{folder} is not a trilho recsys model (no meta.json)",
            fix="pass the --out folder of `trilho recsys train`",
            path=str(folder),
        )
    meta = json.loads(meta_path.read_text("utf-8"))
    try:
        arrays = {name: np.load(folder / f"{name}.npy", allow_pickle=False) for name in _ARRAYS}
        state = torch.load(folder / "model.pt", weights_only=True)
    except (OSError, ValueError) as exc:
        raise RecsysError(f"{folder} is incomplete or corrupt: {exc}", path=str(folder)) from None
    ids = {
        n: np.load(folder / f"{n}.npy", allow_pickle=False) if (folder / f"{n}.npy").is_file() else None
        for n in ("user_ids", "item_ids")
    }
    return RecsysArtifact(
        arrays,
        meta,
        state["user_emb.weight"].numpy(),
        state["item_emb.weight"].numpy(),
        ids["user_ids"],
        ids["item_ids"],
    )


def _plain(ids: np.ndarray) -> np.ndarray:
    """Object arrays (strings from a CSV) become fixed-width unicode so they save without pickle."""
    return ids.astype(str) if ids.dtype.kind == "O" else ids
