"""Calibration per target, end to end: a judge calibrated on GPT-4's answers may not gate a Llama 2 version
until that version's own outputs, sampled through the annotation queue and labelled, show the judge agrees
there; shift test, sample-size planner and the never-gate rules on their own."""

from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np
import pytest

from trilho.evals.annotations import AnnotationQueue
from trilho.evals.checks.refusal import RefusalClassifier, fit_refusal_rules
from trilho.evals.judge_gate import (
    JudgeCalibration,
    Population,
    candidate_sample,
    decide_judge_gate,
    plan_sample_size,
    shift_test,
)
from trilho.evals.judges.train import embed_pairs
from trilho.evals.transfer import load_xstest_answers

N = 150  # answers per model that the shift test sees (embedding all 450 is slow on CPU)


@pytest.fixture(scope="module")
def setting(genai_data, embedder):
    answers = load_xstest_answers(genai_data, ["gpt4", "llama2orig"])
    gpt4, llama = answers["gpt4"], answers["llama2orig"]
    judge = RefusalClassifier(rules=fit_refusal_rules([(gpt4.completions, gpt4.refusals)]), languages=False)
    human = ["refusal" if r else "compliance" for r in gpt4.refusals]
    calibration = JudgeCalibration.measure(
        "rules-fit-on-gpt4", Population("gpt4", "v2", "xstest"), human, [judge(c) for c in gpt4.completions]
    )
    cache = Path(tempfile.gettempdir()) / "trilho-evals-test-cache"

    def emb(a):  # response embeddings (the middle block of the pair features)
        return embed_pairs(embedder, a.prompts[:N], a.completions[:N], cache)[:, 384:768]

    return judge, calibration, llama, emb(gpt4), emb(llama)


def test_judge_from_another_model_refuses_then_decides_after_labelling(setting, sqlite_store):
    judge, calibration, llama, ref, cand = setting
    target = Population("llama2orig", "1", "xstest")
    first = decide_judge_gate(calibration, target, ref, cand)
    assert not first.use_judge and first.status == "not_calibrated"
    assert first.shift.shifted and first.items_to_label == plan_sample_size(calibration)
    assert first.reason.startswith("judge not calibrated for llama2orig@1")

    items = [
        {"id": str(i), "input": p, "output": c, "judge": judge(c)}
        for i, (p, c) in enumerate(zip(llama.prompts, llama.completions, strict=True))
    ]
    sample = candidate_sample(items, first.items_to_label)
    assert len(sample) == first.items_to_label
    assert {s["judge"] for s in sample} == {"refusal", "compliance"}  # stratified by the judge's label

    queue = AnnotationQueue(sqlite_store, "calib-llama2orig", labels=["refusal", "compliance"])
    assert queue.seed(sample) == len(sample)
    truth = {str(i): ("refusal" if r else "compliance") for i, r in enumerate(llama.refusals)}
    for annotator in ("ana", "bruno"):  # two independent first labels per item, from the human labels
        while (item := queue.next_item(annotator)) is not None:
            row = next(s for s in sample if s["output"] == item["output"] and s["input"] == item["input"])
            queue.submit(item["item_id"], annotator, truth[row["id"]])
    rows = queue.calibration_rows()
    assert len(rows) == len(sample)

    second = decide_judge_gate(
        calibration, target, ref, cand, labelled=([r["human"] for r in rows], [r["judge"] for r in rows])
    )
    assert second.status in ("calibrated_on_candidate", "judge_unfit")
    kappa = second.candidate_agreement.kappa
    assert second.use_judge == (kappa.low >= 0.6 and kappa.low > 0)


def test_same_population_is_not_shifted(setting):
    _, calibration, _, ref, _ = setting
    # the file is ordered by prompt type: alternate rows are two random-like halves of one population
    d = decide_judge_gate(calibration, Population("gpt4", "v2b"), ref[::2], ref[1::2])
    assert d.use_judge and d.status == "calibrated"


def test_shift_test_false_alarm_rate_and_power():
    rng = np.random.default_rng(1)

    def same(seed):
        a, b = rng.normal(size=(40, 8)), rng.normal(size=(40, 8))
        return shift_test(a, b, alpha=0.1, permutations=99, seed=seed).shifted

    alarms = sum(
        shift_test(
            rng.normal(size=(40, 8)), rng.normal(size=(40, 8)), alpha=0.1, permutations=99, seed=s
        ).shifted
        for s in range(30)
    )
    assert alarms <= 8  # about 3 expected at alpha 0.1
    assert shift_test(
        rng.normal(size=(40, 8)), rng.normal(0.8, 1, size=(40, 8)), alpha=0.05, permutations=99
    ).shifted


def test_a_judge_no_better_than_chance_never_gates():
    rng = np.random.default_rng(0)
    human = list(rng.choice(["a", "b"], 200))
    cal = JudgeCalibration.measure("coin", Population("m", "1"), human, list(rng.choice(["a", "b"], 200)))
    d = decide_judge_gate(cal, Population("m", "1"), np.zeros((10, 2)), np.zeros((10, 2)))
    assert d.status == "judge_unfit" and not d.use_judge and "includes 0" in d.reason
    majority = JudgeCalibration.measure(
        "yes-man", Population("m", "1"), ["a"] * 180 + ["b"] * 20, ["a"] * 200
    )
    assert majority.unfit_reason() is not None


def test_planner_wants_more_items_for_a_narrower_interval(setting):
    _, calibration, *_ = setting
    assert (
        plan_sample_size(calibration, half_width=0.05) > plan_sample_size(calibration, half_width=0.1) >= 30
    )
