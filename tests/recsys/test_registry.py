"""The saved model registers with trilho.registry and loads back as a batch predictor."""

from trilho.recsys.api import ENTRY, register
from trilho.registry import Registry


def test_register_and_load(store, artifact_dir, tmp_path):
    reg = Registry(store, tmp_path / "artifacts")
    mv = register(reg, "recs", artifact_dir)
    assert mv.ref == "recs@1" and mv.flavor == "python" and mv.entry == ENTRY
    pred = reg.load_predictor("recs@1")
    out = pred.predict(
        [{"user_id": 1, "k": 4}, {"user_id": 10**9, "k": 2}, {"user_id": 2, "recent_items": [3]}]
    )
    assert [r["source"] for r in out] == ["model", "popularity", "foldin"]
    assert len(out[0]["items"]) == 4 and len(out[2]["items"]) == 20
