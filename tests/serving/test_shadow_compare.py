"""The shadow step's pure parts: tallies per (primary version, comparator) add up to the pairwise comparisons,
and a batch is called in order, in chunks no larger than the batch size, failures becoming error outcomes."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from trilho.serving.comparators import parse_comparator
from trilho.serving.shadow_compare import ShadowBatch, run_shadow_batch, tally

SPECS = ("exact", "numeric:0.01:y")
COMPARATORS = [(s, parse_comparator(s)) for s in SPECS]

requests = st.lists(
    st.tuples(
        st.sampled_from(["1", "2"]),  # the primary version that answered
        # (primary, shadow) outputs of each record
        st.lists(st.tuples(st.integers(-5, 5), st.integers(-5, 5)), min_size=1, max_size=4),
    ),
    min_size=1,
    max_size=12,
)


@given(requests)
def test_tallies_add_up_to_the_pairwise_comparisons(reqs):
    jobs = [(v, len(pairs)) for v, pairs in reqs]
    primary = [{"y": float(p)} for _, pairs in reqs for p, _ in pairs]
    shadow = [{"y": float(s)} for _, pairs in reqs for _, s in pairs]
    tallies = tally(COMPARATORS, jobs, primary, shadow)
    for spec in SPECS:
        for version in {v for v, _ in reqs}:
            (t,) = [t for t in tallies if t.comparator == spec and t.primary_version == version]
            pairs = [pair for v, ps in reqs if v == version for pair in ps]
            assert t.compared == len(pairs)
            assert t.agreed == sum(p == s for p, s in pairs)  # integers: exact and 1 % tolerance agree
            assert t.score_sum == pytest.approx(t.agreed)
    assert sum(t.compared for t in tallies) == len(primary) * len(SPECS)


def test_tally_refuses_outputs_that_do_not_line_up():
    with pytest.raises(ValueError, match="2 shadow outputs for 1 primary"):
        tally(COMPARATORS, [("1", 1)], [{"y": 1.0}], [{"y": 1.0}, {"y": 2.0}])


@given(st.integers(1, 40), st.integers(1, 9))
def test_a_batch_is_called_in_order_in_chunks_of_at_most_the_batch_size(n, size):
    calls: list[int] = []

    def predict(records):
        calls.append(len(records))
        return [{"y": r["x"] + 1} for r in records]

    records = [{"x": float(i)} for i in range(n)]
    primary = [{"y": r["x"] + 1} for r in records]
    batch = ShadowBatch("m", "3", ("exact",), (("1", n),), records, primary, size)
    outcome = run_shadow_batch(predict, COMPARATORS[:1], batch)
    assert outcome.error is None
    assert max(calls) <= size and sum(calls) == n
    assert [records for _, records in outcome.calls] == calls  # every call answered its whole chunk
    assert [(t.compared, t.agreed) for t in outcome.tallies] == [(n, n)]


def test_a_failing_or_miscounting_model_is_an_error_outcome_not_an_exception():
    batch = ShadowBatch("m", "3", ("exact",), (("1", 2),), [{"x": 1}, {"x": 2}], [{"y": 1}, {"y": 2}])

    def boom(records):
        raise RuntimeError("CUDA out of memory")

    failed = run_shadow_batch(boom, COMPARATORS[:1], batch)
    assert failed.error == "RuntimeError: CUDA out of memory" and failed.tallies == ()
    short = run_shadow_batch(lambda records: [], COMPARATORS[:1], batch)
    assert short.error == "ValueError: shadow returned 0 outputs for 2 records"


def test_both_sides_are_compared_in_the_shadow_versions_contract_form():
    from trilho.errors import SchemaViolation

    def contract(record):  # declared fields only, y as float64
        if not isinstance(record.get("y"), int | float):
            raise SchemaViolation("y must be a number", field="y", value=record.get("y"), rule="type")
        return {"y": float(record["y"])}

    def model(records):
        return [{"y": r["x"], "debug": "trace"} for r in records]

    batch = ShadowBatch("m", "2", ("exact",), (("1", 2),), [{"x": 1}, {"x": 2}], [{"y": 1.0}, {"y": 2}])
    raw = run_shadow_batch(model, COMPARATORS[:1], batch)
    assert [(t.compared, t.agreed) for t in raw.tallies] == [(2, 0)]
    normalised = run_shadow_batch(model, COMPARATORS[:1], batch, contract)
    assert [(t.compared, t.agreed) for t in normalised.tallies] == [(2, 2)]
    bad = run_shadow_batch(lambda records: [{"y": "x"} for _ in records], COMPARATORS[:1], batch, contract)
    assert bad.error is not None and "y must be a number" in bad.error  # an error, as it would be live


class Poisonable:
    """The shadow version: raises on any call holding a poisoned record (``x < 0``), or on every call while
    ``down``; otherwise answers like the primary (``y = 2x``)."""

    def __init__(self, down: bool = False) -> None:
        self.down = down
        self.calls = 0

    def __call__(self, records):
        self.calls += 1
        if self.down:
            raise ConnectionError("model backend is down")
        bad = [r["x"] for r in records if r["x"] < 0]
        if bad:
            raise ValueError(f"cannot score x={bad[0]}")
        return [{"y": 2 * r["x"]} for r in records]


shadow_requests = st.lists(
    st.tuples(st.sampled_from(["1", "2"]), st.lists(st.integers(-2, 30), min_size=1, max_size=4)),
    min_size=1,
    max_size=16,
)


def _batch(reqs, size=32):
    jobs = tuple((v, len(xs)) for v, xs in reqs)
    records = [{"x": x} for _, xs in reqs for x in xs]
    primary = [{"y": 2 * r["x"]} for r in records]  # stable answers every record
    return ShadowBatch("m", "3", SPECS, jobs, records, primary, size)


@settings(max_examples=80, deadline=None)
@given(shadow_requests, st.integers(1, 40))
def test_a_record_the_shadow_fails_on_costs_only_its_own_pair(reqs, size):
    model = Poisonable()
    outcome = run_shadow_batch(model, COMPARATORS, _batch(reqs, size), good={"x": 1})
    xs = [(v, x) for v, row in reqs for x in row]
    if all(x < 0 for _, x in xs):  # nothing answered: the step's error
        assert outcome.error is not None and outcome.tallies == ()
        return
    assert outcome.error is None
    assert (outcome.record_error is None) == all(x >= 0 for _, x in xs)
    for t in outcome.tallies:
        mine = [x for v, x in xs if v == t.primary_version]
        assert t.errors == sum(x < 0 for x in mine)  # one candidate error per poisoned record
        assert t.compared == t.agreed == sum(x >= 0 for x in mine)  # every other pair compared, and agrees


@settings(max_examples=40, deadline=None)
@given(st.integers(2, 32), st.data())
def test_one_poisoned_record_among_n_in_a_chunk_leaves_n_minus_1_compared_pairs_with_no_good_record(n, data):
    bad = data.draw(st.integers(0, n - 1))
    xs = [-1 if i == bad else i for i in range(n)]
    outcome = run_shadow_batch(Poisonable(), COMPARATORS[:1], _batch([("1", xs)]))
    (t,) = outcome.tallies
    assert (t.compared, t.agreed, t.errors) == (n - 1, n - 1, 1)
    assert "cannot score x=-1" in outcome.record_error
    assert outcome.calls == ()  # calls spent isolating are no latency observation


def test_a_shadow_version_that_is_down_is_one_step_error_after_one_probe_per_chunk():
    model = Poisonable(down=True)
    outcome = run_shadow_batch(model, COMPARATORS, _batch([("1", list(range(64)))]), good={"x": 1})
    assert outcome.error == "ConnectionError: model backend is down" and outcome.tallies == ()
    assert model.calls == 4  # two chunks of 32: the call and the probe of the good record each
    blind = Poisonable(down=True)  # no good record known: both halves failing says the model is down
    assert run_shadow_batch(blind, COMPARATORS, _batch([("1", list(range(32)))])).error is not None
    assert blind.calls == 3


def test_an_output_its_contract_rejects_is_an_error_of_that_pair_only():
    from trilho.errors import SchemaViolation

    def contract(record):
        if record["y"] == 8:
            raise SchemaViolation("y out of range", field="y", value=8, rule="range")
        return record

    outcome = run_shadow_batch(Poisonable(), COMPARATORS[:1], _batch([("1", [1, 4, 5])]), contract)
    assert [(t.compared, t.agreed, t.errors) for t in outcome.tallies] == [(2, 2, 1)]
