"""Judge calibration: how well a judge's labels agree with human labels, read from a labelled table file.

``calibrate(path, human="final_label", judge="gpt4_label")`` returns a :class:`CalibrationReport` with percent
agreement (with and without ties), Cohen's κ, Krippendorff's α when more than two raters are given, the
confusion matrix, per-class precision/recall and seeded bootstrap intervals. A judge whose κ is below the
configured floor cannot gate a deploy (:meth:`CalibrationReport.require_gate_worthy`).
"""

from __future__ import annotations

import json
from collections.abc import Hashable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from trilho.errors import EvalError
from trilho.evals.agreement import PairAgreement, krippendorff_alpha, pair_agreement

DEFAULT_KAPPA_FLOOR = 0.6  # "substantial" agreement (Landis & Koch); configurable per gate


@dataclass(frozen=True)
class CalibrationReport:
    """Agreement of one or more judges with a human reference column."""

    source: str
    human: str
    judges: dict[str, PairAgreement]
    alpha: float | None = None
    raters: list[str] = field(default_factory=list)
    dropped: int = 0

    def kappa(self, judge: str | None = None) -> float:
        """Cohen's κ of ``judge`` (the first judge by default) against the humans."""
        return self.judges[judge or next(iter(self.judges))].kappa.estimate

    def can_gate(self, floor: float = DEFAULT_KAPPA_FLOOR, judge: str | None = None) -> bool:
        """True when the judge agrees with humans at least as well as ``floor`` (Cohen's κ)."""
        return self.kappa(judge) >= floor

    def require_gate_worthy(self, floor: float = DEFAULT_KAPPA_FLOOR, judge: str | None = None) -> None:
        """Raise ``EvalError`` if this judge's κ is below ``floor``: such a judge cannot gate a deploy."""
        name = judge or next(iter(self.judges))
        if not self.can_gate(floor, name):
            raise EvalError(
                f"judge {name!r} agrees with humans at kappa={self.kappa(name):.3f}, below the floor {floor}",
                fix="improve the judge (rubric, model) and recalibrate, or gate on checks only",
                field="kappa",
                value=round(self.kappa(name), 4),
                floor=floor,
            )

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {
            "source": self.source,
            "human": self.human,
            "dropped_rows": self.dropped,
            "judges": {name: pa.to_dict() for name, pa in self.judges.items()},
            "krippendorff_alpha": self.alpha,
            "raters": self.raters,
        }


def read_table(path: str | Path) -> list[dict[str, Any]]:
    """Rows of a CSV, JSON Lines, JSON (array) or Parquet file as dictionaries."""
    p = Path(path)
    if not p.is_file():
        raise EvalError(
            f"file {str(p)!r} does not exist",
            fix="pass the path of a CSV/JSONL/JSON/Parquet file",
            field="file",
            value=str(p),
        )
    suffix = p.suffix.lower()
    try:
        if suffix in (".csv", ".tsv"):
            import pandas as pd

            df = pd.read_csv(p, sep="\t" if suffix == ".tsv" else ",", dtype=str, keep_default_na=False)
            return df.to_dict(orient="records")
        if suffix == ".parquet":
            import pandas as pd

            return pd.read_parquet(p).to_dict(orient="records")
        text = p.read_text(encoding="utf-8")
        if suffix in (".jsonl", ".ndjson"):
            return [json.loads(line) for line in text.splitlines() if line.strip()]
        if suffix == ".json":
            data = json.loads(text)
            if isinstance(data, list):
                return data
            raise EvalError(f"{p.name} holds a JSON {type(data).__name__}, not an array of rows")
    except (ValueError, UnicodeDecodeError) as exc:
        raise EvalError(
            f"cannot read {p.name}: {exc}", fix="check the file's format", field="file", value=str(p)
        ) from exc
    raise EvalError(
        f"unsupported file type {suffix!r}",
        fix="use .csv, .tsv, .jsonl, .json or .parquet",
        field="file",
        value=str(p),
    )


def _column(rows: list[dict[str, Any]], name: str) -> list[Hashable | None]:
    if rows and name not in rows[0]:
        raise EvalError(
            f"column {name!r} is missing",
            fix=f"use one of: {', '.join(map(str, rows[0]))}",
            field="column",
            value=name,
        )
    out: list[Hashable | None] = []
    for r in rows:
        v = r.get(name)
        out.append(
            None
            if v is None or (isinstance(v, str) and not v.strip())
            else (v.strip() if isinstance(v, str) else v)
        )
    return out


def calibrate_labels(
    human: Sequence[Hashable | None],
    judges: dict[str, Sequence[Hashable | None]],
    *,
    extra_raters: dict[str, Sequence[Hashable | None]] | None = None,
    ties: Sequence[Hashable] = (),
    n_boot: int = 2000,
    seed: int = 0,
    source: str = "<memory>",
    human_name: str = "human",
) -> CalibrationReport:
    """Calibrate in memory: rows where the human or any judge has no label are dropped (and counted)."""
    if not judges:
        raise EvalError("no judge column given", fix="pass --judge COLUMN")
    keep = [
        i
        for i in range(len(human))
        if human[i] is not None and all(j[i] is not None for j in judges.values())
    ]
    if not keep:
        raise EvalError(
            "no row has both a human and a judge label",
            fix="check the column names and the file",
            field="rows",
            value=0,
        )
    h = [human[i] for i in keep]
    reports = {
        name: pair_agreement(h, [labels[i] for i in keep], ties=ties, n_boot=n_boot, seed=seed)
        for name, labels in judges.items()
    }
    raters = {human_name: list(human), **{k: list(v) for k, v in judges.items()}, **(extra_raters or {})}
    alpha = krippendorff_alpha(list(raters.values())) if len(raters) > 2 else None
    return CalibrationReport(source, human_name, reports, alpha, list(raters), dropped=len(human) - len(keep))


def calibrate(
    path: str | Path,
    *,
    human: str,
    judge: str | Sequence[str],
    raters: Sequence[str] = (),
    ties: Sequence[str] = (),
    n_boot: int = 2000,
    seed: int = 0,
) -> CalibrationReport:
    """Calibrate the judge column(s) of a labelled file against its human column."""
    rows = read_table(path)
    if not rows:
        raise EvalError(f"{Path(path).name} has no rows", fix="pass a file with labelled rows", field="file")
    judge_cols = [judge] if isinstance(judge, str) else list(judge)
    return calibrate_labels(
        _column(rows, human),
        {j: _column(rows, j) for j in judge_cols},
        extra_raters={r: _column(rows, r) for r in raters},
        ties=ties,
        n_boot=n_boot,
        seed=seed,
        source=str(path),
        human_name=human,
    )
