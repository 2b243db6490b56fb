"""Tables owned by ``trilho.evals``: judge cache, eval runs and items, judge calibrations with the population
they were measured on (model, version, suite, window, and the labelled items themselves), gate records (used
when the registry cannot record them), online evaluation windows and the human annotation queue."""

from __future__ import annotations

from sqlalchemy import Boolean, Column, DateTime, Float, ForeignKey, Index, Integer, String, Table, Text

from trilho.store.tables import metadata

judge_cache = Table(
    "evals_judge_cache",
    metadata,
    Column("key", String(64), primary_key=True),
    Column("judge_model", String(200), nullable=False),
    Column("template_hash", String(64), nullable=False),
    Column("rubric_version", String(64), nullable=False),
    Column("verdict_json", Text, nullable=False),
    Column("prompt_tokens", Integer, nullable=False, default=0),
    Column("completion_tokens", Integer, nullable=False, default=0),
    Column("created_at", DateTime(timezone=True), nullable=False),
)

runs = Table(
    "evals_runs",
    metadata,
    Column("run_id", String(64), primary_key=True),
    Column("suite", String(200), nullable=False),
    Column("model", String(200), nullable=True),
    Column("version", String(200), nullable=True),
    Column("status", String(20), nullable=False),
    Column("summary_json", Text, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
)

run_items = Table(
    "evals_run_items",
    metadata,
    Column("run_id", String(64), ForeignKey("evals_runs.run_id", ondelete="CASCADE"), primary_key=True),
    Column("item_id", String(200), primary_key=True),
    Column("position", Integer, nullable=False),
    Column("scores_json", Text, nullable=False),
)

calibrations = Table(
    "evals_calibrations",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("judge", String(200), nullable=False),
    Column("source", String(500), nullable=False),
    Column("n", Integer, nullable=False),
    Column("kappa", Float, nullable=False),
    Column("kappa_low", Float, nullable=False),
    Column("kappa_high", Float, nullable=False),
    Column("report_json", Text, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    # the population the agreement was measured on (NULL on records saved without one)
    Column("population_model", String(200), nullable=True),
    Column("population_version", String(200), nullable=True),
    Column("population_suite", String(200), nullable=True),
    Column("window_start", String(40), nullable=True),
    Column("window_end", String(40), nullable=True),
    Index("ix_evals_calibrations_judge", "judge"),
)

calibration_items = Table(
    "evals_calibration_items",
    metadata,
    Column(
        "calibration_id",
        Integer,
        ForeignKey("evals_calibrations.id", ondelete="CASCADE"),
        primary_key=True,
    ),
    Column("position", Integer, primary_key=True),
    Column("item_id", String(200), nullable=True),
    Column("input", Text, nullable=True),
    Column("output", Text, nullable=False),
    Column("human", String(100), nullable=False),
    Column("judge", String(100), nullable=False),
    Column("agree", Boolean, nullable=False),
)

gates = Table(
    "evals_gates",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("model", String(200), nullable=False),
    Column("version", String(200), nullable=False),
    Column("run_id", String(64), nullable=False),
    Column("decision", String(20), nullable=False),
    Column("evidence_json", Text, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Index("ix_evals_gates_model_version", "model", "version"),
)

online_windows = Table(
    "evals_online_windows",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("model", String(200), nullable=False),
    Column("version", String(200), nullable=False),
    Column("window_end", DateTime(timezone=True), nullable=False),
    Column("seen", Integer, nullable=False),
    Column("checked", Integer, nullable=False),
    Column("violations_json", Text, nullable=False),
    Column("sampled", Integer, nullable=False),
    Column("drops", Integer, nullable=False),
    Column("judged", Integer, nullable=False),
    Column("sum_w", Float, nullable=False),
    Column("sum_wy", Float, nullable=False),
    Column("sum_w2", Float, nullable=False),
    Column("sum_w2y", Float, nullable=False),
    Column("sum_w2y2", Float, nullable=False),
    Index("ix_evals_online_windows_model_version", "model", "version"),
)

annotation_items = Table(
    "evals_annotation_items",
    metadata,
    Column("item_id", String(64), primary_key=True),
    Column("queue", String(100), nullable=False),
    Column("payload_json", Text, nullable=False),
    Column("status", String(20), nullable=False),  # pending | review | done
    Column("final_label", String(100), nullable=True),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Index("ix_evals_annotation_items_queue_status", "queue", "status"),
)

annotation_labels = Table(
    "evals_annotation_labels",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column(
        "item_id",
        String(64),
        ForeignKey("evals_annotation_items.item_id", ondelete="CASCADE"),
        nullable=False,
    ),
    Column("annotator", String(100), nullable=False),
    Column("label", String(100), nullable=False),
    Column("stage", String(20), nullable=False),  # first | review
    Column("created_at", DateTime(timezone=True), nullable=False),
    Index("ix_evals_annotation_labels_item", "item_id"),
)
