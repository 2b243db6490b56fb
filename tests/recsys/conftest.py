"""Shared recsys fixtures: one tiny synthetic graph and one model trained on it for the whole session."""

from __future__ import annotations

import pytest
import torch

from trilho.recsys.artifact import build_artifact, save_artifact
from trilho.recsys.synth import synthesize
from trilho.recsys.train import TrainConfig, train

torch.set_num_threads(1)

TINY = {"shape": "gowalla", "scale": 0.01, "seed": 1}
TINY_CONFIG = TrainConfig(epochs=12, lr=0.01, batch_size=1024, eval_every=2, patience=3, threads=1, seed=3)


@pytest.fixture(scope="session")
def tiny_ds():
    """A 299-user, 410-item Gowalla-shaped graph."""
    return synthesize(**TINY)


@pytest.fixture(scope="session")
def trained(tiny_ds):
    """LightGCN trained a few epochs on the tiny graph."""
    return train(tiny_ds, TINY_CONFIG, progress=False)


@pytest.fixture(scope="session")
def artifact(trained, tiny_ds):
    """The serving artifact of the trained model (in memory)."""
    return build_artifact(trained, tiny_ds)


@pytest.fixture(scope="session")
def artifact_dir(artifact, tmp_path_factory):
    """The same artifact saved to a folder."""
    return save_artifact(artifact, tmp_path_factory.mktemp("recsys-model"))
