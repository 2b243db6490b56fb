"""The recommender as a torch module: what the registry's torch flavour loads for a trained LightGCN.

The torch flavour calls the artifact's factory (``recsys_entry:module``, written next to the weights), loads
``model.pt`` into it with ``weights_only=True`` and serves ``predict_records``. :class:`LightGCNServing` holds
the trained ego embeddings as its parameters (the state dict's ``user_emb.weight`` / ``item_emb.weight``)
and, once they are loaded, builds the batch-first :class:`~trilho.recsys.predictor.RecsysPredictor` over the
artifact's precomputed arrays — so fold-in uses exactly the weights the registry loaded, and no graph work
happens per request. ``forward(users)`` scores a tensor of known user indices against every item.

Serving knobs (:class:`~trilho.recsys.predictor.PredictorConfig`) come from an optional ``serving.json`` in
the artifact folder, e.g. ``{"cache_size": 0, "index": "exact"}``; registering copies it with the artifact.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch

from trilho.errors import RecsysError
from trilho.recsys.artifact import load_artifact
from trilho.recsys.predictor import PredictorConfig, RecsysPredictor

SERVING_CONFIG = "serving.json"


class LightGCNServing(torch.nn.Module):
    """Ego embeddings as parameters; after ``load_state_dict`` a :class:`RecsysPredictor` serves records."""

    def __init__(self, folder: str | Path, **config: Any) -> None:
        super().__init__()
        self.folder = Path(folder)
        self.artifact = load_artifact(self.folder)
        self.config = PredictorConfig(**{**read_serving_config(self.folder), **config})
        n_users, dim = self.artifact.user_ego.shape
        n_items = self.artifact.item_ego.shape[0]
        self.user_emb = torch.nn.Embedding(n_users, dim, _weight=torch.empty(n_users, dim))
        self.item_emb = torch.nn.Embedding(n_items, dim, _weight=torch.empty(n_items, dim))
        self.predictor: RecsysPredictor | None = None

    def load_state_dict(self, state_dict: Any, strict: bool = True, assign: bool = False) -> Any:
        """Load the ego embeddings, then build the serving predictor over them."""
        result = super().load_state_dict(state_dict, strict=strict, assign=assign)
        self.artifact.user_ego = self.user_emb.weight.detach().numpy()
        self.artifact.item_ego = self.item_emb.weight.detach().numpy()
        self.predictor = RecsysPredictor(self.artifact, self.config)
        return result

    def predict_records(self, records: list[dict]) -> list[dict]:
        """Recommendations for a batch of request records (see :meth:`RecsysPredictor.predict`)."""
        if self.predictor is None:
            raise RecsysError(
                "the recommender's weights are not loaded",
                fix="load model.pt with load_state_dict (the registry's torch flavour does)",
            )
        return self.predictor.predict(records)

    def forward(self, users: torch.Tensor) -> torch.Tensor:
        """Scores of every item for known user indices (final embeddings; nothing masked)."""
        a = self.artifact.arrays
        user_final = torch.from_numpy(a["user_final"])
        item_final = torch.from_numpy(a["item_final"])
        return user_final[users.long()] @ item_final.T


def read_serving_config(folder: Path) -> dict[str, Any]:
    """The optional ``serving.json`` of an artifact folder (``{}`` when absent)."""
    path = folder / SERVING_CONFIG
    if not path.is_file():
        return {}
    try:
        data = json.loads(path.read_text("utf-8"))
    except json.JSONDecodeError as exc:
        raise RecsysError(
            f"{path} is not valid JSON: {exc}",
            fix="write an object of PredictorConfig fields",
            path=str(path),
        ) from None
    known = set(PredictorConfig.__dataclass_fields__)
    unknown = sorted(set(data) - known) if isinstance(data, dict) else ["<not an object>"]
    if unknown:
        raise RecsysError(
            f"{path} has unknown serving settings: {unknown}",
            fix=f"use only: {', '.join(sorted(known))}",
            field="serving.json",
            value=unknown,
        )
    return data
