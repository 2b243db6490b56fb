import pytest

from trilho.errors import RecsysError
from trilho.recsys.api import evaluate, load_data
from trilho.recsys.data import save_dataset
from trilho.recsys.synth import synthesize


def test_evaluate_refuses_other_data(artifact_dir, tmp_path):
    save_dataset(tmp_path / "other", synthesize(scale=0.02, seed=1))
    with pytest.raises(RecsysError, match="evaluate on the data the model was trained on"):
        evaluate(artifact_dir, tmp_path / "other")


def test_evaluate_split_and_data_checked(artifact_dir, tiny_ds, tmp_path):
    with pytest.raises(RecsysError, match="split"):
        evaluate(artifact_dir, tmp_path, split="train")
    with pytest.raises(RecsysError, match="does not record its data"):
        evaluate(artifact_dir)  # saved by the fixture without a data path
    save_dataset(tmp_path / "same", tiny_ds)
    res = evaluate(artifact_dir, tmp_path / "same", split="valid", k=10)
    assert res["split"] == "valid" and "recall@10" in res["model"] and res["lift_vs_popularity"] > 1


def test_load_data_rejects_other_files(tmp_path):
    (tmp_path / "x.json").write_text("{}")
    with pytest.raises(RecsysError, match="neither a LightGCN folder"):
        load_data(tmp_path / "x.json")
