"""compare_runs is pure: properties over random per-case verdicts."""

from hypothesis import given, settings
from hypothesis import strategies as st

from trilho.golden import CaseResult, GateSpec, RunResult, compare_runs


def run(passed: list[bool], model: str) -> RunResult:
    results = tuple(CaseResult(f"c{i}", p, (), (), {}) for i, p in enumerate(passed))
    return RunResult("s", "sha256:x", model, "h", results)


verdicts = st.lists(st.booleans(), min_size=1, max_size=40)


@settings(max_examples=60, deadline=None)
@given(verdicts, st.floats(0.001, 0.5))
def test_a_candidate_never_worse_on_any_case_passes(base, delta):
    cand = [True if b else c for b, c in zip(base, base[::-1], strict=True)]  # only fixes, no regressions
    cmp = compare_runs(run(cand, "m@2"), run(base, "m@1"), GateSpec(delta=delta, resamples=200))
    assert cmp.passed and all(c["change"] != "regressed" for c in cmp.cases)


@settings(max_examples=60, deadline=None)
@given(verdicts, st.integers(0, 2**16))
def test_deltas_and_interval_are_consistent(base, seed):
    cand = [not b for b in base]
    cmp = compare_runs(run(cand, "m@2"), run(base, "m@1"), GateSpec(resamples=200, seed=seed))
    m = cmp.metrics[0]
    assert m.name == "pass_rate" and m.gated
    assert abs(m.delta - (m.candidate - m.baseline)) < 1e-12
    assert m.ci_low <= m.ci_high
    assert m.passed == (m.ci_low > -cmp.gate.delta)
    assert len([c for c in cmp.cases if c["change"] == "regressed"]) == sum(base)
