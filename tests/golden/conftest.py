"""Golden test helpers: a doubling model whose mistakes are chosen per version, and a suite of its cases."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

MODEL = """
WRONG = {wrong!r}

def predict(records):
    return [{{"y": 2.0 * r["x1"] + r["x2"] + (0.5 if r["x1"] in WRONG else 0.0), "label": int(r["x1"] % 2)}}
            for r in records]
"""


def write_contract(path: Path, version: str = "1.0.0", y_tolerance: dict | None = None) -> Path:
    """An ODCS contract: inputs x1, x2 (float64); outputs y (float64, maybe a tolerance), label (int64)."""
    doc = {
        "apiVersion": "v3.0.2",
        "kind": "DataContract",
        "id": "doubler-io",
        "name": "doubler",
        "version": version,
        "schema": [
            {
                "name": "request",
                "x-trilho": {"role": "input", "examples": [{"x1": 1.0, "x2": 0.0}, {"x1": 2.0, "x2": 1.0}]},
                "properties": [
                    {"name": "x1", "logicalType": "number", "physicalType": "float64", "required": True},
                    {"name": "x2", "logicalType": "number", "physicalType": "float64", "required": True},
                ],
            },
            {
                "name": "response",
                "x-trilho": {"role": "output"},
                "properties": [
                    {
                        "name": "y",
                        "logicalType": "number",
                        "physicalType": "float64",
                        "required": True,
                        **({"x-trilho": {"tolerance": y_tolerance}} if y_tolerance else {}),
                    },
                    {"name": "label", "logicalType": "integer", "physicalType": "int64", "required": True},
                ],
            },
        ],
    }
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    return path


def write_model(folder: Path, wrong: tuple[float, ...] = ()) -> Path:
    """A python-flavour model: y = 2·x1 + x2, off by 0.5 on the x1 values in ``wrong``."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "doubler.py"
    path.write_text(MODEL.format(wrong=set(wrong)))
    return path


def write_suite(
    folder: Path,
    n: int = 20,
    *,
    name: str = "doubler",
    delta: float = 0.1,
    model: str | None = None,
    filename: str = "suite.yaml",
) -> Path:
    """A suite of ``n`` cases x1 = 0..n-1 with exact expected outputs."""
    folder.mkdir(parents=True, exist_ok=True)
    rows = [
        {
            "id": f"c{i:02d}",
            "input": {"x1": float(i), "x2": 0.0},
            "expected": {"y": 2.0 * i, "label": i % 2},
            "tags": ["even" if i % 2 == 0 else "odd"],
        }
        for i in range(n)
    ]
    cases = folder / f"{Path(filename).stem}_cases.jsonl"
    cases.write_text("".join(json.dumps(r) + "\n" for r in rows))
    doc = {
        "name": name,
        "cases": cases.name,
        "fields": {"y": {"abs": 0.01}, "label": "class"},
        "gate": {"metrics": ["pass_rate"], "delta": delta, "resamples": 1000, "seed": 11},
    }
    if model:
        doc["model"] = model
    path = folder / filename
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    return path


@pytest.fixture
def registry(store, tmp_path):
    from trilho.registry import Registry

    return Registry(store, tmp_path / "artifacts")


@pytest.fixture
def doubler(registry, tmp_path):
    """Registers doubler@1 (perfect, champion) and doubler@2 (wrong on x1 = 19); returns the suite path."""
    contract = write_contract(tmp_path / "contract.yaml")
    registry.register("doubler", write_model(tmp_path / "v1"), "python", contract, entry="doubler:predict")
    registry.register(
        "doubler", write_model(tmp_path / "v2", (19.0,)), "python", contract, entry="doubler:predict"
    )
    registry.set_alias("doubler", "champion", 1)
    return write_suite(tmp_path / "golden")
