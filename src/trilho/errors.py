"""The trilho error tree: one root, one branch per package, fields a machine can read.

Every error says what went wrong *and* what to do about it. The CLI maps errors to exit codes:
``exit_code = 2`` for usage or input problems (the default), ``exit_code = 1`` for a check that ran and failed
(a breaking change, a failed gate, invalid data).
"""

from __future__ import annotations

from typing import Any


class TrilhoError(Exception):
    """Root of every error trilho raises on purpose."""

    exit_code: int = 2

    def __init__(self, message: str, *, fix: str | None = None, **fields: Any) -> None:
        self.message = message
        self.fix = fix
        self.fields = fields
        super().__init__(self.__str__())

    def __str__(self) -> str:
        return f"{self.message} (fix: {self.fix})" if self.fix else self.message

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready description: error type, message, fix and the machine-readable fields."""
        out: dict[str, Any] = {"error": type(self).__name__, "message": self.message}
        if self.fix:
            out["fix"] = self.fix
        out.update({k: v for k, v in self.fields.items() if v is not None})
        return out


class InputError(TrilhoError):
    """A file, flag or argument that cannot be used as given."""


class CheckFailed(TrilhoError):
    """A check ran to completion and said no (exit code 1)."""

    exit_code = 1


class StoreError(TrilhoError):
    """The state store is unreachable, unmigrated or refused a write."""


class ConfigError(InputError):
    """Settings (home folder, database URL, environment) that cannot be used."""


# --- contracts -------------------------------------------------------------------------------------------
class ContractError(InputError):
    """A contract document that cannot be loaded or compiled."""


class SchemaViolation(CheckFailed):
    """Data or a request that does not satisfy its contract."""


class BreakingChange(CheckFailed):
    """A contract change that breaks its consumers."""


# --- registry / golden / gates ---------------------------------------------------------------------------
class RegistryError(InputError):
    """A model, version, alias or artifact that cannot be resolved or stored."""


class ArtifactCorrupt(RegistryError):
    """An artifact whose bytes no longer match their content address."""


class ArtifactMissing(RegistryError):
    """An artifact the registry records but the artifact store does not hold (e.g. another host's folder)."""


class GoldenError(InputError):
    """A golden suite that cannot be loaded or run."""


class GateFailed(CheckFailed):
    """A gate (golden, eval, contract) ran and the candidate did not pass."""


# --- later capabilities ----------------------------------------------------------------------------------
class ServingError(TrilhoError):
    """A request the gateway cannot serve."""


class RolloutError(InputError):
    """A rollout plan or transition that is not allowed."""


class MeasurementError(InputError):
    """Experiment data or a design that cannot give an honest estimate."""


class EvalError(InputError):
    """An eval suite, policy, judge or dataset that cannot be used."""


class RecsysError(InputError):
    """Recommender data or requests that cannot be used."""
