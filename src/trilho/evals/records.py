"""Store I/O for evals: judge calibrations (with the population and labelled items they were measured on) and
gate records (everything else keeps its own store module)."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from sqlalchemy import desc, insert, select

from trilho.clock import Clock, SystemClock
from trilho.errors import EvalError
from trilho.evals.calibration import DEFAULT_KAPPA_FLOOR, CalibrationReport
from trilho.store.tables import evals as t

if TYPE_CHECKING:
    from trilho.evals.judge_gate import Population


def save_calibration(
    store,
    name: str,
    report: CalibrationReport,
    *,
    judge: str | None = None,
    clock: Clock | None = None,
    population: Population | None = None,
    items: Sequence[Mapping[str, Any]] = (),
) -> int:
    """Record ``report`` (for one judge column) under the judge name ``name``; returns the record id.

    ``population`` names where it was measured (model, version, suite, window) and ``items`` are its labelled
    items (``output``, ``human``, ``judge``, optional ``id`` / ``input``), stored beside it so a gate decision
    that used this calibration can be re-derived later. Everything is written in one transaction."""
    pa = report.judges[judge or next(iter(report.judges))]
    window = population.window if population is not None and population.window else (None, None)
    with store.transaction() as conn:
        res = conn.execute(
            insert(t.calibrations).values(
                judge=name,
                source=report.source,
                n=pa.n,
                kappa=pa.kappa.estimate,
                kappa_low=pa.kappa.low,
                kappa_high=pa.kappa.high,
                report_json=json.dumps(report.to_dict(), sort_keys=True),
                created_at=(clock or SystemClock()).now(),
                population_model=population.model if population else None,
                population_version=population.version if population else None,
                population_suite=(population.suite or None) if population else None,
                window_start=window[0],
                window_end=window[1],
            )
        )
        cid = int(res.inserted_primary_key[0])
        if items:
            conn.execute(
                insert(t.calibration_items),
                [
                    {
                        "calibration_id": cid,
                        "position": i,
                        "item_id": None if it.get("id") is None else str(it["id"]),
                        "input": None if it.get("input") is None else str(it["input"]),
                        "output": str(it["output"]),
                        "human": str(it["human"]),
                        "judge": str(it["judge"]),
                        "agree": str(it["human"]) == str(it["judge"]),
                    }
                    for i, it in enumerate(items)
                ],
            )
        return cid


def population_of(record: Mapping[str, Any]) -> Population | None:
    """The population a stored calibration record names (None for a record saved without one)."""
    from trilho.evals.judge_gate import Population

    if not record.get("population_model"):
        return None
    window = (
        (record["window_start"], record["window_end"])
        if record.get("window_start") and record.get("window_end")
        else None
    )
    return Population(
        record["population_model"], record["population_version"], record.get("population_suite") or "", window
    )


def calibration_items(store, calibration_id: int) -> list[dict[str, Any]]:
    """The labelled items a calibration was measured on, in their stored order."""
    with store.connect() as conn:
        rows = (
            conn.execute(
                select(t.calibration_items)
                .where(t.calibration_items.c.calibration_id == calibration_id)
                .order_by(t.calibration_items.c.position)
            )
            .mappings()
            .all()
        )
    return [dict(r) for r in rows]


def calibrations_of(store, name: str) -> list[dict[str, Any]]:
    """Every calibration record of judge ``name``, oldest first."""
    with store.connect() as conn:
        rows = (
            conn.execute(
                select(t.calibrations).where(t.calibrations.c.judge == name).order_by(t.calibrations.c.id)
            )
            .mappings()
            .all()
        )
    return [dict(r) for r in rows]


def latest_calibration(
    store, name: str, *, target: str | None = None, other_than: str | None = None
) -> dict[str, Any] | None:
    """The newest calibration record of judge ``name`` (or None); with ``target`` (``model@version``), the
    newest one measured on that population; with ``other_than``, the newest one measured elsewhere (falling
    back to the newest of all)."""
    query = select(t.calibrations).where(t.calibrations.c.judge == name)
    if target is not None:
        model, _, version = target.rpartition("@")
        query = query.where(
            t.calibrations.c.population_model == model, t.calibrations.c.population_version == version
        )
    with store.connect() as conn:
        rows = conn.execute(query.order_by(desc(t.calibrations.c.id))).mappings().all()
    if other_than is not None:
        model, _, version = other_than.rpartition("@")
        elsewhere = [r for r in rows if (r["population_model"], r["population_version"]) != (model, version)]
        rows = elsewhere or rows
    return dict(rows[0]) if rows else None


def require_calibrated(store, name: str, floor: float = DEFAULT_KAPPA_FLOOR) -> float:
    """κ of judge ``name``'s newest calibration; ``EvalError`` if it has none or it is below ``floor``."""
    rec = latest_calibration(store, name)
    if rec is None:
        raise EvalError(
            f"judge {name!r} has no calibration against human labels, so it cannot gate a deploy",
            fix=f"run `trilho eval calibrate FILE --human COL --judge COL --save {name}`",
            field="judge",
            value=name,
        )
    if rec["kappa"] < floor:
        raise EvalError(
            f"judge {name!r} agrees with humans at kappa={rec['kappa']:.3f}, below the floor {floor}",
            fix="improve and recalibrate the judge, or gate on checks only",
            field="kappa",
            value=round(rec["kappa"], 4),
            floor=floor,
        )
    return float(rec["kappa"])


def record_gate_local(
    store,
    *,
    model: str,
    version: str,
    run_id: str,
    decision: str,
    evidence: dict[str, Any],
    clock: Clock | None = None,
) -> int:
    """Record a gate result in the evals table (used when the registry cannot take it)."""
    with store.transaction() as conn:
        res = conn.execute(
            insert(t.gates).values(
                model=model,
                version=version,
                run_id=run_id,
                decision=decision,
                evidence_json=json.dumps(evidence, sort_keys=True, default=str),
                created_at=(clock or SystemClock()).now(),
            )
        )
        return int(res.inserted_primary_key[0])


def gate_records(store, model: str, version: str) -> list[dict[str, Any]]:
    """Gate results recorded locally for one model version, oldest first."""
    with store.connect() as conn:
        rows = (
            conn.execute(
                select(t.gates)
                .where(t.gates.c.model == model, t.gates.c.version == version)
                .order_by(t.gates.c.id)
            )
            .mappings()
            .all()
        )
    return [{**dict(r), "evidence": json.loads(r["evidence_json"])} for r in rows]
