"""Interaction data: the in-memory shape, and loaders/writers for LightGCN text files and CSV/Parquet logs.

The LightGCN text format (used by the public Gowalla, Yelp2018 and Amazon-Book splits) has one line per user:
``user item item …`` with non-negative integer ids. A dataset folder holds ``train.txt`` and ``test.txt`` and,
when trilho wrote it, ``valid.txt``. Nothing here downloads anything.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from trilho.errors import RecsysError

SPLITS = ("train", "valid", "test")


@dataclass(frozen=True)
class Interactions:
    """(user, item) index pairs in a fixed ``n_users`` × ``n_items`` id space."""

    users: np.ndarray
    items: np.ndarray
    n_users: int
    n_items: int

    def __post_init__(self) -> None:
        if self.users.shape != self.items.shape:
            raise RecsysError("users and items must have the same length", field="interactions")

    def __len__(self) -> int:
        return int(self.users.shape[0])

    def csr(self) -> tuple[np.ndarray, np.ndarray]:
        """The per-user item lists as CSR ``(indptr, indices)``, items sorted within each user."""
        order = np.lexsort((self.items, self.users))
        counts = np.bincount(self.users, minlength=self.n_users)
        indptr = np.zeros(self.n_users + 1, dtype=np.int64)
        np.cumsum(counts, out=indptr[1:])
        return indptr, self.items[order].astype(np.int64)

    def item_degree(self) -> np.ndarray:
        """How many interactions each item has."""
        return np.bincount(self.items, minlength=self.n_items)

    def user_degree(self) -> np.ndarray:
        """How many interactions each user has."""
        return np.bincount(self.users, minlength=self.n_users)


@dataclass(frozen=True)
class Dataset:
    """Train / validation / test interactions sharing one id space (``valid`` is never the test split)."""

    train: Interactions
    valid: Interactions
    test: Interactions
    meta: dict = field(default_factory=dict)

    @property
    def n_users(self) -> int:
        """Number of users (id space size)."""
        return self.train.n_users

    @property
    def n_items(self) -> int:
        """Number of items (id space size)."""
        return self.train.n_items

    def summary(self) -> dict:
        """Counts for people and ``--json``."""
        return {
            "users": self.n_users,
            "items": self.n_items,
            "train": len(self.train),
            "valid": len(self.valid),
            "test": len(self.test),
            **({"meta": self.meta} if self.meta else {}),
        }


# --- LightGCN text format ----------------------------------------------------------------------------------
def read_lightgcn_txt(path: str | Path) -> tuple[np.ndarray, np.ndarray]:
    """Read ``user item item …`` lines into (users, items); malformed lines raise with the line number."""
    path = Path(path)
    if not path.is_file():
        raise RecsysError(
            f"{path} does not exist", fix="pass a folder with train.txt and test.txt", path=str(path)
        )
    users: list[np.ndarray] = []
    items: list[np.ndarray] = []
    with path.open("r", encoding="utf-8") as fh:
        for lineno, line in enumerate(fh, start=1):
            parts = line.split()
            if not parts:
                continue
            try:
                ids = np.array([int(p) for p in parts], dtype=np.int64)
            except ValueError:
                bad = next((p for p in parts if not p.lstrip("-").isdigit()), line.strip())
                raise RecsysError(
                    f"{path}:{lineno}: {bad!r} is not an integer id",
                    fix="each line must be 'user item item ...' with integer ids",
                    path=str(path),
                    line=lineno,
                    value=bad,
                ) from None
            if (ids < 0).any():
                raise RecsysError(
                    f"{path}:{lineno}: ids must be non-negative",
                    fix="renumber users and items from 0",
                    path=str(path),
                    line=lineno,
                )
            if ids.size == 1:
                continue  # a user with no items in this split (the public files contain a few)
            users.append(np.full(ids.size - 1, ids[0], dtype=np.int64))
            items.append(ids[1:])
    if not users:
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)
    return np.concatenate(users), np.concatenate(items)


def write_lightgcn_txt(path: str | Path, inter: Interactions) -> None:
    """Write interactions as ``user item item …`` lines (users without items are left out)."""
    indptr, indices = inter.csr()
    lines = []
    for u in np.flatnonzero(np.diff(indptr)):
        row = indices[indptr[u] : indptr[u + 1]]
        lines.append(f"{u} " + " ".join(map(str, row.tolist())))
    Path(path).write_text("\n".join(lines) + ("\n" if lines else ""), encoding="utf-8")


def load_dataset(folder: str | Path, *, valid_fraction: float = 0.1, seed: int = 0) -> Dataset:
    """Load a LightGCN-format folder; without ``valid.txt``, carve validation out of train (never test)."""
    folder = Path(folder)
    if not folder.is_dir():
        raise RecsysError(
            f"{folder} is not a folder", fix="pass a folder with train.txt and test.txt", path=str(folder)
        )
    tu, ti = read_lightgcn_txt(folder / "train.txt")
    su, si = read_lightgcn_txt(folder / "test.txt")
    vpath = folder / "valid.txt"
    carved = not vpath.is_file()
    if carved:
        tu, ti, vu, vi = _carve(tu, ti, valid_fraction, seed)
    else:
        vu, vi = read_lightgcn_txt(vpath)
    meta = {}
    mpath = folder / "meta.json"
    if mpath.is_file():
        meta = json.loads(mpath.read_text(encoding="utf-8"))
    n_users = int(max(_max(tu), _max(vu), _max(su)) + 1)
    n_items = int(max(_max(ti), _max(vi), _max(si)) + 1)
    n_users = max(n_users, int(meta.get("n_users", 0)))
    n_items = max(n_items, int(meta.get("n_items", 0)))
    if len(tu) == 0:
        raise RecsysError(f"{folder / 'train.txt'} has no interactions", path=str(folder / "train.txt"))
    if carved:
        meta = {**meta, "valid_carved_from_train": valid_fraction, "valid_seed": seed}
    return Dataset(
        Interactions(tu, ti, n_users, n_items),
        Interactions(vu, vi, n_users, n_items),
        Interactions(su, si, n_users, n_items),
        meta,
    )


def save_dataset(folder: str | Path, ds: Dataset) -> Path:
    """Write ``train.txt``, ``valid.txt``, ``test.txt`` and ``meta.json`` into ``folder``."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    for name in SPLITS:
        write_lightgcn_txt(folder / f"{name}.txt", getattr(ds, name))
    meta = {**ds.meta, "n_users": ds.n_users, "n_items": ds.n_items}
    (folder / "meta.json").write_text(json.dumps(meta, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    return folder


def _max(a: np.ndarray) -> int:
    return int(a.max()) if a.size else -1


def _carve(users: np.ndarray, items: np.ndarray, fraction: float, seed: int):
    """Move ``fraction`` of each user's train interactions (at least one, never all) to validation."""
    rng = np.random.default_rng(seed)
    order = np.lexsort((rng.random(users.size), users))
    u_sorted = users[order]
    counts = np.bincount(u_sorted)
    starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
    rank = np.arange(u_sorted.size) - starts[u_sorted]
    n_valid = np.where(counts >= 2, np.maximum(1, np.round(counts * fraction)), 0).astype(np.int64)
    is_valid = rank < n_valid[u_sorted]
    keep, move = order[~is_valid], order[is_valid]
    return users[keep], items[keep], users[move], items[move]


# --- interaction logs --------------------------------------------------------------------------------------
def read_interaction_log(
    path: str | Path, *, user_col: str = "user_id", item_col: str = "item_id"
) -> tuple[np.ndarray, np.ndarray]:
    """Read raw (user, item) id columns from a CSV or Parquet log (ids may be strings or integers)."""
    import pyarrow.csv as pacsv
    import pyarrow.parquet as pq

    path = Path(path)
    if not path.is_file():
        raise RecsysError(f"{path} does not exist", path=str(path))
    try:
        table = pq.read_table(path) if path.suffix.lower() in (".parquet", ".pq") else pacsv.read_csv(path)
    except Exception as exc:  # pyarrow raises several types for unreadable files
        raise RecsysError(
            f"{path} cannot be read: {exc}", fix="pass a CSV or Parquet file", path=str(path)
        ) from None
    for col in (user_col, item_col):
        if col not in table.column_names:
            raise RecsysError(
                f"column {col!r} is missing from {path.name}",
                fix=f"pass --user-col/--item-col with one of: {', '.join(table.column_names)}",
                field=col,
                path=str(path),
            )
    users = table.column(user_col).to_numpy(zero_copy_only=False)
    items = table.column(item_col).to_numpy(zero_copy_only=False)
    for col, arr in ((user_col, users), (item_col, items)):
        nulls = np.flatnonzero(_isnull(arr))
        if nulls.size:
            raise RecsysError(
                f"{path.name}: row {int(nulls[0]) + 1} has no {col}",
                fix="drop rows without ids before loading",
                path=str(path),
                line=int(nulls[0]) + 2 if path.suffix.lower() == ".csv" else None,
                field=col,
            )
    return users, items


def _isnull(arr: np.ndarray) -> np.ndarray:
    if arr.dtype.kind == "f":
        return np.isnan(arr)
    if arr.dtype.kind == "O":
        return np.array([v is None for v in arr], dtype=bool)
    return np.zeros(arr.shape, dtype=bool)


@dataclass(frozen=True)
class IdMap:
    """Raw ids ↔ dense indices for users and items (raw ids may be strings)."""

    user_ids: np.ndarray
    item_ids: np.ndarray


def interactions_from_log(
    users: np.ndarray, items: np.ndarray, *, min_user_interactions: int = 1
) -> tuple[Interactions, IdMap]:
    """Deduplicate raw (user, item) pairs and index them densely."""
    user_ids, u_idx = np.unique(users, return_inverse=True)
    item_ids, i_idx = np.unique(items, return_inverse=True)
    keys = np.unique(u_idx.astype(np.int64) * len(item_ids) + i_idx)
    u, i = keys // len(item_ids), keys % len(item_ids)
    if min_user_interactions > 1:
        keep = np.bincount(u, minlength=len(user_ids))[u] >= min_user_interactions
        u, i = u[keep], i[keep]
    return Interactions(u, i, len(user_ids), len(item_ids)), IdMap(user_ids, item_ids)


def split_log(inter: Interactions, *, valid: float = 0.1, test: float = 0.2, seed: int = 0) -> Dataset:
    """Split each user's interactions at random into train / valid / test (per-user, seeded)."""
    if not 0 <= valid < 1 or not 0 < test < 1 or valid + test >= 1:
        raise RecsysError("valid and test fractions must be in [0, 1) and sum below 1", field="split")
    rng = np.random.default_rng(seed)
    order = np.lexsort((rng.random(len(inter)), inter.users))
    u = inter.users[order]
    counts = np.bincount(u, minlength=inter.n_users)
    starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
    rank = np.arange(u.size) - starts[u]
    n_test = np.where(counts >= 3, np.maximum(1, np.round(counts * test)), 0)[u]
    n_valid = np.where(counts >= 3, np.maximum(1 if valid > 0 else 0, np.round(counts * valid)), 0)[u]
    part = np.where(rank < n_test, 2, np.where(rank < n_test + n_valid, 1, 0))
    out = []
    for p in (0, 1, 2):
        sel = order[part == p]
        out.append(Interactions(inter.users[sel], inter.items[sel], inter.n_users, inter.n_items))
    return Dataset(*out)


def load_log_dataset(
    path: str | Path, *, user_col: str = "user_id", item_col: str = "item_id", seed: int = 0
) -> tuple[Dataset, IdMap]:
    """A CSV/Parquet log → deduplicated, indexed, split dataset plus its id map."""
    users, items = read_interaction_log(path, user_col=user_col, item_col=item_col)
    inter, ids = interactions_from_log(users, items)
    return split_log(inter, seed=seed), ids
