"""Store I/O for evals: judge calibrations and gate records (everything else keeps its own store module)."""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy import desc, insert, select

from trilho.clock import Clock, SystemClock
from trilho.errors import EvalError
from trilho.evals.calibration import DEFAULT_KAPPA_FLOOR, CalibrationReport
from trilho.store.tables import evals as t


def save_calibration(
    store, name: str, report: CalibrationReport, *, judge: str | None = None, clock: Clock | None = None
) -> int:
    """Record ``report`` (for one judge column) under the judge name ``name``; returns the record id."""
    pa = report.judges[judge or next(iter(report.judges))]
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
            )
        )
        return int(res.inserted_primary_key[0])


def latest_calibration(store, name: str) -> dict[str, Any] | None:
    """The newest calibration record of judge ``name`` (or None)."""
    with store.connect() as conn:
        row = (
            conn.execute(
                select(t.calibrations)
                .where(t.calibrations.c.judge == name)
                .order_by(desc(t.calibrations.c.id))
                .limit(1)
            )
            .mappings()
            .first()
        )
    return dict(row) if row else None


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
