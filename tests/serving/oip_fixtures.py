"""A model that speaks every OIP datatype the conformance tests send (FP32, FP64, INT64, BYTES), with its
contract, served in-process over real sockets: what the Triton clients are pointed at."""

from __future__ import annotations

from typing import Any

import numpy as np

from trilho.contracts import load_contract

CONTRACT = {
    "apiVersion": "v3.0.2",
    "kind": "DataContract",
    "id": "mixed-io",
    "name": "mixed",
    "version": "1.0.0",
    "schema": [
        {
            "name": "request",
            "x-trilho": {"role": "input", "examples": [{"f32": 1.0, "f64": 2.0, "i64": 3, "s": "a"}]},
            "properties": [
                {"name": "f32", "physicalType": "float32", "required": True},
                {
                    "name": "f64",
                    "physicalType": "float64",
                    "required": True,
                    "logicalTypeOptions": {"minimum": -1e9, "maximum": 1e9},
                },
                {"name": "i64", "physicalType": "int64", "required": True},
                {"name": "s", "physicalType": "string", "required": True},
            ],
        },
        {
            "name": "response",
            "x-trilho": {"role": "output"},
            "properties": [
                {"name": "y", "physicalType": "float64", "required": True},
                {"name": "half", "physicalType": "float32", "required": True},
                {"name": "n", "physicalType": "int64", "required": True},
                {"name": "label", "physicalType": "string", "required": True},
            ],
        },
    ],
}


class Mixed:
    """y = f32 + f64 + i64; half = f32 / 2; n = i64 * 2; label = s upper-cased."""

    def __init__(self) -> None:
        self.contract = load_contract(CONTRACT)

    def predict(self, records: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """One output per record."""
        return [
            {
                "y": r["f32"] + r["f64"] + r["i64"],
                "half": r["f32"] / 2,
                "n": r["i64"] * 2,
                "label": r["s"].upper(),
            }
            for r in records
        ]


def batch(rows: int, seed: int = 0) -> dict[str, np.ndarray]:
    """Inputs for ``rows`` records, as the numpy arrays a Triton client sends."""
    rng = np.random.default_rng(seed)
    return {
        "f32": rng.normal(size=rows).astype(np.float32),
        "f64": rng.normal(size=rows) * 1000,
        "i64": rng.integers(-(10**6), 10**6, size=rows, dtype=np.int64),
        "s": np.array([f"ç{i}-é" for i in range(rows)], dtype=object),
    }


def expected(inputs: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """What ``Mixed`` answers for ``inputs``."""
    f32 = inputs["f32"].astype(np.float64)
    return {
        "y": f32 + inputs["f64"] + inputs["i64"],
        "half": (f32 / 2).astype(np.float32),
        "n": inputs["i64"] * 2,
        "label": np.array([s.upper().encode() for s in inputs["s"]], dtype=object),
    }


def start_mixed(start_gateway, **settings):
    """Serve ``mixed`` (one stable version) with ``start_gateway``; returns the running gateway."""
    from trilho.serving import StaticProvider
    from trilho.store.routing import Deployment, Route

    provider = StaticProvider({"mixed@1": Mixed()})
    return start_gateway(
        provider=provider, deployments=[Deployment("mixed", routes=(Route("1"),))], **settings
    )
