import numpy as np
import pytest

from trilho.errors import RecsysError
from trilho.recsys.synth import SHAPES, synthesize


def _pairs(inter):
    return set(zip(inter.users.tolist(), inter.items.tolist(), strict=True))


def test_gowalla_shape_scaled_exactly():
    ds = synthesize("gowalla", scale=0.05, seed=7)
    spec = SHAPES["gowalla"]
    assert ds.n_users == round(spec.users * 0.05) == 1493
    assert ds.n_items == round(spec.items * 0.05)
    assert len(ds.train) == round(spec.train * 0.05) == 40506
    tr, va, te = _pairs(ds.train), _pairs(ds.valid), _pairs(ds.test)
    assert not (tr & va) and not (tr & te) and not (va & te)
    deg = ds.train.user_degree()
    assert deg.min() >= 8 and 20 < deg.mean() < 35  # Gowalla: 27 training items per user on average
    assert 0.2 < len(ds.test) / len(ds.train) < 0.32 and (ds.test.user_degree() >= 1).all()


def test_popularity_is_heavy_tailed():
    deg = np.sort(synthesize("gowalla", scale=0.05, seed=7).train.item_degree())[::-1]
    top_share = deg[: deg.size // 100].sum() / deg.sum()
    assert top_share > 0.05 and deg[0] > 10 * np.median(deg)


def test_seeded():
    a, b = synthesize(scale=0.01, seed=3), synthesize(scale=0.01, seed=3)
    c = synthesize(scale=0.01, seed=4)
    assert np.array_equal(a.train.items, b.train.items) and np.array_equal(a.test.users, b.test.users)
    assert not np.array_equal(a.train.items, c.train.items)


@pytest.mark.parametrize(
    ("kw", "match"),
    [
        ({"shape": "movielens"}, "unknown shape"),
        ({"scale": 0.0001}, "too small"),
        ({"scale": 2.0}, "scale must be"),
    ],
)
def test_bad_arguments(kw, match):
    with pytest.raises(RecsysError, match=match):
        synthesize(**kw)
