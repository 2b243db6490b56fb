"""Sticky assignment: stable hashing, weights honoured, and raising a canary only moves units into it."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from trilho.serving.assignment import BUCKETS, Assigner, bucket_of, shadow_selected
from trilho.store.routing import Deployment, Route


def _dep(canary: float, kill: str = "off") -> Deployment:
    return Deployment("m", routes=(Route("1", weight=1 - canary), Route("2", "canary", canary)), kill=kill)


def test_bucket_is_stable_across_processes():
    # xxh3_64 of b"m\x00user-42" mod 10,000: a fixed number, unlike Python's salted hash()
    assert bucket_of("m", "user-42") == bucket_of("m", "user-42")
    assert 0 <= bucket_of("m", "user-42") < BUCKETS
    assert bucket_of("m", "user-42") == 5539


@settings(max_examples=60, deadline=None)
@given(
    units=st.lists(st.text(min_size=1, max_size=12), min_size=1, max_size=50, unique=True),
    low=st.integers(0, 100),
    delta=st.integers(0, 100),
)
def test_raising_canary_weight_only_moves_units_into_the_canary(units, low, delta):
    lo, hi = low / 100, min(100, low + delta) / 100
    before, after = Assigner.for_deployment(_dep(lo)), Assigner.for_deployment(_dep(hi))
    for u in units:
        if before.route_for(u).version == "2":
            assert after.route_for(u).version == "2"


def test_weights_are_honoured_within_a_percent():
    a = Assigner.for_deployment(_dep(0.1))
    share = sum(a.route_for(f"user-{i}").version == "2" for i in range(20_000)) / 20_000
    assert abs(share - 0.1) < 0.01


def test_kill_sends_everyone_to_stable():
    a = Assigner.for_deployment(_dep(0.5, kill="candidates"))
    assert {a.route_for(f"u{i}").version for i in range(200)} == {"1"}


def test_shadow_selection_fraction():
    assert not shadow_selected("m", "r", 0.0) and shadow_selected("m", "r", 1.0)
    share = sum(shadow_selected("m", f"r{i}", 0.25) for i in range(20_000)) / 20_000
    assert abs(share - 0.25) < 0.015


@settings(max_examples=80, deadline=None)
@given(
    weights=st.lists(st.integers(0, 33), min_size=0, max_size=3),  # percent; stable keeps the rest
    kill=st.sampled_from(["off", "candidates", "all"]),
)
def test_the_versions_an_assigner_names_are_exactly_those_it_can_route_to(weights, kill):
    canaries = tuple(Route(str(i + 2), "canary", w / 100) for i, w in enumerate(weights))
    dep = Deployment("m", routes=(Route("1", weight=1 - sum(weights) / 100), *canaries), kill=kill)
    a = Assigner.for_deployment(dep)
    reachable = {a.route_for_bucket(b).version for b in range(BUCKETS)}
    # the gateway waits for exactly these versions before it switches a model to a new deployment
    assert reachable == a.versions
    assert kill == "off" or a.versions == {"1"}
