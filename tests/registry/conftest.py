"""Registry test helpers: ODCS-style contract files, tiny models of every flavour, a registry per backend."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import pytest
import yaml


def write_contract(
    path: Path,
    *,
    name: str = "scorer",
    version: str = "1.0.0",
    inputs: dict[str, str] | None = None,
    outputs: dict[str, str] | None = None,
    examples: list[dict] | None = None,
    output_range: tuple[float, float] | None = None,
) -> Path:
    """Write an ODCS v3 contract with an input and an output schema object (physical type per field)."""
    inputs = inputs or {"x1": "float64", "x2": "float64"}
    outputs = outputs or {"y": "float64"}

    def props(spec: dict[str, str], rng: tuple[float, float] | None = None) -> list[dict]:
        out = []
        for field, physical in spec.items():
            if physical.startswith("array"):
                p = {
                    "name": field,
                    "logicalType": "array",
                    "required": True,
                    "items": {"logicalType": "number", "physicalType": "float64"},
                }
            else:
                logical = {"int": "integer", "flo": "number", "str": "string", "boo": "boolean"}[physical[:3]]
                p = {"name": field, "logicalType": logical, "physicalType": physical, "required": True}
            if rng is not None and not physical.startswith(("array", "str", "boo")):
                p["logicalTypeOptions"] = {"minimum": rng[0], "maximum": rng[1]}
            out.append(p)
        return out

    doc = {
        "apiVersion": "v3.0.2",
        "kind": "DataContract",
        "id": f"{name}-io",
        "name": name,
        "version": version,
        "schema": [
            {
                "name": "request",
                "x-trilho": {"role": "input", **({"examples": examples} if examples else {})},
                "properties": props(inputs),
            },
            {"name": "response", "x-trilho": {"role": "output"}, "properties": props(outputs, output_range)},
        ],
    }
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    return path


EXAMPLES = [{"x1": 1.0, "x2": 2.0}, {"x1": -0.5, "x2": 0.25}]

LINEAR_MODEL = textwrap.dedent(
    """
    def predict(records):
        return [{"y": 2.0 * r["x1"] + r["x2"]} for r in records]
    """
)


def write_python_model(folder: Path, source: str = LINEAR_MODEL, module: str = "model") -> Path:
    """A python-flavour artifact: one module file."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{module}.py"
    path.write_text(source)
    return path


def write_jsonl(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


@pytest.fixture
def registry(store, tmp_path):
    """A registry on the ``store`` fixture (SQLite and PostgreSQL) with a local artifact folder."""
    from trilho.registry import Registry

    return Registry(store, tmp_path / "artifacts")


@pytest.fixture
def linear(tmp_path):
    """(artifact, contract) for a python-flavour linear model y = 2·x1 + x2."""
    art = write_python_model(tmp_path / "src")
    contract = write_contract(tmp_path / "contract.yaml", examples=EXAMPLES)
    return art, contract
