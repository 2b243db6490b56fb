"""Stored eval runs: save a :class:`~trilho.evals.suites.SuiteRun` (run + per-item scores, one transaction)
and load one back as a baseline (by id, or ``latest`` for a suite)."""

from __future__ import annotations

import json

from sqlalchemy import desc, insert, select

from trilho.clock import Clock, SystemClock
from trilho.errors import EvalError
from trilho.evals.suites import SuiteRun
from trilho.store.tables import evals as t


def save_run(store, run: SuiteRun, *, clock: Clock | None = None) -> None:
    """Write the run and its item scores atomically."""
    summary = {k: v for k, v in run.to_dict().items() if k != "items"}
    status = "no-gate" if run.gate is None else run.gate.decision
    with store.transaction() as conn:
        conn.execute(
            insert(t.runs).values(
                run_id=run.run_id,
                suite=run.suite,
                model=run.model,
                version=run.version,
                status=status,
                summary_json=json.dumps(summary, sort_keys=True, default=str),
                created_at=(clock or SystemClock()).now(),
            )
        )
        conn.execute(
            insert(t.run_items),
            [
                {
                    "run_id": run.run_id,
                    "item_id": it["id"],
                    "position": i,
                    "scores_json": json.dumps(it["scores"], sort_keys=True),
                }
                for i, it in enumerate(run.items)
            ],
        )


def load_run(store, ref: str, *, suite: str | None = None) -> SuiteRun:
    """A stored run by id, or the newest run of ``suite`` when ``ref`` is ``"latest"``."""
    with store.connect() as conn:
        if ref == "latest":
            if suite is None:
                raise EvalError("'latest' needs a suite name", field="baseline")
            row = (
                conn.execute(
                    select(t.runs).where(t.runs.c.suite == suite).order_by(desc(t.runs.c.created_at)).limit(1)
                )
                .mappings()
                .first()
            )
        else:
            row = conn.execute(select(t.runs).where(t.runs.c.run_id == ref)).mappings().first()
        if row is None:
            raise EvalError(
                f"no stored eval run {ref!r}" + (f" for suite {suite!r}" if suite else ""),
                fix="pass a run id printed by an earlier `trilho eval run`",
                field="baseline",
                value=ref,
            )
        items = (
            conn.execute(
                select(t.run_items)
                .where(t.run_items.c.run_id == row["run_id"])
                .order_by(t.run_items.c.position)
            )
            .mappings()
            .all()
        )
    summary = json.loads(row["summary_json"])
    return SuiteRun(
        row["run_id"],
        row["suite"],
        summary["metrics"],
        [{"id": it["item_id"], "scores": json.loads(it["scores_json"])} for it in items],
        set(summary.get("binary_metrics", [])),
        summary.get("usage", {}),
        row["model"],
        row["version"],
    )
