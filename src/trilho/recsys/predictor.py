"""The serving predictor: no graph work on the request path, one matrix product per batch.

``RecsysPredictor.predict(records)`` takes a batch of requests::

    {"user_id": 42, "k": 20, "recent_items": [7, 9], "exclude": [3]}   # recent_items, exclude, k optional

and returns one ``{"items": [...], "scores": [...], "source": ...}`` per record, where ``source`` says how it
was answered:

* ``cache``      — known user, no fresh items: the per-user top-K cache keyed by (user, model version);
* ``model``      — known user: their final embedding scored against every item;
* ``foldin``     — fresh ``recent_items`` (known or unknown user): the user's embedding folded in from their
  items without propagating the graph (see :mod:`trilho.recsys.foldin`);
* ``popularity`` — an unknown user without fresh items (cold start), or any row once the latency budget was
  spent before scoring.

All model rows of a batch share ONE matrix product and ONE top-k. Items the user already has (train and
validation), fresh items and ``exclude`` are never recommended. Unknown ids in ``exclude`` are ignored;
unknown ids in ``recent_items``, a missing ``user_id`` and ``k`` outside ``1..n_items`` raise
:class:`RecsysError` (the gateway answers 4xx) — call :meth:`RecsysPredictor.validate` per request to reject a
bad one before it joins a batch.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from trilho.errors import RecsysError
from trilho.obs import counter, histogram
from trilho.recsys.artifact import RecsysArtifact, load_artifact
from trilho.recsys.csr import gather_rows
from trilho.recsys.foldin import fold_in
from trilho.recsys.index import build_index

STAGES = ("lookup", "score", "topk", "format")
_NO_ITEMS = np.zeros(0, dtype=np.int64)
_requests = counter(
    "trilho_recsys_requests_total", "Recommendation rows answered, by source.", ["model", "version", "source"]
)
_stage = histogram("trilho_recsys_stage_seconds", "Predictor time per batch and stage.", ["model", "stage"])


@dataclass(frozen=True)
class PredictorConfig:
    """Serving knobs: index choice and its parity bar, cache, latency budget, threads.

    ``threads`` sets torch's and the BLAS's (process-wide) thread counts: 1 by default, because request
    batches are small and a multi-threaded GEMM on busy shared cores costs far more in synchronisation than
    it saves; concurrency comes from the server. ``None`` leaves both alone.
    """

    index: str = "auto"
    ann_threshold: int = 200_000
    min_recall: float = 0.99
    # HNSW graph degree and build beam. On the full Gowalla-shaped graph (41k items) a trained model passed
    # the 0.99 parity at efSearch 1024 with M 32 / efConstruction 100, at efSearch 128 with 48 / 200.
    hnsw_m: int = 32
    hnsw_ef_construction: int = 100
    parity_queries: int = 500
    cache_size: int = 100_000
    cache_k: int = 100
    default_k: int = 20
    budget_ms: float | None = None
    threads: int | None = 1
    seed: int = 0

    def __post_init__(self) -> None:
        if self.hnsw_m < 2 or self.hnsw_ef_construction < self.hnsw_m:
            raise RecsysError(
                f"hnsw_m must be ≥ 2 and hnsw_ef_construction ≥ hnsw_m, got {self.hnsw_m} / "
                f"{self.hnsw_ef_construction}",
                fix="e.g. hnsw_m 32 with hnsw_ef_construction 100, or 48 with 200",
                field="hnsw_m",
                value=self.hnsw_m,
            )


@dataclass
class RecsysRequest:
    """One validated request, ids mapped to model indices (what :meth:`RecsysPredictor.validate` returns)."""

    user: int | None
    k: int
    recent: np.ndarray
    exclude: np.ndarray
    raw_user: Any = None


@dataclass
class StageTimer:
    """Cumulative seconds and call counts per stage, plus the last call's breakdown."""

    seconds: dict[str, float] = field(default_factory=lambda: dict.fromkeys(STAGES, 0.0))
    batches: int = 0
    rows: int = 0
    last: dict[str, float] = field(default_factory=dict)

    def to_dict(self) -> dict:
        """Totals and per-row means in milliseconds."""
        per_row = {s: (v / self.rows * 1e3 if self.rows else 0.0) for s, v in self.seconds.items()}
        return {
            "batches": self.batches,
            "rows": self.rows,
            "seconds": dict(self.seconds),
            "ms_per_row": per_row,
            "last_ms": {s: v * 1e3 for s, v in self.last.items()},
        }


