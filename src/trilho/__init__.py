"""trilho: ship ML models and LLM features safely, and measure what they really change.

The public Python API; the ``trilho`` command is a thin layer over it.
"""

from trilho.errors import (
    BreakingChange,
    CheckFailed,
    ContractError,
    GateFailed,
    InputError,
    MeasurementError,
    RegistryError,
    RolloutError,
    SchemaViolation,
    StoreError,
    TrilhoError,
)

__version__ = "0.1.0"

__all__ = [
    "BreakingChange",
    "CheckFailed",
    "ContractError",
    "GateFailed",
    "InputError",
    "MeasurementError",
    "RegistryError",
    "RolloutError",
    "SchemaViolation",
    "StoreError",
    "TrilhoError",
    "__version__",
]
