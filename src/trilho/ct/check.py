"""Drift checks on files and frames: which columns to compare, input errors (files read by
``trilho.frames.read_frame``)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from trilho.ct.drift import DriftConfig, DriftReport, categorical_drift, numeric_drift, performance_decay
from trilho.errors import InputError
from trilho.frames import read_frame


def check_frames(
    reference: pd.DataFrame,
    current: pd.DataFrame,
    *,
    features: Sequence[str] | None = None,
    label: str | None = None,
    prediction: str | None = None,
    config: DriftConfig | None = None,
) -> DriftReport:
    """Per-feature drift of ``current`` against ``reference`` (and accuracy decay when labels are present)."""
    config = config or DriftConfig()
    skip = {c for c in (label, prediction) if c}
    cols = list(features) if features else [c for c in current.columns if c not in skip]
    missing = [c for c in cols if c not in reference.columns]
    if missing:
        raise InputError(
            f"the reference is missing column(s) {missing} that the current data has",
            fix="use a reference with the same columns, or pick columns with --feature",
            field="reference",
            value=missing,
        )
    absent = [c for c in cols if c not in current.columns]
    if absent:
        raise InputError(
            f"the current data is missing column(s) {absent}",
            fix="check --feature",
            field="current",
            value=absent,
        )
    out = []
    for col in cols:
        ref, cur = reference[col].dropna().to_numpy(), current[col].dropna().to_numpy()
        numeric = pd.api.types.is_numeric_dtype(reference[col]) and not pd.api.types.is_bool_dtype(
            reference[col]
        )
        fn = numeric_drift if numeric else categorical_drift
        out.append(fn(col, ref, cur, config, n_tests=len(cols)))
    perf = None
    if label and prediction:
        have = all(c in f.columns for f in (reference, current) for c in (label, prediction))
        if have:
            ref_ok = reference[label].to_numpy() == reference[prediction].to_numpy()
            cur_lab = current[[label, prediction]].dropna()
            cur_ok = cur_lab[label].to_numpy() == cur_lab[prediction].to_numpy()
            perf = performance_decay(
                ref_ok, np.asarray(cur_ok), alpha=config.alpha, min_sample=config.min_sample
            )
    return DriftReport(tuple(out), config, perf, {"n_reference": len(reference), "n_current": len(current)})


def check_files(reference: str | Path, current: str | Path, **options) -> DriftReport:
    """``check_frames`` on two CSV/Parquet files (nothing is written)."""
    return check_frames(read_frame(reference, "reference"), read_frame(current, "current"), **options)
