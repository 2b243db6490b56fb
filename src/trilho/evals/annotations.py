"""The human annotation queue: items to label, two independent first labels per item, disagreements routed
to a second (review) stage, inter-annotator agreement, and the finished labels exported as a calibration set
(``human`` = the final label, ``judge`` = the judge's label stored with the item).

State machine per item: ``pending`` → (two first labels agree) → ``done``;
``pending`` → (they disagree) → ``review`` → (a third annotator decides) → ``done``.
Every transition is one transaction; a rejected label changes nothing.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, insert, select, update

from trilho.clock import Clock, SystemClock
from trilho.errors import EvalError
from trilho.evals.agreement import cohen_kappa, krippendorff_alpha
from trilho.names import check_name
from trilho.store.tables import evals as t

FIRST, REVIEW = "first", "review"


@dataclass(frozen=True)
class SubmitResult:
    """What a submitted label did to its item."""

    item_id: str
    stage: str
    status: str
    final_label: str | None

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {
            "item_id": self.item_id,
            "stage": self.stage,
            "status": self.status,
            "final_label": self.final_label,
        }


def item_id_for(queue: str, payload: Mapping[str, Any]) -> str:
    """Content address of an item in a queue (so seeding twice adds nothing)."""
    blob = json.dumps(
        {"queue": queue, "input": payload.get("input"), "output": payload.get("output")}, sort_keys=True
    )
    return hashlib.sha256(blob.encode()).hexdigest()[:32]


class AnnotationQueue:
    """One named queue in the store."""

    def __init__(
        self,
        store,
        queue: str = "default",
        *,
        labels: Sequence[str] | None = None,
        first_labels: int = 2,
        clock: Clock | None = None,
    ) -> None:
        if first_labels < 2:
            raise EvalError("an item needs at least two independent first labels", field="first_labels")
        check_name(queue, "queue name", field="queue", error=EvalError)
        self.store, self.queue, self.first_labels = store, queue, first_labels
        self.labels = list(labels) if labels else None
        self.clock = clock or SystemClock()

    # --- seeding -------------------------------------------------------------------------------------------
    def seed(self, items: Sequence[Mapping[str, Any]]) -> int:
        """Add items (``input``, ``output``, optional ``judge`` label and ``id``); returns the new count."""
        if not items:
            raise EvalError(
                "nothing to seed", fix="pass a JSONL file with 'input' and 'output' per line", field="items"
            )
        if not self.labels:
            raise EvalError(
                "a queue needs its label set to seed items", fix="pass --labels a,b,c", field="labels"
            )
        rows = []
        for i, it in enumerate(items):
            if "output" not in it:
                raise EvalError(f"item {i + 1} has no 'output' to label", field="items", value=i + 1)
            payload = {**it, "labels": self.labels}
            rows.append(
                {
                    "item_id": item_id_for(self.queue, payload),
                    "queue": self.queue,
                    "payload_json": json.dumps(payload, sort_keys=True, default=str),
                    "status": "pending",
                    "final_label": None,
                    "created_at": self.clock.now(),
                }
            )
        with self.store.transaction() as conn:
            existing = set(
                conn.execute(
                    select(t.annotation_items.c.item_id).where(
                        t.annotation_items.c.item_id.in_([r["item_id"] for r in rows])
                    )
                ).scalars()
            )
            new = [r for r in {r["item_id"]: r for r in rows}.values() if r["item_id"] not in existing]
            if new:
                conn.execute(insert(t.annotation_items), new)
        return len(new)

    # --- labelling -----------------------------------------------------------------------------------------
    def next_item(self, annotator: str) -> dict[str, Any] | None:
        """The next item this annotator may label: reviews first (never their own), then pending ones."""
        _check_name(annotator)
        with self.store.connect() as conn:
            mine = select(t.annotation_labels.c.item_id).where(t.annotation_labels.c.annotator == annotator)
            for status in ("review", "pending"):
                row = (
                    conn.execute(
                        select(t.annotation_items)
                        .where(
                            t.annotation_items.c.queue == self.queue,
                            t.annotation_items.c.status == status,
                            t.annotation_items.c.item_id.not_in(mine),
                        )
                        .order_by(t.annotation_items.c.created_at, t.annotation_items.c.item_id)
                        .limit(1)
                    )
                    .mappings()
                    .first()
                )
                if row is not None:
                    payload = json.loads(row["payload_json"])
                    return {
                        "item_id": row["item_id"],
                        "status": row["status"],
                        "input": payload.get("input"),
                        "output": payload.get("output"),
                        "labels": payload["labels"],
                    }
        return None

    def submit(self, item_id: str, annotator: str, label: str) -> SubmitResult:
        """Record one label and move the item along its state machine (one transaction)."""
        _check_name(annotator)
        with self.store.transaction() as conn:
            item = (
                conn.execute(
                    select(t.annotation_items).where(
                        t.annotation_items.c.item_id == item_id, t.annotation_items.c.queue == self.queue
                    )
                )
                .mappings()
                .first()
            )
            if item is None:
                raise EvalError(
                    f"no item {item_id!r} in queue {self.queue!r}", field="item_id", value=item_id
                )
            allowed = json.loads(item["payload_json"])["labels"]
            if label not in allowed:
                raise EvalError(f"label {label!r} is not one of {allowed}", field="label", value=label)
            if item["status"] == "done":
                raise EvalError(f"item {item_id} is already decided", field="item_id", value=item_id)
            prior = (
                conn.execute(select(t.annotation_labels).where(t.annotation_labels.c.item_id == item_id))
                .mappings()
                .all()
            )
            if any(p["annotator"] == annotator for p in prior):
                raise EvalError(
                    f"{annotator!r} already labelled item {item_id}",
                    fix="labels are independent: ask another annotator",
                    field="annotator",
                    value=annotator,
                )
            stage = REVIEW if item["status"] == "review" else FIRST
            conn.execute(
                insert(t.annotation_labels).values(
                    item_id=item_id,
                    annotator=annotator,
                    label=label,
                    stage=stage,
                    created_at=self.clock.now(),
                )
            )
            status, final = item["status"], None
            if stage == REVIEW:
                status, final = "done", label
            else:
                firsts = [p["label"] for p in prior if p["stage"] == FIRST] + [label]
                if len(firsts) >= self.first_labels:
                    if len(set(firsts)) == 1:
                        status, final = "done", label
                    else:
                        status = "review"
            if status != item["status"]:
                conn.execute(
                    update(t.annotation_items)
                    .where(t.annotation_items.c.item_id == item_id)
                    .values(status=status, final_label=final)
                )
        return SubmitResult(item_id, stage, status, final)

    # --- reporting -----------------------------------------------------------------------------------------
    def stats(self) -> dict[str, int]:
        """Items per status."""
        with self.store.connect() as conn:
            rows = conn.execute(
                select(t.annotation_items.c.status, func.count())
                .where(t.annotation_items.c.queue == self.queue)
                .group_by(t.annotation_items.c.status)
            ).all()
        out = {"pending": 0, "review": 0, "done": 0}
        out.update({s: int(n) for s, n in rows})
        return out

    def agreement(self) -> dict[str, Any]:
        """Inter-annotator agreement on first labels: percent agreement, Cohen's κ (first vs second label of
        each item) and Krippendorff's α over all annotators."""
        with self.store.connect() as conn:
            rows = conn.execute(
                select(
                    t.annotation_labels.c.item_id,
                    t.annotation_labels.c.annotator,
                    t.annotation_labels.c.label,
                )
                .join(t.annotation_items, t.annotation_items.c.item_id == t.annotation_labels.c.item_id)
                .where(t.annotation_items.c.queue == self.queue, t.annotation_labels.c.stage == FIRST)
                .order_by(t.annotation_labels.c.id)
            ).all()
        by_item: dict[str, list[tuple[str, str]]] = {}
        for item_id, annotator, label in rows:
            by_item.setdefault(item_id, []).append((annotator, label))
        pairs = [(v[0][1], v[1][1]) for v in by_item.values() if len(v) >= 2]
        out: dict[str, Any] = {
            "items_with_two_labels": len(pairs),
            "percent_agreement": None,
            "cohen_kappa": None,
            "krippendorff_alpha": None,
        }
        if pairs:
            a, b = [p[0] for p in pairs], [p[1] for p in pairs]
            out["percent_agreement"] = sum(x == y for x, y in pairs) / len(pairs)
            out["cohen_kappa"] = cohen_kappa(a, b)
            annotators = sorted({ann for v in by_item.values() for ann, _ in v})
            items = sorted(by_item)
            grid = [[dict(by_item[i]).get(ann) for i in items] for ann in annotators]
            out["krippendorff_alpha"] = krippendorff_alpha(grid) if len(annotators) >= 2 else None
        return out

    def calibration_rows(self) -> list[dict[str, Any]]:
        """Decided items as calibration rows: ``id, input, output, human`` (final label) and ``judge``
        when the item carried a judge label."""
        with self.store.connect() as conn:
            rows = (
                conn.execute(
                    select(t.annotation_items)
                    .where(t.annotation_items.c.queue == self.queue, t.annotation_items.c.status == "done")
                    .order_by(t.annotation_items.c.created_at, t.annotation_items.c.item_id)
                )
                .mappings()
                .all()
            )
        out = []
        for r in rows:
            p = json.loads(r["payload_json"])
            out.append(
                {
                    "id": p.get("id", r["item_id"]),
                    "input": p.get("input"),
                    "output": p.get("output"),
                    "human": r["final_label"],
                    **({"judge": p["judge"]} if "judge" in p else {}),
                }
            )
        return out


def _check_name(annotator: str) -> None:
    if not annotator or not annotator.strip() or len(annotator) > 100:
        raise EvalError(
            "an annotator name is required (1-100 characters)", field="annotator", value=annotator
        )