class RecsysPredictor:
    """Batch-first LightGCN recommendations from precomputed embeddings (see the module docstring)."""

    def __init__(
        self, artifact: RecsysArtifact, config: PredictorConfig = PredictorConfig(), *, name: str = "recsys"
    ):
        self.artifact, self.config, self.name = artifact, config, name
        self.version = artifact.version
        a = artifact.arrays
        self.n_users, self.n_items = artifact.n_users, artifact.n_items
        self.layers = int(artifact.meta.get("layers", 3))
        self.user_final = np.ascontiguousarray(a["user_final"], dtype=np.float32)
        self.user_ego = np.ascontiguousarray(artifact.user_ego, dtype=np.float32)
        self.item_foldin = np.ascontiguousarray(a["item_foldin"], dtype=np.float32)
        self.item_degree = a["item_degree"]
        self.g_ptr, self.g_idx = a["graph_indptr"], a["graph_indices"]
        self.s_ptr, self.s_idx = a["seen_indptr"], a["seen_indices"]
        self.popularity, self.item_count = a["popularity"], a["item_count"].astype(np.float32)
        self._user_index = (
            None if artifact.user_ids is None else {u: i for i, u in enumerate(artifact.user_ids.tolist())}
        )
        self._item_index = (
            None if artifact.item_ids is None else {t: i for i, t in enumerate(artifact.item_ids.tolist())}
        )
        self._item_out = None if artifact.item_ids is None else artifact.item_ids.tolist()
        if config.threads:
            set_serving_threads(config.threads)
        kind = config.index
        if kind == "auto":
            kind = "hnsw" if self.n_items > config.ann_threshold else "exact"
        qpos, qitems, queries = self._parity_queries(kind)
        self.index, self.exact, self.index_info = build_index(
            kind,
            a["item_final"],
            queries,
            qpos,
            qitems,
            min_recall=config.min_recall,
            threads=config.threads,
            m=config.hnsw_m,
            ef_construction=config.hnsw_ef_construction,
        )
        self._cache: OrderedDict[tuple[int, str], tuple[np.ndarray, np.ndarray]] = OrderedDict()
        self._lock = threading.Lock()
        self.timer = StageTimer()
        self._stage_metric = {st: _stage.labels(name, st) for st in STAGES}
        self._source_metric: dict[str, Any] = {}

    # --- public API ----------------------------------------------------------------------------------------
    def predict(self, records: list[dict], *, deadline: float | None = None) -> list[dict]:
        """Recommendations for a batch of request records (one matrix product for all model rows)."""
        t0 = time.perf_counter()
        if deadline is None and self.config.budget_ms is not None:
            deadline = t0 + self.config.budget_ms / 1e3
        reqs = [self.validate(r, position=i) for i, r in enumerate(records)]
        out: list[dict | None] = [None] * len(reqs)
        model_rows: list[int] = []
        for i, q in enumerate(reqs):
            if q.user is not None and not q.recent.size and q.k <= self.config.cache_k:
                hit = self._cache_get(q.user)
                if hit is not None:
                    got = self._filter(hit[0], hit[1], q.exclude, q.k)
                    if got[0].size == q.k:
                        out[i] = self._row(*got, "cache")
                        continue
            if q.user is None and not q.recent.size:
                out[i] = self._popular(q, "popularity")
                continue
            model_rows.append(i)
        queries, mpos, mitems, fetch = self._queries([reqs[i] for i in model_rows])
        t1 = time.perf_counter()
        t_score = t_topk = 0.0
        if model_rows and deadline is not None and t1 > deadline:
            for i in model_rows:
                out[i] = self._popular(reqs[i], "popularity")
            model_rows = []
        if model_rows:
            if self.index is self.exact:
                scores = self.exact.scores(queries, mpos, mitems)
                t2 = time.perf_counter()
                idx, val = self.exact.topk(scores, fetch)
                t3 = time.perf_counter()
            else:
                idx, val = self.index.search(queries, fetch, mpos, mitems)
                t2 = t3 = time.perf_counter()
            t_score, t_topk = t2 - t1, t3 - t2
            t1 = t3
            for row, i in enumerate(model_rows):
                q = reqs[i]
                if q.recent.size:
                    out[i] = self._row(idx[row, : q.k], val[row, : q.k], "foldin")
                    continue
                top_i, top_v = idx[row, : self.config.cache_k], val[row, : self.config.cache_k]
                self._cache_put(q.user, top_i, top_v)
                out[i] = self._row(*self._filter(idx[row], val[row], q.exclude, q.k), "model")
        t4 = time.perf_counter()
        self._record(len(reqs), t0, t_score, t_topk, t4 - t1, out)
        return out  # type: ignore[return-value]

    def validate(self, record: Any, *, position: int = 0) -> RecsysRequest:
        """Check one request record and map its ids; raises RecsysError naming the field and the fix."""
        if not isinstance(record, dict):
            raise RecsysError("a request must be an object", field="record", index=position)
        if "user_id" not in record:
            raise RecsysError(
                "user_id is required", fix="send {'user_id': ..., 'k': 20}", field="user_id", index=position
            )
        k = record.get("k", min(self.config.default_k, self.n_items))
        if isinstance(k, bool) or not isinstance(k, int | np.integer) or not 1 <= k <= self.n_items:
            raise RecsysError(
                f"k must be an integer in 1..{self.n_items}, got {k!r}",
                fix=f"ask for between 1 and {self.n_items} items",
                field="k",
                value=k,
                index=position,
            )
        raw_user = record["user_id"]
        user = self._lookup_user(raw_user)
        recent = self._items(record.get("recent_items") or [], "recent_items", position, strict=True)
        exclude = self._items(record.get("exclude") or [], "exclude", position, strict=False)
        return RecsysRequest(user, int(k), recent, exclude, raw_user)

    def embed(self, records: list[dict]) -> np.ndarray:
        """The user vectors the model would score for ``records`` (final, folded-in, or zero when cold)."""
        reqs = [self.validate(r, position=i) for i, r in enumerate(records)]
        return self._queries(reqs)[0] if reqs else np.zeros((0, self.user_final.shape[1]), np.float32)

    def timings(self) -> dict:
        """Per-stage timing breakdown (lookup, score, top-k, format) since the last reset."""
        return self.timer.to_dict()

    def reset_timings(self) -> None:
        """Start a fresh timing breakdown."""
        self.timer = StageTimer()

    def clear_cache(self) -> None:
        """Forget every cached top-K list."""
        with self._lock:
            self._cache.clear()

    def describe(self) -> dict:
        """What is being served: counts, version, index and its measured parity."""
        return {
            "model": self.name,
            "version": self.version,
            "users": self.n_users,
            "items": self.n_items,
            "index": self.index_info,
            "cache_size": self.config.cache_size,
        }

    # --- internals -----------------------------------------------------------------------------------------
    def _lookup_user(self, raw: Any) -> int | None:
        if self._user_index is not None:
            return self._user_index.get(raw)
        if isinstance(raw, bool) or not isinstance(raw, int | np.integer):
            if isinstance(raw, str) and raw.isdigit():
                raw = int(raw)
            else:
                return None
        return int(raw) if 0 <= raw < self.n_users else None

    def _items(self, values: Any, name: str, position: int, *, strict: bool) -> np.ndarray:
        if isinstance(values, list) and not values:
            return _NO_ITEMS
        if not isinstance(values, list | tuple):
            raise RecsysError(f"{name} must be a list of item ids", field=name, index=position)
        out, unknown = [], []
        for v in values:
            i = self._lookup_item(v)
            (out if i is not None else unknown).append(i if i is not None else v)
        if unknown and strict:
            raise RecsysError(
                f"{name} has item ids the model does not know: {unknown[:5]!r}",
                fix="send only catalogue item ids (new items need a retrain)",
                field=name,
                value=unknown[:5],
                index=position,
            )
        return np.unique(np.asarray(out, dtype=np.int64))

    def _lookup_item(self, raw: Any) -> int | None:
        if self._item_index is not None:
            return self._item_index.get(raw)
        if isinstance(raw, bool) or not isinstance(raw, int | np.integer):
            return None
        return int(raw) if 0 <= raw < self.n_items else None

    def _queries(self, reqs: list[RecsysRequest]) -> tuple[np.ndarray, np.ndarray, np.ndarray, int]:
        """Query vectors, mask pairs and the top-k width for the model rows of a batch."""
        d = self.user_final.shape[1]
        if not reqs:
            z = np.zeros(0, dtype=np.int64)
            return np.zeros((0, d), np.float32), z, z, 0
        users = np.array([q.user if q.user is not None else -1 for q in reqs], dtype=np.int64)
        known = users >= 0
        queries = np.zeros((len(reqs), d), dtype=np.float32)
        queries[known] = self.user_final[users[known]]
        fresh_rows = np.flatnonzero([q.recent.size > 0 for q in reqs])
        if fresh_rows.size:
            queries[fresh_rows] = self._fold_in([reqs[r] for r in fresh_rows])
        # Masks: items each known user already has, plus fresh items, plus exclusions for non-cached rows.
        kn_rows = np.flatnonzero(known)
        spos, sitems = gather_rows(self.s_ptr, self.s_idx, users[kn_rows])
        pos_parts, item_parts = [kn_rows[spos]], [sitems]
        fetch = 1
        for r, q in enumerate(reqs):
            if q.recent.size:  # fold-in rows are never cached: mask their fresh items and exclusions directly
                extra = np.concatenate([q.recent, q.exclude])
                pos_parts.append(np.full(extra.size, r, dtype=np.int64))
                item_parts.append(extra)
                fetch = max(fetch, q.k)
            else:  # cacheable rows: fetch the cache width, drop exclusions afterwards
                fetch = max(
                    fetch, q.k + q.exclude.size, self.config.cache_k if self.config.cache_size > 0 else 0
                )
        return queries, np.concatenate(pos_parts), np.concatenate(item_parts), min(fetch, self.n_items)

    def _fold_in(self, reqs: list[RecsysRequest]) -> np.ndarray:
        d = self.user_final.shape[1]
        ego = np.zeros((len(reqs), d), dtype=np.float32)
        pos_parts, item_parts, fresh_parts = [], [], []
        for r, q in enumerate(reqs):
            if q.user is not None:
                ego[r] = self.user_ego[q.user]
                have = self.g_idx[self.g_ptr[q.user] : self.g_ptr[q.user + 1]]
                new = np.setdiff1d(q.recent, have, assume_unique=True)
                items = np.concatenate([have, new])
                fresh = np.concatenate([np.zeros(have.size, bool), np.ones(new.size, bool)])
            else:
                items, fresh = q.recent, np.ones(q.recent.size, bool)
            pos_parts.append(np.full(items.size, r, dtype=np.int64))
            item_parts.append(items)
            fresh_parts.append(fresh)
        return fold_in(
            ego,
            np.concatenate(pos_parts),
            np.concatenate(item_parts),
            np.concatenate(fresh_parts),
            self.item_foldin,
            self.item_degree,
            self.layers,
        )

    def _popular(self, q: RecsysRequest, source: str) -> dict:
        block = [q.exclude, q.recent]
        if q.user is not None:
            block.append(self.s_idx[self.s_ptr[q.user] : self.s_ptr[q.user + 1]])
        blocked = np.concatenate(block)
        cand = self.popularity[: min(self.n_items, q.k + blocked.size)]
        cand = cand[~np.isin(cand, blocked)][: q.k]
        return self._row(cand, self.item_count[cand], source)

    def _filter(self, idx: np.ndarray, val: np.ndarray, exclude: np.ndarray, k: int):
        if exclude.size:
            keep = ~np.isin(idx, exclude)
            idx, val = idx[keep], val[keep]
        return idx[:k], val[:k]

    def _row(self, idx: np.ndarray, val: np.ndarray, source: str) -> dict:
        if val.size and not np.isfinite(val[-1]):  # fewer unseen items than k: drop the masked tail
            keep = np.isfinite(val)
            idx, val = idx[keep], val[keep]
        items = idx.tolist() if self._item_out is None else [self._item_out[i] for i in idx.tolist()]
        return {"items": items, "scores": [float(v) for v in val.tolist()], "source": source}

    def _cache_get(self, user: int):
        if self.config.cache_size <= 0:
            return None
        key = (user, self.version)
        with self._lock:
            hit = self._cache.get(key)
            if hit is not None:
                self._cache.move_to_end(key)
            return hit

    def _cache_put(self, user: int, idx: np.ndarray, val: np.ndarray) -> None:
        if self.config.cache_size <= 0:
            return
        with self._lock:
            self._cache[(user, self.version)] = (idx.copy(), val.copy())
            while len(self._cache) > self.config.cache_size:
                self._cache.popitem(last=False)

    def _record(
        self, rows: int, t0: float, t_score: float, t_topk: float, t_format: float, out: list
    ) -> None:
        lookup = time.perf_counter() - t0 - t_score - t_topk - t_format
        last = {"lookup": lookup, "score": t_score, "topk": t_topk, "format": t_format}
        tm = self.timer
        for s, v in last.items():
            tm.seconds[s] += v
            self._stage_metric[s].observe(v)
        tm.batches += 1
        tm.rows += rows
        tm.last = last
        counts: dict[str, int] = {}
        for r in out:
            counts[r["source"]] = counts.get(r["source"], 0) + 1
        for source, n in counts.items():
            child = self._source_metric.get(source)
            if child is None:
                child = self._source_metric[source] = _requests.labels(self.name, self.version, source)
            child.inc(n)

    def _parity_queries(self, kind: str):
        """A seeded sample of known users (queries and their seen masks) for the recall parity check."""
        if kind == "exact":
            z = np.zeros(0, dtype=np.int64)
            return z, z, np.zeros((0, self.user_final.shape[1]), np.float32)
        rng = np.random.default_rng(self.config.seed)
        users = rng.choice(self.n_users, size=min(self.config.parity_queries, self.n_users), replace=False)
        pos, items = gather_rows(self.s_ptr, self.s_idx, users)
        return pos, items, self.user_final[users]


def set_serving_threads(threads: int) -> None:
    """Pin torch's intra-op threads and the BLAS pool (numpy's matmul) to ``threads`` for this process."""
    from threadpoolctl import threadpool_limits

    torch.set_num_threads(threads)
    threadpool_limits(limits=threads, user_api="blas")


def load(artifact_dir: str | Path, **config: Any) -> RecsysPredictor:
    """Registry factory: build the serving predictor from a saved artifact folder."""
    return RecsysPredictor(load_artifact(artifact_dir), PredictorConfig(**config))
