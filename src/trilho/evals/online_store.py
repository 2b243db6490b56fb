"""Online evaluation windows in the store: the gateway's evaluator flushes per-version deltas (coverage,
violations per check, sampling, drops, weighted judge-score sums); the rollout analysis reads them back as one
summary per model version with the inverse-probability-weighted judge score, its standard error and interval,
violations per check and the number of responses with at least one violation."""

from __future__ import annotations

import json
import math
from collections import Counter
from datetime import datetime
from typing import Any

from sqlalchemy import insert, select

from trilho.evals.online import ANY
from trilho.evals.sampling import WeightedEstimate
from trilho.store.tables import evals as t

SUMS = ("sum_w", "sum_wy", "sum_w2", "sum_w2y", "sum_w2y2")


def write_windows(store, rows: list[dict[str, Any]]) -> int:
    """Insert window rows (one transaction); returns how many."""
    if not rows:
        return 0
    with store.transaction() as conn:
        conn.execute(insert(t.online_windows), rows)
    return len(rows)


def estimate_from_sums(
    n: int,
    sum_w: float,
    sum_wy: float,
    sum_w2: float,
    sum_w2y: float,
    sum_w2y2: float,
    z: float = 1.959963984540054,
) -> WeightedEstimate:
    """The Hájek estimate and interval from sufficient statistics (same numbers as ``hajek_estimate``)."""
    if n == 0 or sum_w <= 0:
        return WeightedEstimate(math.nan, math.nan, math.nan, n, sum_w)
    m = sum_wy / sum_w
    if n < 2:
        return WeightedEstimate(m, math.nan, math.nan, n, sum_w)
    var = n / (n - 1) * max(0.0, sum_w2y2 - 2 * m * sum_w2y + m * m * sum_w2) / sum_w**2
    se = math.sqrt(var)
    return WeightedEstimate(m, m - z * se, m + z * se, n, sum_w)


def online_summary(store, model: str, version: str, *, since: datetime | None = None) -> dict[str, Any]:
    """Totals for one model version over the stored windows (optionally only those ending after ``since``)."""
    q = select(t.online_windows).where(
        t.online_windows.c.model == model, t.online_windows.c.version == str(version)
    )
    if since is not None:
        q = q.where(t.online_windows.c.window_end > since)
    with store.connect() as conn:
        rows = conn.execute(q).mappings().all()
    tot: Counter = Counter()
    violations: Counter = Counter()
    sums = dict.fromkeys(SUMS, 0.0)
    for r in rows:
        for k in ("seen", "checked", "sampled", "drops", "judged"):
            tot[k] += r[k]
        violations.update(json.loads(r["violations_json"]))
        for k in SUMS:
            sums[k] += r[k]
    est = estimate_from_sums(tot["judged"], **sums)
    violating = violations.pop(ANY, 0)
    score = est.to_dict()
    score["se"] = (est.high - est.mean) / 1.959963984540054 if est.n >= 2 else math.nan
    return {
        "model": model,
        "version": str(version),
        "windows": len(rows),
        "seen": tot["seen"],
        "checked": tot["checked"],
        "coverage": tot["checked"] / tot["seen"] if tot["seen"] else None,
        "violations": dict(violations),
        "violating": violating,  # responses with at least one violation
        "sampled": tot["sampled"],
        "queue_drops": tot["drops"],
        "judged": tot["judged"],
        "judge_score": score,
    }


def online_versions(store, model: str) -> list[str]:
    """The versions of ``model`` with stored online windows (sorted)."""
    q = select(t.online_windows.c.version).where(t.online_windows.c.model == model).distinct()
    with store.connect() as conn:
        return sorted(str(v) for v in conn.execute(q).scalars())
