"""The registry's value objects: an immutable model version and a gate record, both JSON-ready."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any


@dataclass(frozen=True)
class ModelVersion:
    """One immutable registered version: artifact address, flavour, contract and lineage."""

    name: str
    version: int
    flavor: str
    artifact_sha256: str
    artifact_kind: str
    artifact_name: str
    entry: str | None
    contract_name: str
    contract_version: str
    contract_hash: str
    contract_text: str
    examples: dict[str, Any]
    params: dict[str, Any]
    metrics: dict[str, Any]
    lineage: dict[str, Any]
    options: dict[str, Any]
    breaking_reason: str | None
    created_at: datetime
    aliases: tuple[str, ...] = field(default_factory=tuple)

    @property
    def ref(self) -> str:
        """The exact reference ``NAME@VERSION``."""
        return f"{self.name}@{self.version}"

    def to_dict(self, *, with_contract: bool = False) -> dict[str, Any]:
        """JSON-ready fields (the contract's text only when asked)."""
        out = asdict(self)
        out["ref"] = self.ref
        out["aliases"] = list(self.aliases)
        out["created_at"] = self.created_at.isoformat()
        if not with_contract:
            out.pop("contract_text")
        return out


@dataclass(frozen=True)
class GateRecord:
    """A recorded gate result (golden, eval, rollout) against one version, optionally HMAC-signed."""

    id: int
    name: str
    version: int
    kind: str
    decision: str
    evidence: dict[str, Any]
    signature: str | None
    key_id: str | None
    created_at: datetime

    @property
    def ref(self) -> str:
        """The version the record is about, as ``NAME@VERSION``."""
        return f"{self.name}@{self.version}"

    def payload(self) -> dict[str, Any]:
        """Exactly what the signature covers."""
        return {
            "model": self.name,
            "version": self.version,
            "kind": self.kind,
            "decision": self.decision,
            "evidence": self.evidence,
        }

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready fields."""
        out = asdict(self)
        out["ref"] = self.ref
        out["created_at"] = self.created_at.isoformat()
        return out
