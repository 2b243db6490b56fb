"""trilho.obs.histograms: one quantile rule (Prometheus') and one merge, whatever shape the bounds come in."""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from trilho.obs.histograms import merge, quantile

BOUNDS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25]
counts_strategy = st.lists(st.integers(0, 50), min_size=len(BOUNDS) + 1, max_size=len(BOUNDS) + 1)


def test_interpolates_inside_the_bucket_and_stops_at_the_last_finite_bound():
    assert quantile([1.0, 2.0], [0, 10, 0], 0.5) == pytest.approx(1.5)
    assert quantile([0.1, 0.2, 0.5], [100, 0, 0, 0], 0.5) == pytest.approx(0.05)
    assert quantile([0.1, 0.2, 0.5], [50, 50, 0, 0], 0.75) == pytest.approx(0.15)
    assert quantile([0.1, 0.2, 0.5], [0, 0, 0, 10], 0.99) == 0.5  # only the +Inf bucket: its lower edge
    assert quantile([1.0], [0, 0], 0.5) is None


def test_bounds_ending_in_inf_mean_the_same_histogram():
    assert quantile([0.1, 0.2, 0.5, math.inf], [50, 50, 0, 0], 0.75) == quantile(
        [0.1, 0.2, 0.5], [50, 50, 0, 0], 0.75
    )


def test_a_shape_mismatch_and_a_bad_q_are_refused():
    with pytest.raises(ValueError, match="counts"):
        quantile([1.0, 2.0], [1, 2, 3, 4], 0.5)
    with pytest.raises(ValueError, match="q == 1.5"):
        quantile([1.0], [1, 1], 1.5)


@given(counts_strategy)
def test_quantiles_are_monotone_in_q_and_within_the_bounds(counts):
    qs = [quantile(BOUNDS, counts, q) for q in (0.1, 0.5, 0.9, 0.99)]
    if sum(counts) == 0:
        assert qs == [None] * 4
        return
    assert all(0.0 <= v <= BOUNDS[-1] for v in qs)
    assert qs == sorted(qs)


@given(counts_strategy, counts_strategy, st.floats(0.0, 1.0))
def test_merging_two_windows_is_the_histogram_of_both(a, b, q):
    merged = merge([{"bounds": BOUNDS, "counts": a}, None, {"bounds": BOUNDS, "counts": b}])
    assert merged == {"bounds": BOUNDS, "counts": [float(x + y) for x, y in zip(a, b, strict=True)]}
    assert quantile(merged["bounds"], merged["counts"], q) == quantile(
        BOUNDS, [x + y for x, y in zip(a, b, strict=True)], q
    )


def test_histograms_with_other_bounds_cannot_be_merged():
    assert merge([{"bounds": [1.0], "counts": [1, 0]}, {"bounds": [2.0], "counts": [1, 0]}]) is None
    assert merge([]) == {"bounds": [], "counts": []}
