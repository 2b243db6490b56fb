import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from trilho.recsys.data import Interactions
from trilho.recsys.metrics import evaluate_embeddings, evaluate_popularity, hits_matrix, recall_ndcg


def test_known_values():
    hits = np.array([[1, 0, 1], [0, 0, 0], [1, 1, 1]], dtype=bool)
    recall, ndcg = recall_ndcg(hits, np.array([2, 4, 3]))
    assert np.allclose(recall, [1.0, 0.0, 1.0])
    d = 1 / np.log2(np.arange(2, 5))
    assert np.allclose(ndcg, [(d[0] + d[2]) / (d[0] + d[1]), 0.0, 1.0])


@settings(max_examples=80, deadline=None)
@given(arrays(bool, st.tuples(st.integers(1, 6), st.integers(1, 8))), st.data())
def test_metric_bounds_and_perfect_ranking(hits, data):
    n_hits = hits.sum(axis=1)
    n_truth = np.array([data.draw(st.integers(int(h), int(h) + 5)) for h in n_hits])
    recall, ndcg = recall_ndcg(hits, n_truth)
    assert ((recall >= 0) & (recall <= 1 + 1e-12)).all() and ((ndcg >= 0) & (ndcg <= 1 + 1e-12)).all()
    # moving every hit to the front never lowers ndcg and keeps recall
    front = np.sort(hits, axis=1)[:, ::-1]
    r2, n2 = recall_ndcg(front, n_truth)
    assert np.allclose(r2, recall) and (n2 >= ndcg - 1e-12).all()


def test_hits_matrix():
    top = np.array([[3, 1], [0, 2]])
    hits = hits_matrix(top, np.array([0, 1, 1]), np.array([1, 2, 9]), 10)
    assert hits.tolist() == [[False, True], [False, True]]


def test_full_ranking_masks_known_items():
    # user 0 knows item 0 (the best-scoring one): it must not count, so the truth item 1 ranks first
    train = Interactions(np.array([0]), np.array([0]), 1, 3)
    truth = Interactions(np.array([0]), np.array([1]), 1, 3)
    user = np.array([[1.0]])
    items = np.array([[3.0], [2.0], [1.0]])
    res = evaluate_embeddings(user, items, truth, [train], k=1)
    assert res.recall == 1.0 and res.ndcg == 1.0
    assert evaluate_embeddings(user, items, truth, [], k=1).recall == 0.0


def test_popularity_baseline_ranks_by_degree():
    train = Interactions(np.array([0, 1, 2, 1]), np.array([2, 2, 2, 1]), 4, 3)
    truth = Interactions(np.array([3]), np.array([2]), 4, 3)
    assert evaluate_popularity(train, truth, [train], k=1).recall == 1.0
