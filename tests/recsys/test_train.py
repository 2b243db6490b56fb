import numpy as np
import pytest

from trilho.errors import RecsysError
from trilho.recsys.metrics import evaluate_embeddings, evaluate_popularity
from trilho.recsys.train import TrainConfig, sample_negatives


def test_training_beats_popularity_on_test(tiny_ds, artifact):
    a = artifact.arrays
    known = [tiny_ds.train, tiny_ds.valid]
    model = evaluate_embeddings(a["user_final"], a["item_final"], tiny_ds.test, known)
    pop = evaluate_popularity(tiny_ds.train, tiny_ds.test, known)
    assert model.users == pop.users == tiny_ds.n_users
    assert model.recall > 1.2 * pop.recall and model.ndcg > 1.2 * pop.ndcg


def test_early_stopping_uses_validation_and_records_seeds(trained):
    s = trained.summary()
    assert s["config"]["seed"] == 3 and s["threads"] == 1
    evaluated = [h for h in trained.history if "valid_recall@20" in h]
    assert evaluated and all(not any(k.startswith("test") for k in h) for h in trained.history)
    best = max(evaluated, key=lambda h: h["valid_recall@20"])
    assert trained.best_epoch == best["epoch"] and s["valid"]["recall@20"] == best["valid_recall@20"]
    assert trained.history[0]["loss"] > trained.history[-1]["loss"]


def test_training_is_seeded(tiny_ds):
    from trilho.recsys.train import train

    cfg = TrainConfig(epochs=2, lr=0.01, batch_size=2048, threads=1, seed=9)
    a = train(tiny_ds, cfg, progress=False).model.user_emb.weight.detach().numpy()
    b = train(tiny_ds, cfg, progress=False).model.user_emb.weight.detach().numpy()
    assert np.array_equal(a, b)


def test_negatives_are_never_training_items():
    rng = np.random.default_rng(0)
    users = np.repeat(np.arange(3), 4)
    items = np.array([0, 1, 2, 3, 1, 2, 3, 4, 0, 2, 4, 5])
    keys = np.unique(users * 7 + items)
    neg = sample_negatives(rng, np.tile(users, 50), keys, 7)
    assert not np.isin(np.tile(users, 50) * 7 + neg, keys).any()


def test_config_validated():
    with pytest.raises(RecsysError, match="epochs"):
        TrainConfig(epochs=0)
