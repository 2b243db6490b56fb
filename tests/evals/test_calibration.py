"""Judge-vs-human agreement: the XSTest reference figures, κ/α against known values, the κ floor, the CLI."""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.metrics import cohen_kappa_score

from trilho.errors import EvalError
from trilho.evals.agreement import cohen_kappa, krippendorff_alpha, pair_agreement
from trilho.evals.calibration import calibrate, calibrate_labels

XSTEST = "xstest_v2_completions_gpt4_gpteval.csv"


def test_reproduces_xstest_gpt4_reference(genai_data):
    report = calibrate(genai_data / XSTEST, human="final_label", judge="gpt4_label", n_boot=500)
    pa = report.judges["gpt4_label"]
    assert (pa.agree, pa.n) == (421, 450)
    assert round(pa.kappa.estimate, 3) == 0.873
    assert pa.kappa.low < 0.873 < pa.kappa.high
    assert pa.percent.low < 421 / 450 < pa.percent.high
    # GPT-4 never says partial refusal: its recall on that class is 0 and precision undefined
    assert pa.per_class["3_partial_refusal"]["recall"] == 0.0
    assert pa.per_class["3_partial_refusal"]["precision"] is None
    assert sum(map(sum, pa.confusion)) == 450


def test_human_human_agreement_and_alpha(genai_data):
    report = calibrate(
        genai_data / XSTEST, human="annotation_1", judge="annotation_2", raters=["final_label"], n_boot=200
    )
    assert report.judges["annotation_2"].agree == 443
    assert report.alpha is not None and 0.9 < report.alpha <= 1.0


def test_bootstrap_is_seeded():
    a = ["x", "y", "x", "y", "x", "x", "y", "y"] * 5
    b = ["x", "y", "y", "y", "x", "x", "x", "y"] * 5
    r1, r2 = pair_agreement(a, b, seed=7, n_boot=300), pair_agreement(a, b, seed=7, n_boot=300)
    r3 = pair_agreement(a, b, seed=8, n_boot=300)
    assert r1.kappa == r2.kappa
    assert r1.kappa.low != r3.kappa.low or r1.kappa.high != r3.kappa.high


labels = st.lists(st.tuples(st.sampled_from("abc"), st.sampled_from("abc")), min_size=2, max_size=60)


@pytest.mark.filterwarnings("ignore")
@settings(max_examples=30, deadline=None)
@given(labels)
def test_kappa_matches_sklearn(pairs):
    a, b = [p[0] for p in pairs], [p[1] for p in pairs]
    ours = cohen_kappa(a, b)
    ref = cohen_kappa_score(a, b)
    if ref == ref:  # sklearn gives nan when both raters use one identical label
        assert ours == pytest.approx(ref, abs=1e-9)


@settings(max_examples=20, deadline=None)
@given(st.lists(st.sampled_from("abc"), min_size=2, max_size=40), st.integers(2, 5))
def test_alpha_is_one_when_all_raters_agree(values, raters):
    assert krippendorff_alpha([values] * raters) == 1.0


def test_krippendorff_alpha_textbook_example():
    # Krippendorff (2011) "Computing Krippendorff's alpha-reliability", nominal example: alpha = 0.743
    n = None
    ratings = [
        [1, 2, 3, 3, 2, 1, 4, 1, 2, n, n, n],
        [1, 2, 3, 3, 2, 2, 4, 1, 2, 5, n, 3],
        [n, 3, 3, 3, 2, 3, 4, 2, 2, 5, 1, n],
        [1, 2, 3, 3, 2, 4, 4, 1, 2, 5, 1, n],
    ]
    assert krippendorff_alpha(ratings) == pytest.approx(0.743, abs=0.0005)


def test_ties_reported_separately():
    human = ["A", "B", "tie", "A", "tie", "B"]
    judge = ["A", "A", "tie", "A", "B", "B"]
    pa = calibrate_labels(human, {"j": judge}, ties=["tie"], n_boot=50).judges["j"]
    assert (pa.agree, pa.n) == (4, 6)
    assert (pa.agree_without_ties, pa.n_without_ties) == (3, 4)


def test_kappa_floor_blocks_gating():
    human = ["a", "b"] * 20
    judge = ["a", "a"] * 20
    report = calibrate_labels(human, {"weak": judge}, n_boot=50)
    assert not report.can_gate(0.6)
    with pytest.raises(EvalError, match="below the floor"):
        report.require_gate_worthy(0.6)


def test_bad_inputs(tmp_path, genai_data):
    with pytest.raises(EvalError, match="column 'nope' is missing"):
        calibrate(genai_data / XSTEST, human="final_label", judge="nope")
    empty = tmp_path / "empty.jsonl"
    empty.write_text("")
    with pytest.raises(EvalError, match="no rows"):
        calibrate(empty, human="h", judge="j")
    with pytest.raises(EvalError, match="does not exist"):
        calibrate(tmp_path / "missing.csv", human="h", judge="j")


def test_cli_calibrate_json_and_save(cli, home, genai_data):
    r = cli(
        "eval",
        "calibrate",
        str(genai_data / XSTEST),
        "--human",
        "final_label",
        "--judge",
        "gpt4_label",
        "--n-boot",
        "200",
        "--save",
        "gpt4-refusal",
        "--json",
    )
    assert r.exit_code == 0, r.output
    data = json.loads(r.stdout)
    assert data["judges"]["gpt4_label"]["agree"] == 421
    assert round(data["judges"]["gpt4_label"]["cohen_kappa"]["estimate"], 3) == 0.873
    assert data["can_gate"] == {"gpt4_label": True}
    assert data["saved_id"] >= 1


def test_cli_calibrate_missing_column_exits_2(cli, home, genai_data):
    r = cli(
        "eval", "calibrate", str(genai_data / XSTEST), "--human", "final_label", "--judge", "zzz", "--json"
    )
    assert r.exit_code == 2
    assert json.loads(r.stdout)["field"] == "column"


def test_calibration_records_gate_judges(store):
    from trilho.evals.records import latest_calibration, require_calibrated, save_calibration

    with pytest.raises(EvalError, match="no calibration"):
        require_calibrated(store, "j1")
    good = calibrate_labels(["a", "b"] * 20, {"j": ["a", "b"] * 20}, n_boot=20)
    bad = calibrate_labels(["a", "b"] * 20, {"j": ["a", "a"] * 20}, n_boot=20)
    save_calibration(store, "j1", good)
    assert require_calibrated(store, "j1") == 1.0
    save_calibration(store, "j1", bad)
    assert latest_calibration(store, "j1")["kappa"] == 0.0
    with pytest.raises(EvalError, match="below the floor"):
        require_calibrated(store, "j1")
