"""Shared helpers for the contract tests: fixture paths and one verdict function per validator."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pandas as pd
import polars as pl

FIXTURES = Path(__file__).resolve().parent / "fixtures"
IO_CONTRACT = FIXTURES / "model_io.yaml"
PLAIN_ODCS = FIXTURES / "plain_odcs.yaml"


def good_records() -> list[dict[str, Any]]:
    return [json.loads(line) for line in (FIXTURES / "model_io.good.jsonl").read_text().splitlines() if line]


def bad_cases() -> list[dict[str, Any]]:
    return [json.loads(line) for line in (FIXTURES / "model_io.bad.jsonl").read_text().splitlines() if line]


def request_verdict(contract: Any, record: Any, role: str = "input") -> bool:
    return contract.request_validator(role).is_valid(record)


def jsonschema_verdict(contract: Any, record: Any, role: str = "input") -> bool:
    return contract.json_schema_validator(role).is_valid(record)


def polars_frame(record: dict[str, Any]) -> Any:
    """A one-row polars frame, or ``None`` when polars cannot hold the record's values."""
    try:
        return pl.from_dicts([record], infer_schema_length=None) if record else pl.DataFrame()
    except Exception:
        return None


def pandas_frame(record: dict[str, Any]) -> Any:
    return pd.DataFrame([record]) if record else pd.DataFrame(index=[0])


def frame_verdict(contract: Any, df: Any, role: str = "input") -> bool:
    return contract.validate_frame(df, role=role).records_ok
