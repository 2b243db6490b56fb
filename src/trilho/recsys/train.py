"""LightGCN training: BPR with one sampled negative, Adam, L2 on the batch's ego embeddings, early stopping.

Early stopping watches recall@k on the *validation* split (training items masked) and keeps the best epoch's
embeddings; the test split is never looked at here. Seeds, the torch thread count and every epoch's loss and
validation metrics are recorded in the result.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field

import numpy as np
import torch
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from trilho.errors import RecsysError
from trilho.obs import gauge, get_logger
from trilho.recsys.data import Dataset, Interactions
from trilho.recsys.graph import normalized_adjacency, propagate
from trilho.recsys.metrics import evaluate_embeddings

log = get_logger("trilho.recsys.train")


@dataclass(frozen=True)
class TrainConfig:
    """LightGCN hyper-parameters (defaults: the paper's Gowalla settings)."""

    dim: int = 64
    layers: int = 3
    lr: float = 1e-3
    l2: float = 1e-4
    batch_size: int = 2048
    epochs: int = 1000
    eval_every: int = 1
    patience: int = 5
    k: int = 20
    seed: int = 0
    threads: int | None = None
    init_std: float = 0.1
    max_batches: int | None = None  # cap batches per epoch (benchmarks time a partial epoch); None = all

    def __post_init__(self) -> None:
        for name in ("dim", "layers", "batch_size", "epochs", "eval_every", "patience", "k"):
            if getattr(self, name) < (0 if name == "layers" else 1):
                raise RecsysError(f"{name} must be positive", field=name, value=getattr(self, name))


class LightGCN(torch.nn.Module):
    """The LightGCN model: ego embeddings only; propagation is parameter-free."""

    def __init__(self, n_users: int, n_items: int, dim: int = 64, layers: int = 3, init_std: float = 0.1):
        super().__init__()
        self.n_users, self.n_items, self.layers = n_users, n_items, layers
        self.user_emb = torch.nn.Embedding(n_users, dim)
        self.item_emb = torch.nn.Embedding(n_items, dim)
        torch.nn.init.normal_(self.user_emb.weight, std=init_std)
        torch.nn.init.normal_(self.item_emb.weight, std=init_std)

    def ego(self) -> torch.Tensor:
        """All ego embeddings stacked, users first."""
        return torch.cat([self.user_emb.weight, self.item_emb.weight])

    def forward(self, adj: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Final (user, item) embeddings after ``layers`` propagation steps."""
        out = propagate(adj, self.ego(), self.layers)
        return out[: self.n_users], out[self.n_users :]


def bpr_loss(
    model: LightGCN,
    users_f: torch.Tensor,
    items_f: torch.Tensor,
    u: torch.Tensor,
    p: torch.Tensor,
    n: torch.Tensor,
    l2: float,
) -> tuple[torch.Tensor, torch.Tensor]:
    """BPR loss on (user, positive, negative) triples plus ``l2`` × ½‖ego‖² of the batch, averaged."""
    eu, ep, en = users_f[u], items_f[p], items_f[n]
    diff = (eu * ep).sum(1) - (eu * en).sum(1)
    bpr = torch.nn.functional.softplus(-diff).mean()
    reg = (
        0.5
        * (
            model.user_emb.weight[u].pow(2).sum()
            + model.item_emb.weight[p].pow(2).sum()
            + model.item_emb.weight[n].pow(2).sum()
        )
        / u.shape[0]
    )
    return bpr + l2 * reg, bpr


def sample_negatives(
    rng: np.random.Generator, users: np.ndarray, train_keys: np.ndarray, n_items: int
) -> np.ndarray:
    """One uniformly drawn item per user not among the user's training items (vectorised rejection)."""
    neg = rng.integers(0, n_items, users.size)
    for _ in range(50):
        keys = users * n_items + neg
        pos = np.searchsorted(train_keys, keys)
        clash = train_keys[np.minimum(pos, train_keys.size - 1)] == keys
        if not clash.any():
            break
        neg[clash] = rng.integers(0, n_items, int(clash.sum()))
    return neg


@dataclass
class TrainResult:
    """The trained model and everything needed to reproduce and judge it."""

    model: LightGCN
    config: TrainConfig
    history: list[dict] = field(default_factory=list)
    best_epoch: int = 0
    best_valid: dict = field(default_factory=dict)
    epoch_seconds: list[float] = field(default_factory=list)
    threads: int = 1
    batches_per_epoch: tuple[int, int] = (0, 0)  # (run, in a full epoch)

    def summary(self) -> dict:
        """JSON-ready facts: config, seed, threads, best epoch and its validation metrics, timings."""
        return {
            "config": asdict(self.config),
            "threads": self.threads,
            "best_epoch": self.best_epoch,
            "valid": self.best_valid,
            "epochs_run": len(self.epoch_seconds),
            "seconds_per_epoch": float(np.mean(self.epoch_seconds)) if self.epoch_seconds else None,
            "batches_per_epoch": {"run": self.batches_per_epoch[0], "full": self.batches_per_epoch[1]},
            "history": self.history,
        }


def set_threads(threads: int | None) -> int:
    """Pin torch's intra-op thread count (default 1) and return it.

    Measured on the project's shared 2-core machines: with 2 threads a full-graph SpMM pass ran 3-25x slower
    than with 1 (threads wait on cores other jobs hold), so more threads are opt-in (``--threads``).
    """
    n = threads or 1
    torch.set_num_threads(n)
    return n


def train(ds: Dataset, config: TrainConfig = TrainConfig(), *, progress: bool = True) -> TrainResult:
    """Train LightGCN on ``ds.train``; early-stop on ``ds.valid`` recall@k; return the best epoch's model."""
    threads = set_threads(config.threads)
    torch.manual_seed(config.seed)
    rng = np.random.default_rng(config.seed)
    tr: Interactions = ds.train
    if len(tr) == 0:
        raise RecsysError("the training split is empty", field="train")
    adj = normalized_adjacency(tr.users, tr.items, tr.n_users, tr.n_items)
    model = LightGCN(tr.n_users, tr.n_items, config.dim, config.layers, config.init_std)
    opt = torch.optim.Adam(model.parameters(), lr=config.lr)
    train_keys = np.unique(tr.users * tr.n_items + tr.items)
    result = TrainResult(model, config, threads=threads)
    best_recall, best_state, stale = -1.0, None, 0
    has_valid = len(ds.valid) > 0
    valid_recall = gauge(
        "trilho_recsys_valid_recall_ratio", "Validation recall@k of the last evaluated epoch."
    )

    columns = (
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TextColumn("{task.fields[info]}"),
    )
    full_batches = -(-len(tr) // config.batch_size)
    n_batches = min(full_batches, config.max_batches or full_batches)
    result.batches_per_epoch = (n_batches, full_batches)
    with Progress(*columns, disable=not progress, transient=False) as bar:
        epochs_task = bar.add_task("epochs", total=config.epochs, info="")
        batch_task = bar.add_task("batches", total=n_batches, info="")
        for epoch in range(1, config.epochs + 1):
            t0 = time.perf_counter()
            model.train()
            order = rng.permutation(len(tr))
            neg_all = sample_negatives(rng, tr.users[order], train_keys, tr.n_items)
            total, total_bpr, seen = 0.0, 0.0, 0
            bar.reset(batch_task, total=n_batches)
            for b in range(n_batches):
                sl = slice(b * config.batch_size, (b + 1) * config.batch_size)
                idx = order[sl]
                u = torch.from_numpy(tr.users[idx])
                p = torch.from_numpy(tr.items[idx])
                n = torch.from_numpy(neg_all[sl])
                users_f, items_f = model(adj)
                loss, bpr = bpr_loss(model, users_f, items_f, u, p, n, config.l2)
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
                total += float(loss.detach()) * idx.size
                seen += idx.size
                total_bpr += float(bpr.detach()) * idx.size
                bar.advance(batch_task)
            result.epoch_seconds.append(time.perf_counter() - t0)
            row = {
                "epoch": epoch,
                "loss": total / seen,
                "bpr": total_bpr / seen,
                "seconds": result.epoch_seconds[-1],
            }
            if has_valid and (epoch % config.eval_every == 0 or epoch == config.epochs):
                model.eval()
                with torch.no_grad():
                    users_f, items_f = model(adj)
                ev = evaluate_embeddings(users_f, items_f, ds.valid, [tr], k=config.k)
                row.update({f"valid_{k}": v for k, v in ev.to_dict().items() if k != "users"})
                valid_recall.set(ev.recall)
                if ev.recall > best_recall:
                    best_recall, stale = ev.recall, 0
                    best_state = {k: v.detach().clone() for k, v in model.state_dict().items()}
                    result.best_epoch, result.best_valid = epoch, ev.to_dict()
                else:
                    stale += 1
            result.history.append(row)
            log.debug("epoch", **row)
            info = f"loss {row['loss']:.4f}" + (
                f" valid recall@{config.k} {row[f'valid_recall@{config.k}']:.4f}"
                if f"valid_recall@{config.k}" in row
                else ""
            )
            bar.update(epochs_task, advance=1, info=info)
            if has_valid and stale >= config.patience:
                break
    if best_state is not None:
        model.load_state_dict(best_state)
    else:
        result.best_epoch = len(result.epoch_seconds)
    model.eval()
    log.info(
        "trained", best_epoch=result.best_epoch, epochs_run=len(result.epoch_seconds), **result.best_valid
    )
    return result
