"""`trilho recsys` commands: synth, train, evaluate, recommend — thin wrappers over ``trilho.recsys``."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from trilho.cli._common import JsonFlag, emit, handles_errors, open_store, settings

app = typer.Typer(
    help="The LightGCN recommender: synthetic data, training, evaluation.", no_args_is_help=True
)


def register(root: typer.Typer) -> None:
    """Attach the ``recsys`` group to the root command."""
    root.add_typer(app, name="recsys")


@app.command()
@handles_errors
def synth(
    out: Annotated[Path, typer.Option("--out", help="Folder to write train/valid/test.txt and meta.json.")],
    shape: Annotated[str, typer.Option("--shape", help="gowalla, yelp2018 or amazon-book.")] = "gowalla",
    scale: Annotated[float, typer.Option("--scale", help="Fraction of the real users/items/edges.")] = 1.0,
    seed: Annotated[int, typer.Option("--seed", help="Random seed.")] = 0,
    json_out: JsonFlag = False,
) -> None:
    """Generate a seeded synthetic interaction graph of a public dataset's shape (LightGCN text format)."""
    from trilho.recsys.data import save_dataset
    from trilho.recsys.synth import synthesize

    ds = synthesize(shape, scale=scale, seed=seed)
    save_dataset(out, ds)
    data = {"out": str(out), **ds.summary()}
    emit(
        data,
        json_out,
        lambda c: c.print(
            f"wrote {out}: {ds.n_users:,} users, {ds.n_items:,} items, {len(ds.train):,} train / "
            f"{len(ds.valid):,} valid / {len(ds.test):,} test interactions"
        ),
    )


@app.command("train")
@handles_errors
def train_cmd(
    ctx: typer.Context,
    data: Annotated[
        Path, typer.Argument(help="LightGCN folder (train.txt, test.txt[, valid.txt]) or CSV/Parquet log.")
    ],
    out: Annotated[Path, typer.Option("--out", help="Folder to write the model artifact to.")],
    epochs: Annotated[
        int, typer.Option("--epochs", help="Most epochs (early stopping may end sooner).")
    ] = 1000,
    batch_size: Annotated[int, typer.Option("--batch-size")] = 2048,
    lr: Annotated[float, typer.Option("--lr")] = 1e-3,
    l2: Annotated[float, typer.Option("--l2", help="L2 on the batch's ego embeddings.")] = 1e-4,
    dim: Annotated[int, typer.Option("--dim")] = 64,
    layers: Annotated[int, typer.Option("--layers")] = 3,
    patience: Annotated[
        int, typer.Option("--patience", help="Evaluations without improvement before stopping.")
    ] = 5,
    eval_every: Annotated[int, typer.Option("--eval-every", help="Validate every N epochs.")] = 1,
    seed: Annotated[int, typer.Option("--seed")] = 0,
    threads: Annotated[
        int | None,
        typer.Option("--threads", help="torch threads (default 1; see trilho.recsys.train.set_threads)."),
    ] = None,
    register_as: Annotated[
        str | None, typer.Option("--register", help="Register the model under this name.")
    ] = None,
    json_out: JsonFlag = False,
) -> None:
    """Train LightGCN (BPR, Adam, early stopping on validation) and save the serving artifact."""
    from trilho.recsys.api import fit
    from trilho.recsys.train import TrainConfig

    config = TrainConfig(
        dim=dim,
        layers=layers,
        lr=lr,
        l2=l2,
        batch_size=batch_size,
        epochs=epochs,
        eval_every=eval_every,
        patience=patience,
        seed=seed,
        threads=threads,
    )
    summary = fit(data, out, config, progress=not json_out)
    summary.pop("history", None)
    if register_as:
        from trilho.recsys.api import register as register_model
        from trilho.registry import Registry

        mv = register_model(Registry(open_store(ctx), settings(ctx).artifacts_url), register_as, out)
        summary["registered"] = mv.ref

    def render(console) -> None:
        v = summary["valid"]
        console.print(
            f"saved {summary['model_dir']} (version {summary['version']}): best epoch "
            f"{summary['best_epoch']} of {summary['epochs_run']}, valid recall@20 "
            f"{v.get('recall@20', float('nan')):.4f}, ndcg@20 {v.get('ndcg@20', float('nan')):.4f}, "
            f"{summary['seconds_per_epoch']:.2f} s/epoch on {summary['threads']} thread(s)"
        )
        if "registered" in summary:
            console.print(f"registered {summary['registered']}")

    emit(summary, json_out, render)


@app.command()
@handles_errors
def evaluate(
    model_dir: Annotated[Path, typer.Argument(help="A model folder written by `trilho recsys train`.")],
    data: Annotated[
        Path | None, typer.Option("--data", help="Data it was trained on (default: recorded).")
    ] = None,
    split: Annotated[str, typer.Option("--split", help="test or valid.")] = "test",
    k: Annotated[int, typer.Option("--k")] = 20,
    json_out: JsonFlag = False,
) -> None:
    """Full-ranking recall@k and ndcg@k (known items masked) beside the popularity baseline."""
    from trilho.recsys.api import evaluate as run

    res = run(model_dir, data, split=split, k=k)

    def render(console) -> None:
        from rich.table import Table

        tab = Table(title=f"{split} split, {res['model']['users']:,} users, all items ranked")
        for col in ("", f"recall@{k}", f"ndcg@{k}"):
            tab.add_column(col, justify="right" if col else "left")
        for name in ("model", "popularity"):
            tab.add_row(name, f"{res[name][f'recall@{k}']:.4f}", f"{res[name][f'ndcg@{k}']:.4f}")
        console.print(tab)

    emit(res, json_out, render)


@app.command()
@handles_errors
def recommend(
    model_dir: Annotated[Path, typer.Argument(help="A model folder written by `trilho recsys train`.")],
    request: Annotated[
        str, typer.Argument(help='Request JSON, e.g. \'{"user_id": 3, "k": 10}\' (or a list).')
    ],
    json_out: JsonFlag = False,
) -> None:
    """Answer one request (or a JSON list of them) with the serving predictor."""
    from trilho.errors import RecsysError
    from trilho.recsys.predictor import load

    try:
        body = json.loads(request)
    except json.JSONDecodeError as exc:
        raise RecsysError(f"the request is not JSON: {exc}", field="request") from None
    records = body if isinstance(body, list) else [body]
    out = load(model_dir).predict(records)
    emit(out if isinstance(body, list) else out[0], json_out, lambda c: c.print_json(data=out))
