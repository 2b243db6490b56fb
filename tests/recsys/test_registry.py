"""The saved model registers with trilho.registry as a torch-flavour version with its contract and loads back
through the torch flavour as a batch predictor (the python-flavour entry keeps working for older configs)."""

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

from trilho.errors import RecsysError
from trilho.recsys.api import ENTRY, PYTHON_ENTRY, register
from trilho.recsys.artifact import CONTRACT_PATH
from trilho.recsys.module import LightGCNServing
from trilho.recsys.predictor import load
from trilho.registry import Registry

REQUESTS = [{"user_id": 1, "k": 4}, {"user_id": 10**9, "k": 2}, {"user_id": 2, "recent_items": [3]}]


def test_registers_as_torch_with_its_contract_and_loads_as_torch(store, artifact_dir, tmp_path):
    reg = Registry(store, tmp_path / "artifacts")
    mv = register(reg, "recs", artifact_dir)
    assert mv.ref == "recs@1" and mv.flavor == "torch" and mv.entry == ENTRY
    pred = reg.load_predictor("recs@1")
    assert pred.contract is not None
    assert {f.name for f in pred.contract.fields("input")} >= {"user_id", "k", "recent_items", "exclude"}
    assert {f.name for f in pred.contract.fields("output")} >= {"items", "scores"}
    out = pred.predict(REQUESTS)
    assert [r["source"] for r in out] == ["model", "popularity", "foldin"]
    assert len(out[0]["items"]) == 4 and len(out[2]["items"]) == 20
    # the same answers as the predictor built straight from the folder
    direct = load(artifact_dir).predict(REQUESTS)
    assert [r["items"] for r in out] == [r["items"] for r in direct]


def test_the_module_uses_the_weights_it_is_given(artifact_dir):
    """Fold-in reads the ego embeddings the state dict loaded, not a second copy from disk."""
    state = torch.load(artifact_dir / "model.pt", weights_only=True)
    m = LightGCNServing(artifact_dir)
    with pytest.raises(RecsysError, match="not loaded"):
        m.predict_records(REQUESTS)
    m.load_state_dict(state)
    fresh = [{"user_id": 2, "recent_items": [3, 5], "k": 10}]
    trained_vec = m.predictor.embed(fresh)
    m.load_state_dict({k: torch.zeros_like(v) for k, v in state.items()})
    assert float(np.abs(m.predictor.user_ego).sum()) == 0.0
    assert not np.allclose(m.predictor.embed(fresh), trained_vec)
    scores = m(torch.tensor([0, 1]))
    assert scores.shape == (2, m.artifact.n_items)


def test_serving_json_configures_the_registered_version(store, artifact_dir, tmp_path):
    artifact_dir = Path(shutil.copytree(artifact_dir, tmp_path / "model"))
    (artifact_dir / "serving.json").write_text(json.dumps({"cache_size": 0, "default_k": 7}), "utf-8")
    reg = Registry(store, tmp_path / "artifacts")
    register(reg, "recs", artifact_dir)
    pred = reg.load_predictor("recs@1")
    assert len(pred.predict([{"user_id": 1}])[0]["items"]) == 7
    (artifact_dir / "serving.json").write_text(json.dumps({"cache_sise": 0}), "utf-8")
    with pytest.raises(RecsysError, match="cache_sise"):
        LightGCNServing(artifact_dir)


def test_python_flavour_entry_still_loads(store, artifact_dir, tmp_path):
    reg = Registry(store, tmp_path / "artifacts")
    register(reg, "recs", artifact_dir)  # writes the entry module
    mv = reg.register("recs-py", artifact_dir, "python", CONTRACT_PATH, entry=PYTHON_ENTRY)
    out = reg.load_predictor(mv.ref).predict(REQUESTS)
    assert [r["source"] for r in out] == ["model", "popularity", "foldin"]
