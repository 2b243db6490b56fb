import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from trilho.errors import RecsysError
from trilho.recsys.artifact import build_artifact, load_artifact
from trilho.recsys.data import load_log_dataset
from trilho.recsys.naive import NaivePredictor
from trilho.recsys.predictor import PredictorConfig, RecsysPredictor, load
from trilho.recsys.train import TrainConfig, train


@pytest.fixture(scope="module")
def pred(artifact):
    return RecsysPredictor(artifact)


def _seen(artifact, u):
    a = artifact.arrays
    return set(a["seen_indices"][a["seen_indptr"][u] : a["seen_indptr"][u + 1]].tolist())


def test_exact_matches_brute_force(artifact):
    pred = RecsysPredictor(artifact, PredictorConfig(cache_size=0))
    a = artifact.arrays
    users = list(range(0, 60, 3))
    out = pred.predict([{"user_id": u, "k": 1 + u % 25} for u in users])
    for u, row in zip(users, out, strict=True):
        scores = a["user_final"][u] @ a["item_final"].T
        scores[list(_seen(artifact, u))] = -np.inf
        want = np.argsort(-scores, kind="stable")[: 1 + u % 25]
        assert row["source"] == "model"
        assert np.allclose(row["scores"], scores[want], rtol=1e-5)
        assert set(row["items"]) == set(want.tolist()) or np.allclose(
            np.sort(scores[row["items"]]), np.sort(scores[want])
        )


def test_mixed_batch_sources_and_masks(pred, artifact):
    pred.clear_cache()
    recs = [
        {"user_id": 3, "k": 10},
        {"user_id": 4, "k": 10, "recent_items": [0, 1, 2], "exclude": [5, 6]},
        {"user_id": 10**9, "k": 7},
        {"user_id": 10**9, "k": 7, "recent_items": [11]},
        {"user_id": 3, "k": 10, "exclude": [123456]},
    ]
    out = pred.predict(recs)
    assert [r["source"] for r in out] == ["model", "foldin", "popularity", "foldin", "model"]
    assert out[0]["items"] == out[4]["items"]  # unknown exclusions are ignored
    assert not set(out[1]["items"]) & (_seen(artifact, 4) | {0, 1, 2, 5, 6})
    assert out[2]["items"] == artifact.arrays["popularity"][:7].tolist()
    assert 11 not in out[3]["items"]
    for r, rec in zip(out, recs, strict=True):
        assert len(r["items"]) == len(r["scores"]) == rec["k"] and len(set(r["items"])) == rec["k"]
        assert r["scores"] == sorted(r["scores"], reverse=True)


def test_cache_keyed_by_user_and_version(pred):
    pred.clear_cache()
    first = pred.predict([{"user_id": 8, "k": 20}])[0]
    again = pred.predict([{"user_id": 8, "k": 20}, {"user_id": 8, "k": 5, "exclude": first["items"][:2]}])
    assert again[0]["source"] == "cache" and again[0]["items"] == first["items"]
    assert again[1]["source"] == "cache" and again[1]["items"] == first["items"][2:7]
    assert (8, pred.version) in pred._cache and all(v == pred.version for _, v in pred._cache)
    assert pred.predict([{"user_id": 8, "k": 20, "recent_items": [1]}])[0]["source"] == "foldin"


def test_latency_budget_spent_falls_back_to_popularity(artifact):
    pred = RecsysPredictor(artifact, PredictorConfig(budget_ms=0.0, cache_size=0))
    out = pred.predict([{"user_id": 1, "k": 5}, {"user_id": 2, "k": 5, "recent_items": [3]}])
    assert [r["source"] for r in out] == ["popularity", "popularity"]
    assert not set(out[0]["items"]) & _seen(artifact, 1)
    assert 3 not in out[1]["items"]


@pytest.mark.parametrize(
    ("record", "field"),
    [
        ({"user_id": 1, "k": 0}, "k"),
        ({"user_id": 1, "k": 10**6}, "k"),
        ({"user_id": 1, "k": True}, "k"),
        ({"user_id": 1, "k": "3"}, "k"),
        ({"k": 3}, "user_id"),
        ({"user_id": 1, "recent_items": [10**7]}, "recent_items"),
        ({"user_id": 1, "recent_items": "12"}, "recent_items"),
        ("not a record", "record"),
    ],
)
def test_bad_requests_raise_recsys_error(pred, record, field):
    with pytest.raises(RecsysError) as err:
        pred.predict([{"user_id": 0}, record])
    assert err.value.fields["field"] == field and err.value.fields["index"] == 1
    assert err.value.exit_code == 2


@pytest.mark.parametrize("kind", ["bf16", "hnsw", "fp16", "int8"])
def test_approximate_indexes_pass_recall_parity(artifact, kind):
    exact = RecsysPredictor(artifact, PredictorConfig(cache_size=0))
    approx = RecsysPredictor(artifact, PredictorConfig(index=kind, cache_size=0))
    assert approx.index_info["kind"] == kind and approx.index_info["recall_vs_exact"] >= 0.99
    recs = [{"user_id": u, "k": 20} for u in range(0, 299, 7)]
    a, e = approx.predict(recs), exact.predict(recs)
    overlap = np.mean([len(set(x["items"]) & set(y["items"])) / 20 for x, y in zip(a, e, strict=True)])
    assert overlap >= 0.98
    for r, rec in zip(a, recs, strict=True):
        assert not set(r["items"]) & _seen(artifact, rec["user_id"]) and len(r["items"]) == 20


