"""Vectorised helpers over CSR ``(indptr, indices)`` item lists: gather many rows at once, merge lists."""

from __future__ import annotations

import numpy as np


def gather_rows(indptr: np.ndarray, indices: np.ndarray, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """For ``rows`` (positions 0..B-1 in a batch), the pairs ``(batch_position, item)`` of their CSR lists."""
    rows = np.asarray(rows, dtype=np.int64)
    starts = indptr[rows]
    lens = indptr[rows + 1] - starts
    total = int(lens.sum())
    if total == 0:
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)
    pos = np.repeat(np.arange(rows.size, dtype=np.int64), lens)
    offsets = np.arange(total, dtype=np.int64) - np.repeat(np.cumsum(lens) - lens, lens)
    return pos, indices[np.repeat(starts, lens) + offsets]


def build_csr(users: np.ndarray, items: np.ndarray, n_users: int) -> tuple[np.ndarray, np.ndarray]:
    """CSR ``(indptr, indices)`` of unique items per user, sorted within each row."""
    users = np.asarray(users, dtype=np.int64)
    items = np.asarray(items, dtype=np.int64)
    width = int(items.max()) + 1 if items.size else 1
    keys = np.unique(users * width + items)
    u, i = keys // width, keys % width
    indptr = np.zeros(n_users + 1, dtype=np.int64)
    np.cumsum(np.bincount(u, minlength=n_users), out=indptr[1:])
    return indptr, i
