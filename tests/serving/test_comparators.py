"""Shadow comparators: pure, symmetric where they should be, scores in [0, 1]."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from trilho.errors import InputError
from trilho.serving.comparators import cosine, exact, label, numeric, parse_comparator, topk

json_leaf = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-1000, 1000),
    st.text(max_size=5),
    st.floats(allow_nan=False, allow_infinity=False, width=32),
)
records = st.dictionaries(st.text(min_size=1, max_size=4), json_leaf, max_size=4)
vectors = st.lists(st.floats(-10, 10, allow_nan=False), min_size=1, max_size=8)


@given(records, records)
def test_exact_is_reflexive_and_symmetric(a, b):
    assert exact(a, a).agreed and exact(a, a).score == 1.0
    assert exact(a, b) == exact(b, a)


@given(records)
def test_exact_ignores_key_order(a):
    assert exact(a, dict(reversed(list(a.items())))).agreed


@given(st.floats(-1e6, 1e6, allow_nan=False), st.floats(0, 1e-3))
def test_numeric_tolerance(x, eps):
    cmp = numeric(1e-3)
    assert cmp({"y": x}, {"y": x + eps * max(1.0, abs(x)) * 0.5}).agreed
    assert not cmp({"y": x}, {"y": x + 0.01 * max(1.0, abs(x))}).agreed
    assert not cmp({"y": x}, {"z": x}).agreed


def test_label_agreement():
    assert label("c")({"c": "a", "p": 0.1}, {"c": "a", "p": 0.9}).agreed
    assert not label("c")({"c": "a"}, {"c": "b"}).agreed


@given(
    st.lists(st.integers(0, 30), min_size=0, max_size=15, unique=True),
    st.lists(st.integers(0, 30), min_size=0, max_size=15, unique=True),
)
def test_topk_overlap_in_unit_interval_and_symmetric(a, b):
    cmp = topk(10, "items")
    r = cmp({"items": a}, {"items": b})
    assert 0.0 <= r.score <= 1.0
    assert r == cmp({"items": b}, {"items": a})
    assert cmp({"items": a}, {"items": list(a)}).score == 1.0


def test_topk_half_overlap():
    r = topk(4, "items", 0.75)({"items": [1, 2, 3, 4]}, {"items": [3, 4, 5, 6]})
    assert r.score == 0.5 and not r.agreed


@given(vectors, st.floats(0.1, 10))
def test_cosine_scale_invariant(v, k):
    if all(abs(x) < 1e-6 for x in v):
        return
    r = cosine("e")({"e": v}, {"e": [x * k for x in v]})
    assert r.agreed and r.score == pytest.approx(1.0)


def test_cosine_orthogonal_and_bad_input():
    assert cosine("e")({"e": [1, 0]}, {"e": [0, 1]}).score == 0.0
    assert not cosine("e")({"e": [1, 0]}, {"e": [1, 0, 0]}).agreed
    assert not cosine("e")({"e": "x"}, {"e": [1]}).agreed


def test_parse_comparator_specs():
    assert parse_comparator("exact") is exact
    assert parse_comparator("numeric:0.1:y")({"y": 1.0}, {"y": 1.05}).agreed
    assert parse_comparator("label:c")({"c": 1}, {"c": 1}).agreed
    assert parse_comparator("topk:2:items")({"items": [1, 2]}, {"items": [2, 1]}).agreed
    assert parse_comparator("cosine:e:0.5")({"e": [1, 1]}, {"e": [1, 0]}).agreed
    for bad in ("nope", "topk:x:items", "label", "exact:1"):
        with pytest.raises(InputError) as err:
            parse_comparator(bad)
        assert err.value.fields["field"] == "comparators"


@given(st.floats(-1e9, 1e9, allow_nan=False), st.integers(-4, 4))
def test_equality_comparators_see_floats_up_to_round_off_and_everything_else_exactly(x, ulps):
    import math

    y = x
    for _ in range(abs(ulps)):  # a few ulps apart: what another batch shape's BLAS kernel gives
        y = math.nextafter(y, math.inf if ulps > 0 else -math.inf)
    assert exact({"p": [x, 1]}, {"p": [y, 1]}).agreed
    assert label("p")({"p": x}, {"p": y}).agreed
    assert not exact({"p": x}, {"p": x + 1e-6 * max(1.0, abs(x))}).agreed
    big = 10**15 + (int(abs(x)) % 1000)
    assert not exact({"id": big}, {"id": big + 1}).agreed  # integers (ids) compare exactly
    assert not exact({"flag": True}, {"flag": 1}).agreed and not exact({"flag": 1.0}, {"flag": True}).agreed