def test_ann_above_threshold_and_refused_below_parity(artifact):
    assert RecsysPredictor(artifact, PredictorConfig(ann_threshold=100)).index_info["kind"] == "hnsw"
    with pytest.raises(RecsysError, match="exact top-20"):
        RecsysPredictor(artifact, PredictorConfig(index="int8", min_recall=1.01))
    with pytest.raises(RecsysError, match="unknown index"):
        RecsysPredictor(artifact, PredictorConfig(index="lsh"))


def test_hnsw_graph_parameters_are_configurable(artifact):
    p = RecsysPredictor(artifact, PredictorConfig(index="hnsw", hnsw_m=16, hnsw_ef_construction=40))
    assert p.index.index.hnsw.efConstruction == 40
    assert (p.index_info["m"], p.index_info["ef_construction"]) == (16, 40)
    with pytest.raises(RecsysError) as err:
        PredictorConfig(hnsw_m=32, hnsw_ef_construction=8)
    assert err.value.fields["field"] == "hnsw_m"


def test_factory_loads_saved_artifact(artifact_dir, artifact):
    pred = load(artifact_dir, cache_size=10)
    assert pred.version == artifact.version and pred.describe()["items"] == artifact.n_items
    assert (
        pred.predict([{"user_id": 0, "k": 3}])[0]["items"]
        == RecsysPredictor(artifact).predict([{"user_id": 0, "k": 3}])[0]["items"]
    )
    with pytest.raises(RecsysError, match="not a trilho recsys model"):
        load(artifact_dir.parent)


def test_naive_path_gives_the_same_answers(artifact_dir):
    art = load_artifact(artifact_dir)
    naive, fast = NaivePredictor(art), RecsysPredictor(art, PredictorConfig(cache_size=0))
    recs = [{"user_id": u, "k": 10} for u in (0, 17, 42)]
    for n, f in zip(naive.predict(recs), fast.predict(recs), strict=True):
        assert n["items"] == f["items"] and np.allclose(n["scores"], f["scores"], rtol=1e-4)


def test_timings_breakdown(artifact):
    pred = RecsysPredictor(artifact, PredictorConfig(cache_size=0))
    pred.predict([{"user_id": u} for u in range(32)])
    t = pred.timings()
    assert (
        t["rows"] == 32 and t["batches"] == 1 and set(t["seconds"]) == {"lookup", "score", "topk", "format"}
    )
    assert t["seconds"]["score"] > 0 and t["seconds"]["topk"] > 0
    pred.reset_timings()
    assert pred.timings()["rows"] == 0


def test_user_with_almost_everything_seen_gets_fewer_items(tiny_ds, trained):
    art = build_artifact(trained, tiny_ds)
    ptr, idx = art.arrays["seen_indptr"].copy(), art.arrays["seen_indices"]
    # give user 0 every item but three
    everything = np.arange(3, art.n_items)
    idx = np.concatenate([everything, idx[ptr[1] :]])
    ptr = np.concatenate([[0], ptr[1:] - ptr[1] + everything.size])
    art.arrays = {**art.arrays, "seen_indptr": ptr, "seen_indices": idx}
    out = RecsysPredictor(art).predict([{"user_id": 0, "k": 10}])[0]
    assert sorted(out["items"]) == [0, 1, 2] and all(np.isfinite(out["scores"]))


def test_string_ids_from_a_log(tmp_path):
    rng = np.random.default_rng(1)
    df = pd.DataFrame(
        {
            "user_id": [f"u{u}" for u in rng.integers(0, 40, 1500)],
            "item_id": [f"i{i}" for i in rng.integers(0, 60, 1500)],
        }
    )
    df.to_csv(tmp_path / "log.csv", index=False)
    ds, ids = load_log_dataset(tmp_path / "log.csv")
    res = train(ds, TrainConfig(epochs=1, threads=1), progress=False)
    pred = RecsysPredictor(build_artifact(res, ds, ids))
    out = pred.predict([{"user_id": "u3", "k": 5, "recent_items": ["i7"]}, {"user_id": "u5", "k": 5}])
    assert all(isinstance(i, str) and i.startswith("i") for r in out for i in r["items"])
    assert "i7" not in out[0]["items"]
    with pytest.raises(RecsysError, match="recent_items"):
        pred.predict([{"user_id": "u3", "recent_items": [7]}])


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    st.lists(
        st.fixed_dictionaries(
            {"user_id": st.integers(-5, 310), "k": st.integers(1, 60)},
            optional={
                "recent_items": st.lists(st.integers(0, 409), max_size=6),
                "exclude": st.lists(st.integers(-3, 420), max_size=6),
            },
        ),
        min_size=1,
        max_size=12,
    )
)
def test_any_valid_batch_respects_masks_and_k(pred, artifact, records):
    out = pred.predict(records)
    assert len(out) == len(records)
    for rec, row in zip(records, out, strict=True):
        known = 0 <= rec["user_id"] < artifact.n_users
        blocked = set(rec.get("exclude", [])) | set(rec.get("recent_items", []))
        if known:
            blocked |= _seen(artifact, rec["user_id"])
        assert not set(row["items"]) & blocked
        assert len(row["items"]) == len(set(row["items"])) == rec["k"]
        assert row["scores"] == sorted(row["scores"], reverse=True)
        assert row["source"] == (
            "foldin" if rec.get("recent_items") else "popularity" if not known else row["source"]
        )
