"""Comparators are pure: properties that hold for any values, plus the spellings a suite may use."""

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from trilho.errors import GoldenError
from trilho.golden.comparators import (
    Comparator,
    exact_equal,
    parse_comparator,
    same_class,
    set_equal,
    topk_overlap,
    within_abs,
    within_rel,
    within_tolerance,
)

finite = st.floats(allow_nan=False, allow_infinity=False, min_value=-1e9, max_value=1e9)
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | finite | st.text(max_size=5),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=3), inner, max_size=3),
    max_leaves=10,
)
items = st.lists(st.integers(0, 30), max_size=15)


@given(json_values)
def test_exact_is_reflexive(v):
    assert exact_equal(v, v)


@given(json_values, json_values)
def test_exact_is_symmetric(a, b):
    assert exact_equal(a, b) == exact_equal(b, a)


def test_exact_tells_bools_from_ints_and_nan_equals_nan():
    assert not exact_equal(True, 1)
    assert exact_equal(1, 1.0)
    assert exact_equal(math.nan, math.nan)
    assert not exact_equal([1, 2], [1, 2, 3])


@given(finite, st.floats(0, 1e6))
def test_abs_tolerance_accepts_itself_and_is_monotone(x, tol):
    assert within_abs(x, x, 0.0)
    assert within_abs(x, x + tol / 2, tol) or abs((x + tol / 2) - x) > tol  # float rounding at huge x
    if within_abs(x, x + 1.0, tol):
        assert within_abs(x, x + 1.0, tol * 2)


@given(finite, finite, st.floats(0, 10))
def test_rel_tolerance_is_symmetric(a, b, tol):
    assert within_rel(a, b, tol) == within_rel(b, a, tol)


@given(st.lists(finite, min_size=1, max_size=5), st.floats(0, 1))
def test_abs_is_elementwise_on_lists(xs, tol):
    assert within_abs(xs, list(xs), tol)
    assert not within_abs(xs, xs + [0.0], tol)


def test_numeric_comparators_reject_non_numbers():
    assert not within_abs("a", "a", 1.0)
    assert not within_rel(None, 1.0, 1.0)


@given(st.lists(finite, min_size=1, max_size=6))
def test_class_of_a_score_vector_is_its_argmax(scores):
    best = max(range(len(scores)), key=lambda i: scores[i])
    assert same_class(scores, best)
    assert same_class(scores, str(best))


def test_class_equality_normalises_labels():
    assert same_class(1, "1") and same_class(2.0, 2) and not same_class("cat", "dog")


@given(items, items, st.integers(1, 20))
def test_topk_overlap_is_a_fraction(a, b, k):
    assert 0.0 <= topk_overlap(a, b, k) <= 1.0


@given(items, st.integers(1, 20), st.randoms())
def test_topk_overlap_ignores_order_inside_the_top_k(a, k, rnd):
    top = list(dict.fromkeys(a))[:k]
    shuffled = top[:]
    rnd.shuffle(shuffled)
    assert topk_overlap(top, shuffled, k) == 1.0


@given(items, items)
def test_set_equality_ignores_order_and_duplicates(a, b):
    assert set_equal(a, list(reversed(a)) + a[:1])
    assert set_equal(a, b) == (set(a) == set(b))


def test_parse_comparator_spellings():
    assert parse_comparator("exact") == Comparator("exact")
    assert parse_comparator({"abs": 0.01}) == Comparator("abs", tolerance=0.01)
    assert parse_comparator({"rel": 0.05}).kind == "rel"
    assert parse_comparator({"topk": 5, "min_overlap": 0.8}) == Comparator("topk", k=5, min_overlap=0.8)
    assert parse_comparator("set").kind == "set" and parse_comparator("class").kind == "class"


@pytest.mark.parametrize(
    "bad", ["fuzzy", {"abs": -1}, {"topk": 0}, {"topk": 3, "min_overlap": 2}, 3, {"x": 1}]
)
def test_parse_comparator_rejects_bad_specs_with_the_valid_ones(bad):
    with pytest.raises(GoldenError) as info:
        parse_comparator(bad, "fields.score")
    assert "fields.score" in str(info.value)
    assert "exact" in (info.value.fix or "")


def test_compare_reports_detail_and_score():
    r = Comparator("abs", tolerance=0.1).compare("p", 0.5, 0.7)
    assert not r.passed and r.score == 0.0 and "abs≤0.1" in r.detail
    t = Comparator("topk", k=4, min_overlap=0.5).compare("items", [1, 2, 3, 4], [4, 3, 9, 8])
    assert t.passed and t.score == 0.5


@given(finite, finite, st.floats(0, 1e3))
def test_tolerance_rule_reduces_to_abs_when_rel_is_zero(e, a, tol):
    assert within_tolerance(e, a, tol, 0.0) == within_abs(e, a, tol)


@given(finite, st.floats(0, 1), st.floats(0, 1))
def test_tolerance_rule_takes_the_looser_bound(e, abs_tol, rel_tol):
    bound = max(abs_tol, rel_tol * abs(e))
    assert within_tolerance(e, e + bound * 0.5, abs_tol, rel_tol) or bound * 0.5 + e == e
    assert parse_comparator({"abs": abs_tol, "rel": rel_tol}) == Comparator("tol", abs_tol, rel_tol)
