"""The model registry: immutable content-addressed versions, flavours, aliases, lineage and gate records.

from trilho.store import open_store
from trilho.registry import Registry

registry = Registry(open_store(), ".trilho/artifacts")          # or "s3://bucket/artifacts", "memory://x"
mv = registry.register("churn", "churn.skops", "sklearn", "contract.yaml", metrics={"auc": 0.91})
registry.set_alias("churn", "champion", mv.version)
predictor = registry.load_predictor("churn@champion")          # NAME, NAME@latest, NAME@3, NAME@alias
predictor.predict([{"tenure_months": 3, "monthly_spend": 99.0}])   # -> [{"churn": 1}]
registry.record_gate("churn@1", "eval", "pass", {"score": 0.97}, key=signing_key(home))
"""

from trilho.registry.artifacts import ArtifactStore, digest_path
from trilho.registry.flavors import FLAVORS
from trilho.registry.predictor import Predictor
from trilho.registry.records import GateRecord, ModelVersion
from trilho.registry.refs import ModelRef, parse_ref
from trilho.registry.registry import Registry, read_examples
from trilho.registry.signing import (
    SigningKey,
    canonical_json,
    existing_signing_key,
    sign,
    signing_key,
    verify_signature,
)


def verify_gate(record: GateRecord, key: SigningKey) -> bool:
    """True if a gate record's signature matches its payload under ``key``."""
    return record.key_id == key.key_id and verify_signature(record.payload(), record.signature, key)


__all__ = [
    "FLAVORS",
    "ArtifactStore",
    "GateRecord",
    "ModelRef",
    "ModelVersion",
    "Predictor",
    "Registry",
    "SigningKey",
    "canonical_json",
    "digest_path",
    "existing_signing_key",
    "parse_ref",
    "read_examples",
    "sign",
    "signing_key",
    "verify_gate",
    "verify_signature",
]
