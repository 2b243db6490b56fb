"""The recsys workflows behind the CLI: load any supported data, train and save, evaluate, register.

Data is either a LightGCN-format folder (``train.txt``, ``test.txt``, optional ``valid.txt``) or a CSV/Parquet
interaction log (``user_id``, ``item_id`` columns; split per user, seeded).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from trilho.errors import RecsysError
from trilho.recsys.artifact import CONTRACT_PATH, build_artifact, load_artifact, save_artifact
from trilho.recsys.data import Dataset, IdMap, load_dataset, load_log_dataset
from trilho.recsys.metrics import evaluate_embeddings, evaluate_popularity
from trilho.recsys.train import TrainConfig, train

ENTRY_MODULE = "recsys_entry"
ENTRY = f"{ENTRY_MODULE}:module"  # the torch flavour's factory (see trilho.recsys.module)
PYTHON_ENTRY = f"{ENTRY_MODULE}:predictor"  # the same model as a python-flavour object
_ENTRY_SOURCE = '''"""Registry entry points for the trilho recsys model in this folder: ``module`` (the torch
flavour's factory; the registry loads model.pt into it) and ``predictor`` (a python-flavour object, built on
first use)."""

from pathlib import Path

HERE = Path(__file__).resolve().parent


def module():
    """The serving torch module for this folder (weights not loaded yet)."""
    from trilho.recsys.module import LightGCNServing

    return LightGCNServing(HERE)


def __getattr__(name):
    if name == "predictor":
        from trilho.recsys.module import read_serving_config
        from trilho.recsys.predictor import load

        value = globals()["predictor"] = load(HERE, **read_serving_config(HERE))
        return value
    raise AttributeError(name)
'''


def write_entry(folder: str | Path) -> Path:
    """(Re)write the registry entry module next to the weights; returns its path."""
    path = Path(folder) / f"{ENTRY_MODULE}.py"
    path.write_text(_ENTRY_SOURCE, "utf-8")
    return path


def load_data(path: str | Path, *, seed: int = 0) -> tuple[Dataset, IdMap | None]:
    """A dataset from a LightGCN folder or a CSV/Parquet log (the log gets a seeded per-user split)."""
    path = Path(path)
    if path.is_dir():
        return load_dataset(path, seed=seed), None
    if path.suffix.lower() in (".csv", ".parquet", ".pq"):
        return load_log_dataset(path, seed=seed)
    raise RecsysError(
        f"{path} is neither a LightGCN folder nor a .csv/.parquet log",
        fix="pass a folder with train.txt and test.txt, or an interaction log file",
        path=str(path),
    )


def fit(data: str | Path, out: str | Path, config: TrainConfig, *, progress: bool = True) -> dict[str, Any]:
    """Train on ``data``, save the serving artifact to ``out`` and return a summary."""
    ds, ids = load_data(data, seed=config.seed)
    result = train(ds, config, progress=progress)
    art = build_artifact(result, ds, ids)
    art.meta["data"] = str(Path(data).resolve())
    folder = save_artifact(art, out)
    write_entry(folder)
    return {"model_dir": str(folder), "version": art.version, "dataset": ds.summary(), **result.summary()}


def evaluate(
    model_dir: str | Path, data: str | Path | None = None, *, split: str = "test", k: int = 20
) -> dict:
    """Full-ranking recall@k / ndcg@k of a saved model on ``split``, beside the popularity baseline."""
    if split not in ("test", "valid"):
        raise RecsysError(f"split must be 'test' or 'valid', got {split!r}", field="split", value=split)
    art = load_artifact(model_dir)
    data = data or art.meta.get("data")
    if not data:
        raise RecsysError(
            "the model does not record its data", fix="pass the data folder or log", field="data"
        )
    seed = int(art.meta.get("train", {}).get("config", {}).get("seed", 0))
    ds, _ = load_data(data, seed=seed)
    if (ds.n_users, ds.n_items) != (art.n_users, art.n_items):
        raise RecsysError(
            f"{data} has {ds.n_users} users × {ds.n_items} items but the model {art.n_users} × {art.n_items}",
            fix="evaluate on the data the model was trained on",
            field="data",
        )
    truth = ds.test if split == "test" else ds.valid
    known = [ds.train, ds.valid] if split == "test" else [ds.train]
    a = art.arrays
    model = evaluate_embeddings(a["user_final"], a["item_final"], truth, known, k=k)
    pop = evaluate_popularity(ds.train, truth, known, k=k)
    return {
        "model_dir": str(model_dir),
        "version": art.version,
        "split": split,
        "k": k,
        "model": model.to_dict(),
        "popularity": pop.to_dict(),
        "lift_vs_popularity": (model.recall / pop.recall) if pop.recall else None,
    }


def register(registry: Any, name: str, model_dir: str | Path, *, metrics: dict | None = None) -> Any:
    """Register a saved model with ``registry``: torch flavour (``model.pt`` loaded with ``weights_only``
    into the factory ``recsys_entry:module``) with the serving contract. The entry module is rewritten first,
    so a folder saved by an older trilho registers too."""
    folder = Path(model_dir)
    art = load_artifact(folder)
    write_entry(folder)
    contract = folder / "contract.yaml" if (folder / "contract.yaml").is_file() else CONTRACT_PATH
    params = {k: v for k, v in art.meta.get("train", {}).get("config", {}).items()}
    return registry.register(
        name,
        folder,
        flavor="torch",
        contract=contract,
        entry=ENTRY,
        params=params,
        metrics=metrics
        or {k: v for k, v in art.meta.get("train", {}).get("valid", {}).items() if k != "users"},
    )
